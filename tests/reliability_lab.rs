//! Faults of the cluster on real lab hosts: a crashed daemon, a dead link, forged adverts —
//! and the daemon's exposure as systemd sees it. Timing targets live in the benchmarks; these
//! tests assert what must never happen (a lingering duplicate VIP, a VIP stolen by a forger)
//! and what must always happen eventually (takeover, convergence).

mod common;

use common::{hapair, Lab};
use std::time::{Duration, Instant};

const FORGE: &str = include_str!("support/forge_vrrp.py");

/// Poll both nodes until `done` says so or the limit passes; returns the (node1, node2)
/// holder samples seen, in order.
fn sample(lab: &Lab, addr: &str, limit: Duration, done: impl Fn(&[(bool, bool)]) -> bool) -> Vec<(bool, bool)> {
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < limit {
        seen.push((lab.holds("node1", addr), lab.holds("node2", addr)));
        if done(&seen) {
            break;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    seen
}

fn status(lab: &Lab, node: &str) -> serde_json::Value {
    serde_json::from_str(&lab.exec_ok(node, &["cat", "/run/hapair/status.json"])).unwrap()
}

fn restarts(lab: &Lab, node: &str) -> u32 {
    let out = lab.exec_ok(node, &["systemctl", "show", "-p", "NRestarts", "--value", "hapair-vrrpd"]);
    out.trim().parse().unwrap()
}

#[test]
fn kill_9_of_the_master_daemon_never_leaves_a_duplicate_vip() {
    let lab = Lab::up("t-rel1", 2, "master-backup");
    lab.apply(&[]);
    let addr = lab.addr(200);
    let settled = sample(&lab, &addr, Duration::from_secs(10), |s| s.last() == Some(&(true, false)));
    assert_eq!(settled.last(), Some(&(true, false)), "node1 never became the only holder");
    let before = restarts(&lab, "node1");

    lab.exec_ok("node1", &["systemctl", "kill", "-s", "KILL", "hapair-vrrpd"]);
    // Watch for 12 s: systemd restarts the daemon (RestartSec=100ms), which keeps its VIP
    // at start; the backup may take over meanwhile; ownership must converge back to node1.
    let seen = sample(&lab, &addr, Duration::from_secs(12), |_| false);
    let dup_runs = seen.windows(2).filter(|w| w[0] == (true, true) && w[1] == (true, true)).count();
    assert_eq!(dup_runs, 0, "the VIP was on both nodes in consecutive samples: {seen:?}");
    assert_eq!(seen.last(), Some(&(true, false)), "ownership did not converge back to node1: {seen:?}");
    assert!(restarts(&lab, "node1") > before, "systemd did not restart the killed daemon");
}

#[test]
fn the_masters_link_going_down_moves_the_vip_and_it_converges_back() {
    let lab = Lab::up("t-rel2", 2, "master-backup");
    lab.apply(&[]);
    let addr = lab.addr(200);
    let s = sample(&lab, &addr, Duration::from_secs(10), |s| s.last() == Some(&(true, false)));
    assert_eq!(s.last(), Some(&(true, false)));

    lab.exec_ok("node1", &["ip", "link", "set", "eth0", "down"]);
    let start = Instant::now();
    let mut took_over = false;
    while start.elapsed() < Duration::from_secs(10) {
        if lab.holds("node2", &addr) {
            took_over = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(took_over, "node2 did not take over while node1's link was down");
    lab.exec_ok("node1", &["ip", "link", "set", "eth0", "up"]);
    // Preempt is on: node1 (150) takes the VIP back, node2 (100) lets go.
    let seen = sample(&lab, &addr, Duration::from_secs(12), |s| {
        s.len() > 3 && s[s.len() - 3..].iter().all(|x| *x == (true, false))
    });
    assert_eq!(seen.last(), Some(&(true, false)), "ownership did not converge after the link came back: {seen:?}");
}

#[test]
fn forged_adverts_are_ignored_and_counted() {
    let lab = Lab::up("t-rel3", 4, "master-backup");
    lab.apply(&["--limit", "pair1"]);
    let addr = lab.addr(200);
    let s = sample(&lab, &addr, Duration::from_secs(10), |s| s.last() == Some(&(true, false)));
    assert_eq!(s.last(), Some(&(true, false)));
    let drops = |node: &str, reason: &str| status(&lab, node)["instances"][0]["drops"][reason].as_u64().unwrap();
    let n3 = lab.node("node3").address.to_string();
    let n2 = lab.node("node2").address.to_string();

    // A third host claiming the VRID at priority 255: firewalld accepts VRRP only from the peer.
    lab.exec_ok("node3", &["python3", "-c", FORGE, &n3, "51", "255", "255", &addr, "20"]);
    // From the peer's own address (past the firewall): TTL 64 and a bad checksum, both at 255.
    let (ttl0, sum0) = (drops("node1", "ttl"), drops("node1", "checksum"));
    lab.exec_ok("node2", &["python3", "-c", FORGE, &n2, "51", "255", "64", &addr, "10"]);
    lab.exec_ok("node2", &["python3", "-c", FORGE, &n2, "51", "255", "255", &addr, "10", "badsum"]);
    // The status file is rewritten about once a second: poll it for the counts.
    let start = std::time::Instant::now();
    while drops("node1", "ttl") < ttl0 + 10 || drops("node1", "checksum") < sum0 + 10 {
        if start.elapsed() > Duration::from_secs(10) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(drops("node1", "ttl") >= ttl0 + 10, "TTL 64 adverts not counted: {}", status(&lab, "node1"));
    assert!(drops("node1", "checksum") >= sum0 + 10, "bad-checksum adverts not counted: {}", status(&lab, "node1"));
    assert!(lab.holds("node1", &addr) && !lab.holds("node2", &addr), "a forged advert moved the VIP");
    assert_eq!(status(&lab, "node1")["instances"][0]["state"], "master");
}

#[test]
fn the_daemon_unit_is_hardened_and_its_secret_file_private() {
    let lab = Lab::up("t-rel4", 2, "master-backup");
    lab.apply(&[]);
    assert_eq!(lab.exec_ok("node1", &["stat", "-c", "%a %U", "/etc/hapair/vrrpd.yml"]), "600 root\n");
    let out = lab.exec("node1", &["systemd-analyze", "security", "--no-pager", "hapair-vrrpd.service"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{text}"));
    // "→ Overall exposure level for hapair-vrrpd.service: 2.1 OK 🙂"
    let level: f64 =
        line.split(": ").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap();
    eprintln!("systemd-analyze security: {line}");
    assert!(level <= 3.0, "exposure {level} (keep it OK or better): {line}");
    // One process, whatever the daemon does.
    let pids = lab.exec_ok("node1", &["systemctl", "show", "-p", "MainPID", "--value", "hapair-vrrpd"]);
    let tasks = lab.exec_ok("node1", &["sh", "-c", &format!("ls /proc/{}/task | wc -l", pids.trim())]);
    eprintln!("daemon threads: {}", tasks.trim());
    let procs = lab.exec_ok("node1", &["pgrep", "-c", "-x", "hapair"]);
    assert_eq!(procs.trim(), "1");
}

#[test]
fn a_secret_never_appears_in_any_output_log_or_status() {
    const SECRET: &str = "Zq7secrT"; // 8 bytes: the most VRRPv2 PASS carries
    let lab = Lab::up("t-rel5", 2, "master-backup");
    let inv = std::fs::read_to_string(&lab.inventory).unwrap();
    let inv = inv.replacen("defaults:\n", &format!("defaults:\n  vrrp:\n    version: 2\n    auth_pass: {SECRET}\n"), 1);
    std::fs::write(&lab.inventory, inv).unwrap();
    let mut outputs = String::new();
    let mut run = |args: &[&str]| {
        let out = hapair().args(args).arg("-i").arg(&lab.inventory).output().unwrap();
        outputs.push_str(&String::from_utf8_lossy(&out.stdout));
        outputs.push_str(&String::from_utf8_lossy(&out.stderr));
        out.status.code()
    };
    assert_eq!(run(&["plan"]), Some(2));
    run(&["plan", "--format", "json"]);
    assert_eq!(run(&["apply", "--yes", "--format", "json"]), Some(0));
    run(&["verify"]);
    run(&["verify", "--format", "json"]);
    run(&["status", "--format", "json"]);
    run(&["check", "--explain", "node1"]);
    // A failing run: its error messages must not carry it either.
    run(&["apply", "--yes", "-e", "vrrp.advert_interval=1500ms"]);
    run(&["plan", "-e", "vrrp.auth_pass=other"]);
    assert!(outputs.contains("<redacted>"), "no redaction seen at all:\n{outputs}");
    assert!(!outputs.contains(SECRET), "the secret leaked:\n{outputs}");
    for node in ["node1", "node2"] {
        let logs = lab.exec_ok(node, &["sh", "-c", "journalctl --no-pager -o cat; cat /run/hapair/status.json"]);
        assert!(!logs.contains(SECRET), "the secret is in {node}'s journal or status file");
        // It is where it must be, and nowhere readable by others.
        assert_eq!(lab.exec_ok(node, &["grep", "-c", SECRET, "/etc/hapair/vrrpd.yml"]), "1\n");
        assert_eq!(lab.exec_ok(node, &["stat", "-c", "%a %U", "/etc/hapair/vrrpd.yml"]), "600 root\n");
    }
}

#[test]
fn hostile_strings_are_carried_as_data_never_executed() {
    // 8 bytes, the most VRRPv2 PASS holds: would create /c if any shell ever evaluated it.
    const HOSTILE: &str = "`id>/c`\"";
    let lab = Lab::up("t-rel6", 2, "master-backup");
    let inv = std::fs::read_to_string(&lab.inventory).unwrap();
    let quoted = HOSTILE.replace('\\', "\\\\").replace('"', "\\\"");
    let inv =
        inv.replacen("defaults:\n", &format!("defaults:\n  vrrp:\n    version: 2\n    auth_pass: \"{quoted}\"\n"), 1);
    std::fs::write(&lab.inventory, inv).unwrap();
    lab.apply(&[]);
    let addr = lab.addr(200);
    let s = sample(&lab, &addr, Duration::from_secs(10), |s| s.last() == Some(&(true, false)));
    assert_eq!(
        s.last(),
        Some(&(true, false)),
        "the nodes did not agree on one master: the password did not arrive intact"
    );
    for node in ["node1", "node2"] {
        assert!(!lab.exec(node, &["test", "-e", "/c"]).status.success(), "the hostile string was executed on {node}");
        assert_eq!(status(&lab, node)["instances"][0]["drops"]["auth"], 0, "{node} drops the peer's password");
    }
    // Names that could not be valid never get that far.
    let bad = std::fs::read_to_string(&lab.inventory).unwrap().replacen("name: node1", "name: \"node1;touch /c\"", 1);
    let bad_path = lab.inventory.with_extension("bad.yml");
    std::fs::write(&bad_path, bad).unwrap();
    let out = hapair().args(["apply", "--yes", "-i"]).arg(&bad_path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("error[HA013]: node name `node1;touch /c` has characters hapair does not allow"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(&bad_path);
}
