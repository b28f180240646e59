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
    let mut web = w.web_server(0);
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

/// Top-level settings of a hapair pair as hapair renders them (each node knows its peer runs
/// hapair), with a control socket per node.
fn pair_top(w: &Wire, name: &str) -> String {
    format!("peer_hapair: true\ncontrol_socket: {}\n", w.dir.join(format!("{name}.sock")).display())
}

/// Poll the VIP's holders until `done` holds, recording whether it was ever on no node.
fn watch_holders(w: &Wire, limit: Duration, done: impl Fn((bool, bool)) -> bool) -> (bool, Vec<(bool, bool)>) {
    let end = std::time::Instant::now() + limit;
    let mut seen = Vec::new();
    let mut nobody = false;
    while std::time::Instant::now() < end {
        let h = w.holders();
        nobody |= h == (false, false);
        if seen.last() != Some(&h) {
            seen.push(h);
        }
        if done(h) {
            return (nobody, seen);
        }
    }
    panic!("timed out after {limit:?}; holders went {seen:?}");
}

#[test]
fn hapair_pair_graceful_stop_hands_over_without_a_gap() {
    let w = Wire::new();
    // 1 s adverts: an RFC backup would wait its Skew_Time (0.6 s) before taking over.
    let mut a = w.hapair_with(0, "a", &pair_top(&w, "a"), &instance(3, 150, 1000, ""));
    let b = w.hapair_with(1, "b", &pair_top(&w, "b"), &instance(3, 100, 1000, ""));
    wait_for("a to hold the VIP", S(6), || w.holders() == (true, false));
    wait_for("b to hear a", S(3), || w.status("b")["instances"][0]["adverts_received"].as_u64() > Some(0));
    a.signal(libc::SIGTERM);
    let (nobody, seen) = watch_holders(&w, S(3), |h| h == (false, true));
    assert!(!nobody, "the VIP was on no node during the hand-over: {seen:?}");
    assert!(a.wait(S(5)).is_some_and(|s| s.success()), "a exits 0");
    assert!(
        b.log_text().contains("hapair peer 10.77.250.11 resigned (priority 0), took over at once"),
        "{}",
        b.log_text()
    );
}

