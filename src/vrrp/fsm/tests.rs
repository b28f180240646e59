//! Two or three instances on a virtual wire with a virtual clock; traces compared exactly.

use super::*;
use crate::values::{Priority, VipCidr, Vrid};
use crate::vrrp::config::{AuthPass, InstanceConfig, Transport};

fn cfg(priority: u8, version: Version, interval_cs: u16) -> InstanceConfig {
    InstanceConfig {
        name: "web-51".into(),
        vrid: Vrid::new(51).unwrap(),
        version,
        priority: Priority::new(priority).unwrap(),
        advert_interval_cs: interval_cs,
        vips: vec![VipCidr::new(Ipv4Addr::new(10, 77, 250, 200), 24).unwrap()],
        preempt: true,
        preempt_delay: Duration::ZERO,
        auth_pass: None,
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
}

/// A virtual wire: every advert a node sends reaches every other running node at once.
struct Net {
    t0: Instant,
    now: Instant,
    nodes: Vec<Node>,
    trace: Vec<String>,
    /// Adverts with priority > 0 are counted, not traced (they repeat every interval).
    routine_adverts: usize,
}

impl Net {
    fn new(nodes: Vec<(&'static str, u8, InstanceConfig)>) -> Net {
        let t0 = Instant::now();
        let nodes = nodes
            .into_iter()
            .map(|(name, last, c)| {
                let addr = Ipv4Addr::new(10, 77, 250, last);
                Node { name, addr, inst: Instance::new(c, addr), up: false }
            })
            .collect();
        Net { t0, now: t0, nodes, trace: Vec::new(), routine_adverts: 0 }
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

    fn stop(&mut self, name: &str) {
        self.input(name, Input::Shutdown);
        let i = self.idx(name);
        self.nodes[i].up = false;
    }

    /// SIGKILL: the node vanishes; its instance is replaced by a fresh one for a restart.
    fn kill(&mut self, name: &str) {
        let i = self.idx(name);
        self.nodes[i].up = false;
        let c = self.nodes[i].inst.config().clone();
        self.nodes[i].inst = Instance::new(c, self.nodes[i].addr);
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
                        if j != i && self.nodes[j].up {
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
                Action::AddVips => self.trace.push(format!("{} {name} add vips", self.t())),
                Action::RemoveVips => self.trace.push(format!("{} {name} remove vips", self.t())),
                Action::Garp => self.trace.push(format!("{} {name} garp", self.t())),
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
    n.start("b");
    n.run_until(4.0);
    n.take();
    n.start("a");
    n.run_until(20.0);
    assert_eq!(n.take(), ["4.0000 a INITIALIZE -> BACKUP: started, waiting for a master", "4.1094 b garp"]);
    assert_eq!(n.state("b"), State::Master);
}

#[test]
fn preempt_delay_waits_before_taking_over() {
    let mut n = pair(Version::V3, 100);
    n.nodes[0].inst.cfg.preempt_delay = Duration::from_secs(5);
    n.start("b");
    n.run_until(4.0);
    n.take();
    n.start("a");
    n.run_until(12.0);
    let t = n.take();
    // b's first advert after a starts arrives at 4.6094; the delay runs from there.
    assert_eq!(t[2], "9.6094 a BACKUP -> MASTER: preempted 10.77.250.12 (its priority 100 < ours 150)", "{t:#?}");
}

#[test]
fn sigkill_failover_after_master_down_interval_and_restart() {
    let mut n = pair(Version::V3, 10);
    n.start("a");
    n.start("b");
    n.run_until(1.0);
    n.take();
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
    n.start("a");
    n.start("b");
    n.run_until(5.0);
    n.take();
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

#[test]
fn failing_check_with_weight_zero_goes_to_fault_and_back() {
    let mut n = pair(Version::V3, 100);
    n.start("a");
    n.start("b");
    n.run_until(5.0);
    n.take();
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
