//! Interop on real lab hosts: `hapair apply` installs `hapair vrrpd` on both nodes; node2's
//! daemon is then replaced by Debian's keepalived configured with the same settings (read from
//! the vrrpd config the engine rendered there). hapair must win the election on node1, hand
//! the VIP to keepalived when stopped, and take it back when started. And a pair of hapair
//! daemons with `auth_type: ah`, as `apply` deploys it (unit sandbox, firewalld rule for AH).

mod common;

use common::Lab;
use hapair::vrrp::config::{self, Version};
use std::time::{Duration, Instant};

#[test]
fn hapair_and_keepalived_interoperate_on_lab_hosts() {
    let lab = Lab::up("t-vrrp1", 2, "master-backup");
    lab.apply(&[]);

    // node2's own settings, as the engine rendered them.
    let text = lab.exec_ok("node2", &["cat", "/etc/hapair/vrrpd.yml"]);
    let cfg = config::parse(&text).unwrap_or_else(|f| panic!("node2's vrrpd.yml does not validate: {f:?}"));
    let inst = &cfg.instances[0];
    let vip = inst.vips[0].addr().to_string();
    lab.wait_owner("node1", &vip, Duration::from_secs(15));

    let mut conf = format!(
        "vrrp_instance V{vrid} {{\n  state BACKUP\n  interface {iface}\n  virtual_router_id {vrid}\n  priority {prio}\n  advert_int {int}\n  version {ver}\n  virtual_ipaddress {{\n    {cidr}\n  }}\n",
        vrid = inst.vrid,
        iface = cfg.interface,
        prio = inst.priority,
        int = f64::from(inst.advert_interval_cs) / 100.0,
        ver = inst.version.number(),
        cidr = inst.vips[0],
    );
    if let (Version::V2, Some(_)) = (inst.version, inst.auth_pass) {
        let pass = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("auth_pass: "))
            .map(|p| p.trim_matches('"').to_string())
            .expect("auth_pass in the rendered config");
        conf.push_str(&format!("  authentication {{\n    auth_type PASS\n    auth_pass {pass}\n  }}\n"));
    }
    if !inst.preempt {
        conf.push_str("  nopreempt\n");
    }
    conf.push_str("}\n");
    lab.exec_ok("node2", &["systemctl", "stop", "hapair-vrrpd"]);
    lab.exec_ok("node2", &["sh", "-c", "printf '%s' \"$1\" > /etc/keepalived/keepalived.conf", "sh", &conf]);
    lab.exec_ok("node2", &["systemctl", "start", "keepalived"]);

    // keepalived hears hapair's adverts and stays backup.
    std::thread::sleep(Duration::from_secs(5));
    lab.wait_owner("node1", &vip, Duration::from_secs(1));
    let journal = lab.exec_ok("node2", &["journalctl", "-u", "keepalived", "--no-pager", "-o", "cat"]);
    assert!(journal.contains("Entering BACKUP STATE"), "{journal}");
    assert!(!journal.contains("Entering MASTER STATE"), "keepalived became master next to hapair:\n{journal}");

    // Graceful stop of hapair: priority 0, keepalived takes over.
    lab.exec_ok("node1", &["systemctl", "stop", "hapair-vrrpd"]);
    lab.wait_owner("node2", &vip, Duration::from_secs(5));

    // hapair returns with the higher priority and preempts keepalived.
    lab.exec_ok("node1", &["systemctl", "start", "hapair-vrrpd"]);
    lab.wait_owner("node1", &vip, Duration::from_secs(10));
    let status = lab.exec_ok("node1", &["cat", "/run/hapair/status.json"]);
    let s: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
    assert_eq!(s["instances"][0]["state"], "master", "{status}");
    lab.exec_ok("node2", &["systemctl", "stop", "keepalived"]);
}

