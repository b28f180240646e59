//! Failover as a client sees it, on real lab hosts: a load of HTTP requests through the VIP
//! (this machine, ~200 requests/s, 200 ms timeout each) while the pair is switched over, its
//! master daemon is killed, nginx is killed or closes its port, and a split brain heals.
//! Assertions are on what the client saw (failed requests, who served, whether it came back),
//! never on exact times.

mod common;

use common::{hapair, show, text, Lab};
use hapair::verify::http;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn vip(lab: &Lab) -> Ipv4Addr {
    lab.addr(200).parse().unwrap()
}

fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// (when, answered, served by)
type Event = (Instant, bool, Option<String>);

/// Client load through the VIP: 4 workers, one request every 20 ms each.
struct Load {
    stop: Arc<AtomicBool>,
    events: Arc<Mutex<Vec<Event>>>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct Seen {
    requests: usize,
    failed: usize,
    longest_gap: Duration,
    last_served_by: Option<String>,
}

impl Load {
    fn start(addr: Ipv4Addr) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let events = Arc::new(Mutex::new(Vec::new()));
        let workers = (0..4)
            .map(|w| {
                let (stop, events) = (stop.clone(), events.clone());
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(5 * w));
                    while !stop.load(Ordering::SeqCst) {
                        let t = Instant::now();
                        let r = http::get(addr, 80, Duration::from_millis(200));
                        let (ok, by) = match r {
                            Ok(a) if a.status < 500 => (true, a.served_by),
                            _ => (false, None),
                        };
                        events.lock().unwrap().push((Instant::now(), ok, by));
                        if let Some(rest) = Duration::from_millis(20).checked_sub(t.elapsed()) {
                            std::thread::sleep(rest);
                        }
                    }
                })
            })
            .collect();
        Load { stop, events, workers }
    }

    fn finish(self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        for w in self.workers {
            w.join().unwrap();
        }
        let mut ev = std::mem::take(&mut *self.events.lock().unwrap());
        ev.sort_by_key(|e| e.0);
        let mut longest = Duration::ZERO;
        let mut last_ok: Option<Instant> = None;
        for e in ev.iter().filter(|e| e.1) {
            if let Some(l) = last_ok {
                longest = longest.max(e.0 - l);
            }
            last_ok = Some(e.0);
        }
        Seen {
            requests: ev.len(),
            failed: ev.iter().filter(|e| !e.1).count(),
            longest_gap: longest,
            last_served_by: ev.iter().rev().find(|e| e.1).and_then(|e| e.2.clone()),
        }
    }
}

fn run_for(d: Duration) {
    std::thread::sleep(d);
}

fn switchover(lab: &Lab, to: &str) {
    let out = hapair().args(["switchover", "pair1", "--to", to, "-i"]).arg(&lab.inventory).output().unwrap();
    assert!(out.status.success(), "switchover failed:\n{}", show(&out));
    assert!(text(&out.stdout).contains("moved from "), "{}", show(&out));
}

