//! The VRRP state machine of one virtual router (RFC 5798 §6, RFC 9568 §6, RFC 3768 §6).
//!
//! Pure, in the style of quinn-proto: no I/O and no clock. The daemon feeds it
//! [`Instance::handle`]`(now, input)`, sleeps until [`Instance::poll_timeout`], and carries out
//! what [`Instance::poll_action`] returns (send an advert, add or remove the VIPs, send
//! gratuitous ARP, log a transition).

use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::config::{InstanceConfig, Transport};
use super::packet::{Advert, ChecksumMode, DecodeError, Version, TTL};

/// RFC 5798 §6.4: the three states, plus FAULT (keepalived's name for "a tracked check with
/// weight 0 fails": the router stays out of the election and holds no VIP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Initialize,
    Backup,
    Master,
    Fault,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Initialize => "initialize",
            State::Backup => "backup",
            State::Master => "master",
            State::Fault => "fault",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().to_uppercase())
    }
}

/// What happened to this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// RFC 5798 §6.4.1: the Startup event.
    Startup,
    /// RFC 5798 §6.4.2/§6.4.3: the Shutdown event.
    Shutdown,
    /// A decoded advert for this instance's interface, with the IP header fields that matter.
    Advert { src: Ipv4Addr, ttl: u8, checksum: ChecksumMode, advert: Advert },
    /// A packet that could not be decoded (counted as a drop).
    Malformed(DecodeError),
    /// The node's health check changed state (after fall/rise).
    Check { ok: bool },
    /// Time passed; fire the timers that are due.
    Timeout,
    /// A planned switchover (`hapair switchover`): a master resigns (priority 0) but keeps its
    /// VIPs until it hears the new master (make-before-break), then stays out of the way
    /// (no preemption) until [`Input::Claim`] or a restart.
    Handover,
    /// Take part in preemption again after a [`Input::Handover`].
    Claim,
    /// No connection to the VIPs is open here any more (the daemon looks while a stopping
    /// node lingers): the lingering ends, once [`LINGER_AT_LEAST`] has passed.
    Drained,
}

/// What the daemon must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this advert (to 224.0.0.18 or the unicast peer; the daemon encodes it).
    Send(Advert),
    /// Bind the VIPs on the interface.
    AddVips,
    /// Release the VIPs.
    RemoveVips,
    /// Send one gratuitous ARP for each VIP.
    Garp,
    /// Taking over from the live hapair peer: until [`Action::StopForward`], send it the
    /// segments of TCP connections it still serves (a client whose ARP entry switched to us in
    /// the middle of a request), instead of answering them with a reset. Before
    /// [`Action::AddVips`].
    Forward {
        to: Ipv4Addr,
    },
    StopForward,
    /// Releasing the VIPs to the hapair peer: until [`Action::StopLinger`], keep accepting the
    /// segments of connections still open here (the peer forwards them) without answering ARP
    /// for the VIPs. Before [`Action::RemoveVips`].
    Linger,
    StopLinger,
    /// The state changed; log it, notify, update the status.
    Transition {
        from: State,
        to: State,
        reason: Reason,
    },
}

