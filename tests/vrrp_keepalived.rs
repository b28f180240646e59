//! Interop with Debian's real keepalived on a veth wire between two namespaces: election,
//! failover on stop, return on preempt, both directions, v2 with PASS auth and v3; captures
//! checked with tshark's VRRP dissector; v2 with AH (IP protocol 51) too, restarts included.

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

// VRRPv2 with `auth_type AH` (IPsec Authentication Header, HMAC-MD5-96, IP protocol 51).

fn keepalived_ah(priority: u8, pass: &str) -> String {
    format!(
        "  state BACKUP\n  priority {priority}\n  advert_int 1\n  version 2\n  authentication {{\n    auth_type AH\n    auth_pass {pass}\n  }}"
    )
}

fn hapair_ah(priority: u8, pass: &str) -> String {
    instance(2, priority, 1000, &format!("    auth_pass: {pass}\n    auth_type: ah\n"))
}

/// keepalived's log lines saying it dropped an AH advert (bad ICV, SPI or sequence number).
fn keepalived_ah_drops(k: &Proc) -> Vec<String> {
    k.log_text().lines().filter(|l| l.contains("IPSEC")).map(str::to_string).collect()
}

#[test]
fn v2_ah_hapair_master_keepalived_backup_and_restarts() {
    let w = Wire::new();
    let mut a = w.hapair(0, "a", &hapair_ah(150, "secret"));
    let k = w.keepalived(1, "k", &keepalived_ah(100, "secret"));
    w.wait_for("hapair to hold the VIP", S(6), || w.holders() == (true, false));
    // keepalived backup: it accepts hapair's AH adverts (else it would take the VIP in 3.6 s).
    always_for("hapair the only holder", S(5), || w.holders() == (true, false));
    assert!(keepalived_ah_drops(&k).is_empty(), "keepalived dropped AH adverts:\n{}", k.log_text());

    // A daemon killed and started again at once: keepalived, still backup, must accept the new
    // run's sequence numbers (keepalived's own would start again from 1 and be dropped).
    a.kill();
    let a2 = w.hapair(0, "a2", &hapair_ah(150, "secret"));
    w.wait_for("the restarted hapair to hold the VIP", S(10), || w.holders() == (true, false));
    always_for("hapair the only holder after its restart", S(5), || w.holders() == (true, false));
    assert!(keepalived_ah_drops(&k).is_empty(), "keepalived dropped AH adverts:\n{}", k.log_text());
    let st = w.status("a2");
    assert_eq!(st["instances"][0]["state"], "master", "{st}");

    // A clean stop (priority 0) hands over to keepalived; the next run preempts it again.
    let mut a2 = a2;
    assert!(a2.stop().is_some_and(|s| s.success()), "hapair exits 0 on SIGTERM");
    w.wait_for("keepalived to take over after hapair's priority 0", S(3), || w.holders() == (false, true));
    let _a3 = w.hapair(0, "a3", &hapair_ah(150, "secret"));
    w.wait_for("hapair to preempt keepalived", S(8), || w.holders() == (true, false));
    always_for("hapair the only holder", S(2), || w.holders() == (true, false));
    let st = w.status("a3");
    assert_eq!(st["instances"][0]["drops"]["auth"], 0, "{st}");
    assert!(st["instances"][0]["adverts_received"].as_u64().unwrap_or(0) >= 1, "heard keepalived: {st}");
    assert!(keepalived_ah_drops(&k).is_empty(), "keepalived dropped AH adverts:\n{}", k.log_text());
}

