//! The verify report as a table (for people) or JSON (for machines). Pure.

use super::Report;

fn ms(v: Option<u64>) -> String {
    v.map_or("-".to_string(), |m| format!("{m} ms"))
}

pub fn text(r: &Report) -> String {
    let mut s = String::new();
    let w_subject = r.checks.iter().map(|c| c.subject.len()).max().unwrap_or(7).max(7);
    s.push_str(&format!("{:<4}  {:<8}  {:<w$}  {:<13}  {}\n", "", "PAIR", "SUBJECT", "CHECK", "DETAIL", w = w_subject));
    for c in &r.checks {
        let mark = if c.ok { "ok" } else { "FAIL" };
        s.push_str(&format!(
            "{:<4}  {:<8}  {:<w$}  {:<13}  {}\n",
            mark,
            c.pair,
            c.subject,
            c.name,
            c.detail,
            w = w_subject
        ));
        if let Some(fix) = &c.fix {
            if !c.ok {
                s.push_str(&format!("{:<4}  {:<8}  {:<w$}  {:<13}  fix: {fix}\n", "", "", "", "", w = w_subject));
            }
        }
    }
    if !r.drill.is_empty() {
        s.push('\n');
        s.push_str(&format!(
            "{:<4}  {:<8}  {:<18}  {:<6}  {:<13}  {:<16}  {:>9}  {:>9}  {:>9}  {:>9}  {:>12}\n",
            "", "PAIR", "SCENARIO", "NODE", "VIP", "EXPECT", "BOUND", "TAKEOVER", "RELEASE", "HTTP GAP", "FAILED/REQS"
        ));
        for row in &r.drill {
            let mark = if row.ok { "ok" } else { "FAIL" };
            s.push_str(&format!(
                "{:<4}  {:<8}  {:<18}  {:<6}  {:<13}  {:<16}  {:>9}  {:>9}  {:>9}  {:>9}  {:>12}{}\n",
                mark,
                row.pair,
                row.scenario,
                row.node,
                row.vip,
                row.expect,
                format!("{} ms", row.bound_ms),
                ms(row.measured_ms),
                ms(row.released_ms),
                ms(row.http_gap_ms),
                match (row.failed_requests, row.requests) {
                    (Some(f), Some(n)) => format!("{f}/{n}"),
                    _ => "-".into(),
                },
                if row.detail.is_empty() { String::new() } else { format!("  ({})", row.detail) }
            ));
        }
    }
    let failed = r.checks.iter().filter(|c| !c.ok).count() + r.drill.iter().filter(|d| !d.ok).count();
    let total = r.checks.len() + r.drill.len();
    s.push_str(&format!("\nverify: {} passed, {failed} failed\n", total - failed));
    s
}

pub fn json(r: &Report) -> String {
    serde_json::to_string(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
