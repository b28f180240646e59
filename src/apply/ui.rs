//! Progress and events: indicatif bars on a terminal (a line per host with its current step),
//! plain lines on stderr otherwise (CI, pipes), or JSON lines on stdout with `--format json`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::{HostResult, Outcome};
use crate::plan::Change;
use crate::transport::Progress;

pub struct Ui {
    /// Events as JSON lines on stdout (`--format json`).
    json: bool,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    uploads: Mutex<HashMap<String, ProgressBar>>,
    /// Print plain step lines (text format without a terminal).
    plain: bool,
}

impl Ui {
    /// JSON lines on stdout when `json`; otherwise bars, only on a terminal and outside CI.
    /// `quiet` prints no step lines at all (plan).
    pub fn new(json: bool, quiet: bool) -> Ui {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let multi = (!json && tty).then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Ui {
            json,
            plain: !json && !tty && !quiet,
            multi,
            bars: Mutex::new(HashMap::new()),
            uploads: Mutex::new(HashMap::new()),
        }
    }

    pub fn json_line(&self, v: serde_json::Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{v}");
    }

    fn bar(&self, host: &str) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let mut bars = self.bars.lock().ok()?;
        Some(
            bars.entry(host.to_string())
                .or_insert_with(|| {
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:10} {wide_msg} {elapsed}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.set_prefix(host.to_string());
                    b.enable_steady_tick(std::time::Duration::from_millis(100));
                    b
                })
                .clone(),
        )
    }

    pub fn step(&self, host: &str, step: &str) {
        if self.json {
            self.json_line(json!({"event": "step", "host": host, "step": step}));
        } else if let Some(b) = self.bar(host) {
            b.set_message(step.to_string());
        } else if self.plain {
            let _ = writeln!(std::io::stderr().lock(), "{host}: {step}");
        }
    }

    pub fn change(&self, host: &str, c: &Change) {
        if self.json {
            self.json_line(json!({"event": "change", "host": host, "role": c.role(), "summary": c.summary()}));
        }
    }

    /// A byte progress bar for an upload (terminal only).
    pub fn upload_progress(&self, host: &str, size: u64) -> Option<Progress> {
        let multi = self.multi.as_ref()?;
        let b = multi.add(ProgressBar::new(size));
        b.set_style(
            ProgressStyle::with_template("  {prefix:10} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.set_prefix(host.to_string());
        if let Ok(mut u) = self.uploads.lock() {
            u.insert(host.to_string(), b.clone());
        }
        Some(Arc::new(move |n| b.set_position(n)))
    }

    pub fn upload_done(&self, host: &str) {
        if let Some(b) = self.uploads.lock().ok().and_then(|mut u| u.remove(host)) {
            b.finish_and_clear();
        }
    }

    pub fn done(&self, r: &HostResult) {
        let word = outcome_word(r.outcome);
        if self.json {
            self.json_line(json!({"event": "host", "result": r}));
        } else if let Some(b) = self.bar(&r.node) {
            b.finish_with_message(word.to_string());
        } else if self.plain {
            let _ = writeln!(std::io::stderr().lock(), "{}: {word}", r.node);
        }
    }

    /// Remove the bars before the recap is printed.
    pub fn finish(&self) {
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}

pub fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "ok",
        Outcome::Changed => "changed",
        Outcome::Failed => "failed",
        Outcome::Skipped => "skipped",
    }
}

/// The recap table: one row per host.
pub fn recap(results: &[HostResult]) -> String {
    let w = results.iter().map(|r| r.node.len()).max().unwrap_or(4).max(4);
    let mut s = format!("{:w$}  {:8}  {:>7}  {:>8}\n", "HOST", "RESULT", "CHANGED", "ELAPSED");
    for r in results {
        s.push_str(&format!(
            "{:w$}  {:8}  {:>7}  {:>7.2}s\n",
            r.node,
            outcome_word(r.outcome),
            r.changed,
            r.elapsed_ms as f64 / 1000.0
        ));
    }
    s
}