#[test]
fn clients_see_no_failure_on_switchover_and_daemon_crash_and_a_short_gap_when_nginx_dies() {
    let lab = Lab::up("t-fo1", 2, "master-backup");
    lab.apply(&[]);
    let addr = vip(&lab);
    lab.wait_owner("node1", addr, Duration::from_secs(15));

    // Planned switchover, there and back: make-before-break, no failed request.
    let load = Load::start(addr);
    run_for(Duration::from_millis(500));
    switchover(&lab, "node2");
    assert!(lab.holds("node2", addr) && !lab.holds("node1", addr));
    run_for(Duration::from_millis(500));
    let seen = load.finish();
    common::assert_move_cut_at_most_one(seen.failed as u64, &format!("switchover to node2: {seen:?}"));
    assert_eq!(seen.last_served_by.as_deref(), Some("node2"), "{seen:?}");
    // node1 yields: it does not take the VIP back by preemption; verify agrees.
    run_for(Duration::from_secs(5));
    assert!(lab.holds("node2", addr) && !lab.holds("node1", addr), "node1 preempted after a switchover");
    let v = hapair().args(["verify", "-i"]).arg(&lab.inventory).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let load = Load::start(addr);
    run_for(Duration::from_millis(500));
    switchover(&lab, "node1");
    run_for(Duration::from_millis(500));
    let seen = load.finish();
    common::assert_move_cut_at_most_one(seen.failed as u64, &format!("switchover back to node1: {seen:?}"));
    assert_eq!(seen.last_served_by.as_deref(), Some("node1"), "{seen:?}");

    // The master's daemon crashes: systemd restarts it, it keeps the VIP; clients see nothing
    // and the VIP is never on both nodes.
    let load = Load::start(addr);
    run_for(Duration::from_millis(300));
    lab.exec_ok("node1", &["systemctl", "kill", "-s", "KILL", "hapair-vrrpd"]);
    let start = Instant::now();
    let mut both = 0;
    while start.elapsed() < Duration::from_secs(5) {
        if lab.holds("node1", addr) && lab.holds("node2", addr) {
            both += 1;
        }
    }
    let seen = load.finish();
    assert_eq!(both, 0, "the VIP was on both nodes after the crash");
    assert!(lab.holds("node1", addr), "node1 lost its VIP");
    assert_eq!(seen.failed, 0, "daemon crash: {seen:?}");
    let log = lab.exec_ok("node1", &["journalctl", "-u", "hapair-vrrpd", "--no-pager", "-n", "20"]);
    assert!(log.contains("kept them and announced"), "{log}");

    // nginx is killed on the master: its exit is an event; the VIP moves without waiting for
    // the HTTP check (2 × 1 s) and a Master_Down_Interval (3.6 s).
    let load = Load::start(addr);
    run_for(Duration::from_millis(300));
    lab.exec_ok("node1", &["systemctl", "kill", "-s", "KILL", "nginx"]);
    wait_until("node2 to take the VIP", Duration::from_secs(10), || lab.holds("node2", addr));
    run_for(Duration::from_millis(500));
    let seen = load.finish();
    assert_eq!(seen.last_served_by.as_deref(), Some("node2"), "{seen:?}");
    assert!(seen.longest_gap < Duration::from_secs(2), "clients waited as long as the polling check: {seen:?}");
    lab.exec_ok("node1", &["systemctl", "start", "nginx"]);
    wait_until("the VIP back on node1", Duration::from_secs(20), || lab.holds("node1", addr));

    // nginx on the master closes its port while its master process lives on (what a graceful
    // `systemctl stop nginx` does while connections drain; here a reload onto another port):
    // the closing is an event of its own, the VIP moves while the process is still there.
    let conf = "/etc/nginx/conf.d/hapair.conf";
    let pid = lab.exec_ok("node1", &["cat", "/run/nginx.pid"]);
    let load = Load::start(addr);
    run_for(Duration::from_millis(300));
    lab.exec_ok("node1", &["sed", "-i", "s/listen 80 /listen 8081 /", conf]);
    lab.exec_ok("node1", &["nginx", "-s", "reload"]);
    wait_until("node2 to take the VIP", Duration::from_secs(10), || lab.holds("node2", addr));
    run_for(Duration::from_millis(500));
    let seen = load.finish();
    assert_eq!(seen.last_served_by.as_deref(), Some("node2"), "{seen:?}");
    assert_eq!(lab.exec_ok("node1", &["cat", "/run/nginx.pid"]), pid, "nginx's master process changed");
    let log = lab.exec_ok("node1", &["journalctl", "-u", "hapair-vrrpd", "--no-pager", "-n", "30"]);
    assert!(log.contains("nothing listens on 127.0.0.1:80 any more (nginx closed its port)"), "{log}");
    assert!(!log.contains(&format!("master process {}", pid.trim())), "nginx's master did not exit:\n{log}");
    lab.exec_ok("node1", &["sed", "-i", "s/listen 8081 /listen 80 /", conf]);
    lab.exec_ok("node1", &["nginx", "-s", "reload"]);
    wait_until("the VIP back on node1", Duration::from_secs(20), || lab.holds("node1", addr));

    // A planned reboot or shutdown of the master stops the daemon and nginx in one transaction:
    // the daemon is ordered to stop first and hands over while nginx still serves.
    let after = lab.exec_ok("node1", &["systemctl", "show", "-p", "After", "hapair-vrrpd.service"]);
    assert!(after.split_whitespace().any(|u| u == "nginx.service" || u.ends_with("=nginx.service")), "{after}");
    let since = lab.exec_ok("node1", &["date", "+@%s"]);
    let load = Load::start(addr);
    run_for(Duration::from_millis(300));
    lab.exec_ok("node1", &["systemctl", "stop", "nginx.service", "hapair-vrrpd.service"]);
    wait_until("node2 to take the VIP", Duration::from_secs(10), || lab.holds("node2", addr));
    run_for(Duration::from_millis(500));
    let seen = load.finish();
    common::assert_move_cut_at_most_one(seen.failed as u64, &format!("a planned shutdown of the master: {seen:?}"));
    assert_eq!(seen.last_served_by.as_deref(), Some("node2"), "{seen:?}");
    let log =
        lab.exec_ok("node1", &["journalctl", "-u", "hapair-vrrpd", "--no-pager", "-o", "cat", "--since", since.trim()]);
    assert!(log.contains("shutting down"), "{log}");
    assert!(!log.contains("health check failed at once"), "nginx stopped before the daemon handed over:\n{log}");
    lab.exec_ok("node1", &["systemctl", "start", "nginx.service", "hapair-vrrpd.service"]);
    wait_until("the VIP back on node1", Duration::from_secs(20), || lab.holds("node1", addr));
}