#[test]
fn v2_ah_keepalived_master_hapair_backup_and_restarts() {
    let w = Wire::new();
    let mut k = w.keepalived(1, "k", &keepalived_ah(150, "secret"));
    let a = w.hapair(0, "a", &hapair_ah(100, "secret"));
    w.wait_for("keepalived to hold the VIP", S(6), || w.holders() == (false, true));
    always_for("keepalived the only holder", S(2), || w.holders() == (false, true));
    w.wait_for("hapair's status to see keepalived", S(3), || {
        w.status("a")["instances"][0]["master_seen"] == "10.77.250.12"
    });
    let st = w.status("a");
    assert_eq!(st["instances"][0]["state"], "backup", "{st}");
    assert_eq!(st["instances"][0]["drops"]["auth"], 0, "{st}");

    assert!(k.stop().is_some(), "keepalived stops on SIGTERM");
    w.wait_for("hapair to take over after keepalived's priority 0", S(3), || w.holders() == (true, false));
    assert!(a.log_text().contains("10.77.250.12 resigned (priority 0)"), "{}", a.log_text());

    // keepalived starts again with its counter at 0 (and, with AH, as BACKUP): it hears
    // hapair's numbers, then preempts with numbers above them, which hapair accepts.
    let k2 = w.keepalived(1, "k2", &keepalived_ah(150, "secret"));
    w.wait_for("keepalived to preempt hapair", S(8), || w.holders() == (false, true));
    always_for("keepalived the only holder", S(2), || w.holders() == (false, true));
    assert!(
        a.log_text().contains("BACKUP for 10.77.250.200 (vrid 51): 10.77.250.12 advertises priority 150 > ours 100"),
        "{}",
        a.log_text()
    );
    assert_eq!(w.status("a")["instances"][0]["drops"]["auth"], 0, "{}", w.status("a"));
    assert!(keepalived_ah_drops(&k2).is_empty(), "keepalived dropped AH adverts:\n{}", k2.log_text());
}

#[test]
fn v2_ah_wrong_password_is_dropped_and_counted() {
    let w = Wire::new();
    let _k = w.keepalived(1, "k", &keepalived_ah(150, "other"));
    let a = w.hapair(0, "a", &hapair_ah(100, "secret"));
    // keepalived sends once it is master itself, after its Master_Down_Interval (3.4 s); each
    // side drops the other's adverts, so both hold the VIP.
    w.wait_for("keepalived to hold the VIP (it drops hapair's adverts)", S(10), || w.has_vip(1));
    w.wait_for("hapair to count auth drops", S(10), || {
        w.status("a")["instances"][0]["drops"]["auth"].as_u64().unwrap_or(0) >= 2
    });
    assert_eq!(w.status("a")["instances"][0]["adverts_received"], 0);
    assert!(a.log_text().contains("does not verify"), "{}", a.log_text());
}

/// Unicast: keepalived leaves the TTL out of the ICV there (and only there).
#[test]
fn v2_ah_unicast_both_ways() {
    let w = Wire::new();
    let unicast = "\n  unicast_src_ip 10.77.250.12\n  unicast_peer {\n    10.77.250.11\n  }";
    let mut k = w.keepalived(1, "k", &format!("{}{unicast}", keepalived_ah(150, "secret")));
    let instance = instance(2, 100, 1000, "    auth_pass: secret\n    auth_type: ah\n    transport: unicast\n");
    let a = w.hapair(0, "a", &instance);
    w.wait_for("keepalived to hold the VIP", S(6), || w.holders() == (false, true));
    always_for("keepalived the only holder", S(1), || w.holders() == (false, true));
    w.wait_for("hapair to accept keepalived's unicast AH adverts", S(3), || {
        w.status("a")["instances"][0]["master_seen"] == "10.77.250.12"
    });
    assert!(k.stop().is_some(), "keepalived stops on SIGTERM");
    w.wait_for("hapair to take over", S(3), || w.holders() == (true, false));
    assert!(a.log_text().contains("10.77.250.12 resigned (priority 0)"), "{}", a.log_text());
    // keepalived as backup now: it must accept hapair's unicast AH adverts to stay backup.
    let k2 = w.keepalived(1, "k2", &format!("{}{unicast}", keepalived_ah(50, "secret")));
    always_for("hapair the only holder with keepalived backup", S(5), || w.holders() == (true, false));
    assert!(keepalived_ah_drops(&k2).is_empty(), "keepalived dropped AH adverts:\n{}", k2.log_text());
    assert_eq!(w.status("a")["instances"][0]["drops"]["auth"], 0, "{}", w.status("a"));
}
