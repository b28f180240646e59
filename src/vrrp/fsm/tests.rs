//! Two or three instances on a virtual wire with a virtual clock; traces compared exactly.

use super::*;
use crate::values::{Priority, VipCidr, Vrid};
use crate::vrrp::config::{AuthPass, InstanceConfig, Transport};
use crate::vrrp::packet::Auth;

fn cfg(priority: u8, version: Version, interval_cs: u16) -> InstanceConfig {
    InstanceConfig {
        name: "web-51".into(),
        vrid: Vrid::new(51).unwrap(),
        version,
        priority: Priority::new(priority).unwrap(),
        advert_interval_cs: interval_cs,
        vips: vec![VipCidr::new(Ipv4Addr::new(10, 77, 250, 200), 24).unwrap()],
        vip_interfaces: vec![None],
        preempt: true,
        preempt_delay: Duration::ZERO,
        auth_pass: None,
        auth_type: crate::values::AuthType::Pass,
        transport: Transport::Multicast,
        v3_checksum_pseudo_header: true,
        check_weight: 0,
        garp_count: 2,
        garp_interval: Duration::from_millis(500),
    }
}

struct Node {
    name: &'static str,
    addr: Ipv4Addr,
    inst: Instance,
    up: bool,
    /// The VIPs are bound on this node (survives a kill, as in the kernel).
    vips: bool,
    /// Forwarding strays to this peer ([`Action::Forward`] until [`Action::StopForward`]).
    forwarding: Option<Ipv4Addr>,
    /// Lingering ([`Action::Linger`] until [`Action::StopLinger`]).
    lingering: bool,
}

/// A virtual wire: every advert a node sends reaches every other running node at once.
struct Net {
    t0: Instant,
    now: Instant,
    nodes: Vec<Node>,
    trace: Vec<String>,
    /// Adverts with priority > 0 are counted, not traced (they repeat every interval).
    routine_adverts: usize,
    /// The wire is cut (a partition): adverts are lost.
    cut: bool,
}

