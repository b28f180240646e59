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

/// A master-backup lab pair, applied, its VIP on node1.
fn pair_served_by_node1(name: &str) -> (Lab, Ipv4Addr) {
    let lab = Lab::up(name, 2, "master-backup");
    lab.apply(&[]);
    let addr = vip(&lab);
    lab.wait_owner("node1", addr, Duration::from_secs(15));
    (lab, addr)
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

/// (when, answered, served by, or why not)
type Event = (Instant, bool, Option<String>, Option<String>);

/// Client load through the VIP: 4 workers, one request every 20 ms each.
struct Load {
    stop: Arc<AtomicBool>,
    events: Arc<Mutex<Vec<Event>>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    started: Instant,
}

#[derive(Debug)]
struct Seen {
    requests: usize,
    failed: usize,
    longest_gap: Duration,
    last_served_by: Option<String>,
    /// The first failures: ms since the load started, and why (printed by assertions).
    #[allow(dead_code)]
    failures: Vec<(u128, String)>,
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
                        let (ok, by, why) = match r {
                            Ok(a) if a.status < 500 => (true, a.served_by, None),
                            Ok(a) => (false, None, Some(format!("status {}", a.status))),
                            Err(e) => (false, None, Some(e)),
                        };
                        events.lock().unwrap().push((Instant::now(), ok, by, why));
                        if let Some(rest) = Duration::from_millis(20).checked_sub(t.elapsed()) {
                            std::thread::sleep(rest);
                        }
                    }
                })
            })
            .collect();
        Load { stop, events, workers, started: Instant::now() }
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
            failures: ev
                .iter()
                .filter(|e| !e.1)
                .take(10)
                .map(|e| ((e.0 - self.started).as_millis(), e.3.clone().unwrap_or_default()))
                .collect(),
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
    let (lab, addr) = pair_served_by_node1("t-fo1");

    // Planned switchover, there and back: make-before-break, no failed request.
    let load = Load::start(addr);
    run_for(Duration::from_millis(500));
    switchover(&lab, "node2");
    assert!(lab.holds("node2", addr) && !lab.holds("node1", addr));
    run_for(Duration::from_millis(500));
    let seen = load.finish();
    common::assert_move_fails_no_request(seen.failed as u64, &format!("switchover to node2: {seen:?}"));
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
    common::assert_move_fails_no_request(seen.failed as u64, &format!("switchover back to node1: {seen:?}"));
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
    // the daemon is ordered to stop first and hands over while nginx still serves; nginx's stop
    // waits for the daemon's. (`systemctl stop` sends one request per unit, in the order given:
    // naming the daemon first queues its stop before nginx's, which then waits on it as in a
    // reboot; naming nginx first would stop it at once.)
    let after = lab.exec_ok("node1", &["systemctl", "show", "-p", "After", "hapair-vrrpd.service"]);
    assert!(after.split_whitespace().any(|u| u == "nginx.service" || u.ends_with("=nginx.service")), "{after}");
    let since = lab.exec_ok("node1", &["date", "+@%s"]);
    let load = Load::start(addr);
    run_for(Duration::from_millis(300));
    lab.exec_ok("node1", &["systemctl", "stop", "hapair-vrrpd.service", "nginx.service"]);
    wait_until("node2 to take the VIP", Duration::from_secs(10), || lab.holds("node2", addr));
    run_for(Duration::from_millis(500));
    let seen = load.finish();
    common::assert_move_fails_no_request(seen.failed as u64, &format!("a planned shutdown of the master: {seen:?}"));
    assert_eq!(seen.last_served_by.as_deref(), Some("node2"), "{seen:?}");
    let log = lab.exec_ok(
        "node1",
        &["journalctl", "-u", "hapair-vrrpd", "-u", "nginx", "--no-pager", "-o", "cat", "--since", since.trim()],
    );
    assert!(log.contains("shutting down"), "{log}");
    assert!(!log.contains("health check failed at once"), "nginx stopped before the daemon handed over:\n{log}");
    let at = |what: &str| log.find(what).unwrap_or_else(|| panic!("no `{what}` in the journal:\n{log}"));
    assert!(at("Stopped hapair-vrrpd") < at("Stopping nginx"), "nginx stopped before the daemon:\n{log}");
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
    let (lab, addr) = pair_served_by_node1("t-fo2");
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

/// The MAC address this machine's ARP table has for `addr` (`/proc/net/arp`).
fn arp_entry(addr: Ipv4Addr) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/arp").expect("read /proc/net/arp");
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first() == Some(&addr.to_string().as_str())).then(|| f.get(3).map(|m| m.to_string())).flatten()
    })
}