/// Poll `node`'s daemon status until `cond` holds; fail with the status after `limit`.
fn wait_status(lab: &Lab, node: &str, what: &str, limit: Duration, cond: impl Fn(&serde_json::Value) -> bool) {
    let start = Instant::now();
    loop {
        let text = lab.exec_ok(node, &["cat", "/run/hapair/status.json"]);
        let s: serde_json::Value = serde_json::from_str(&text).expect("status JSON");
        if cond(&s) {
            return;
        }
        assert!(start.elapsed() < limit, "{node}: {what} not seen after {limit:?}: {text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_ah_pair_applies_elects_and_fails_over() {
    let lab = Lab::up("t-vrrp-ah", 2, "master-backup");
    let text = std::fs::read_to_string(&lab.inventory).expect("the lab's inventory");
    let ah = "defaults:\n  vrrp:\n    version: 2\n    auth_pass: s3cr3tAH\n    auth_type: ah\n";
    std::fs::write(&lab.inventory, text.replacen("defaults:\n", ah, 1)).expect("write the inventory");
    lab.apply(&[]);
    let vip = lab.addr(200);
    lab.wait_owner("node1", &vip, Duration::from_secs(15));

    // The firewall admits AH (IP protocol 51) from the peer, next to VRRP's rule.
    let n1 = lab.node("node1").address;
    let rules = lab.exec_ok("node2", &["firewall-cmd", "--list-rich-rules"]);
    assert!(
        rules.contains(&format!("rule family=\"ipv4\" source address=\"{n1}/32\" protocol value=\"ah\" accept")),
        "{rules}"
    );
    let cfg = lab.exec_ok("node2", &["cat", "/etc/hapair/vrrpd.yml"]);
    assert!(cfg.contains("    auth_type: ah\n"), "{cfg}");

    // node2 hears node1's AH adverts and drops none.
    let hears = |s: &serde_json::Value| {
        s["instances"][0]["state"] == "backup"
            && s["instances"][0]["adverts_received"].as_u64().unwrap_or(0) >= 2
            && s["instances"][0]["drops"]["auth"] == 0
    };
    wait_status(&lab, "node2", "backup hearing node1's AH adverts", Duration::from_secs(10), hears);
    let out = common::hapair().args(["doctor", "-i"]).arg(&lab.inventory).output().expect("doctor");
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(report.contains("accepts VRRP in AH (IP protocol 51, `auth_type: ah`) from"), "{report}");
    assert!(!report.lines().any(|l| l.starts_with("FAIL") && l.contains("firewall")), "{report}");

    // Stop and start node1's daemon: node2 takes over, then accepts the restarted node1's
    // sequence numbers (it preempts back) without an auth drop.
    lab.exec_ok("node1", &["systemctl", "stop", "hapair-vrrpd"]);
    lab.wait_owner("node2", &vip, Duration::from_secs(5));
    lab.exec_ok("node1", &["systemctl", "start", "hapair-vrrpd"]);
    lab.wait_owner("node1", &vip, Duration::from_secs(10));
    wait_status(&lab, "node2", "backup again, no auth drop", Duration::from_secs(10), hears);
    // A killed daemon, restarted by systemd at once: the peer accepts its new numbers too.
    lab.exec_ok("node1", &["systemctl", "kill", "-s", "KILL", "hapair-vrrpd"]);
    let start = Instant::now();
    loop {
        // The unit's runtime directory goes with the killed run: no status until the next.
        let s = String::from_utf8_lossy(&lab.exec("node1", &["cat", "/run/hapair/status.json"]).stdout).to_string();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        let pid = lab.exec_ok("node1", &["systemctl", "show", "-p", "MainPID", "--value", "hapair-vrrpd"]);
        if v["pid"].as_u64().map(|p| p.to_string()).as_deref() == Some(pid.trim())
            && v["instances"][0]["state"] == "master"
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "node1's daemon did not come back as master: {s}");
        std::thread::sleep(Duration::from_millis(200));
    }
    lab.wait_owner("node1", &vip, Duration::from_secs(5));
    let before = lab.exec_ok("node2", &["cat", "/run/hapair/status.json"]);
    let before: serde_json::Value = serde_json::from_str(&before).expect("status JSON");
    let received = before["instances"][0]["adverts_received"].as_u64().unwrap_or(0);
    wait_status(&lab, "node2", "adverts from the restarted node1", Duration::from_secs(10), |s| {
        s["instances"][0]["adverts_received"].as_u64().unwrap_or(0) >= received + 2
            && s["instances"][0]["drops"]["auth"] == 0
    });
}
