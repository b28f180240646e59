//! `hapair doctor` on real lab hosts: a healthy pair is all green; with VRRP blocked on one
//! node, doctor names that node and the missing firewall rule.

mod common;

use common::{hapair, Lab};
use std::time::{Duration, Instant};

#[test]
fn doctor_is_green_on_a_healthy_pair_and_names_the_node_that_drops_vrrp() {
    let lab = Lab::up("t-doc1", 2, "master-backup");
    lab.apply(&[]);
    let vip = lab.addr(200);
    // Let the election finish before judging.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if lab.holds("node1", &vip) && !lab.holds("node2", &vip) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = hapair().args(["doctor", "-i"]).arg(&lab.inventory).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    assert!(text.contains("vrid 51: hears `node1`"), "{text}");
    assert!(text.contains("`nft` is installed: requests in flight when the VIP moves"), "{text}");

    let n1 = lab.node("node1").address;
    let rule = format!("rule family=\"ipv4\" source address=\"{n1}/32\" protocol value=\"vrrp\" accept");
    lab.exec_ok("node2", &["firewall-cmd", "--remove-rich-rule", &rule]);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) && !lab.holds("node2", &vip) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = hapair().args(["doctor", "-i"]).arg(&lab.inventory).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    let fail_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        fail_lines.iter().any(|l| l.contains("node2")
            && l.contains("firewall")
            && l.contains(&format!("does not accept VRRP from {n1}"))
            && l.contains("not UDP port 112")),
        "{text}"
    );
    assert!(text.contains(&format!("fix: on `node2`: firewall-cmd --zone=public --add-rich-rule='{rule}'")), "{text}");
    let col = |l: &str, i: usize| l.split_whitespace().nth(i).unwrap_or("").to_string();
    assert!(
        !fail_lines.iter().any(|l| col(l, 2) == "node1" && col(l, 3) == "firewall"),
        "node1's firewall is fine: {text}"
    );
    assert!(text.contains("`node2` hears nothing from `node1`"), "{text}");
}
