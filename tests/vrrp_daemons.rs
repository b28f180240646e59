//! Two `hapair vrrpd` on a real veth wire between two network namespaces.

mod vrrp_support;

use std::time::Duration;
use vrrp_support::*;

const S: fn(u64) -> Duration = Duration::from_secs;

fn first_lines(p: &Proc, n: usize) -> Vec<String> {
    p.log_text().lines().take(n).map(str::to_string).collect()
}

#[test]
fn elect_one_master_fail_over_on_sigterm_and_preempt_back() {
    let w = Wire::new();
    let mut a = w.hapair(0, "a", &instance(3, 150, 100, ""));
    let b = w.hapair(1, "b", &instance(3, 100, 100, ""));
    wait_for("a to hold the VIP", S(3), || w.holders() == (true, false));
    always_for("exactly one VIP holder", S(1), || w.holders() == (true, false));
    let lines = first_lines(&a, 2);
    assert_eq!(lines[0], "BACKUP for 10.77.250.200 (vrid 51): started, waiting for a master");
    // The wait is measured: never shorter than Master_Down_Interval (3 x 0.1 s + skew 0.041 s
    // = 0.34 s), a few ms longer when the process wakes late; never compared exactly.
    let waited: f64 = lines[1]
        .strip_prefix("MASTER for 10.77.250.200 (vrid 51): no advert from any master for ")
        .and_then(|r| r.strip_suffix(" s"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line: {}", lines[1]));
    assert!((0.34..1.0).contains(&waited), "waited {waited} s for Master_Down_Interval 0.34 s");
    wait_for("status files to catch up", S(3), || w.status("b")["instances"][0]["adverts_received"].as_u64() > Some(5));
    let sb = w.status("b");
    assert_eq!(sb["instances"][0]["state"], "backup");
    assert_eq!(sb["instances"][0]["master_seen"], "10.77.250.11");
    assert_eq!(sb["instances"][0]["peer_checksum"], "pseudo-header");
    assert_eq!(w.status("a")["instances"][0]["state"], "master");

    // SIGTERM: priority 0, VIP released, exit 0; b takes over after its Skew_Time.
    let st = a.stop().expect("a exits on SIGTERM");
    assert!(st.success(), "a exited with {st}");
    wait_for("b to take over", S(2), || w.holders() == (false, true));
    assert!(
        b.log_text().contains(
            "MASTER for 10.77.250.200 (vrid 51): 10.77.250.11 resigned (priority 0), took over after skew 0.061 s"
        ),
        "{}",
        b.log_text()
    );
    assert_eq!(w.status("a")["instances"][0]["state"], "initialize");

    // a returns with the higher priority and preempts.
    let _a = w.hapair(0, "a", &instance(3, 150, 100, ""));
    wait_for("a to preempt", S(3), || w.holders() == (true, false));
    always_for("exactly one VIP holder", S(1), || w.holders() == (true, false));
}

#[test]
fn sigkill_failover_and_restart_never_leaves_a_duplicate() {
    let w = Wire::new();
    let mut a = w.hapair(0, "a", &instance(3, 150, 100, ""));
    let _b = w.hapair(1, "b", &instance(3, 100, 100, ""));
    wait_for("a to hold the VIP", S(3), || w.holders() == (true, false));
    a.kill();
    // b notices the silence after Master_Down_Interval (0.36 s); the killed a keeps its VIP.
    wait_for("b to take over", S(2), || w.has_vip(1));
    assert!(w.has_vip(0), "the kernel keeps a killed daemon's VIP (that is what restart must clean)");
    let a2 = w.hapair(0, "a2", &instance(3, 150, 100, ""));
    assert!(
        a2.log_text().starts_with("removed stale VIP 10.77.250.200/24 left by an earlier run\n"),
        "{}",
        a2.log_text()
    );
    always_for("never both holding the VIP", S(2), || w.holders() != (true, true));
    assert_eq!(w.holders(), (true, false), "a preempts back");
}

#[test]
fn sighup_reload_changes_priority_without_a_transition() {
    let w = Wire::new();
    let _a = w.hapair(0, "a", &instance(3, 150, 100, ""));
    let mut b = w.hapair(1, "b", &instance(3, 100, 100, ""));
    wait_for("a to hold the VIP", S(3), || w.holders() == (true, false));
    w.write_hapair_config(1, "b", "", &instance(3, 120, 100, ""));
    b.signal(libc::SIGHUP);
    wait_for("b to reload", S(3), || b.log_text().contains("configuration reloaded"));
    wait_for("b's status to show priority 120", S(3), || w.status("b")["instances"][0]["effective_priority"] == 120);
    assert_eq!(w.status("b")["instances"][0]["transitions"], 1, "no flap on reload");
    // An invalid file is refused and the daemon keeps running.
    std::fs::write(w.dir.join("b.yml"), "node: b\n").unwrap();
    b.signal(libc::SIGHUP);
    wait_for("b to refuse the reload", S(3), || {
        b.log_text().contains("reload ignored, keeping the running configuration")
    });
    always_for("a stays the only master", S(1), || w.holders() == (true, false));
    assert_eq!(w.status("b")["instances"][0]["state"], "backup");
}

#[test]
fn failing_http_check_lowers_priority_and_the_peer_takes_over() {
    require("python3", "python3");
    let w = Wire::new();
    let mut web = w.spawn(0, "web", &["python3", "-m", "http.server", "--bind", "127.0.0.1", "8080"]);
    // Under load python's server takes a while to listen; a check failing from the start would
    // rightly hand the election to b.
    wait_for("the web server to answer", S(15), || {
        std::process::Command::new("ip")
            .args(["netns", "exec", &w.ns[0], "curl", "-s", "-o", "/dev/null", "-m", "1", "http://127.0.0.1:8080/"])
            .status()
            .is_ok_and(|s| s.success())
    });
    let check = "check:\n  type: http\n  url: http://127.0.0.1:8080/\n  interval_ms: 100\n  timeout_ms: 100\n  fall: 2\n  rise: 2\nmetrics: 127.0.0.1:9489\n";
    let _a = w.hapair_with(0, "a", check, &instance(3, 150, 100, "    check_weight: -60\n"));
    let _b = w.hapair(1, "b", &instance(3, 100, 100, ""));
    wait_for("a to hold the VIP", S(5), || w.holders() == (true, false));
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &w.ns[0], "curl", "-s", "http://127.0.0.1:9489/metrics"])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("hapair_vrrp_state{vrrp_instance=\"web-51\",vrid=\"51\",state=\"master\"} 1\n"), "{text}");
    assert!(text.contains("hapair_check_ok 1\n"), "{text}");

    web.kill();
    wait_for("b to take over when a's nginx stops", S(5), || w.holders() == (false, true));
    wait_for("a's status to explain its priority", S(3), || {
        w.status("a")["instances"][0]["priority_reason"] == "check failing (-60)"
    });
    assert_eq!(w.status("a")["instances"][0]["effective_priority"], 90);
    assert_eq!(w.status("a")["check"]["ok"], false);

    let _web = w.spawn(0, "web", &["python3", "-m", "http.server", "--bind", "127.0.0.1", "8080"]);
    wait_for("a to take the VIP back", S(8), || w.holders() == (true, false));
}

#[test]
fn unicast_with_plain_v3_checksum_elects_one_master() {
    let w = Wire::new();
    let uni = "    transport: unicast\n    v3_checksum_pseudo_header: false\n";
    let _a = w.hapair(0, "a", &instance(3, 150, 100, uni));
    let _b = w.hapair(1, "b", &instance(3, 100, 100, "    transport: unicast\n"));
    wait_for("a to hold the VIP", S(3), || w.holders() == (true, false));
    always_for("exactly one VIP holder", S(1), || w.holders() == (true, false));
    wait_for("b to see a's adverts", S(3), || w.status("b")["instances"][0]["adverts_received"].as_u64() > Some(5));
    // b verified a's checksums without the pseudo-header and says so.
    assert_eq!(w.status("b")["instances"][0]["peer_checksum"], "plain");
    assert_eq!(w.status("a")["instances"][0]["peer_checksum"], serde_json::Value::Null);
}
