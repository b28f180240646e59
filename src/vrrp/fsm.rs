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
use super::packet::{Advert, Auth, ChecksumMode, DecodeError, Version, TTL};

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
    /// The state changed; log it, notify, update the status.
    Transition { from: State, to: State, reason: Reason },
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
}

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
        }
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
        let p = 256 - u64::from(self.effective_priority());
        match self.cfg.version {
            Version::V3 => Duration::from_micros(p * u64::from(self.master_adver_cs) * 10_000 / 256),
            Version::V2 => Duration::from_micros(p * 1_000_000 / 256),
        }
    }

    /// RFC 5798 §6.1: Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        3 * cs(self.master_adver_cs) + self.skew_time()
    }

    fn advertisement_interval(&self) -> Duration {
        cs(self.cfg.advert_interval_cs)
    }

    /// The earliest time `handle(now, Input::Timeout)` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.adver_timer, self.master_down_timer, self.garp_timer].into_iter().flatten().min()
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
                    DecodeError::AuthType(_) => d.auth += 1,
                    _ => d.malformed += 1,
                }
            }
            Input::Check { ok } => self.check(now, ok),
            Input::Timeout => self.timeout(now),
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
    fn shutdown(&mut self, now: Instant) {
        if self.state == State::Master {
            self.send(0);
            self.actions.push_back(Action::RemoveVips);
        }
        self.stop_timers();
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
            // The new priority goes out with the next advert (master) or shortens/lengthens
            // the next Master_Down_Interval (backup); no transition by itself.
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
        if src == self.own || !from_peer {
            d.source += 1;
            return;
        }
        if self.cfg.version == Version::V2 {
            // RFC 3768 §7.1: auth type and data must match the configured ones.
            let want = self.cfg.auth_pass.map_or(Auth::None, |p| Auth::Pass(p.bytes()));
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
        match self.state {
            State::Initialize | State::Fault => {}
            State::Backup => {
                if a.priority == 0 {
                    // RFC 5798 §6.4.2: the master resigned; take over after Skew_Time.
                    let skew = self.skew_time();
                    self.arm_master_down(now, DownReason::Resigned { master: src, skew }, skew);
                    self.master_seen = Some(src);
                    self.last_advert = Some(now);
                } else if !self.cfg.preempt || a.priority >= ours {
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
                    // RFC 5798 §6.4.3: another master resigned; assert ourselves at once.
                    self.send(ours);
                    self.adver_timer = Some(now + self.advertisement_interval());
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
                    self.actions.push_back(Action::RemoveVips);
                    self.transition(now, State::Backup, Reason::Superseded { master: src, their: a.priority, ours });
                }
                // Otherwise discard (RFC 5798 §6.4.3): our next advert asserts us.
            }
        }
    }

    fn become_master(&mut self, now: Instant, reason: Reason) {
        self.master_down_timer = None;
        self.lower_since = None;
        self.master_adver_cs = self.cfg.advert_interval_cs;
        self.master_seen = Some(self.own);
        // Logged first; then RFC 5798 §6.4.2's order: advert, VIPs, gratuitous ARP.
        self.transition(now, State::Master, reason);
        self.send(self.effective_priority());
        self.actions.push_back(Action::AddVips);
        if self.cfg.garp_count > 0 {
            self.actions.push_back(Action::Garp);
            self.garps_left = self.cfg.garp_count - 1;
            self.garp_timer = (self.garps_left > 0).then(|| now + self.cfg.garp_interval);
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
            auth: self.cfg.auth_pass.map_or(Auth::None, |p| Auth::Pass(p.bytes())),
            addrs: self.cfg.vips.iter().map(|v| v.addr()).collect(),
        }));
    }

    fn transition(&mut self, now: Instant, to: State, reason: Reason) {
        let from = self.state;
        self.state = to;
        self.since = Some(now);
        self.counters.transitions += 1;
        self.actions.push_back(Action::Transition { from, to, reason });
    }
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