/// Why a transition happened; `Display` is the log line's explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Startup,
    /// We own the VIP address (priority 255, RFC 5798 §6.4.1).
    Owner,
    /// Master_Down_Timer fired (RFC 5798 §6.4.2).
    MasterDown {
        last_master: Option<Ipv4Addr>,
        silent: Duration,
    },
    /// Master_Down_Timer (set to Skew_Time) fired after the master sent priority 0.
    MasterResigned {
        master: Ipv4Addr,
        skew: Duration,
    },
    /// We preempt a lower-priority master (RFC 5798 §6.4.2, Preempt_Mode).
    Preempt {
        master: Ipv4Addr,
        their: u8,
        ours: u8,
    },
    /// A better master advertised (RFC 5798 §6.4.3).
    Superseded {
        master: Ipv4Addr,
        their: u8,
        ours: u8,
    },
    /// The hapair peer resigned (priority 0): it is the only other router, so there is no
    /// other backup to give way to and no Skew_Time to wait.
    PeerResigned {
        master: Ipv4Addr,
    },
    /// The hapair peer, master until now, lowered its priority below ours (its check failed):
    /// take over at once instead of waiting out Master_Down_Interval.
    PeerLowered {
        master: Ipv4Addr,
        their: u8,
        ours: u8,
    },
    /// A planned switchover: we resigned and hand the VIPs to the peer.
    Handover,
    /// The daemon restarted (crash) and still held the VIPs: kept, announced at once.
    KeptAfterRestart,
    Shutdown,
    CheckFailed,
    CheckRecovered,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => f.write_str("started, waiting for a master"),
            Reason::Owner => f.write_str("address owner (priority 255)"),
            Reason::MasterDown { last_master: Some(m), silent } => {
                write!(f, "no advert from {m} for {:.2} s", silent.as_secs_f64())
            }
            Reason::MasterDown { last_master: None, silent } => {
                write!(f, "no advert from any master for {:.2} s", silent.as_secs_f64())
            }
            Reason::MasterResigned { master, skew } => {
                write!(f, "{master} resigned (priority 0), took over after skew {:.3} s", skew.as_secs_f64())
            }
            Reason::Preempt { master, their, ours } => {
                write!(f, "preempted {master} (its priority {their} < ours {ours})")
            }
            Reason::Superseded { master, their, ours } if their == ours => {
                write!(f, "{master} has equal priority {their} and a higher address")
            }
            Reason::Superseded { master, their, ours } => {
                write!(f, "{master} advertises priority {their} > ours {ours}")
            }
            Reason::PeerResigned { master } => {
                write!(f, "hapair peer {master} resigned (priority 0), took over at once")
            }
            Reason::PeerLowered { master, their, ours } => {
                write!(f, "hapair peer {master} lowered its priority to {their} < ours {ours}, took over at once")
            }
            Reason::Handover => f.write_str("handed over (switchover); keeping the VIPs until the peer holds them"),
            Reason::KeptAfterRestart => f.write_str("restarted while holding the VIPs; kept them and announced"),
            Reason::Shutdown => f.write_str("shutting down"),
            Reason::CheckFailed => f.write_str("health check failed (weight 0)"),
            Reason::CheckRecovered => f.write_str("health check recovered"),
        }
    }
}

/// Dropped adverts, by reason (RFC 5798 §7.1, RFC 3768 §7.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Drops {
    pub ttl: u64,
    pub vrid: u64,
    pub checksum: u64,
    pub auth: u64,
    pub interval: u64,
    pub version: u64,
    pub source: u64,
    pub malformed: u64,
}

/// Counters and what was last seen, for the status file and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub transitions: u64,
    pub drops: Drops,
}

/// One VRRP virtual router.
#[derive(Debug)]
pub struct Instance {
    cfg: InstanceConfig,
    /// Our primary address on the interface (advert source, tie-breaker).
    own: Ipv4Addr,
    state: State,
    since: Option<Instant>,
    check_ok: bool,
    /// RFC 5798 §6.1 Master_Adver_Interval, centiseconds (learned from the master in v3).
    master_adver_cs: u16,
    adver_timer: Option<Instant>,
    master_down_timer: Option<Instant>,
    /// Why the Master_Down_Timer is running (for the log line when it fires).
    down_reason: DownReason,
    garp_timer: Option<Instant>,
    garps_left: u32,
    /// First time a lower-priority master was heard since the last accepted advert.
    lower_since: Option<Instant>,
    master_seen: Option<Ipv4Addr>,
    last_advert: Option<Instant>,
    peer_checksum: Option<ChecksumMode>,
    counters: Counters,
    actions: VecDeque<Action>,
    /// The other node of a hapair pair (rendered by hapair as `peer_hapair`): the fast paths
    /// (no Skew_Time on resign, immediate take-over when it lowers its priority, holding the
    /// VIPs on shutdown until it holds them) apply only to adverts from this address.
    hapair_peer: Option<Ipv4Addr>,
    /// Accept adverts from this source only (multicast mode restricted to the peer).
    accept_only: Option<Ipv4Addr>,
    /// The priority the current master last advertised (to see it drop).
    master_priority: Option<u8>,
    /// Left MASTER but still holding the VIPs (make-before-break): released when this fires.
    /// While waiting for the new master the deadline is a backstop; once it is heard, a short
    /// drain.
    hold_until: Option<Instant>,
    /// After a handover: do not preempt until [`Input::Claim`].
    yielding: bool,
    /// Forwarding the old holder's connections to it ([`Action::Forward`]) until then.
    forward_until: Option<Instant>,
    /// Accepting our connections' segments after releasing the VIPs ([`Action::Linger`]).
    linger_until: Option<Instant>,
}

/// How long the connections open at a hand-over between hapair nodes are carried over (the
/// new holder forwards their segments to the old one, which keeps accepting them): a request
/// in flight when clients switch to the new holder finishes on the old one. Longer requests
/// are cut when the window ends, as without it.
pub const STRAY_WINDOW: Duration = Duration::from_secs(2);

