//! Interop with Debian's real keepalived on a veth wire between two namespaces: election,
//! failover on stop, return on preempt, both directions, v2 with PASS auth and v3; captures
//! checked with tshark's VRRP dissector.

mod vrrp_support;

use std::path::Path;
use std::time::Duration;
use vrrp_support::*;

const S: fn(u64) -> Duration = Duration::from_secs;

fn keepalived_body(version: u8, priority: u8, pass: &str) -> String {
    match version {
        2 => format!(
            "  state BACKUP\n  priority {priority}\n  advert_int 1\n  version 2\n  authentication {{\n    auth_type PASS\n    auth_pass {pass}\n  }}"
        ),
        _ => format!("  state BACKUP\n  priority {priority}\n  advert_int 0.1\n  version 3"),
    }
}

fn hapair_instance(version: u8, priority: u8) -> String {
    match version {
        2 => instance(2, priority, 1000, "    auth_pass: secret\n"),
        _ => instance(3, priority, 100, ""),
    }
}

/// Every VRRP packet in the capture: TTL 255 and a checksum tshark calls good; both sources
/// seen; returns the lines `src ttl version priority checksum-status`.
fn check_capture(file: &Path, version: u8) -> Vec<String> {
    let lines = tshark_fields(file, &["ip.src", "ip.ttl", "vrrp.version", "vrrp.prio", "vrrp.checksum.status"]);
    assert!(
        lines.iter().any(|l| l.starts_with("10.77.250.11\t")),
        "no advert from hapair or keepalived on .11: {lines:?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("10.77.250.12\t")), "no advert from .12: {lines:?}");
    for l in &lines {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f.get(1), Some(&"255"), "TTL in {l}");
        assert_eq!(f.get(2), Some(&version.to_string().as_str()), "version in {l}");
        // tshark prints the checksum status as its enum value: 1 = good (0 bad, 2 unverified).
        assert_eq!(f.get(4), Some(&"1"), "tshark reports a bad or unverified checksum: {l}");
    }
    lines
}

/// hapair (priority 150) on node 1, keepalived (100) on node 2.
fn hapair_master(version: u8) {
    let w = Wire::new();
    let (mut cap, file) = w.capture(1, "cap");
    let mut a = w.hapair(0, "a", &hapair_instance(version, 150));
    let _k = w.keepalived(1, "k", &keepalived_body(version, 100, "secret"));
    let (elect, back) = if version == 2 { (S(6), S(8)) } else { (S(3), S(3)) };
    wait_for("hapair to hold the VIP", elect, || w.holders() == (true, false));
    always_for("hapair the only holder", S(2), || w.holders() == (true, false));

    assert!(a.stop().is_some_and(|s| s.success()), "hapair exits 0 on SIGTERM");
    wait_for("keepalived to take over after hapair's priority 0", S(3), || w.holders() == (false, true));

    let _a2 = w.hapair(0, "a2", &hapair_instance(version, 150));
    wait_for("hapair to preempt keepalived", back, || w.holders() == (true, false));
    always_for("hapair the only holder", S(1), || w.holders() == (true, false));
    let st = w.status("a2");
    let inst = &st["instances"][0];
    assert_eq!(inst["state"], "master");
    let drops: u64 = inst["drops"].as_object().expect("drops").values().filter_map(|v| v.as_u64()).sum();
    assert_eq!(drops, 0, "no advert dropped: {st}");

    cap.stop();
    let lines = check_capture(&file, version);
    assert!(
        lines.iter().any(|l| l.starts_with("10.77.250.11\t255\t") && l.ends_with("\t0\t1")),
        "hapair's priority 0: {lines:?}"
    );
}

