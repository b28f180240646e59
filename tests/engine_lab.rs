//! The engine on the lab (real Debian hosts, real sshd, nginx, firewalld, systemd):
//! fresh lab → `plan` exits 2 with diffs and the secret redacted, targets unchanged → `apply`
//! converges → `plan` exits 0 → second `apply` changes and restarts nothing → one changed
//! setting is one file diff and one reload.

mod common;

use common::{run, show, text};
use std::time::{Duration, Instant};

const SECRET: &str = "hunter2x";

/// Everything `plan` could disturb: hashes of managed files, service states and PIDs,
/// firewall rules (runtime and permanent).
fn snapshot(lab: &common::Lab, node: &str) -> String {
    lab.exec_ok(
        node,
        &[
            "sh",
            "-c",
            "for f in /etc/hapair/vrrpd.yml /etc/systemd/system/hapair-vrrpd.service /etc/nginx/sites-enabled/default \
             /etc/nginx/conf.d/hapair.conf /usr/local/sbin/hapair; do \
               if [ -e $f ]; then sha256sum $f; stat -c '%a %U' $f; else echo absent $f; fi; done; \
             systemctl show -p ActiveState,UnitFileState,MainPID,NRestarts nginx.service hapair-vrrpd.service firewalld.service; \
             firewall-cmd --list-all; firewall-cmd --permanent --list-all",
        ],
    )
}

/// `MainPID` and `NRestarts` of nginx and the daemon.
fn pids(lab: &common::Lab, node: &str) -> String {
    lab.exec_ok(node, &["systemctl", "show", "-p", "MainPID,NRestarts", "nginx.service", "hapair-vrrpd.service"])
}

/// Turn the lab's inventory into a VRRPv2 one with a password, so plans have a secret to hide.
fn with_secret(lab: &common::Lab) {
    let inv = std::fs::read_to_string(&lab.inventory).expect("read the lab inventory");
    assert!(inv.contains("defaults:\n"), "unexpected inventory:\n{inv}");
    let inv = inv.replacen("defaults:\n", &format!("defaults:\n  vrrp:\n    version: 2\n    auth_pass: {SECRET}\n"), 1);
    std::fs::write(&lab.inventory, inv).expect("write the lab inventory");
}