/// A lingering node ends early on [`Input::Drained`] only after this: clients that missed the
/// new holder's first gratuitous ARP still reach it meanwhile.
pub const LINGER_AT_LEAST: Duration = Duration::from_millis(250);

/// How long a node keeps the VIPs after hearing the new master during a hand-over: the new
/// master sends its advert, binds the VIPs and sends gratuitous ARP within a few ms; requests
/// that reach the old holder meanwhile are still answered.
pub const HANDOVER_DRAIN: Duration = Duration::from_millis(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DownReason {
    Silence { armed: Instant },
    Resigned { master: Ipv4Addr, skew: Duration },
    Preempt { master: Ipv4Addr, their: u8 },
}

impl Instance {
    pub fn new(cfg: InstanceConfig, own: Ipv4Addr) -> Instance {
        let master_adver_cs = cfg.advert_interval_cs;
        Instance {
            cfg,
            own,
            state: State::Initialize,
            since: None,
            check_ok: true,
            master_adver_cs,
            adver_timer: None,
            master_down_timer: None,
            down_reason: DownReason::Silence { armed: Instant::now() },
            garp_timer: None,
            garps_left: 0,
            lower_since: None,
            master_seen: None,
            last_advert: None,
            peer_checksum: None,
            counters: Counters::default(),
            actions: VecDeque::new(),
            hapair_peer: None,
            accept_only: None,
            master_priority: None,
            hold_until: None,
            yielding: false,
            forward_until: None,
            linger_until: None,
        }
    }

    /// The peer is the other node of a hapair pair (see the field's doc).
    pub fn set_hapair_peer(&mut self, peer: Option<Ipv4Addr>) {
        self.hapair_peer = peer;
    }

    /// Drop (and count as `source`) adverts from anyone but `peer`, also in multicast mode.
    pub fn set_accept_only(&mut self, peer: Option<Ipv4Addr>) {
        self.accept_only = peer;
    }

    /// Still holding the VIPs after leaving MASTER (until the new master is heard).
    pub fn holding(&self) -> bool {
        self.hold_until.is_some()
    }

    /// Still accepting the connections open at a hand-over after releasing the VIPs
    /// ([`Action::Linger`]); the daemon keeps running until this ends.
    pub fn lingering(&self) -> bool {
        self.linger_until.is_some()
    }

    /// Whether the connections open at a hand-over are carried over ([`Action::Forward`],
    /// [`Action::Linger`]): only for VIPs on the VRRP interface, so when at least one lives
    /// there (the executor carries those over, and only those). The peer's address known there
    /// is where the forwarded segments go, on the interface they arrived on; for VIPs on another
    /// interface (`vip_interface`, or a VIP's own) the peer's address on that one is not known,
    /// so their hand-over is as with keepalived: a request in flight at the switch may fail.
    pub fn carries_over(&self) -> bool {
        self.cfg.vip_interfaces.iter().any(Option::is_none)
    }

    /// Yielded by a switchover: not preempting.
    pub fn yielding(&self) -> bool {
        self.yielding
    }

    /// The daemon restarted (after a crash) and found these VIPs still bound: with a hapair
    /// peer, keep them and announce at once (advert + gratuitous ARP) instead of leaving the VIP
    /// on no node for a Master_Down_Interval. A peer that took over meanwhile answers our
    /// advert at once (split-brain rule), and the election settles in one exchange. Without a
    /// hapair peer, the RFC start-up (backup) is used and the caller removes the VIPs.
    pub fn startup_holding(&mut self, now: Instant) -> bool {
        if self.state != State::Initialize
            || self.hapair_peer.is_none()
            || (!self.check_ok && self.cfg.check_weight == 0)
        {
            self.startup(now);
            return false;
        }
        self.become_master(now, Reason::KeptAfterRestart);
        true
    }

    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }
    pub fn state(&self) -> State {
        self.state
    }
    /// When the current state was entered.
    pub fn since(&self) -> Option<Instant> {
        self.since
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn master_seen(&self) -> Option<Ipv4Addr> {
        self.master_seen
    }
    pub fn last_advert(&self) -> Option<Instant> {
        self.last_advert
    }
    /// Which v3 checksum form the peer's adverts verified with (v2: always plain).
    pub fn peer_checksum(&self) -> Option<ChecksumMode> {
        self.peer_checksum
    }
    pub fn master_adver_interval(&self) -> Duration {
        cs(self.master_adver_cs)
    }

    /// The priority we advertise: base priority, moved by `check_weight` (keepalived rules: a
    /// negative weight applies while the check fails, a positive one while it succeeds; the
    /// owner's 255 never moves), kept within 1..=254.
    pub fn effective_priority(&self) -> u8 {
        let base = self.cfg.priority.get();
        if base == 255 {
            return 255;
        }
        let w = self.cfg.check_weight;
        let delta = match (self.check_ok, w) {
            (false, w) if w < 0 => w,
            (true, w) if w > 0 => w,
            _ => 0,
        };
        (i16::from(base) + delta).clamp(1, 254) as u8
    }

    /// Why the priority is what it is, for the status.
    pub fn priority_reason(&self) -> String {
        let r = self.priority_reason_check();
        if self.yielding {
            format!("{r}; yielded by switchover (not preempting)")
        } else {
            r
        }
    }

    fn priority_reason_check(&self) -> String {
        let w = self.cfg.check_weight;
        match (self.check_ok, w) {
            (_, _) if self.cfg.priority.get() == 255 => "address owner".into(),
            (true, w) if w > 0 => format!("check ok ({w:+})"),
            (true, _) => "check ok".into(),
            (false, 0) => "check failing (fault)".into(),
            (false, w) if w < 0 => format!("check failing ({w:+})"),
            (false, _) => "check failing".into(),
        }
    }

    /// RFC 5798 §6.1: Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256 (v3);
    /// RFC 3768 §6.1: (256 − Priority) / 256 seconds (v2).
    pub fn skew_time(&self) -> Duration {
        skew_time(self.cfg.version, self.effective_priority(), self.master_adver_cs)
    }

    /// RFC 5798 §6.1: Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        master_down_interval(self.cfg.version, self.effective_priority(), self.master_adver_cs)
    }

    fn advertisement_interval(&self) -> Duration {
        cs(self.cfg.advert_interval_cs)
    }

    /// The earliest time `handle(now, Input::Timeout)` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.adver_timer,
            self.master_down_timer,
            self.garp_timer,
            self.hold_until,
            self.forward_until,
            self.linger_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next thing to carry out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Apply new settings that keep the instance's identity (same vrid, version, VIPs and
    /// transport): no transition, new values take effect from the next event.
    pub fn update(&mut self, cfg: InstanceConfig) {
        if self.cfg.version == Version::V2 || self.state == State::Master {
            self.master_adver_cs = cfg.advert_interval_cs;
        }
        self.cfg = cfg;
    }

    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Startup => self.startup(now),
            Input::Shutdown => self.shutdown(now),
            Input::Advert { src, ttl, checksum, advert } => self.receive(now, src, ttl, checksum, advert),
            Input::Malformed(e) => {
                let d = &mut self.counters.drops;
                match e {
                    DecodeError::Checksum => d.checksum += 1,
                    DecodeError::Version(_) => d.version += 1,
                    DecodeError::AuthType(_) | DecodeError::Ah(_) => d.auth += 1,
                    _ => d.malformed += 1,
                }
            }
            Input::Check { ok } => self.check(now, ok),
            Input::Drained => {
                if self.linger_until.is_some_and(|t| now + STRAY_WINDOW >= t + LINGER_AT_LEAST) {
                    self.linger_until = None;
                    self.actions.push_back(Action::StopLinger);
                }
            }
            Input::Timeout => self.timeout(now),
            Input::Handover => self.handover(now),
            Input::Claim => self.yielding = false,
        }
    }

    // Make-before-break: resign (priority 0, so the backup takes over: at once when it is
    // hapair, after its Skew_Time otherwise) but keep the VIPs until its first advert is
    // heard. Should the peer never take over, our Master_Down_Timer fires and we stay master.
    fn handover(&mut self, now: Instant) {
        self.yielding = true;
        if self.state != State::Master {
            return;
        }
        self.send(0);
        self.adver_timer = None;
        self.garp_timer = None;
        self.garps_left = 0;
        self.master_adver_cs = self.cfg.advert_interval_cs;
        let down = self.master_down_interval();
        self.arm_master_down(now, DownReason::Silence { armed: now }, down);
        self.hold_until = Some(now + down);
        self.transition(now, State::Backup, Reason::Handover);
    }

    fn release(&mut self, now: Instant) {
        if self.hold_until.take().is_some() {
            if self.hapair_peer.is_some() && self.carries_over() {
                self.linger_until = Some(now + STRAY_WINDOW);
                self.actions.push_back(Action::Linger);
            }
            self.actions.push_back(Action::RemoveVips);
        }
    }

    // RFC 5798 §6.4.1 (Initialize): on Startup, the owner becomes master at once; anyone else
    // becomes backup with Master_Down_Timer = Master_Down_Interval.
    fn startup(&mut self, now: Instant) {
        if self.state != State::Initialize {
            return;
        }
        if !self.check_ok && self.cfg.check_weight == 0 {
            return self.transition(now, State::Fault, Reason::CheckFailed);
        }
        if self.effective_priority() == 255 {
            self.become_master(now, Reason::Owner);
        } else {
            self.master_adver_cs = self.cfg.advert_interval_cs;
            self.arm_master_down(now, DownReason::Silence { armed: now }, self.master_down_interval());
            self.transition(now, State::Backup, Reason::Startup);
        }
    }

    // RFC 5798 §6.4.2/§6.4.3 (Shutdown): a master sends one advert with priority 0 and
    // releases the VIPs; all timers stop; back to Initialize.
    // With a hapair peer the VIPs are kept until its first advert as master is heard (it takes
    // over at once on our priority 0), bounded by Master_Down_Interval: make-before-break.
    fn shutdown(&mut self, now: Instant) {
        let was_master = self.state == State::Master;
        if was_master {
            self.send(0);
        }
        self.stop_timers();
        if was_master && self.hapair_peer.is_some() {
            self.hold_until = Some(now + self.master_down_interval());
        } else if was_master {
            self.actions.push_back(Action::RemoveVips);
        }
        if self.state != State::Initialize {
            self.transition(now, State::Initialize, Reason::Shutdown);
        }
    }

    fn check(&mut self, now: Instant, ok: bool) {
        if self.check_ok == ok {
            return;
        }
        self.check_ok = ok;
        if self.cfg.check_weight != 0 {
            // No transition by itself. A master announces its new priority at once (a hapair
            // peer then takes over at once; an RFC peer preempts after its Master_Down_Interval);
            // a backup's next Master_Down_Interval changes.
            if self.state == State::Master {
                self.send(self.effective_priority());
                self.adver_timer = Some(now + self.advertisement_interval());
            }
            return;
        }
        match (ok, self.state) {
            (false, State::Master) => {
                // Leaving like a shutdown lets the backup take over after Skew_Time.
                self.send(0);
                self.actions.push_back(Action::RemoveVips);
                self.stop_timers();
                self.transition(now, State::Fault, Reason::CheckFailed);
            }
            (false, State::Backup) => {
                self.stop_timers();
                self.transition(now, State::Fault, Reason::CheckFailed);
            }
            (true, State::Fault) => {
                self.state = State::Initialize;
                self.startup_after_fault(now);
            }
            _ => {}
        }
    }

    fn startup_after_fault(&mut self, now: Instant) {
        if self.effective_priority() == 255 {
            self.state = State::Fault;
            self.become_master(now, Reason::CheckRecovered);
        } else {
            self.master_adver_cs = self.cfg.advert_interval_cs;
            self.arm_master_down(now, DownReason::Silence { armed: now }, self.master_down_interval());
            self.state = State::Fault;
            self.transition(now, State::Backup, Reason::CheckRecovered);
        }
    }

    fn timeout(&mut self, now: Instant) {
        if self.garp_timer.is_some_and(|t| t <= now) {
            self.actions.push_back(Action::Garp);
            self.garps_left = self.garps_left.saturating_sub(1);
            self.garp_timer = (self.garps_left > 0).then(|| now + self.cfg.garp_interval);
        }
        match self.state {
            // RFC 5798 §6.4.2: Master_Down_Timer fires → send an advert, GARP, become master.
            State::Backup if self.master_down_timer.is_some_and(|t| t <= now) => {
                let reason = match self.down_reason {
                    DownReason::Silence { armed } => Reason::MasterDown {
                        last_master: self.master_seen,
                        silent: now.saturating_duration_since(armed),
                    },
                    DownReason::Resigned { master, skew } => Reason::MasterResigned { master, skew },
                    DownReason::Preempt { master, their } => {
                        Reason::Preempt { master, their, ours: self.effective_priority() }
                    }
                };
                self.become_master(now, reason);
            }
            // RFC 5798 §6.4.3: Adver_Timer fires → send an advert, rearm.
            State::Master if self.adver_timer.is_some_and(|t| t <= now) => {
                self.send(self.effective_priority());
                self.adver_timer = Some(now + self.advertisement_interval());
            }
            _ => {}
        }
        // After the state's timers: a Master_Down_Timer firing at the same time keeps the VIPs.
        if self.hold_until.is_some_and(|t| t <= now) {
            self.release(now);
        }
        if self.forward_until.is_some_and(|t| t <= now) {
            self.forward_until = None;
            self.actions.push_back(Action::StopForward);
        }
        if self.linger_until.is_some_and(|t| t <= now) {
            self.linger_until = None;
            self.actions.push_back(Action::StopLinger);
        }
    }

    fn receive(&mut self, now: Instant, src: Ipv4Addr, ttl: u8, checksum: ChecksumMode, a: Advert) {
        // RFC 5798 §7.1 / RFC 3768 §7.1: receive validation, each failure counted.
        let d = &mut self.counters.drops;
        if ttl != TTL {
            d.ttl += 1;
            return;
        }
        if a.version != self.cfg.version {
            d.version += 1;
            return;
        }
        if a.vrid != self.cfg.vrid.get() {
            d.vrid += 1;
            return;
        }
        let from_peer = match self.cfg.transport {
            Transport::Unicast(peer) => src == peer,
            Transport::Multicast => true,
        };
        if src == self.own || !from_peer || self.accept_only.is_some_and(|p| p != src) {
            d.source += 1;
            return;
        }
        if self.cfg.version == Version::V2 {
            // RFC 3768 §7.1: auth type and data must match the configured ones.
            let want = self.cfg.auth();
            if a.auth != want {
                d.auth += 1;
                return;
            }
            // RFC 3768 §7.1: MUST discard an advert whose Adver Interval differs from ours.
            if a.interval_cs != self.cfg.advert_interval_cs {
                d.interval += 1;
                return;
            }
        }
        if self.cfg.version == Version::V3 && a.interval_cs == 0 {
            d.interval += 1;
            return;
        }
        self.counters.adverts_received += 1;
        self.peer_checksum = Some(checksum);
        let ours = self.effective_priority();
        let from_hapair = self.hapair_peer == Some(src);
        let previous = self.master_priority.replace(a.priority);
        // Make-before-break: the new master is heard; release after a short drain.
        if a.priority > 0 && self.state != State::Master {
            if let Some(t) = self.hold_until {
                self.hold_until = Some(t.min(now + HANDOVER_DRAIN));
            }
        }
        let preempt = self.cfg.preempt && !self.yielding;
        match self.state {
            State::Initialize | State::Fault => {}
            State::Backup if a.priority == 0 && from_hapair => {
                // The other node of the pair resigned: nobody else could take over (a pair has
                // one backup), so Skew_Time would only lengthen the gap.
                self.master_seen = Some(src);
                self.last_advert = Some(now);
                self.become_master(now, Reason::PeerResigned { master: src });
            }
            State::Backup
                if from_hapair
                    && self.cfg.preempt
                    && self.cfg.preempt_delay.is_zero()
                    && a.priority < ours
                    && previous.is_some_and(|p| a.priority < p) =>
            {
                // The pair's master just lowered its priority, below ours (its nginx failed):
                // preempt now rather than after Master_Down_Interval (also after a switchover:
                // the node we yielded to is failing).
                self.yielding = false;
                self.master_seen = Some(src);
                self.last_advert = Some(now);
                self.become_master(now, Reason::PeerLowered { master: src, their: a.priority, ours });
            }
            State::Backup => {
                if a.priority == 0 {
                    // RFC 5798 §6.4.2: the master resigned; take over after Skew_Time.
                    let skew = self.skew_time();
                    self.arm_master_down(now, DownReason::Resigned { master: src, skew }, skew);
                    self.master_seen = Some(src);
                    self.last_advert = Some(now);
                } else if !preempt || a.priority >= ours {
                    // RFC 5798 §6.4.2: accept the master; v3 learns its interval (RFC 5798
                    // §6.4.2 "Set Master_Adver_Interval to Adver Interval contained in the
                    // ADVERTISEMENT"), then rearm Master_Down_Timer.
                    if self.cfg.version == Version::V3 {
                        self.master_adver_cs = a.interval_cs;
                    }
                    self.master_seen = Some(src);
                    self.last_advert = Some(now);
                    self.lower_since = None;
                    let down = self.master_down_interval();
                    self.arm_master_down(now, DownReason::Silence { armed: now }, down);
                } else {
                    // RFC 5798 §6.4.2: Preempt_Mode and a lower priority → discard, so that
                    // Master_Down_Timer fires and we take over. preempt_delay (keepalived):
                    // keep accepting the lower master until the delay since first seeing it.
                    let first = *self.lower_since.get_or_insert(now);
                    self.master_seen = Some(src);
                    self.last_advert = Some(now);
                    if now < first + self.cfg.preempt_delay {
                        if self.cfg.version == Version::V3 {
                            self.master_adver_cs = a.interval_cs;
                        }
                        let down = self.master_down_interval();
                        self.arm_master_down(now, DownReason::Silence { armed: now }, down);
                    } else if !matches!(self.down_reason, DownReason::Preempt { .. }) {
                        // The timer keeps running from the last accepted advert; note why.
                        self.down_reason = DownReason::Preempt { master: src, their: a.priority };
                        if self.cfg.preempt_delay > Duration::ZERO {
                            // The delay has passed: take over now rather than wait again.
                            self.master_down_timer = Some(now);
                        }
                    }
                }
            }
            State::Master => {
                if a.priority == 0 {
                    // RFC 5798 §6.4.3: another master resigned; assert ourselves at once. When
                    // it is the hapair peer yielding to us after both were master (a split brain
                    // or a link healing), clients may still point at it: announce the VIPs too.
                    self.send(ours);
                    self.adver_timer = Some(now + self.advertisement_interval());
                    if from_hapair {
                        self.actions.push_back(Action::Garp);
                    }
                } else if a.priority > ours || (a.priority == ours && u32::from(src) > u32::from(self.own)) {
                    // RFC 5798 §6.4.3: a better master → backup.
                    if self.cfg.version == Version::V3 {
                        self.master_adver_cs = a.interval_cs;
                    }
                    self.master_seen = Some(src);
                    self.last_advert = Some(now);
                    self.adver_timer = None;
                    self.garp_timer = None;
                    self.lower_since = None;
                    let down = self.master_down_interval();
                    self.arm_master_down(now, DownReason::Silence { armed: now }, down);
                    if from_hapair {
                        // The new master binds the VIPs right after this advert: keep ours for
                        // a short drain (make-before-break). Clients that followed us must learn
                        // the winner's address: if its advert reached us first, it never heard
                        // ours and would not announce itself; our priority 0 makes it do so.
                        self.hold_until = Some(now + HANDOVER_DRAIN);
                        self.send(0);
                    } else {
                        self.actions.push_back(Action::RemoveVips);
                    }
                    self.transition(now, State::Backup, Reason::Superseded { master: src, their: a.priority, ours });
                } else {
                    // RFC 5798 §6.4.3 discards the advert and lets our next one assert us. Two
                    // masters met (a split brain heals, or a restarted peer): like keepalived,
                    // assert at once and announce the VIPs with gratuitous ARP, so that clients
                    // that followed the loser come back now rather than when their ARP expires.
                    self.send(ours);
                    self.adver_timer = Some(now + self.advertisement_interval());
                    self.actions.push_back(Action::Garp);
                }
            }
        }
    }

    fn become_master(&mut self, now: Instant, reason: Reason) {
        self.hold_until = None;
        self.master_down_timer = None;
        self.lower_since = None;
        self.master_adver_cs = self.cfg.advert_interval_cs;
        self.master_seen = Some(self.own);
        // Logged first; then RFC 5798 §6.4.2's order: advert, VIPs, gratuitous ARP. With a
        // hapair peer the advert goes last: it tells a peer in make-before-break to release, so
        // clients must have been sent our gratuitous ARP before that (else the peer could let go
        // of the VIPs while the clients' ARP entries still point at it).
        // Taking over from the live hapair peer: its open connections are forwarded to it for a
        // while. When it resigned or is preempted it still serves and keeps the VIPs until our
        // advert, so the forwarding is set up first (nothing waits on it). When its check failed
        // it may be refusing connections: take over first, forward right after. Not after
        // silence: a peer we cannot hear may be unreachable, and a reset beats a black hole.
        let live_peer = |m: &Ipv4Addr| self.hapair_peer.filter(|p| p == m && self.carries_over());
        let (forward_first, forward_after) = match &reason {
            Reason::PeerResigned { master } | Reason::Preempt { master, .. } => (live_peer(master), None),
            Reason::PeerLowered { master, .. } => (None, live_peer(master)),
            _ => (None, None),
        };
        self.transition(now, State::Master, reason);
        if self.hapair_peer.is_none() {
            self.send(self.effective_priority());
        }
        if let Some(peer) = forward_first {
            self.forward_until = Some(now + STRAY_WINDOW);
            self.actions.push_back(Action::Forward { to: peer });
        }
        self.actions.push_back(Action::AddVips);
        if self.cfg.garp_count > 0 {
            self.actions.push_back(Action::Garp);
            self.garps_left = self.cfg.garp_count - 1;
            self.garp_timer = (self.garps_left > 0).then(|| now + self.cfg.garp_interval);
        }
        if self.hapair_peer.is_some() {
            self.send(self.effective_priority());
        }
        if let Some(peer) = forward_after {
            self.forward_until = Some(now + STRAY_WINDOW);
            self.actions.push_back(Action::Forward { to: peer });
        }
        // Lingering after handing the VIPs over, and now taking them back: the addresses accept
        // the connections again; answer ARP for them again. (Our gratuitous ARP, sent on a
        // packet socket, never went through the muting table.)
        if self.linger_until.take().is_some() {
            self.actions.push_back(Action::StopLinger);
        }
        self.adver_timer = Some(now + self.advertisement_interval());
    }

    fn arm_master_down(&mut self, now: Instant, why: DownReason, after: Duration) {
        self.down_reason = why;
        self.master_down_timer = Some(now + after);
    }

    fn stop_timers(&mut self) {
        self.adver_timer = None;
        self.master_down_timer = None;
        self.garp_timer = None;
        self.garps_left = 0;
        self.lower_since = None;
    }

    fn send(&mut self, priority: u8) {
        self.counters.adverts_sent += 1;
        self.actions.push_back(Action::Send(Advert {
            version: self.cfg.version,
            vrid: self.cfg.vrid.get(),
            priority,
            interval_cs: self.cfg.advert_interval_cs,
            auth: self.cfg.auth(),
            addrs: self.cfg.vips.iter().map(|v| v.addr()).collect(),
        }));
    }

    fn transition(&mut self, now: Instant, to: State, reason: Reason) {
        let from = self.state;
        if from == State::Master && to != State::Master && self.forward_until.take().is_some() {
            self.actions.push_back(Action::StopForward);
        }
        self.state = to;
        self.since = Some(now);
        self.counters.transitions += 1;
        self.actions.push_back(Action::Transition { from, to, reason });
    }
}