/// keepalived (priority 150) on node 2, hapair (100) on node 1.
fn keepalived_master(version: u8) {
    let w = Wire::new();
    let (mut cap, file) = w.capture(0, "cap");
    let mut k = w.keepalived(1, "k", &keepalived_body(version, 150, "secret"));
    let a = w.hapair(0, "a", &hapair_instance(version, 100));
    let (elect, back) = if version == 2 { (S(6), S(8)) } else { (S(3), S(3)) };
    wait_for("keepalived to hold the VIP", elect, || w.holders() == (false, true));
    always_for("keepalived the only holder", S(2), || w.holders() == (false, true));
    wait_for("hapair's status to see keepalived", S(3), || {
        w.status("a")["instances"][0]["master_seen"] == "10.77.250.12"
    });
    let st = w.status("a");
    assert_eq!(st["instances"][0]["state"], "backup");
    assert_eq!(st["instances"][0]["peer_checksum"], if version == 2 { "plain" } else { "pseudo-header" });

    assert!(k.stop().is_some(), "keepalived stops on SIGTERM");
    wait_for("hapair to take over after keepalived's priority 0", S(3), || w.holders() == (true, false));
    assert!(a.log_text().contains("10.77.250.12 resigned (priority 0)"), "{}", a.log_text());

    let _k2 = w.keepalived(1, "k2", &keepalived_body(version, 150, "secret"));
    wait_for("keepalived to preempt hapair", back, || w.holders() == (false, true));
    always_for("keepalived the only holder", S(1), || w.holders() == (false, true));
    assert!(
        a.log_text().contains("BACKUP for 10.77.250.200 (vrid 51): 10.77.250.12 advertises priority 150 > ours 100"),
        "{}",
        a.log_text()
    );

    cap.stop();
    check_capture(&file, version);
}

#[test]
fn v2_pass_hapair_master_keepalived_backup() {
    hapair_master(2);
}

#[test]
fn v2_pass_keepalived_master_hapair_backup() {
    keepalived_master(2);
}

#[test]
fn v3_hapair_master_keepalived_backup() {
    hapair_master(3);
}

#[test]
fn v3_keepalived_master_hapair_backup() {
    keepalived_master(3);
}

#[test]
fn v2_wrong_password_is_dropped_and_counted() {
    let w = Wire::new();
    let _k = w.keepalived(1, "k", &keepalived_body(2, 150, "other"));
    let _a = w.hapair(0, "a", &hapair_instance(2, 100));
    // keepalived sends once it is master itself, after its Master_Down_Interval (3.4 s); each
    // side drops the other's adverts, so both hold the VIP.
    w.wait_for("keepalived to hold the VIP (it drops hapair's adverts)", S(10), || w.has_vip(1));
    w.wait_for("hapair to count auth drops", S(10), || {
        w.status("a")["instances"][0]["drops"]["auth"].as_u64().unwrap_or(0) >= 2
    });
    assert_eq!(w.status("a")["instances"][0]["adverts_received"], 0);
}

#[test]
fn v3_unicast_keepalived_master_hapair_backup() {
    let w = Wire::new();
    let unicast = "\n  unicast_src_ip 10.77.250.12\n  unicast_peer {\n    10.77.250.11\n  }";
    let mut k = w.keepalived(1, "k", &format!("{}{unicast}", keepalived_body(3, 150, "")));
    let a = w.hapair(0, "a", &instance(3, 100, 100, "    transport: unicast\n"));
    wait_for("keepalived to hold the VIP", S(3), || w.holders() == (false, true));
    always_for("keepalived the only holder", S(1), || w.holders() == (false, true));
    wait_for("hapair to accept keepalived's unicast adverts", S(3), || {
        w.status("a")["instances"][0]["master_seen"] == "10.77.250.12"
    });
    assert_eq!(w.status("a")["instances"][0]["peer_checksum"], "pseudo-header");
    assert!(k.stop().is_some(), "keepalived stops on SIGTERM");
    wait_for("hapair to take over", S(3), || w.holders() == (true, false));
    assert!(a.log_text().contains("10.77.250.12 resigned (priority 0)"), "{}", a.log_text());
}