fn vrrp_rules(lab: &Lab, node: &str) -> Vec<String> {
    lab.exec_ok(node, &["firewall-cmd", "--list-rich-rules"])
        .lines()
        .filter(|l| l.contains("vrrp"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_healed_split_brain_brings_clients_back_at_once() {
    let lab = Lab::up("t-fo2", 2, "master-backup");
    lab.apply(&[]);
    let addr = vip(&lab);
    lab.wait_owner("node1", addr, Duration::from_secs(15));
    // Block VRRP both ways: both become master; node2's gratuitous ARP points this client at it.
    let rules: Vec<(&str, Vec<String>)> = ["node1", "node2"].iter().map(|n| (*n, vrrp_rules(&lab, n))).collect();
    for (n, rs) in &rules {
        assert!(!rs.is_empty(), "no VRRP rule on {n}");
        for r in rs {
            lab.exec_ok(n, &["firewall-cmd", "--remove-rich-rule", r]);
        }
    }
    wait_until("node2 to take the VIP too", Duration::from_secs(10), || lab.holds("node2", addr));
    wait_until("this client to follow node2", Duration::from_secs(10), || {
        http::get(addr, 80, Duration::from_millis(200)).is_ok_and(|a| a.served_by.as_deref() == Some("node2"))
    });
    // Let VRRP through again: node2 yields; node1 must announce itself at once, or this client
    // keeps sending to node2 until its ARP entry expires.
    for (n, rs) in &rules {
        for r in rs {
            lab.exec_ok(n, &["firewall-cmd", "--add-rich-rule", r]);
        }
    }
    wait_until("node2 to release the VIP", Duration::from_secs(10), || !lab.holds("node2", addr));
    let load = Load::start(addr);
    run_for(Duration::from_secs(2));
    let seen = load.finish();
    assert!(seen.requests > 50, "{seen:?}");
    assert_eq!(seen.failed, 0, "clients that followed the loser were not brought back: {seen:?}");
    assert_eq!(seen.last_served_by.as_deref(), Some("node1"), "{seen:?}");
}