/// RFC 5798 §6.1 (v3): Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256;
/// RFC 3768 §6.1 (v2): (256 − Priority) / 256 seconds. Exact to the microsecond (no
/// centisecond truncation). The one definition: the daemon and `verify`'s bounds use it.
pub fn skew_time(version: Version, priority: u8, master_adver_cs: u16) -> Duration {
    let p = 256 - u64::from(priority);
    match version {
        Version::V3 => Duration::from_micros(p * u64::from(master_adver_cs) * 10_000 / 256),
        Version::V2 => Duration::from_micros(p * 1_000_000 / 256),
    }
}

/// RFC 5798 §6.1: Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
pub fn master_down_interval(version: Version, priority: u8, master_adver_cs: u16) -> Duration {
    3 * cs(master_adver_cs) + skew_time(version, priority, master_adver_cs)
}

fn cs(c: u16) -> Duration {
    Duration::from_millis(u64::from(c) * 10)
}

/// Counts consecutive check results into a state change: `fall` failures make it failing,
/// `rise` successes make it ok again (keepalived semantics). Starts ok.
#[derive(Debug, Clone)]
pub struct CheckTracker {
    fall: u32,
    rise: u32,
    ok: bool,
    run: u32,
    pub consecutive_failures: u32,
}

impl CheckTracker {
    pub fn new(fall: u32, rise: u32) -> CheckTracker {
        CheckTracker { fall: fall.max(1), rise: rise.max(1), ok: true, run: 0, consecutive_failures: 0 }
    }
    pub fn ok(&self) -> bool {
        self.ok
    }
    /// New fall/rise (a reload) keeping the current state: a failing check stays failing until
    /// `rise` successes, so instances in FAULT do get their "passed" event.
    pub fn reconfigured(&self, fall: u32, rise: u32) -> CheckTracker {
        CheckTracker {
            fall: fall.max(1),
            rise: rise.max(1),
            ok: self.ok,
            run: 0,
            consecutive_failures: self.consecutive_failures,
        }
    }
    /// An event (nginx's master process exited) fails the check at once, without `fall`.
    /// Returns true when the state changed.
    pub fn fail_now(&mut self) -> bool {
        self.consecutive_failures += 1;
        self.run = 0;
        std::mem::replace(&mut self.ok, false)
    }
    /// Record one result; returns the new state when it changed.
    pub fn record(&mut self, success: bool) -> Option<bool> {
        self.consecutive_failures = if success { 0 } else { self.consecutive_failures + 1 };
        if success == self.ok {
            self.run = 0;
            return None;
        }
        self.run += 1;
        let need = if self.ok { self.fall } else { self.rise };
        if self.run >= need {
            self.ok = success;
            self.run = 0;
            return Some(success);
        }
        None
    }
}

#[cfg(test)]
mod tests;