#[test]
fn switchover_through_the_control_socket_is_make_before_break_and_sticks() {
    let w = Wire::new();
    let a = w.hapair_with(0, "a", &pair_top(&w, "a"), &instance(3, 150, 100, ""));
    let _b = w.hapair_with(1, "b", &pair_top(&w, "b"), &instance(3, 100, 100, ""));
    wait_for("a to hold the VIP", S(3), || w.holders() == (true, false));
    wait_for("b to hear a", S(3), || w.status("b")["instances"][0]["adverts_received"].as_u64() > Some(0));
    let sock = w.dir.join("a.sock");
    let out = std::process::Command::new(hapair_bin())
        .args(["vrrpd", "ctl", "--socket", path(&sock), "handover"])
        .output()
        .expect("hapair vrrpd ctl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "vrid 51: master -> backup\n");
    let (nobody, seen) = watch_holders(&w, S(3), |h| h == (false, true));
    assert!(!nobody, "the VIP was on no node during the switchover: {seen:?}");
    // a has the higher priority but yields: no preemption after its Master_Down_Interval.
    always_for("b keeps the VIP", S(2), || w.holders() == (false, true));
    assert!(w.status("a")["instances"][0]["priority_reason"].as_str().unwrap().contains("yielded by switchover"));
    // Back: claim on a, hand over on b.
    let ctl = |name: &str, req: &str| {
        let s = w.dir.join(format!("{name}.sock"));
        let st = std::process::Command::new(hapair_bin()).args(["vrrpd", "ctl", "--socket", path(&s), req]).status();
        assert!(st.is_ok_and(|s| s.success()));
    };
    ctl("a", "claim");
    ctl("b", "handover");
    let (nobody, seen) = watch_holders(&w, S(3), |h| h == (true, false));
    assert!(!nobody, "the VIP was on no node switching back: {seen:?}");
    // A bad request is refused with a clear error.
    let out = std::process::Command::new(hapair_bin())
        .args(["vrrpd", "ctl", "--socket", path(&sock), "explode"])
        .output()
        .expect("hapair vrrpd ctl");
    assert_eq!(out.status.code(), Some(1));
    drop(a);
}

#[test]
fn a_crashed_daemon_restarting_keeps_its_vip_in_a_hapair_pair() {
    let w = Wire::new();
    // 1 s adverts: b waits 3.6 s of silence, longer than a restart takes.
    let mut a = w.hapair_with(0, "a", &pair_top(&w, "a"), &instance(3, 150, 1000, ""));
    let _b = w.hapair_with(1, "b", &pair_top(&w, "b"), &instance(3, 100, 1000, ""));
    wait_for("a to hold the VIP", S(6), || w.holders() == (true, false));
    a.kill();
    let a2 = w.hapair_with(0, "a2", &pair_top(&w, "a"), &instance(3, 150, 1000, ""));
    always_for("a keeps the VIP alone", S(2), || w.holders() == (true, false));
    assert!(a2.log_text().contains("restarted while holding the VIPs; kept them and announced"), "{}", a2.log_text());
    assert!(!a2.log_text().contains("removed stale VIP"), "{}", a2.log_text());
}

#[test]
fn nginx_exit_seen_by_pidfd_hands_over_before_any_probe_fails() {
    require("python3", "python3");
    let w = Wire::new();
    let mut web = w.web_server(0);
    // `ip netns exec` execs the command: the child's pid is the server's.
    let pid_file = w.dir.join("web.pid");
    std::fs::write(&pid_file, format!("{}\n", web.pid())).unwrap();
    // Probes every 10 s × fall 3 and 1 s adverts: without the event, a hand-over would take
    // more than 30 s.
    let check = format!(
        "check:\n  type: http\n  url: http://127.0.0.1:8080/\n  interval_ms: 10000\n  timeout_ms: 1000\n  fall: 3\n  rise: 1\n  pid_file: {}\n",
        pid_file.display()
    );
    let top = format!("{}{check}", pair_top(&w, "a"));
    let a = w.hapair_with(0, "a", &top, &instance(3, 150, 1000, "    check_weight: -60\n"));
    let b = w.hapair_with(1, "b", &pair_top(&w, "b"), &instance(3, 100, 1000, ""));
    wait_for("a to hold the VIP", S(6), || w.holders() == (true, false));
    wait_for("b to hear a", S(3), || w.status("b")["instances"][0]["adverts_received"].as_u64() > Some(0));
    web.kill();
    let (nobody, seen) = watch_holders(&w, S(5), |h| h == (false, true));
    assert!(!nobody, "the VIP was on no node: {seen:?}");
    assert!(a.log_text().contains("health check failed at once: nginx's master process"), "{}", a.log_text());
    assert!(
        b.log_text().contains("hapair peer 10.77.250.11 lowered its priority to 90 < ours 100, took over at once"),
        "{}",
        b.log_text()
    );
}

#[test]
fn sighup_reload_does_not_leave_a_node_stuck_in_fault() {
    require("python3", "python3");
    let w = Wire::new();
    // weight 0: a failing check means FAULT. Nothing listens on 8080 yet; recovery needs 50
    // passing probes (5 s) so that the reload below lands while the check is still failing.
    let check = |rise: u32| {
        format!("check:\n  type: http\n  url: http://127.0.0.1:8080/\n  interval_ms: 100\n  timeout_ms: 100\n  fall: 1\n  rise: {rise}\n")
    };
    let mut a = w.hapair_with(0, "a", &check(50), &instance(3, 150, 100, ""));
    let _b = w.hapair(1, "b", &instance(3, 100, 100, ""));
    wait_for("a in FAULT", S(5), || w.status("a")["instances"][0]["state"] == "fault");
    let _web = w.web_server(0);
    // The reload replaces the check (rise 1) while a is still failing: every probe from now on
    // passes, and a must see that as the check passing.
    w.write_hapair_config(0, "a", &check(1), &instance(3, 150, 100, ""));
    a.signal(libc::SIGHUP);
    wait_for("a to reload", S(3), || a.log_text().contains("configuration reloaded"));
    wait_for("a to leave FAULT and take the VIP back", S(5), || w.holders() == (true, false));
}

/// A VIP off the nodes' subnet (10.77.251.200/24 on nodes in 10.77.250.0/24): after a hand-over
/// the old holder keeps a route to the VIP's subnet while it lingers (its prefix route left with
/// the address, and that subnet's clients must still be answered); a daemon killed then leaves
/// it behind, and the next start removes it.
#[test]
fn a_lingering_node_keeps_a_route_to_an_off_subnet_vip_and_a_restart_removes_it() {
    require("nft", "nftables");
    let w = Wire::new();
    let inst = |p: u8| {
        format!(
            "  - name: web-51\n    vrid: 51\n    version: 3\n    priority: {p}\n    advert_interval_ms: 100\n    vips: [10.77.251.200/24]\n    garp_count: 1\n"
        )
    };
    let ip = |i: usize, args: &[&str]| {
        let out = std::process::Command::new("ip").args(["-n", &w.ns[i]]).args(args).output().expect("run ip");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let holds = |i: usize| ip(i, &["-4", "-o", "addr", "show", "dev", "eth0"]).contains(" 10.77.251.200/24 ");
    let ours = |i: usize| ip(i, &["-4", "route", "show", "table", "all", "proto", "72"]);
    let mut a = w.hapair_with(0, "a", &pair_top(&w, "a"), &inst(150));
    let _b = w.hapair_with(1, "b", &pair_top(&w, "b"), &inst(100));
    wait_for("a to hold the VIP", S(3), || holds(0) && !holds(1));
    wait_for("b to hear a", S(3), || w.status("b")["instances"][0]["adverts_received"].as_u64() > Some(0));
    let st = std::process::Command::new(hapair_bin())
        .args(["vrrpd", "ctl", "--socket", path(&w.dir.join("a.sock")), "handover"])
        .status();
    assert!(st.is_ok_and(|s| s.success()));
    wait_for("a to release the VIP and keep a route to its subnet", S(2), || {
        !holds(0) && ours(0).contains("10.77.251.0/24 dev eth0")
    });
    a.kill();
    wait_for("b to hold the VIP", S(2), || holds(1));
    assert!(ours(0).contains("10.77.251.0/24 dev eth0"), "a killed daemon's route stays: {}", ours(0));
    let a2 = w.hapair_with(0, "a2", &pair_top(&w, "a2"), &inst(150));
    assert!(
        a2.log_text().contains("removed the route for 10.77.251.0/24 left by an earlier run (it was handing over)\n"),
        "{}",
        a2.log_text()
    );
    assert!(!ours(0).contains("10.77.251.0/24"), "{}", ours(0));
}

/// keepalived's `virtual_ipaddress { ADDR dev IFACE }`: adverts on eth0, the VIP on a second
/// link (eth1, another segment: 10.77.251.200/24 on nodes at 10.77.251.11 and .12 there).
const VIP1: &str = "10.77.251.200";

fn on_eth1(p: u8) -> String {
    format!(
        "  - name: web-51\n    vrid: 51\n    version: 3\n    priority: {p}\n    advert_interval_ms: 100\n    vips: [{VIP1}/24]\n    vip_interface: eth1\n    garp_count: 1\n"
    )
}

/// Who holds [`VIP1`] on eth1, polled until `done`; a poll with both nodes holding it is
/// tolerated once in a row (a takeover is "the new master adds, the old one removes on its
/// advert"), twice is a failure, as in `always_for`.
fn watch_eth1(w: &Wire, what: &str, limit: Duration, done: (bool, bool)) {
    let has = |i: usize| w.addrs_on(i, "eth1").contains(&format!(" {VIP1}/24 "));
    let end = std::time::Instant::now() + limit;
    let mut both = 0;
    let mut seen = Vec::new();
    while std::time::Instant::now() < end {
        let h = (has(0), has(1));
        if seen.last() != Some(&h) {
            seen.push(h);
        }
        both = if h == (true, true) { both + 1 } else { 0 };
        assert!(both < 2, "{what}: the VIP was on both nodes: {seen:?}\n{}", w.logs());
        if h == done {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("{what}: timed out after {limit:?}; holders went {seen:?}\n{}", w.logs());
}

#[test]
fn vips_on_another_interface_are_added_moved_and_removed_there_only() {
    let w = Wire::new();
    w.second_link();
    let eth0 = |i: usize| w.addrs_on(i, "eth0");
    let eth1 = |i: usize| w.addrs_on(i, "eth1");
    let mut a = w.hapair_with(0, "a", "metrics: 127.0.0.1:9489\n", &on_eth1(150));
    let mut b = w.hapair(1, "b", &on_eth1(100));
    watch_eth1(&w, "a to take the VIP", S(3), (true, false));
    always_for("one holder, on eth1 only", S(1), || {
        eth1(0).contains(&format!(" {VIP1}/24 ")) && !eth1(1).contains(VIP1) && !eth0(0).contains(VIP1)
    });
    assert!(eth1(0).contains(" eth1:hapair"), "the VIP carries eth1's label: {}", eth1(0));
    assert!(!eth0(1).contains(VIP1), "{}", eth0(1));
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &w.ns[0], "curl", "-s", "http://127.0.0.1:9489/metrics"])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("hapair_vip_present{{vrrp_instance=\"web-51\",vrid=\"51\",vip=\"{VIP1}\"}} 1\n")),
        "{text}"
    );

    // A stop moves it to b's eth1, never on both.
    a.signal(libc::SIGTERM);
    watch_eth1(&w, "b to take over on a's stop", S(3), (false, true));
    assert!(a.wait(S(5)).is_some_and(|s| s.success()), "a exits 0");
    assert!(!eth0(1).contains(VIP1), "{}", eth0(1));

    // Killed while holding it, the VIP stays on eth1 (the kernel keeps it); the next start
    // removes it there before anything else.
    let mut a2 = w.hapair(0, "a2", &on_eth1(150));
    watch_eth1(&w, "a to preempt back", S(3), (true, false));
    a2.kill();
    w.wait_for("b to take over from the killed a", S(3), || eth1(1).contains(&format!(" {VIP1}/24 ")));
    assert!(eth1(0).contains(VIP1), "the killed daemon's VIP stays: {}", eth1(0));
    let mut a3 = w.hapair(0, "a3", &on_eth1(150));
    assert!(
        a3.log_text().starts_with(&format!("removed stale VIP {VIP1}/24 left by an earlier run\n")),
        "{}",
        a3.log_text()
    );
    watch_eth1(&w, "a to preempt back after its restart", S(3), (true, false));

    // Both stopped: the VIP is nowhere.
    a3.signal(libc::SIGTERM);
    b.signal(libc::SIGTERM);
    assert!(a3.wait(S(5)).is_some_and(|s| s.success()) && b.wait(S(5)).is_some_and(|s| s.success()));
    for i in 0..2 {
        assert!(!eth1(i).contains(VIP1) && !eth0(i).contains(VIP1), "{}{}", eth0(i), eth1(i));
    }
}

