//! The shipped monitoring files pass Prometheus's own tools (`promtool`, Debian's `prometheus`
//! package), and `hapair monitoring` prints them; no lab needed. The lab test with a running
//! Prometheus is tests/monitoring_lab.rs.

mod common;

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn promtool(args: &[&str]) -> (bool, String) {
    let o = Command::new("promtool")
        .args(args)
        .current_dir(root().join("monitoring"))
        .output()
        .expect("run promtool (Debian package `prometheus`, installed by scripts/deps.sh)");
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn promtool_checks_the_shipped_rules() {
    let (ok, out) = promtool(&["check", "rules", "hapair-rules.yml"]);
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS: 9 rules found"), "{out}");
}

/// Each alert on synthetic series (monitoring/hapair-rules.test.yml): fires when it should,
/// with the labels and annotations it should, and not before.
#[test]
fn promtool_unit_tests_of_the_alerts_pass() {
    let (ok, out) = promtool(&["test", "rules", "hapair-rules.test.yml"]);
    assert!(ok, "{out}");
}

#[test]
fn hapair_prints_the_shipped_files() {
    for (cmd, file) in [("rules", "hapair-rules.yml"), ("dashboard", "hapair-dashboard.json")] {
        let o = common::hapair().args(["monitoring", cmd]).output().expect("run hapair");
        assert_eq!(o.status.code(), Some(0));
        let shipped = std::fs::read(root().join("monitoring").join(file)).expect("read");
        assert_eq!(o.stdout, shipped, "{cmd}");
    }
}

#[test]
fn scrape_config_needs_a_metrics_endpoint() {
    let inv = root().join("inventories/master-backup.yml");
    let o = common::hapair().args(["monitoring", "scrape-config", "-i"]).arg(&inv).output().expect("run hapair");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: no node of `{}` has a metrics endpoint\n  fix: set `monitoring.listen: 0.0.0.0:9489` in `defaults` (and `monitoring.scraper` to the Prometheus server's address), then `hapair apply`\n",
            inv.display()
        )
    );
    let o = common::hapair()
        .args(["monitoring", "scrape-config", "-i"])
        .arg(&inv)
        .args(["-e", "monitoring.listen=0.0.0.0:9489", "--interval", "10s"])
        .output()
        .expect("run hapair");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("      - targets: [\"10.0.10.11:9489\"]\n        labels: {pair: \"web\", node: \"web1\"}\n"),
        "{text}"
    );
    // What it prints is a configuration Prometheus accepts.
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mon-cli");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, format!("rule_files: [{}]\n{text}", root().join("monitoring/hapair-rules.yml").display()))
        .expect("write");
    let (ok, out) = promtool(&["check", "config", cfg.to_str().expect("utf-8")]);
    assert!(ok, "{out}");
}