impl Net {
    fn new(nodes: Vec<(&'static str, u8, InstanceConfig)>) -> Net {
        let t0 = Instant::now();
        let nodes = nodes
            .into_iter()
            .map(|(name, last, c)| {
                let addr = Ipv4Addr::new(10, 77, 250, last);
                Node {
                    name,
                    addr,
                    inst: Instance::new(c, addr),
                    up: false,
                    vips: false,
                    forwarding: None,
                    lingering: false,
                }
            })
            .collect();
        Net { t0, now: t0, nodes, trace: Vec::new(), routine_adverts: 0, cut: false }
    }

    fn t(&self) -> String {
        format!("{:.4}", (self.now - self.t0).as_secs_f64())
    }

    fn idx(&self, name: &str) -> usize {
        self.nodes.iter().position(|n| n.name == name).unwrap()
    }

    fn input(&mut self, name: &str, input: Input) {
        let i = self.idx(name);
        if input == Input::Startup {
            self.nodes[i].up = true;
        }
        let now = self.now;
        self.nodes[i].inst.handle(now, input);
        self.drain(i);
    }

    fn start(&mut self, name: &str) {
        self.input(name, Input::Startup);
    }

    /// A graceful stop; a node that keeps its VIPs until the peer holds them stays on the
    /// wire until it released them (the daemon exits then).
    fn stop(&mut self, name: &str) {
        self.input(name, Input::Shutdown);
        let i = self.idx(name);
        self.nodes[i].up = self.nodes[i].inst.holding() || self.nodes[i].inst.lingering();
    }

    /// SIGKILL: the node vanishes; its instance is replaced by a fresh one for a restart.
    fn kill(&mut self, name: &str) {
        let i = self.idx(name);
        self.nodes[i].up = false;
        let c = self.nodes[i].inst.config().clone();
        let peer = self.nodes[i].inst.hapair_peer;
        self.nodes[i].inst = Instance::new(c, self.nodes[i].addr);
        self.nodes[i].inst.set_hapair_peer(peer);
        // The next start removes the tables a killed daemon left (`remove_stale_tables`).
        self.nodes[i].forwarding = None;
        self.nodes[i].lingering = false;
        self.trace.push(format!("{} {name} killed", self.t()));
    }

    fn drain(&mut self, i: usize) {
        while let Some(a) = self.nodes[i].inst.poll_action() {
            let name = self.nodes[i].name;
            match a {
                Action::Send(adv) => {
                    if adv.priority == 0 {
                        self.trace.push(format!("{} {name} sends priority 0", self.t()));
                    } else {
                        self.routine_adverts += 1;
                    }
                    let src = self.nodes[i].addr;
                    for j in 0..self.nodes.len() {
                        if j != i && self.nodes[j].up && !self.cut {
                            let input = Input::Advert {
                                src,
                                ttl: 255,
                                checksum: ChecksumMode::PseudoHeader,
                                advert: adv.clone(),
                            };
                            let now = self.now;
                            self.nodes[j].inst.handle(now, input);
                            self.drain(j);
                        }
                    }
                }
                Action::AddVips => {
                    self.nodes[i].vips = true;
                    self.trace.push(format!("{} {name} add vips", self.t()))
                }
                Action::RemoveVips => {
                    self.nodes[i].vips = false;
                    self.trace.push(format!("{} {name} remove vips", self.t()))
                }
                Action::Garp => self.trace.push(format!("{} {name} garp", self.t())),
                Action::Forward { to } => {
                    self.nodes[i].forwarding = Some(to);
                    self.trace.push(format!("{} {name} forward strays to {to}", self.t()))
                }
                Action::StopForward => {
                    self.nodes[i].forwarding = None;
                    self.trace.push(format!("{} {name} stop forwarding", self.t()))
                }
                Action::Linger => {
                    self.nodes[i].lingering = true;
                    self.trace.push(format!("{} {name} linger", self.t()))
                }
                Action::StopLinger => {
                    self.nodes[i].lingering = false;
                    self.trace.push(format!("{} {name} stop lingering", self.t()))
                }
                Action::Transition { from, to, reason } => {
                    self.trace.push(format!("{} {name} {from} -> {to}: {reason}", self.t()))
                }
            }
        }
    }

    /// Run timers until `secs` after t0.
    fn run_until(&mut self, secs: f64) {
        let end = self.t0 + Duration::from_secs_f64(secs);
        loop {
            let next = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.up)
                .filter_map(|(i, n)| n.inst.poll_timeout().map(|t| (t, i)))
                .min();
            match next {
                Some((t, i)) if t <= end => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    self.nodes[i].inst.handle(now, Input::Timeout);
                    self.drain(i);
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.trace)
    }

    /// Start a, then b, run until `secs` and drop the trace: the elected pair a test starts from.
    fn settle(&mut self, secs: f64) {
        self.start("a");
        self.start("b");
        self.run_until(secs);
        self.take();
    }

    /// Start b alone, let it be master until 4 s (trace dropped), then start a.
    fn start_a_after_b_is_master(&mut self) {
        self.start("b");
        self.run_until(4.0);
        self.take();
        self.start("a");
    }

    fn state(&self, name: &str) -> State {
        self.nodes[self.idx(name)].inst.state()
    }
}

fn pair(v: Version, interval_cs: u16) -> Net {
    Net::new(vec![("a", 11, cfg(150, v, interval_cs)), ("b", 12, cfg(100, v, interval_cs))])
}

#[test]
fn timers_follow_rfc_5798_section_6_1() {
    let i = Instance::new(cfg(100, Version::V3, 100), Ipv4Addr::new(10, 77, 250, 11));
    // Skew_Time = (256 - 100) * 1 s / 256 = 0.609375 s
    assert_eq!(i.skew_time(), Duration::from_micros(609_375));
    assert_eq!(i.master_down_interval(), Duration::from_micros(3_609_375));
    let i = Instance::new(cfg(90, Version::V2, 100), Ipv4Addr::new(10, 77, 250, 11));
    assert_eq!(i.skew_time(), Duration::from_micros(648_437));
    let i = Instance::new(cfg(150, Version::V3, 10), Ipv4Addr::new(10, 77, 250, 11));
    assert_eq!(i.master_down_interval(), Duration::from_micros(341_406));
}

#[test]
fn election_graceful_stop_and_preempting_return() {
    let mut n = pair(Version::V3, 100);
    n.start("a");
    n.start("b");
    n.run_until(5.0);
    assert_eq!(
        n.take(),
        [
            "0.0000 a INITIALIZE -> BACKUP: started, waiting for a master",
            "0.0000 b INITIALIZE -> BACKUP: started, waiting for a master",
            "3.4141 a BACKUP -> MASTER: no advert from any master for 3.41 s",
            "3.4141 a add vips",
            "3.4141 a garp",
            "3.9141 a garp",
        ]
    );
    // Graceful stop: priority 0, the backup takes over after its Skew_Time (0.609 s).
    n.stop("a");
    n.run_until(6.0);
    assert_eq!(
        n.take(),
        [
            "5.0000 a sends priority 0",
            "5.0000 a remove vips",
            "5.0000 a MASTER -> INITIALIZE: shutting down",
            "5.6094 b BACKUP -> MASTER: 10.77.250.11 resigned (priority 0), took over after skew 0.609 s",
            "5.6094 b add vips",
            "5.6094 b garp",
        ]
    );
    // a returns; with preempt it discards b's lower adverts and takes over after its
    // Master_Down_Interval; b yields on a's first advert.
    n.start("a");
    n.run_until(10.0);
    assert_eq!(
        n.take(),
        [
            "6.0000 a INITIALIZE -> BACKUP: started, waiting for a master",
            "6.1094 b garp",
            "9.4141 a BACKUP -> MASTER: preempted 10.77.250.12 (its priority 100 < ours 150)",
            "9.4141 b remove vips",
            "9.4141 b MASTER -> BACKUP: 10.77.250.11 advertises priority 150 > ours 100",
            "9.4141 a add vips",
            "9.4141 a garp",
            "9.9141 a garp",
        ]
    );
    assert_eq!(n.nodes[0].inst.counters().transitions, 5);
}

#[test]
fn nopreempt_keeps_the_current_master() {
    let mut n = pair(Version::V3, 100);
    n.nodes[0].inst.cfg.preempt = false;
    n.start_a_after_b_is_master();
    n.run_until(20.0);
    assert_eq!(n.take(), ["4.0000 a INITIALIZE -> BACKUP: started, waiting for a master", "4.1094 b garp"]);
    assert_eq!(n.state("b"), State::Master);
}

#[test]
fn preempt_delay_waits_before_taking_over() {
    let mut n = pair(Version::V3, 100);
    n.nodes[0].inst.cfg.preempt_delay = Duration::from_secs(5);
    n.start_a_after_b_is_master();
    n.run_until(12.0);
    let t = n.take();
    // b's first advert after a starts arrives at 4.6094; the delay runs from there.
    assert_eq!(t[2], "9.6094 a BACKUP -> MASTER: preempted 10.77.250.12 (its priority 100 < ours 150)", "{t:#?}");
}

#[test]
fn sigkill_failover_after_master_down_interval_and_restart() {
    let mut n = pair(Version::V3, 10);
    n.settle(1.0);
    n.kill("a");
    n.run_until(2.0);
    // a's last advert went out at 0.9414; b's down interval is 3 × 0.1 + 0.0609 = 0.3609 s.
    assert_eq!(
        n.take(),
        [
            "1.0000 a killed",
            "1.3023 b BACKUP -> MASTER: no advert from 10.77.250.11 for 0.36 s",
            "1.3023 b add vips",
            "1.3023 b garp",
            "1.8023 b garp",
        ]
    );
}

#[test]
fn v3_backup_learns_the_masters_interval() {
    // b is configured for 2 s; a advertises every 100 ms: b must time out on a's interval.
    let mut n = Net::new(vec![("a", 11, cfg(150, Version::V3, 10)), ("b", 12, cfg(100, Version::V3, 200))]);
    n.start("a");
    n.start("b");
    n.run_until(1.0);
    assert_eq!(n.nodes[1].inst.master_adver_interval(), Duration::from_millis(100));
    n.take();
    n.kill("a");
    n.run_until(2.0);
    assert_eq!(n.take()[1], "1.3023 b BACKUP -> MASTER: no advert from 10.77.250.11 for 0.36 s");
}

#[test]
fn equal_priority_higher_address_wins() {
    let mut n = Net::new(vec![("a", 11, cfg(100, Version::V3, 100)), ("b", 12, cfg(100, Version::V3, 100))]);
    n.nodes[0].inst.cfg.preempt = false;
    n.nodes[1].inst.cfg.preempt = false;
    n.start("a");
    n.run_until(4.0);
    n.start("b");
    // Put b in MASTER too (as after a partition heals): force its timer.
    n.nodes[1].inst.master_down_timer = Some(n.now);
    n.run_until(4.5);
    let t = n.take();
    assert!(
        t.contains(&"4.0000 a MASTER -> BACKUP: 10.77.250.12 has equal priority 100 and a higher address".to_string()),
        "{t:#?}"
    );
    assert_eq!((n.state("a"), n.state("b")), (State::Backup, State::Master));
}

#[test]
fn owner_becomes_master_at_once() {
    let mut c = cfg(255, Version::V2, 100);
    c.vips = vec![VipCidr::new(Ipv4Addr::new(10, 77, 250, 11), 24).unwrap()];
    let mut n = Net::new(vec![("a", 11, c), ("b", 12, cfg(100, Version::V2, 100))]);
    n.start("b");
    n.run_until(1.0);
    n.start("a");
    n.run_until(1.1);
    assert_eq!(
        n.take(),
        [
            "0.0000 b INITIALIZE -> BACKUP: started, waiting for a master",
            "1.0000 a INITIALIZE -> MASTER: address owner (priority 255)",
            "1.0000 a add vips",
            "1.0000 a garp",
        ]
    );
}

#[test]
fn three_routers_elect_the_highest_and_fail_over_in_order() {
    let mut n = Net::new(vec![
        ("a", 11, cfg(200, Version::V3, 100)),
        ("b", 12, cfg(150, Version::V3, 100)),
        ("c", 13, cfg(100, Version::V3, 100)),
    ]);
    for x in ["c", "b", "a"] {
        n.start(x);
    }
    n.run_until(5.0);
    n.take();
    assert_eq!([n.state("a"), n.state("b"), n.state("c")], [State::Master, State::Backup, State::Backup]);
    n.stop("a");
    n.run_until(6.0);
    let t = n.take();
    // b's skew (0.414 s) is shorter than c's (0.609 s); c then hears b and stays backup.
    assert_eq!(t[3], "5.4141 b BACKUP -> MASTER: 10.77.250.11 resigned (priority 0), took over after skew 0.414 s");
    assert_eq!([n.state("b"), n.state("c")], [State::Master, State::Backup]);
}

fn advert(vrid: u8, priority: u8, version: Version, interval_cs: u16, auth: Auth) -> Advert {
    Advert { version, vrid, priority, interval_cs, auth, addrs: vec![Ipv4Addr::new(10, 77, 250, 200)] }
}

#[test]
fn invalid_adverts_are_dropped_and_counted_by_reason() {
    let mut c = cfg(100, Version::V2, 100);
    c.auth_pass = AuthPass::new(b"secret");
    c.transport = Transport::Unicast(Ipv4Addr::new(10, 77, 250, 12));
    let mut i = Instance::new(c, Ipv4Addr::new(10, 77, 250, 11));
    let t0 = Instant::now();
    i.handle(t0, Input::Startup);
    let peer = Ipv4Addr::new(10, 77, 250, 12);
    let pass = Auth::Pass(*b"secret\0\0");
    let send = |i: &mut Instance, src, ttl, a| {
        i.handle(t0, Input::Advert { src, ttl, checksum: ChecksumMode::Plain, advert: a })
    };
    send(&mut i, peer, 64, advert(51, 200, Version::V2, 100, pass));
    send(&mut i, peer, 255, advert(52, 200, Version::V2, 100, pass));
    send(&mut i, peer, 255, advert(51, 200, Version::V3, 100, Auth::None));
    send(&mut i, peer, 255, advert(51, 200, Version::V2, 100, Auth::Pass(*b"wrong\0\0\0")));
    send(&mut i, peer, 255, advert(51, 200, Version::V2, 100, Auth::None));
    send(&mut i, peer, 255, advert(51, 200, Version::V2, 200, pass));
    send(&mut i, Ipv4Addr::new(10, 77, 250, 13), 255, advert(51, 200, Version::V2, 100, pass));
    i.handle(t0, Input::Malformed(DecodeError::Checksum));
    i.handle(t0, Input::Malformed(DecodeError::Truncated { need: 8, got: 3 }));
    assert_eq!(
        i.counters().drops,
        Drops { ttl: 1, vrid: 1, checksum: 1, auth: 2, interval: 1, version: 1, source: 1, malformed: 1 }
    );
    assert_eq!(i.counters().adverts_received, 0);
    send(&mut i, peer, 255, advert(51, 200, Version::V2, 100, pass));
    assert_eq!(i.counters().adverts_received, 1);
    assert_eq!(i.master_seen(), Some(peer));
}

#[test]
fn failing_check_with_weight_lowers_priority_and_the_backup_preempts() {
    let mut n = pair(Version::V3, 100);
    n.nodes[0].inst.cfg.check_weight = -60;
    n.settle(5.0);
    n.input("a", Input::Check { ok: false });
    assert_eq!(n.nodes[0].inst.effective_priority(), 90);
    assert_eq!(n.nodes[0].inst.priority_reason(), "check failing (-60)");
    n.run_until(10.0);
    let t = n.take();
    // b discards a's priority-90 adverts from 5.4141 on and preempts after its down interval
    // measured from a's last priority-150 advert at 4.4141.
    assert_eq!(t[0], "8.0234 b BACKUP -> MASTER: preempted 10.77.250.11 (its priority 90 < ours 100)", "{t:#?}");
    assert_eq!(t[1], "8.0234 a remove vips");
}

/// keepalived's election at equal priorities with a check weight (both nodes priority 100,
/// weight -2, preempting): the master keeps the VIP; when its check fails (98) the backup
/// preempts; when it recovers (100 again) it does not take the VIP back, since a backup
/// preempts only a lower priority (RFC 3768 §6.4.2); when the new holder's check fails, the VIP
/// moves back. hapair's instance is the RFC's, so it elects exactly so, here against RFC peers
/// (as against keepalived) and below as a hapair pair.
fn equal_pair(hapair: bool) -> Net {
    let mut n = Net::new(vec![("a", 11, cfg(100, Version::V2, 100)), ("b", 12, cfg(100, Version::V2, 100))]);
    for i in 0..2 {
        n.nodes[i].inst.cfg.check_weight = -2;
        if hapair {
            n.nodes[i].inst.set_hapair_peer(Some(Ipv4Addr::new(10, 77, 250, [12, 11][i])));
        }
    }
    // a starts first and is master when b starts.
    n.start("a");
    n.run_until(4.0);
    n.start("b");
    n.run_until(8.0);
    n.take();
    assert_eq!((n.state("a"), n.state("b")), (State::Master, State::Backup));
    n
}

/// The holder's moves, as (time, who took over) — the election, without the timing details.
fn takeovers(t: &[String]) -> Vec<String> {
    t.iter().filter(|l| l.contains("BACKUP -> MASTER")).map(|l| l.split(':').next().unwrap().to_string()).collect()
}

#[test]
fn equal_priorities_with_a_check_weight_elect_as_keepalived_does() {
    for hapair in [false, true] {
        let mut n = equal_pair(hapair);
        // a's check fails: 98 < 100, b preempts (an RFC backup after its Master_Down_Interval,
        // a hapair one at once).
        n.input("a", Input::Check { ok: false });
        n.run_until(13.0);
        let t = n.take();
        assert_eq!(takeovers(&t).len(), 1, "hapair {hapair}: {t:#?}");
        assert!(takeovers(&t)[0].ends_with(" b BACKUP -> MASTER"), "hapair {hapair}: {t:#?}");
        assert_eq!((n.state("a"), n.state("b")), (State::Backup, State::Master), "hapair {hapair}");
        // a recovers: 100 = 100, b keeps the VIP however long we wait.
        n.input("a", Input::Check { ok: true });
        n.run_until(30.0);
        let t = n.take();
        assert_eq!(takeovers(&t), Vec::<String>::new(), "hapair {hapair}: {t:#?}");
        assert_eq!((n.state("a"), n.state("b")), (State::Backup, State::Master), "hapair {hapair}");
        assert!(n.nodes[1].vips && !n.nodes[0].vips);
        // b's check fails: the VIP moves back to a, and stays there when b recovers.
        n.input("b", Input::Check { ok: false });
        n.run_until(35.0);
        n.input("b", Input::Check { ok: true });
        n.run_until(50.0);
        let t = n.take();
        assert_eq!(takeovers(&t).len(), 1, "hapair {hapair}: {t:#?}");
        assert!(takeovers(&t)[0].ends_with(" a BACKUP -> MASTER"), "hapair {hapair}: {t:#?}");
        assert_eq!((n.state("a"), n.state("b")), (State::Master, State::Backup), "hapair {hapair}");
    }
}

/// At equal priorities a restarted node finds the other holding the VIP and leaves it there;
/// when both take it at once, the higher address wins (RFC 3768 §6.4.3).
#[test]
fn equal_priorities_a_restart_does_not_move_the_vip_and_two_masters_keep_the_higher_address() {
    let mut n = equal_pair(false);
    n.kill("a");
    n.run_until(15.0);
    assert_eq!(n.state("b"), State::Master);
    n.start("a");
    n.run_until(30.0);
    assert_eq!((n.state("a"), n.state("b")), (State::Backup, State::Master));
    // Both become master before hearing each other (a start at the same instant, modelled by
    // a cut wire, or a healed partition): the higher address keeps the VIP.
    let mut n = Net::new(vec![("a", 11, cfg(100, Version::V2, 100)), ("b", 12, cfg(100, Version::V2, 100))]);
    n.cut = true;
    n.start("a");
    n.start("b");
    n.run_until(4.0);
    assert_eq!((n.state("a"), n.state("b")), (State::Master, State::Master));
    n.cut = false;
    n.run_until(10.0);
    assert_eq!((n.state("a"), n.state("b")), (State::Backup, State::Master));
}

#[test]
fn failing_check_with_weight_zero_goes_to_fault_and_back() {
    let mut n = pair(Version::V3, 100);
    n.settle(5.0);
    n.input("a", Input::Check { ok: false });
    n.run_until(6.0);
    n.input("a", Input::Check { ok: true });
    n.run_until(6.5);
    assert_eq!(
        n.take(),
        [
            "5.0000 a sends priority 0",
            "5.0000 a remove vips",
            "5.0000 a MASTER -> FAULT: health check failed (weight 0)",
            "5.6094 b BACKUP -> MASTER: 10.77.250.11 resigned (priority 0), took over after skew 0.609 s",
            "5.6094 b add vips",
            "5.6094 b garp",
            "6.0000 a FAULT -> BACKUP: health check recovered",
            "6.1094 b garp",
        ]
    );
}

#[test]
fn check_tracker_counts_fall_and_rise() {
    let mut t = CheckTracker::new(2, 3);
    assert_eq!([t.record(false), t.record(true), t.record(false), t.record(false)], [None, None, None, Some(false)]);
    assert_eq!(
        [t.record(true), t.record(true), t.record(false), t.record(true), t.record(true), t.record(true)],
        [None, None, None, None, None, Some(true)]
    );
}

/// A hapair pair: each node knows the other is hapair.
fn hapair_pair(v: Version, interval_cs: u16) -> Net {
    let mut n = pair(v, interval_cs);
    n.nodes[0].inst.set_hapair_peer(Some(Ipv4Addr::new(10, 77, 250, 12)));
    n.nodes[1].inst.set_hapair_peer(Some(Ipv4Addr::new(10, 77, 250, 11)));
    n
}

fn settled_hapair_pair() -> Net {
    let mut n = hapair_pair(Version::V3, 100);
    n.settle(5.0);
    n
}

#[test]
fn free_timer_functions_are_the_instances_formulas() {
    assert_eq!(skew_time(Version::V3, 100, 100), Duration::from_micros(609_375));
    assert_eq!(master_down_interval(Version::V3, 100, 10), Duration::from_micros(360_937));
    assert_eq!(master_down_interval(Version::V2, 90, 100), Duration::from_micros(3_648_437));
}

#[test]
fn hapair_graceful_stop_hands_over_at_once_and_releases_after_the_new_master() {
    let mut n = settled_hapair_pair();
    n.stop("a");
    n.run_until(6.0);
    assert_eq!(
        n.take(),
        [
            "5.0000 a sends priority 0",
            "5.0000 b BACKUP -> MASTER: hapair peer 10.77.250.11 resigned (priority 0), took over at once",
            "5.0000 b forward strays to 10.77.250.11",
            "5.0000 b add vips",
            "5.0000 b garp",
            "5.0000 a MASTER -> INITIALIZE: shutting down",
            "5.0300 a linger",
            "5.0300 a remove vips",
            "5.5000 b garp",
        ]
    );
    assert!(!n.nodes[0].inst.holding());
}

#[test]
fn hapair_stop_with_a_dead_peer_releases_after_master_down_interval() {
    let mut n = settled_hapair_pair();
    n.kill("b");
    n.stop("a");
    n.run_until(10.0);
    let t = n.take();
    assert_eq!(t.last().unwrap(), "8.4141 a remove vips", "{t:#?}");
}

/// A hapair pair whose VIPs live on another interface than VRRP's (`vip_interface`).
fn settled_hapair_pair_vips_elsewhere() -> Net {
    let mut n = hapair_pair(Version::V3, 100);
    for (i, peer) in [(0, 12), (1, 11)] {
        let mut c = n.nodes[i].inst.config().clone();
        c.vip_interfaces = vec![Some("eth1".into())];
        n.nodes[i].inst = Instance::new(c, n.nodes[i].addr);
        n.nodes[i].inst.set_hapair_peer(Some(Ipv4Addr::new(10, 77, 250, peer)));
    }
    n.settle(5.0);
    n
}

/// VIPs on another interface: the hand-overs stay make-before-break and immediate, but no
/// connection is carried over (the peer's address on that interface is not known).
#[test]
fn vips_on_another_interface_hand_over_at_once_without_carrying_connections_over() {
    let mut n = settled_hapair_pair_vips_elsewhere();
    assert!(!n.nodes[0].inst.carries_over());
    n.input("a", Input::Handover);
    n.run_until(12.0);
    assert_eq!(
        n.take(),
        [
            "5.0000 a sends priority 0",
            "5.0000 b BACKUP -> MASTER: hapair peer 10.77.250.11 resigned (priority 0), took over at once",
            "5.0000 b add vips",
            "5.0000 b garp",
            "5.0000 a MASTER -> BACKUP: handed over (switchover); keeping the VIPs until the peer holds them",
            "5.0300 a remove vips",
            "5.5000 b garp",
        ]
    );
    n.input("a", Input::Claim);
    n.stop("b");
    n.run_until(13.0);
    assert_eq!(
        n.take(),
        [
            "12.0000 b sends priority 0",
            "12.0000 a BACKUP -> MASTER: hapair peer 10.77.250.12 resigned (priority 0), took over at once",
            "12.0000 a add vips",
            "12.0000 a garp",
            "12.0000 b MASTER -> INITIALIZE: shutting down",
            "12.0300 b remove vips",
            "12.5000 a garp",
        ]
    );
    assert!(!n.nodes[1].inst.lingering() && !n.nodes[1].inst.holding());
}

/// One VRID's addresses on two interfaces: those on the VRRP interface are carried over as
/// ever (the executor forwards and lingers for those only), so the hand-over is the usual one.
#[test]
fn a_vrid_with_some_vips_on_the_vrrp_interface_carries_those_over() {
    let mut n = hapair_pair(Version::V3, 100);
    for (i, peer) in [(0, 12), (1, 11)] {
        let mut c = n.nodes[i].inst.config().clone();
        c.vips.push(VipCidr::new(Ipv4Addr::new(192, 168, 100, 129), 24).unwrap());
        c.vip_interfaces = vec![None, Some("eth1".into())];
        n.nodes[i].inst = Instance::new(c, n.nodes[i].addr);
        n.nodes[i].inst.set_hapair_peer(Some(Ipv4Addr::new(10, 77, 250, peer)));
    }
    n.settle(5.0);
    assert!(n.nodes[0].inst.carries_over());
    n.input("a", Input::Handover);
    n.run_until(12.0);
    let t = n.take();
    assert!(t.contains(&"5.0000 b forward strays to 10.77.250.11".to_string()), "{t:#?}");
    assert!(t.contains(&"5.0300 a linger".to_string()), "{t:#?}");
}

#[test]
fn switchover_is_make_before_break_and_sticky_until_claimed() {
    let mut n = settled_hapair_pair();
    n.input("a", Input::Handover);
    n.run_until(12.0);
    assert_eq!(
        n.take(),
        [
            "5.0000 a sends priority 0",
            "5.0000 b BACKUP -> MASTER: hapair peer 10.77.250.11 resigned (priority 0), took over at once",
            "5.0000 b forward strays to 10.77.250.11",
            "5.0000 b add vips",
            "5.0000 b garp",
            "5.0000 a MASTER -> BACKUP: handed over (switchover); keeping the VIPs until the peer holds them",
            "5.0300 a linger",
            "5.0300 a remove vips",
            "5.5000 b garp",
            "7.0000 b stop forwarding",
            "7.0300 a stop lingering",
        ]
    );
    // a (150) does not preempt b (100) while yielding.
    assert_eq!((n.state("a"), n.state("b")), (State::Backup, State::Master));
    assert!(n.nodes[0].inst.priority_reason().ends_with("yielded by switchover (not preempting)"));
    // Switching back: claim on a, hand over on b.
    n.input("a", Input::Claim);
    n.input("b", Input::Handover);
    n.run_until(13.0);
    let t = n.take();
    assert_eq!(t[1], "12.0000 a BACKUP -> MASTER: hapair peer 10.77.250.12 resigned (priority 0), took over at once");
    assert_eq!(t[2], "12.0000 a forward strays to 10.77.250.12", "{t:#?}");
    assert_eq!(t[6..8], ["12.0300 b linger", "12.0300 b remove vips"], "{t:#?}");
}

#[test]
fn switching_back_within_the_stray_window_ends_both_windows() {
    let mut n = settled_hapair_pair();
    n.input("a", Input::Handover);
    n.run_until(6.0);
    n.take();
    n.input("a", Input::Claim);
    n.input("b", Input::Handover);
    n.run_until(6.1);
    assert_eq!(
        n.take(),
        [
            "6.0000 b sends priority 0",
            "6.0000 a BACKUP -> MASTER: hapair peer 10.77.250.12 resigned (priority 0), took over at once",
            "6.0000 a forward strays to 10.77.250.12",
            "6.0000 a add vips",
            "6.0000 a garp",
            "6.0000 b stop forwarding",
            "6.0000 b MASTER -> BACKUP: handed over (switchover); keeping the VIPs until the peer holds them",
            // a still lingered from the hand-over at 5.0: the addresses are back; it answers
            // ARP for them again.
            "6.0000 a stop lingering",
            "6.0300 b linger",
            "6.0300 b remove vips",
        ]
    );
    n.run_until(9.0);
    assert_eq!(n.take(), ["6.5000 a garp", "8.0000 a stop forwarding", "8.0300 b stop lingering"]);
    assert!(!n.nodes[1].inst.lingering());
}

#[test]
fn switchover_to_an_rfc_peer_keeps_the_vips_until_it_took_over_after_skew() {
    let mut n = pair(Version::V3, 100);
    n.settle(5.0);
    n.input("a", Input::Handover);
    n.run_until(6.0);
    assert_eq!(
        n.take(),
        [
            "5.0000 a sends priority 0",
            "5.0000 a MASTER -> BACKUP: handed over (switchover); keeping the VIPs until the peer holds them",
            "5.6094 b BACKUP -> MASTER: 10.77.250.11 resigned (priority 0), took over after skew 0.609 s",
            "5.6094 b add vips",
            "5.6094 b garp",
            "5.6394 a remove vips",
        ]
    );
}

#[test]
fn switchover_to_a_dead_peer_keeps_the_vips() {
    let mut n = settled_hapair_pair();
    n.kill("b");
    n.take();
    n.input("a", Input::Handover);
    n.run_until(10.0);
    let t = n.take();
    // a never released: Master_Down_Timer (3 × 1 s + skew of priority 150) brought it back.
    assert!(!t.iter().any(|l| l.contains("remove vips")), "{t:#?}");
    assert!(t.contains(&"8.4141 a BACKUP -> MASTER: no advert from 10.77.250.11 for 3.41 s".to_string()), "{t:#?}");
    assert_eq!(n.state("a"), State::Master);
}

#[test]
fn hapair_check_failure_with_weight_hands_over_at_once() {
    let mut n = hapair_pair(Version::V3, 100);
    n.nodes[0].inst.cfg.check_weight = -60;
    n.settle(5.0);
    n.input("a", Input::Check { ok: false });
    n.run_until(5.1);
    assert_eq!(
        n.take(),
        [
            "5.0000 b BACKUP -> MASTER: hapair peer 10.77.250.11 lowered its priority to 90 < ours 100, took over at once",
            "5.0000 b add vips",
            "5.0000 b garp",
            // (a hears b's advert here: the simulation delivers it at once)
            "5.0000 a sends priority 0",
            // a's check failed: the take-over waits for nothing; forwarding comes right after.
            "5.0000 b forward strays to 10.77.250.11",
            "5.0000 a MASTER -> BACKUP: 10.77.250.12 advertises priority 100 > ours 90",
            "5.0000 b garp",
            "5.0300 a linger",
            "5.0300 a remove vips",
        ]
    );
    // Recovery: the RFC way back (preempt after Master_Down_Interval).
    n.input("a", Input::Check { ok: true });
    n.run_until(9.0);
    let t = n.take();
    // Master_Down_Timer was armed at 5.0 with the failing priority's skew: 3 + 166/256 s.
    // The hand-over's windows end first (2 s after it).
    assert_eq!(t[1..3], ["7.0000 b stop forwarding", "7.0300 a stop lingering"], "{t:#?}");
    assert_eq!(t[3], "8.6484 a BACKUP -> MASTER: preempted 10.77.250.12 (its priority 100 < ours 150)", "{t:#?}");
    // Preempting a live hapair peer is a hand-over too: its open connections are forwarded.
    assert_eq!(t[4], "8.6484 a forward strays to 10.77.250.12", "{t:#?}");
}

#[test]
fn a_failing_yielded_to_node_brings_the_vips_back() {
    let mut n = hapair_pair(Version::V3, 100);
    n.nodes[1].inst.cfg.check_weight = -60;
    n.start("a");
    n.start("b");
    n.run_until(5.0);
    n.input("a", Input::Handover);
    n.run_until(6.0);
    n.take();
    n.input("b", Input::Check { ok: false });
    n.run_until(6.1);
    let t = n.take();
    assert_eq!(
        t[0],
        "6.0000 a BACKUP -> MASTER: hapair peer 10.77.250.12 lowered its priority to 40 < ours 150, took over at once"
    );
    assert!(!n.nodes[0].inst.yielding());
}

#[test]
fn a_returning_preferred_node_still_waits_master_down_interval() {
    // The fast preemption is for a master whose priority drops, not for a node that starts.
    let mut n = hapair_pair(Version::V3, 100);
    n.start_a_after_b_is_master();
    n.run_until(8.0);
    let t = n.take();
    assert_eq!(t[2], "7.4141 a BACKUP -> MASTER: preempted 10.77.250.12 (its priority 100 < ours 150)", "{t:#?}");
}

#[test]
fn split_brain_heals_with_an_immediate_advert_and_gratuitous_arp() {
    // VRRP blocked between the nodes: both become master. Then it is let through.
    let mut n = pair(Version::V3, 100);
    n.start("a");
    n.run_until(4.0);
    n.take();
    n.start("b");
    n.nodes[1].inst.master_down_timer = Some(n.now);
    // b's advert is the first one a hears from it (as after the block is lifted).
    n.run_until(4.2);
    let t = n.take();
    assert_eq!(
        t,
        [
            "4.0000 b INITIALIZE -> BACKUP: started, waiting for a master",
            "4.0000 b BACKUP -> MASTER: no advert from any master for 0.00 s",
            "4.0000 b add vips",
            "4.0000 b garp",
            "4.0000 b remove vips",
            "4.0000 b MASTER -> BACKUP: 10.77.250.11 advertises priority 150 > ours 100",
            "4.0000 a garp",
        ],
        "a, the winner, answers b's advert at once with its own and gratuitous ARP"
    );
}

#[test]
fn a_healed_partition_where_the_winner_speaks_first_still_announces_the_winner() {
    // The master's link was down: both became master. When it comes back, the winner's periodic
    // advert reaches the loser first, so the winner never hears a lower master; the loser's
    // priority 0 on yielding makes the winner announce itself (clients followed the loser).
    let mut n = settled_hapair_pair();
    n.cut = true;
    n.run_until(9.0);
    assert_eq!((n.state("a"), n.state("b")), (State::Master, State::Master));
    n.take();
    n.cut = false;
    n.nodes[0].inst.adver_timer = Some(n.now);
    n.run_until(9.1);
    assert_eq!(
        n.take(),
        [
            "9.0000 b sends priority 0",
            "9.0000 b MASTER -> BACKUP: 10.77.250.11 advertises priority 150 > ours 100",
            "9.0000 a garp",
            "9.0300 b linger",
            "9.0300 b remove vips",
        ]
    );
}

#[test]
fn restart_after_a_crash_keeps_the_vips_with_a_hapair_peer() {
    let mut n = settled_hapair_pair();
    n.kill("a");
    n.run_until(5.3);
    n.nodes[0].up = true;
    let now = n.now;
    assert!(n.nodes[0].inst.startup_holding(now));
    n.drain(0);
    n.run_until(5.4);
    assert_eq!(
        n.take(),
        [
            "5.0000 a killed",
            "5.3000 a INITIALIZE -> MASTER: restarted while holding the VIPs; kept them and announced",
            "5.3000 a add vips",
            "5.3000 a garp",
        ]
    );
    assert_eq!(n.state("b"), State::Backup);
}

#[test]
fn restart_after_the_peer_took_over_settles_in_one_exchange() {
    let mut n = hapair_pair(Version::V3, 100);
    n.start("b");
    n.start("a");
    n.run_until(5.0);
    // b (priority 100) is backup; kill it long enough for nothing, then make a the one that
    // crashed while b took over: restart b while a holds the VIP.
    n.take();
    n.kill("b");
    n.nodes[1].up = true;
    let now = n.now;
    assert!(n.nodes[1].inst.startup_holding(now));
    n.drain(1);
    n.run_until(5.1);
    let t = n.take();
    assert_eq!(
        t,
        [
            "5.0000 b killed",
            "5.0000 b INITIALIZE -> MASTER: restarted while holding the VIPs; kept them and announced",
            "5.0000 b add vips",
            "5.0000 b garp",
            "5.0000 b sends priority 0",
            "5.0000 a garp",
            "5.0000 b MASTER -> BACKUP: 10.77.250.11 advertises priority 150 > ours 100",
            "5.0000 a garp",
            "5.0300 b linger",
            "5.0300 b remove vips",
        ]
    );
    assert_eq!((n.state("a"), n.state("b")), (State::Master, State::Backup));
}

#[test]
fn without_a_hapair_peer_a_restart_is_the_rfc_startup() {
    let mut i = Instance::new(cfg(100, Version::V3, 100), Ipv4Addr::new(10, 77, 250, 11));
    assert!(!i.startup_holding(Instant::now()));
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn multicast_restricted_to_the_peer_drops_other_sources() {
    let mut i = Instance::new(cfg(100, Version::V3, 100), Ipv4Addr::new(10, 77, 250, 11));
    i.set_accept_only(Some(Ipv4Addr::new(10, 77, 250, 12)));
    let t0 = Instant::now();
    i.handle(t0, Input::Startup);
    let a = advert(51, 200, Version::V3, 100, Auth::None);
    for src in [13, 12] {
        let src = Ipv4Addr::new(10, 77, 250, src);
        i.handle(t0, Input::Advert { src, ttl: 255, checksum: ChecksumMode::PseudoHeader, advert: a.clone() });
    }
    assert_eq!(i.counters().drops.source, 1);
    assert_eq!(i.counters().adverts_received, 1);
    assert_eq!(i.master_seen(), Some(Ipv4Addr::new(10, 77, 250, 12)));
}

#[test]
fn a_fresh_instance_told_the_check_fails_starts_in_fault() {
    // What a reload does for an instance it creates while the check is failing.
    let mut i = Instance::new(cfg(100, Version::V3, 100), Ipv4Addr::new(10, 77, 250, 11));
    let t0 = Instant::now();
    i.handle(t0, Input::Check { ok: false });
    i.handle(t0, Input::Startup);
    assert_eq!(i.state(), State::Fault);
    i.handle(t0, Input::Check { ok: true });
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn a_reloaded_tracker_keeps_failing_until_rise() {
    let mut t = CheckTracker::new(2, 2);
    t.record(false);
    t.record(false);
    assert!(!t.ok());
    let mut t = t.reconfigured(3, 2);
    assert!(!t.ok());
    assert_eq!([t.record(true), t.record(true)], [None, Some(true)]);
    let mut t = CheckTracker::new(2, 2);
    assert!(t.fail_now());
    assert!(!t.fail_now());
}

/// xorshift64*: a tiny deterministic generator for the randomized pair tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// No node holds the VIPs outside MASTER, except while handing them over.
fn check_holders(n: &Net, seed: u64, step: usize) {
    for (i, node) in n.nodes.iter().enumerate().filter(|x| x.1.up) {
        let s = node.inst.state();
        assert!(
            !node.vips || s == State::Master || node.inst.holding(),
            "seed {seed} step {step}: {} holds the VIPs in {s} without a hand-over",
            node.name
        );
        // Strays go only from the master, only to the other node; a node lingers only once
        // it released the VIPs.
        if let Some(to) = node.forwarding {
            assert_eq!(s, State::Master, "seed {seed} step {step}: {} forwards strays in {s}", node.name);
            assert_eq!(to, n.nodes[1 - i].addr, "seed {seed} step {step}");
        }
        assert!(!(node.lingering && node.vips), "seed {seed} step {step}: {} lingers holding the VIPs", node.name);
        assert_eq!(node.lingering, node.inst.lingering(), "seed {seed} step {step}: {}", node.name);
    }
}

/// Random events on a hapair pair (stops, starts, crashes and restarts, check failures,
/// switchovers, partitions), then everything healthy again: one master holding the VIPs, one
/// backup holding none. Failing seeds are pinned in `PINNED`.
fn random_pair_run(seed: u64) {
    let mut r = Rng(seed | 1);
    let iv = [10u16, 100][r.below(2) as usize];
    let mut n = hapair_pair(Version::V3, iv);
    for x in &mut n.nodes {
        x.inst.cfg.check_weight = [0i16, -60][r.below(2) as usize];
    }
    n.start("a");
    n.start("b");
    let names = ["a", "b"];
    let mut t = 1.0;
    for step in 0..40 {
        let who = names[r.below(2) as usize];
        let i = n.idx(who);
        let stopped = n.nodes[i].inst.state() == State::Initialize && !n.nodes[i].inst.holding();
        match r.below(9) {
            0 if !stopped && n.nodes[i].up => n.stop(who),
            1 if stopped || !n.nodes[i].up => restart(&mut n, i),
            2 if n.nodes[i].up => n.kill(who),
            3 if n.nodes[i].up => n.input(who, Input::Check { ok: false }),
            4 if n.nodes[i].up => n.input(who, Input::Check { ok: true }),
            5 if n.nodes[i].up => n.input(who, Input::Handover),
            6 if n.nodes[i].up => n.input(who, Input::Claim),
            7 => n.cut = true,
            8 => n.cut = false,
            _ => {}
        }
        check_holders(&n, seed, step);
        t += r.below(50) as f64 / 10.0 * f64::from(iv) / 100.0;
        n.run_until(t);
        check_holders(&n, seed, step);
    }
    // Heal everything and let the pair settle. A stopping daemon exits once it released its
    // VIPs (at most Master_Down_Interval): wait for that first.
    n.cut = false;
    t += 4.0 * f64::from(iv) / 100.0 + 1.0;
    n.run_until(t);
    for i in 0..2 {
        let stopped = n.nodes[i].inst.state() == State::Initialize && !n.nodes[i].inst.holding();
        if stopped || !n.nodes[i].up {
            restart(&mut n, i);
        }
        let name = n.nodes[i].name;
        n.input(name, Input::Check { ok: true });
        n.input(name, Input::Claim);
    }
    n.run_until(t + 15.0 * f64::from(iv) / 100.0 + 5.0);
    check_holders(&n, seed, 99);
    // Every hand-over's window has ended.
    for node in &n.nodes {
        assert!(node.forwarding.is_none() && !node.lingering, "seed {seed}: {} still forwards or lingers", node.name);
    }
    let states = (n.state("a"), n.state("b"));
    let vips = (n.nodes[0].vips, n.nodes[1].vips);
    assert!(
        matches!(
            (states, vips),
            ((State::Master, State::Backup), (true, false)) | ((State::Backup, State::Master), (false, true))
        ),
        "seed {seed}: the pair did not settle: states {states:?}, VIPs {vips:?}\n{:#?}",
        n.take()
    );
}

/// A daemon (re)start as the daemon does it: keep still-bound VIPs in a hapair pair.
fn restart(n: &mut Net, i: usize) {
    let c = n.nodes[i].inst.config().clone();
    let peer = n.nodes[i].inst.hapair_peer;
    n.nodes[i].inst = Instance::new(c, n.nodes[i].addr);
    n.nodes[i].inst.set_hapair_peer(peer);
    n.nodes[i].up = true;
    // The daemon's start removes tables an earlier run left (`remove_stale_tables`).
    n.nodes[i].forwarding = None;
    n.nodes[i].lingering = false;
    let now = n.now;
    if n.nodes[i].vips {
        n.nodes[i].inst.startup_holding(now);
    } else {
        n.nodes[i].inst.handle(now, Input::Startup);
    }
    n.drain(i);
}

/// Seeds that once failed (none yet) stay here forever.
const PINNED: &[u64] = &[];

#[test]
fn randomized_hapair_pairs_always_settle_with_one_holder() {
    for seed in PINNED.iter().copied().chain(1..=2000) {
        random_pair_run(seed);
    }
}

#[test]
fn a_stopping_node_stops_lingering_once_drained_but_not_before_its_minimum() {
    let mut n = settled_hapair_pair();
    n.stop("a");
    n.run_until(5.2);
    n.take();
    // 5.03 linger; 5.2 is before 5.03 + LINGER_AT_LEAST: still lingering.
    n.input("a", Input::Drained);
    assert!(n.nodes[0].inst.lingering());
    n.run_until(5.3);
    n.input("a", Input::Drained);
    assert_eq!(n.take(), ["5.3000 a stop lingering"]);
    assert!(!n.nodes[0].inst.lingering() && !n.nodes[0].inst.holding());
    // Nothing else to do: the daemon exits; no second StopLinger at the window's end.
    n.run_until(8.0);
    assert!(!n.take().iter().any(|l| l.contains("linger")));
    // Drained while not lingering does nothing.
    n.input("b", Input::Drained);
    assert!(n.take().is_empty());
}

/// `auth_type: ah`: the adverts sent say auth type 2; one without AH (PASS, none), or whose AH
/// did not verify (the daemon's check, `DecodeError::Ah`), is an `auth` drop.
#[test]
fn ah_adverts_are_sent_as_type_2_and_others_dropped_as_auth() {
    let mut c = cfg(100, Version::V2, 100);
    c.auth_pass = AuthPass::new(b"secret");
    c.auth_type = crate::values::AuthType::Ah;
    let mut i = Instance::new(c, Ipv4Addr::new(10, 77, 250, 11));
    let t0 = Instant::now();
    i.handle(t0, Input::Startup);
    let peer = Ipv4Addr::new(10, 77, 250, 12);
    let send = |i: &mut Instance, a| {
        i.handle(t0, Input::Advert { src: peer, ttl: 255, checksum: ChecksumMode::Plain, advert: a })
    };
    send(&mut i, advert(51, 200, Version::V2, 100, Auth::Pass(*b"secret\0\0")));
    send(&mut i, advert(51, 200, Version::V2, 100, Auth::None));
    i.handle(t0, Input::Malformed(DecodeError::Ah(crate::vrrp::ah::AhError::Icv)));
    assert_eq!(i.counters().drops, Drops { auth: 3, ..Drops::default() });
    send(&mut i, advert(51, 200, Version::V2, 100, Auth::Ah));
    assert_eq!(i.counters().adverts_received, 1);
    // Master_Down_Interval without adverts: master, advertising with AH.
    i.handle(t0 + Duration::from_secs(10), Input::Timeout);
    let sent: Vec<Advert> = std::iter::from_fn(|| i.poll_action())
        .filter_map(|a| if let Action::Send(a) = a { Some(a) } else { None })
        .collect();
    assert!(!sent.is_empty() && sent.iter().all(|a| a.auth == Auth::Ah), "{sent:?}");
}