/// In a hapair pair the hand-over of VIPs on another interface stays immediate and
/// make-before-break, but nothing is forwarded or lingers: no `hapair_forward_*` or
/// `hapair_linger_*` table is made (the peer's address on eth1 is not what the daemon knows).
#[test]
fn a_hapair_pair_hands_vips_on_another_interface_over_without_forwarding() {
    require("nft", "nftables");
    let w = Wire::new();
    w.second_link();
    let tables = |i: usize| {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &w.ns[i], "nft", "list", "tables"])
            .output()
            .expect("nft");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let has = |i: usize| w.addrs_on(i, "eth1").contains(&format!(" {VIP1}/24 "));
    let mut a = w.hapair_with(0, "a", &pair_top(&w, "a"), &on_eth1(150));
    let b = w.hapair_with(1, "b", &pair_top(&w, "b"), &on_eth1(100));
    w.wait_for("a to hold the VIP", S(3), || has(0) && !has(1));
    wait_for("b to hear a", S(3), || w.status("b")["instances"][0]["adverts_received"].as_u64() > Some(0));
    assert!(
        a.log_text().starts_with(
            "vrid 51: VIPs on `eth1`, adverts on `eth0`: connections open at a hand-over are not carried over for them\n"
        ),
        "{}",
        a.log_text()
    );
    a.signal(libc::SIGTERM);
    let end = std::time::Instant::now() + S(3);
    let mut nobody = false;
    while !has(1) || has(0) {
        assert!(std::time::Instant::now() < end, "b did not take over\n{}", w.logs());
        nobody |= !has(0) && !has(1);
        for i in 0..2 {
            assert!(!tables(i).contains("hapair_"), "node {i} made a table: {}", tables(i));
        }
    }
    assert!(!nobody, "the VIP was on no node during the hand-over");
    assert!(a.wait(S(5)).is_some_and(|s| s.success()), "a exits 0");
    assert!(
        b.log_text().contains("hapair peer 10.77.250.11 resigned (priority 0), took over at once"),
        "{}",
        b.log_text()
    );
    assert!(!tables(0).contains("hapair_") && !tables(1).contains("hapair_"), "{}{}", tables(0), tables(1));
}