/// Open a connection to the VIP while `from` holds it, move the VIP with `mv` (on another
/// thread), wait until this machine's ARP entry for the VIP names `to`, then send a request on
/// the held connection: its segments reach `to`, which does not have the connection. It must be
/// answered, by `from` (the new holder forwards it; without that it is reset or dropped).
fn a_held_connection_is_answered_by_the_old_holder(lab: &Lab, from: &str, to: &str, mv: impl FnOnce() + Send) {
    a_held_connection_to_is_answered_by_the_old_holder(lab, vip(lab), false, from, to, mv)
}

/// [`a_held_connection_is_answered_by_the_old_holder`], through the VIP address `addr`; with
/// `released`, the request is sent only once `from` no longer has the address (it answers from
/// its lingering state alone).
fn a_held_connection_to_is_answered_by_the_old_holder(
    lab: &Lab,
    addr: Ipv4Addr,
    released: bool,
    from: &str,
    to: &str,
    mv: impl FnOnce() + Send,
) {
    use std::io::{Read, Write};
    let mac = |n: &str| lab.exec_ok(n, &["cat", "/sys/class/net/eth0/address"]).trim().to_string();
    let (from_mac, to_mac) = (mac(from), mac(to));
    wait_until("this client to reach the VIP at the holder", Duration::from_secs(10), || {
        http::get(addr, 80, Duration::from_millis(500)).is_ok_and(|a| a.served_by.as_deref() == Some(from))
    });
    assert_eq!(arp_entry(addr).as_deref(), Some(from_mac.as_str()));
    let mut conn = std::net::TcpStream::connect_timeout(&(addr, 80).into(), Duration::from_secs(2)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    std::thread::scope(|s| {
        s.spawn(mv);
        wait_until("this client to switch to the new holder", Duration::from_secs(15), || {
            arp_entry(addr).as_deref() == Some(to_mac.as_str())
        });
        if released {
            wait_until(&format!("{from} to release the VIP"), Duration::from_secs(2), || !lab.holds(from, addr));
        }
        conn.write_all(format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
        let mut buf = Vec::new();
        let r = conn.read_to_end(&mut buf);
        let answer = http::parse(&String::from_utf8_lossy(&buf));
        assert!(r.is_ok(), "the connection opened at {from} was cut after the move to {to}: {r:?}");
        assert_eq!(answer.and_then(|a| a.served_by).as_deref(), Some(from), "{}", String::from_utf8_lossy(&buf));
    });
}

/// Neither node keeps a forwarding or lingering table, or a route of its own (local, or to a
/// VIP's subnet), once the hand-over's window has passed.
fn no_hand_over_state_is_left(lab: &Lab) {
    for node in ["node1", "node2"] {
        wait_until(&format!("{node} to drop its hand-over tables and routes"), Duration::from_secs(15), || {
            let tables = lab.exec_ok(node, &["nft", "list", "tables"]);
            let routes = lab.exec_ok(node, &["ip", "route", "show", "table", "all", "proto", "72"]);
            !tables.contains("hapair_") && routes.trim().is_empty()
        });
    }
}

#[test]
fn a_request_in_flight_when_clients_switch_is_answered_by_the_old_holder() {
    let (lab, addr) = pair_served_by_node1("t-fo3");
    // A switchover.
    a_held_connection_is_answered_by_the_old_holder(&lab, "node1", "node2", || switchover(&lab, "node2"));
    no_hand_over_state_is_left(&lab);
    switchover(&lab, "node1");
    no_hand_over_state_is_left(&lab);
    // A graceful stop of the master's daemon; it exits once the window has passed.
    a_held_connection_is_answered_by_the_old_holder(&lab, "node1", "node2", || {
        lab.exec_ok("node1", &["systemctl", "stop", "hapair-vrrpd"]);
    });
    no_hand_over_state_is_left(&lab);
    lab.exec_ok("node1", &["systemctl", "start", "hapair-vrrpd"]);
    wait_until("the VIP back on node1", Duration::from_secs(20), || lab.holds("node1", addr));
}

/// A /24 of 10.77.0.0/16 no lab allocates (they take 1–240) and no address on this machine is
/// in: another subnet for the lab's segment.
fn a_free_subnet() -> u8 {
    let out = std::process::Command::new("ip").args(["-4", "-o", "addr", "show"]).output().expect("run ip");
    let addrs = text(&out.stdout);
    (241..=249).find(|k| !addrs.contains(&format!(" inet 10.77.{k}."))).expect("a free 10.77.241-249.0/24")
}

/// A VIP outside the nodes' subnet (`outside_subnet: true`): a second /24 on the lab's segment,
/// as keepalived pairs have it. This machine gets an address in it on the lab's bridge (gone with
/// the lab), so it is a client of that subnet; the nodes have no route to it but the VIP's own.
/// `apply` deploys it, the holder answers through it, `verify` passes, and a switchover moves it
/// — a request on a connection held across the move is answered by the old holder, whose reply
/// needs a route to the client after the VIP (and its prefix route) left it.
#[test]
fn a_vip_outside_the_nodes_subnet_is_served_and_moved() {
    let lab = Lab::up("t-fo4", 2, "master-backup");
    let k = a_free_subnet();
    let addr: Ipv4Addr = format!("10.77.{k}.200").parse().unwrap();
    let inv = std::fs::read_to_string(&lab.inventory).unwrap();
    let one = format!("address: {}/24\n", lab.addr(200));
    assert!(inv.contains(&one), "{inv}");
    let outside = format!("address: {addr}/24\n        outside_subnet: true\n");
    std::fs::write(&lab.inventory, inv.replace(&one, &outside)).unwrap();
    let client = format!("10.77.{k}.1/24");
    let out = std::process::Command::new("ip").args(["addr", "add", &client, "dev", &lab.bridge]).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let check = hapair().args(["check", "-i"]).arg(&lab.inventory).output().unwrap();
    assert!(check.status.success(), "{}", show(&check));

    lab.apply(&[]);
    lab.wait_owner("node1", addr, Duration::from_secs(15));
    assert!(lab.exec_ok("node1", &["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).contains(&format!(" {addr}/24 ")));
    wait_until("node1 to answer through the VIP", Duration::from_secs(10), || {
        http::get(addr, 80, Duration::from_millis(500)).is_ok_and(|a| a.served_by.as_deref() == Some("node1"))
    });
    let verify = hapair().args(["verify", "-i"]).arg(&lab.inventory).output().unwrap();
    assert!(verify.status.success(), "{}", show(&verify));

    // A switchover moves it; the connection held across the move is answered by node1.
    a_held_connection_to_is_answered_by_the_old_holder(&lab, addr, true, "node1", "node2", || {
        switchover(&lab, "node2")
    });
    lab.wait_owner("node2", addr, Duration::from_secs(15));
    wait_until("node2 to answer through the VIP", Duration::from_secs(10), || {
        http::get(addr, 80, Duration::from_millis(500)).is_ok_and(|a| a.served_by.as_deref() == Some("node2"))
    });
    no_hand_over_state_is_left(&lab);
    let status = hapair().args(["status", "-i"]).arg(&lab.inventory).output().unwrap();
    assert!(text(&status.stdout).contains(&format!("{addr}/24")), "{}", show(&status));
}

/// A second link per node, `eth1`, on a bridge of its own where this machine is 10.77.K.1: the
/// segment of a VIP that lives elsewhere than VRRP's eth0. Removed on drop (the nodes' ends go
/// with the lab's namespaces).
struct SecondLink {
    bridge: String,
}

impl Drop for SecondLink {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["link", "del", &self.bridge]).output();
    }
}

fn second_link(lab: &Lab, k: u8) -> SecondLink {
    let ip = |args: &[&str]| {
        let out = std::process::Command::new("ip").args(args).output().expect("run ip");
        assert!(out.status.success(), "ip {}: {}", args.join(" "), show(&out));
    };
    let bridge = format!("hpbr{}v", lab.subnet);
    let _ = std::process::Command::new("ip").args(["link", "del", &bridge]).output();
    ip(&["link", "add", &bridge, "type", "bridge"]);
    let link = SecondLink { bridge: bridge.clone() };
    ip(&["addr", "add", &format!("10.77.{k}.1/24"), "dev", &bridge]);
    ip(&["link", "set", &bridge, "up"]);
    for (i, node) in ["node1", "node2"].into_iter().enumerate() {
        let (outer, ns) = (format!("hp{}v{}", lab.subnet, i + 1), format!("hapair-{}-{node}", lab.name));
        ip(&["link", "add", &outer, "type", "veth", "peer", "name", "eth1", "netns", &ns]);
        ip(&["link", "set", &outer, "master", &bridge, "up"]);
        ip(&["-n", &ns, "addr", "add", &format!("10.77.{k}.{}/24", 11 + i), "dev", "eth1"]);
        ip(&["-n", &ns, "link", "set", "eth1", "up"]);
    }
    link
}

/// With `inventory` (an address of `addr` on `eth9`, which no node has) in place: `check`
/// accepts it (it cannot know the nodes' interfaces), `plan` refuses it naming the node, and
/// nothing was applied.
fn plan_refuses_a_missing_interface(lab: &Lab, inventory: &str, addr: Ipv4Addr) {
    std::fs::write(&lab.inventory, inventory).unwrap();
    let check = hapair().args(["check", "-i"]).arg(&lab.inventory).output().unwrap();
    assert!(check.status.success(), "{}", show(&check));
    let plan = hapair().args(["plan", "-i"]).arg(&lab.inventory).output().unwrap();
    assert_eq!(plan.status.code(), Some(1), "{}", show(&plan));
    assert!(
        text(&plan.stderr).contains(&format!("`node1` has no interface `eth9` for VIP {addr}/24")),
        "{}",
        show(&plan)
    );
    assert!(lab.exec("node1", &["test", "-e", "/etc/hapair/vrrpd.yml"]).status.code() == Some(1), "nothing applied");
}

/// A VIP on another interface than VRRP's (`interface: eth1`, keepalived's `dev eth1`): `plan`
/// refuses a name a node lacks before changing anything; `apply` deploys it, the holder serves
/// through it on eth1 (never on eth0), `verify`, `status` and `doctor` find it there, and a
/// switchover moves it to the other node's eth1.
#[test]
fn a_vip_on_another_interface_is_served_there_and_moved() {
    let lab = Lab::up("t-fo5", 2, "master-backup");
    let k = a_free_subnet();
    let _link = second_link(&lab, k);
    let addr: Ipv4Addr = format!("10.77.{k}.200").parse().unwrap();
    let inv = std::fs::read_to_string(&lab.inventory).unwrap();
    let one = format!("address: {}/24\n", lab.addr(200));
    assert!(inv.contains(&one), "{inv}");
    let on = |dev: &str| format!("address: {addr}/24\n        interface: {dev}\n");
    plan_refuses_a_missing_interface(&lab, &inv.replace(&one, &on("eth9")), addr);

    std::fs::write(&lab.inventory, inv.replace(&one, &on("eth1"))).unwrap();
    lab.apply(&[]);
    let holds = |node: &str, dev: &str| {
        lab.exec_ok(node, &["ip", "-4", "-o", "addr", "show", "dev", dev]).contains(&format!(" {addr}/24 "))
    };
    wait_until("node1 to hold the VIP on eth1", Duration::from_secs(15), || {
        holds("node1", "eth1") && !holds("node2", "eth1")
    });
    assert!(!holds("node1", "eth0") && !holds("node2", "eth0"), "the VIP is on eth1 only");
    assert!(lab.exec_ok("node1", &["cat", "/etc/hapair/vrrpd.yml"]).contains("\n    vip_interface: \"eth1\"\n"));
    wait_until("node1 to answer through the VIP", Duration::from_secs(10), || {
        http::get(addr, 80, Duration::from_millis(500)).is_ok_and(|a| a.served_by.as_deref() == Some("node1"))
    });
    let verify = hapair().args(["verify", "-i"]).arg(&lab.inventory).output().unwrap();
    assert!(verify.status.success(), "{}", show(&verify));

    switchover(&lab, "node2");
    wait_until("node2 to hold the VIP on eth1", Duration::from_secs(15), || {
        holds("node2", "eth1") && !holds("node1", "eth1")
    });
    wait_until("node2 to answer through the VIP", Duration::from_secs(10), || {
        http::get(addr, 80, Duration::from_millis(500)).is_ok_and(|a| a.served_by.as_deref() == Some("node2"))
    });
    let status = hapair().args(["status", "-i"]).arg(&lab.inventory).output().unwrap();
    assert!(status.status.success(), "{}", show(&status));
    let doctor = hapair().args(["doctor", "-i"]).arg(&lab.inventory).output().unwrap();
    assert!(doctor.status.success(), "{}", show(&doctor));
    assert!(
        text(&doctor.stdout).contains(
            "vrid 51: its VIPs live on `eth1`, adverts on `eth0`: connections open at a hand-over are not carried over"
        ),
        "{}",
        show(&doctor)
    );
    no_hand_over_state_is_left(&lab);
}

/// One VRID's addresses on two interfaces (keepalived's per-address `dev`, LVS directors): the
/// address list's second entry names eth1, the first stays on VRRP's eth0. `plan` refuses an
/// entry's interface a node lacks before changing anything; once applied, the holder has each
/// address on its own interface only, its daemon config names the eth1 one, `verify`, `status`
/// and `doctor` find both, and a switchover moves both, each served by the new holder.
#[test]
fn one_vrids_addresses_on_two_interfaces_are_served_each_on_its_own_and_moved() {
    let lab = Lab::up("t-fo6", 2, "master-backup");
    let k = a_free_subnet();
    let _link = second_link(&lab, k);
    let addr: Ipv4Addr = format!("10.77.{k}.200").parse().unwrap();
    let inv = std::fs::read_to_string(&lab.inventory).unwrap();
    let one = format!("address: {}/24\n", lab.addr(200));
    assert!(inv.contains(&one), "{inv}");
    let own: Ipv4Addr = lab.addr(200).parse().unwrap();
    let mixed = |dev: &str| format!("address: [{own}/24, {{address: {addr}/24, interface: {dev}}}]\n");
    plan_refuses_a_missing_interface(&lab, &inv.replace(&one, &mixed("eth9")), addr);
    std::fs::write(&lab.inventory, inv.replace(&one, &mixed("eth1"))).unwrap();
    lab.apply(&[]);
    let both = |node: &str| {
        let (e0, e1) = (
            lab.exec_ok(node, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"]),
            lab.exec_ok(node, &["ip", "-4", "-o", "addr", "show", "dev", "eth1"]),
        );
        assert!(!e0.contains(&format!(" {addr}/")) && !e1.contains(&format!(" {own}/")), "misplaced: {e0}{e1}");
        (e0.contains(&format!(" {own}/24 ")), e1.contains(&format!(" {addr}/24 ")))
    };
    let mut holder = "";
    let end = std::time::Instant::now() + Duration::from_secs(15);
    while holder.is_empty() {
        // node1, the preferred master, once it has preempted the first started.
        if both("node1") == (true, true) && both("node2") == (false, false) {
            holder = "node1";
        }
        let journal = |n: &str| lab.exec_ok(n, &["journalctl", "-u", "hapair-vrrpd", "-n", "30", "--no-pager"]);
        assert!(
            std::time::Instant::now() < end,
            "node1 does not hold both addresses alone: node1 {:?}, node2 {:?}\n{}\n{}\n{}",
            both("node1"),
            both("node2"),
            lab.exec_ok("node1", &["cat", "/etc/hapair/vrrpd.yml"]),
            journal("node1"),
            journal("node2")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lab
        .exec_ok(holder, &["cat", "/etc/hapair/vrrpd.yml"])
        .contains(&format!("\n    vips: [{own}/24, {{address: {addr}/24, interface: \"eth1\"}}]\n")));
    let verify = hapair().args(["verify", "-i"]).arg(&lab.inventory).output().unwrap();
    assert!(verify.status.success(), "{}", show(&verify));
    let other = if holder == "node1" { "node2" } else { "node1" };
    switchover(&lab, other);
    wait_until("the other node to hold both", Duration::from_secs(15), || {
        both(other) == (true, true) && both(holder) == (false, false)
    });
    for a in [own, addr] {
        wait_until("the new holder to answer through each address", Duration::from_secs(10), || {
            http::get(a, 80, Duration::from_millis(500)).is_ok_and(|r| r.served_by.as_deref() == Some(other))
        });
    }
    let status = hapair().args(["status", "-i"]).arg(&lab.inventory).output().unwrap();
    assert!(status.status.success(), "{}", show(&status));
    // BOUND: every address of the VRID on this node, each looked for on its own interface.
    let line = |n: &str| text(&status.stdout).lines().find(|l| l.contains(&format!(" {n} "))).unwrap_or("").to_string();
    assert!(line(other).contains(&format!("{own}/24 +1")), "{}", show(&status));
    assert!(line(other).contains(" master ") && line(other).contains(" yes "), "{}", show(&status));
    assert!(line(holder).contains(" backup ") && line(holder).contains(" no "), "{}", show(&status));
    let doctor = hapair().args(["doctor", "-i"]).arg(&lab.inventory).output().unwrap();
    assert!(doctor.status.success(), "{}", show(&doctor));
    assert!(
        text(&doctor.stdout).contains(&format!(
            "vrid 51: its VIPs {addr}/24 on `eth1`, adverts on `eth0`: connections open at a hand-over are not carried over"
        )),
        "{}",
        show(&doctor)
    );
    no_hand_over_state_is_left(&lab);
}
