//! Interop on real lab hosts: `hapair apply` installs `hapair vrrpd` on both nodes; node2's
//! daemon is then replaced by Debian's keepalived configured with the same settings (read from
//! the vrrpd config the engine rendered there). hapair must win the election on node1, hand
//! the VIP to keepalived when stopped, and take it back when started.

mod common;

use common::Lab;
use hapair::vrrp::config::{self, Version};
use std::time::Duration;

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