/// One VRID's addresses on two interfaces (keepalived's `A/P dev eth0  B/P dev eth1`): one
/// `vips` entry names eth1. The master holds each on its own interface (never the other), a
/// stop moves both, never on both nodes; in a hapair pair the eth0 address's connections are
/// carried over as ever (the new holder's forwarding names it, not the eth1 one, which is said
/// at start not to be); a killed holder's addresses are removed by the next start, each on its
/// own interface; none is left at the end.
#[test]
fn one_vrids_addresses_on_two_interfaces_move_together_each_on_its_own() {
    require("nft", "nftables");
    let w = Wire::new();
    w.second_link();
    let eth0 = |i: usize| w.addrs_on(i, "eth0");
    let eth1 = |i: usize| w.addrs_on(i, "eth1");
    let inst = |p: u8| {
        format!(
            "  - name: web-51\n    vrid: 51\n    version: 3\n    priority: {p}\n    advert_interval_ms: 100\n    vips: [{VIP}/24, {{address: {VIP1}/24, interface: eth1}}]\n    garp_count: 1\n"
        )
    };
    // (on eth0, on eth1) of node i; neither address is ever on the other's interface.
    let holds = |i: usize| {
        let (e0, e1) = (eth0(i), eth1(i));
        assert!(!e0.contains(VIP1) && !e1.contains(&format!(" {VIP}/")), "misplaced on node {i}: {e0}{e1}");
        (e0.contains(&format!(" {VIP}/24 ")), e1.contains(&format!(" {VIP1}/24 ")))
    };
    // Polled until node `to` holds both and the other none; an address on both nodes is
    // tolerated once in a row (the new master adds, the old one removes on its advert).
    let moved = |what: &str, to: usize| {
        let end = std::time::Instant::now() + S(3);
        let mut both = 0;
        let mut seen = Vec::new();
        loop {
            let h = [holds(0), holds(1)];
            if seen.last() != Some(&h) {
                seen.push(h);
            }
            let twice = (h[0].0 && h[1].0) || (h[0].1 && h[1].1);
            both = if twice { both + 1 } else { 0 };
            assert!(both < 2, "{what}: an address was on both nodes: {seen:?}\n{}", w.logs());
            if h[to] == (true, true) && h[1 - to] == (false, false) {
                return;
            }
            assert!(std::time::Instant::now() < end, "{what}: timed out; holders went {seen:?}\n{}", w.logs());
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let ruleset = |i: usize| {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &w.ns[i], "nft", "list", "ruleset"])
            .output()
            .expect("nft");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // An RFC pair: a stop moves both, never on both nodes.
    let mut a = w.hapair(0, "a", &inst(150));
    let mut b = w.hapair(1, "b", &inst(100));
    moved("a to take both addresses", 0);
    always_for("a holds both, each on its own interface", S(1), || {
        holds(0) == (true, true) && holds(1) == (false, false)
    });
    assert!(eth1(0).contains(" eth1:hapair") && eth0(0).contains(" eth0:hapair"), "{}{}", eth0(0), eth1(0));
    a.signal(libc::SIGTERM);
    moved("b to take both on a's stop", 1);
    assert!(a.wait(S(5)).is_some_and(|s| s.success()), "a exits 0");

    // Killed while holding them, a's addresses stay; its next start removes both, each on its
    // own interface, before anything else.
    let mut a2 = w.hapair(0, "a2", &inst(150));
    moved("a to preempt back", 0);
    a2.kill();
    w.wait_for("b to take over from the killed a", S(3), || holds(1) == (true, true));
    assert_eq!(holds(0), (true, true), "the killed daemon's addresses stay");
    let mut a3 = w.hapair(0, "a3", &inst(150));
    w.wait_for("a3 to remove what the killed daemon left", S(3), || {
        let log = a3.log_text();
        log.contains(&format!("removed stale VIP {VIP}/24 left by an earlier run"))
            && log.contains(&format!("removed stale VIP {VIP1}/24 left by an earlier run"))
    });
    moved("a to preempt back after its restart", 0);
    a3.signal(libc::SIGTERM);
    b.signal(libc::SIGTERM);
    assert!(a3.wait(S(5)).is_some_and(|s| s.success()) && b.wait(S(5)).is_some_and(|s| s.success()));
    for i in 0..2 {
        assert_eq!(holds(i), (false, false), "{}{}", eth0(i), eth1(i));
    }

    // A hapair pair: the hand-over is make-before-break (each address always on a node), the
    // eth0 address's open connections are carried over (the new holder forwards them to the
    // old one for a moment), the eth1 one's are not, as said at start.
    let mut a = w.hapair_with(0, "a4", &pair_top(&w, "a4"), &inst(150));
    let mut b = w.hapair_with(1, "b4", &pair_top(&w, "b4"), &inst(100));
    w.wait_for("a to hold both", S(3), || holds(0) == (true, true) && holds(1) == (false, false));
    wait_for("b to hear a", S(3), || w.status("b4")["instances"][0]["adverts_received"].as_u64() > Some(0));
    assert!(
        a.log_text().starts_with(&format!(
            "vrid 51: VIPs {VIP1} on `eth1`, adverts on `eth0`: connections open at a hand-over are not carried over for them\n"
        )),
        "{}",
        a.log_text()
    );
    a.signal(libc::SIGTERM);
    let end = std::time::Instant::now() + S(3);
    let mut seen = Vec::new();
    while !(holds(1) == (true, true) && holds(0) == (false, false)) {
        let h = [holds(0), holds(1)];
        if seen.last() != Some(&h) {
            seen.push(h);
        }
        assert!((h[0].0 || h[1].0) && (h[0].1 || h[1].1), "an address was on no node: {seen:?}\n{}", w.logs());
        assert!(std::time::Instant::now() < end, "b did not take both: {seen:?}\n{}", w.logs());
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut forward = String::new();
    wait_for("b's forwarding table", S(2), || {
        forward = ruleset(1);
        forward.contains("hapair_forward")
    });
    assert!(forward.contains(VIP) && !forward.contains(VIP1), "{forward}");
    assert!(a.wait(S(5)).is_some_and(|s| s.success()), "a exits 0");
    assert!(
        b.log_text().contains("hapair peer 10.77.250.11 resigned (priority 0), took over at once"),
        "{}",
        b.log_text()
    );
    b.signal(libc::SIGTERM);
    assert!(b.wait(S(5)).is_some_and(|s| s.success()), "b exits 0");
    for i in 0..2 {
        assert_eq!(holds(i), (false, false), "{}{}", eth0(i), eth1(i));
    }
}

/// In a hapair pair, a reload that changes the holder's VIPs replaces its instance: the old one
/// resigns, and gives its VIPs up at once (it is dropped, so nothing would remove them later:
/// before, the holder kept them for good, a duplicate address). The peer takes over; one node
/// holds both addresses, the other none, and that stays so.
#[test]
fn a_reload_changing_the_holders_vips_leaves_none_behind() {
    let w = Wire::new();
    let inst = |p: u8, vips: &str| {
        format!(
            "  - name: web-51\n    vrid: 51\n    version: 3\n    priority: {p}\n    advert_interval_ms: 100\n    vips: [{vips}]\n    garp_count: 1\n"
        )
    };
    let mut a = w.hapair_with(0, "a", &pair_top(&w, "a"), &inst(150, &format!("{VIP}/24")));
    let mut b = w.hapair_with(1, "b", &pair_top(&w, "b"), &inst(100, &format!("{VIP}/24")));
    wait_for("a to hold the VIP", S(3), || w.holders() == (true, false));
    wait_for("b to hear a", S(3), || w.status("b")["instances"][0]["adverts_received"].as_u64() > Some(0));
    // b, the lower priority, holds it after a switchover (sticky until claimed).
    let out = std::process::Command::new(hapair_bin())
        .args(["vrrpd", "ctl", "--socket", path(&w.dir.join("a.sock")), "handover"])
        .output()
        .expect("hapair vrrpd ctl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for("b to hold the VIP", S(3), || w.holders() == (false, true));
    let two = format!("{VIP}/24, 10.77.250.201/24");
    w.write_hapair_config(0, "a", &pair_top(&w, "a"), &inst(150, &two));
    w.write_hapair_config(1, "b", &pair_top(&w, "b"), &inst(100, &two));
    // The backup first, then the holder (as `apply` may happen to do).
    a.signal(libc::SIGHUP);
    wait_for("a to reload", S(3), || a.log_text().contains("configuration reloaded"));
    b.signal(libc::SIGHUP);
    let on = |i: usize| w.addrs_on(i, "eth0");
    let n = |t: &str| usize::from(t.contains(&format!(" {VIP}/24 "))) + usize::from(t.contains(" 10.77.250.201/24 "));
    let end = std::time::Instant::now() + S(5);
    loop {
        let h = (n(&on(0)), n(&on(1)));
        if h == (2, 0) || h == (0, 2) {
            break;
        }
        assert!(std::time::Instant::now() < end, "addresses held {h:?}\n{}", w.logs());
        std::thread::sleep(Duration::from_millis(10));
    }
    let settled = (n(&on(0)), n(&on(1)));
    always_for("the addresses stay on one node", S(1), || (n(&on(0)), n(&on(1))) == settled);
}