/// Wait until `vip` answers HTTP from inside `from` with a body naming `expect`.
fn wait_served(lab: &common::Lab, from: &str, vip: &str, expect: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    while Instant::now() < deadline {
        let o = lab.exec(from, &["curl", "-s", "--max-time", "1", &format!("http://{vip}/")]);
        last = text(&o.stdout);
        if last.trim() == format!("served by {expect}") {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("`{vip}` was not served by `{expect}` within 15 s; last answer: {last:?}");
}

#[test]
fn master_backup_plan_apply_idempotence_and_one_setting() {
    let lab = common::Lab::up("eng1", 2, "master-backup");
    with_secret(&lab);
    let inv = lab.inventory.to_string_lossy().to_string();

    // Fresh lab: plan shows diffs, hides the secret, changes nothing.
    let before: Vec<String> = ["node1", "node2"].iter().map(|n| snapshot(&lab, n)).collect();
    let o = run(&["plan", "-i", &inv]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(out.contains("+++ /etc/hapair/vrrpd.yml (planned)"), "{out}");
    assert!(out.contains("+    auth_pass: \"<redacted>\""), "{out}");
    assert!(out.contains("+        return 200 \"served by node1\\n\";"), "{out}");
    assert!(
        out.contains("add rich-rule in zone `public` (runtime and permanent): rule family=\"ipv4\" source address="),
        "{out}"
    );
    assert!(!out.contains(SECRET) && !text(&o.stderr).contains(SECRET), "the secret leaked:\n{}", show(&o));
    let o = run(&["plan", "-i", &inv, "--format", "json"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(!text(&o.stdout).contains(SECRET), "the secret leaked in JSON");
    for l in text(&o.stdout).lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
    }
    let after: Vec<String> = ["node1", "node2"].iter().map(|n| snapshot(&lab, n)).collect();
    assert_eq!(before, after, "`plan` changed a target");

    // Apply converges.
    let o = run(&["apply", "-i", &inv, "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(!text(&o.stdout).contains(SECRET) && !text(&o.stderr).contains(SECRET), "the secret leaked");
    let cfg = lab.exec_ok("node1", &["sh", "-c", "stat -c '%a %U' /etc/hapair/vrrpd.yml; cat /etc/hapair/vrrpd.yml"]);
    assert!(cfg.starts_with("600 root\n") && cfg.contains(&format!("auth_pass: \"{SECRET}\"")), "{cfg}");
    for n in ["node1", "node2"] {
        assert_eq!(
            lab.exec_ok(n, &["systemctl", "is-active", "hapair-vrrpd.service", "nginx.service"]),
            "active\nactive\n"
        );
        assert_eq!(lab.exec_ok(n, &["systemctl", "is-enabled", "hapair-vrrpd.service"]), "enabled\n");
        let rules = lab.exec_ok(n, &["firewall-cmd", "--permanent", "--list-rich-rules"]);
        assert!(rules.contains("protocol value=\"vrrp\" accept"), "{rules}");
    }
    wait_served(&lab, "node2", &lab.addr(200), "node1");

    // Nothing left to do, and a second apply restarts nothing.
    let o = run(&["plan", "-i", &inv]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(
        text(&o.stdout),
        "node1 (pair `pair1`): no changes\nnode2 (pair `pair1`): no changes\nnothing to do on 2 hosts\n"
    );
    let pids_before: Vec<String> = ["node1", "node2"].iter().map(|n| pids(&lab, n)).collect();
    let o = run(&["apply", "-i", &inv, "--yes", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let events: Vec<serde_json::Value> =
        text(&o.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert!(events.iter().all(|e| e["event"] != "change"), "second apply changed something:\n{}", show(&o));
    let recap = events.iter().find(|e| e["event"] == "recap").expect("a recap event");
    for h in recap["hosts"].as_array().expect("hosts") {
        assert_eq!(h["outcome"], "ok", "{h}");
        assert_eq!(h["changed"], 0, "{h}");
    }
    let pids_after: Vec<String> = ["node1", "node2"].iter().map(|n| pids(&lab, n)).collect();
    assert_eq!(pids_before, pids_after, "a service was restarted by a no-op apply");

    // One changed setting: one file diff, one reload, no restart.
    let o = run(&["plan", "-i", &inv, "-e", "node1.check.fall=3"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let out = text(&o.stdout);
    assert_eq!(out.matches("+++ ").count(), 1, "{out}");
    assert!(out.contains("-  fall: 2\n      +  fall: 3\n"), "{out}");
    assert!(out.contains("  [vrrp] reload `hapair-vrrpd.service` (config changed)\n"), "{out}");
    assert!(
        out.contains("node2 (pair `pair1`): no changes\n") && out.contains("2 changes pending on 1 of 2 hosts"),
        "{out}"
    );
    let o = run(&["apply", "-i", &inv, "--yes", "--format", "json", "-e", "node1.check.fall=3"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let changes: Vec<String> = text(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "change")
        .map(|e| format!("{} {}", e["host"].as_str().unwrap_or("?"), e["summary"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(
        changes,
        ["node1 change `/etc/hapair/vrrpd.yml`", "node1 reload `hapair-vrrpd.service` (config changed)"],
        "{}",
        show(&o)
    );
    assert_eq!(pids(&lab, "node1"), pids_before[0], "the reload restarted a service");
    assert!(lab.exec_ok("node1", &["cat", "/etc/hapair/vrrpd.yml"]).contains("  fall: 3\n"));
    let o = run(&["plan", "-i", &inv, "-e", "node1.check.fall=3"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    // A changed host key is refused, naming both fingerprints.
    let kh = std::fs::read_to_string(&lab.known_hosts).expect("read known_hosts");
    let tmp = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("eng1-otherkey");
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_file(tmp.with_extension("pub"));
    let k = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&tmp)
        .output()
        .expect("run ssh-keygen");
    assert!(k.status.success(), "{}", text(&k.stderr));
    let other = std::fs::read_to_string(tmp.with_extension("pub")).expect("read the new key");
    let other: Vec<&str> = other.split_whitespace().collect();
    let addr = lab.node("node1").address.to_string();
    let forged: String = kh
        .lines()
        .map(|l| {
            if l.split_whitespace().next() == Some(addr.as_str()) && l.contains("ssh-ed25519") {
                format!("{addr} {} {}\n", other[0], other[1])
            } else if l.split_whitespace().next() == Some(addr.as_str()) {
                String::new()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&lab.known_hosts, forged).expect("write known_hosts");
    let o = run(&["plan", "-i", &inv, "--limit", "node1"]);
    std::fs::write(&lab.known_hosts, kh).expect("restore known_hosts");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("error: host key of `node1` changed: expected SHA256:") && err.contains(", got SHA256:"),
        "{err}"
    );

    // An unknown host is refused unless `--accept-new-host-keys`, which records its key.
    let kh = std::fs::read_to_string(&lab.known_hosts).expect("read known_hosts");
    let without: String =
        kh.lines().filter(|l| l.split_whitespace().next() != Some(addr.as_str())).map(|l| format!("{l}\n")).collect();
    std::fs::write(&lab.known_hosts, &without).expect("write known_hosts");
    let o = run(&["plan", "-i", &inv, "--limit", "node1"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(err.starts_with("error: host key of `node1` is not in `") && err.contains("got SHA256:"), "{err}");
    assert!(
        err.contains("fix: check the fingerprint out of band, then run again with `--accept-new-host-keys`"),
        "{err}"
    );
    let o = run(&["plan", "-i", &inv, "--limit", "node1", "--accept-new-host-keys", "-e", "node1.check.fall=3"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let learned = std::fs::read_to_string(&lab.known_hosts).expect("read known_hosts");
    assert!(learned.lines().any(|l| l.starts_with(&format!("{addr} "))), "key not recorded:\n{learned}");
    std::fs::write(&lab.known_hosts, kh).expect("restore known_hosts");
    lab.down();
}

#[test]
fn dual_master_converges_and_each_node_serves_its_vip() {
    let lab = common::Lab::up("eng2", 2, "dual-master");
    let inv = lab.inventory.to_string_lossy().to_string();
    let o = run(&["plan", "-i", &inv]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let o = run(&["apply", "-i", &inv, "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let recap = text(&o.stdout);
    assert!(recap.contains("HOST   RESULT    CHANGED   ELAPSED\n"), "{recap}");
    let o = run(&["plan", "-i", &inv]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let k = lab.subnet;
    wait_served(&lab, "node1", &format!("10.77.{k}.200"), "node1");
    wait_served(&lab, "node1", &format!("10.77.{k}.201"), "node2");

    // Firewall drift: a VRRP rule hapair did not add (another cluster's) is reported and kept;
    // a port closed at runtime is reopened.
    let foreign = format!("rule family=\"ipv4\" source address=\"10.77.{k}.99/32\" protocol value=\"vrrp\" accept");
    lab.exec_ok("node1", &["firewall-cmd", "--permanent", &format!("--add-rich-rule={foreign}")]);
    lab.exec_ok("node1", &["firewall-cmd", &format!("--add-rich-rule={foreign}")]);
    lab.exec_ok("node1", &["firewall-cmd", "--remove-port=80/tcp"]);
    let o = run(&["plan", "-i", &inv]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(
        out.contains(&format!(
            "  [firewalld] warning: zone `public` on `node1` has a rule hapair did not add, kept as it is: {foreign}\n"
        )),
        "{out}"
    );
    assert!(!out.contains("remove rich-rule"), "{out}");
    assert!(out.contains("  [firewalld] add port in zone `public` (runtime): 80/tcp\n"), "{out}");
    assert!(out.contains("node2 (pair `pair1`): no changes\n"), "{out}");
    let o = run(&["apply", "-i", &inv, "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = run(&["plan", "-i", &inv]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(lab.exec_ok("node1", &["firewall-cmd", "--permanent", "--list-rich-rules"]).contains(".99/32"));
    // A rule hapair owns and no longer wants is removed (here: VRRP opened to anyone instead of
    // the peer only), and only that one.
    let peer = format!("rule family=\"ipv4\" source address=\"10.77.{k}.12/32\" protocol value=\"vrrp\" accept");
    let o = run(&["plan", "-i", &inv, "--limit", "node1", "-e", "firewall.restrict_to_peer=false"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(out.contains(&format!("remove rich-rule in zone `public` (runtime and permanent): {peer}\n")), "{out}");
    assert!(!out.contains(&format!("remove rich-rule in zone `public` (runtime and permanent): {foreign}")), "{out}");
    let o = run(&["apply", "-i", &inv, "--yes", "--limit", "node1", "-e", "firewall.restrict_to_peer=false"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let rules = lab.exec_ok("node1", &["firewall-cmd", "--permanent", "--list-rich-rules"]);
    assert!(rules.contains(".99/32") && !rules.contains(&format!("10.77.{k}.12/32")), "{rules}");
    let o = run(&["apply", "-i", &inv, "--yes", "--limit", "node1"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = run(&["plan", "-i", &inv]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    // A bad site fails on the first node touched, names host, step and stderr, and leaves the
    // other node as it was.
    let site = |n: &str| lab.exec_ok(n, &["sha256sum", "/etc/nginx/conf.d/hapair.conf"]);
    let untouched = [site("node1"), site("node2")];
    let o = run(&["apply", "-i", &inv, "--yes", "-e", "nginx.server_name=~("]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let out = text(&o.stdout);
    let (failed, skipped) = if out.contains("node1  failed") { ("node1", "node2") } else { ("node2", "node1") };
    assert!(out.contains(&format!("{failed}  failed")) && out.contains(&format!("{skipped}  skipped")), "{out}");
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("error: `{failed}`: step `validate /etc/nginx/conf.d/hapair.conf (nginx -t)` failed: `sh -c '<script>' hapair-swap")),
        "{err}"
    );
    assert!(err.contains("pcre2_compile() failed"), "{err}");
    // Both nodes keep their old, valid site (the failed one restored it) and still serve.
    assert_eq!([site("node1"), site("node2")], untouched);
    wait_served(&lab, "node1", &format!("10.77.{k}.201"), "node2");
    let o = run(&["plan", "-i", &inv]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    lab.down();
}

#[test]
fn a_failing_pair_stops_alone_and_other_pairs_converge() {
    let lab = common::Lab::up("eng3", 4, "master-backup");
    let inv = lab.inventory.to_string_lossy().to_string();
    // Only node1's site is broken: node2 (the backup) goes first and converges, node1 fails
    // validation, pair2 converges in parallel.
    let o = run(&["apply", "-i", &inv, "--yes", "--forks", "2", "-e", "node1.nginx.server_name=~("]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let out = text(&o.stdout);
    for (n, want) in [("node1", "failed"), ("node2", "changed"), ("node3", "changed"), ("node4", "changed")] {
        assert!(
            out.lines().any(|l| l.starts_with(n) && l.split_whitespace().nth(1) == Some(want)),
            "{n} not {want}:\n{out}"
        );
    }
    let err = text(&o.stderr);
    assert!(
        err.contains(
            "error: `node1`: step `validate /etc/nginx/conf.d/hapair.conf /etc/nginx/sites-enabled/default (nginx -t)` failed:"
        ),
        "{err}"
    );
    // node1's nginx config is as before: Debian's default site back in place, no hapair site,
    // a config that passes `nginx -t`, nginx still running.
    assert_eq!(lab.exec_ok("node1", &["systemctl", "is-active", "nginx.service"]), "active\n");
    lab.exec_ok("node1", &["test", "-L", "/etc/nginx/sites-enabled/default"]);
    lab.exec_ok("node1", &["test", "!", "-e", "/etc/nginx/conf.d/hapair.conf"]);
    lab.exec_ok("node1", &["nginx", "-t"]);
    let leftovers = lab.exec_ok("node1", &["find", "/etc/nginx", "-name", ".hapair*"]);
    assert_eq!(leftovers, "", "temporary files left behind");
    let o = run(&["plan", "-i", &inv, "--limit", "pair2"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = run(&["apply", "-i", &inv, "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = run(&["plan", "-i", &inv]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    lab.down();
}
