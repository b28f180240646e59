//! The daemon: one task on a current-thread runtime that feeds the state machines from the
//! socket, the clock, the health check and signals, and carries out their actions.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use super::ah::{self, AhError, Sequence};
use super::check;
use super::config::{self, CheckConfig, Config, InstanceConfig, Transport};
use super::control;
use super::fsm::{Action, CheckTracker, Input, Instance};
use super::listen;
use super::net::{ifindex, Garp, VrrpSocket};
use super::packet::{parse_ipv4, Advert, ChecksumMode, DecodeError, MULTICAST_GROUP};
use super::pidfd;
use super::status::{self, Status};
use super::strays;
use super::vip::Vips;

/// Run until SIGTERM/SIGINT. `config_path` is re-read on SIGHUP. Errors are for the CLI.
pub async fn run(config_path: PathBuf, mut cfg: Config, metrics: Option<std::net::SocketAddr>) -> Result<(), String> {
    let index = ifindex(&cfg.interface).map_err(|e| format!("interface `{}`: {e}", cfg.interface))?;
    let sock = Rc::new(
        VrrpSocket::open(&cfg.interface, cfg.address)
            .map_err(|e| format!("cannot open the VRRP socket on `{}`: {e}", cfg.interface))?,
    );
    let rx_sock = Rc::clone(&sock);
    let ah_sock = if cfg.instances.iter().any(|ic| ic.ah_key().is_some()) { Some(open_ah(&cfg)?) } else { None };
    // The VRRP interface's, then those of VIPs living elsewhere (`vip_interface`, or a VIP's
    // own `interface`), each once.
    let mut links = HashMap::new();
    for name in std::iter::once(cfg.interface.as_str()).chain(cfg.instances.iter().flat_map(|ic| ic.elsewhere())) {
        if !links.contains_key(name) {
            links.insert(name.to_string(), VipLink::open(name)?);
        }
    }
    // Said once: in a hapair pair, the hand-over of these VIPs differs (fsm `carries_over`).
    for ic in cfg.instances.iter().filter(|_| cfg.peer_hapair) {
        for on in ic.elsewhere() {
            let there: Vec<String> =
                ic.placed(&cfg.interface).filter(|(_, o)| *o == on).map(|(v, _)| v.addr().to_string()).collect();
            // Named when the VRID has VIPs on other interfaces too (those are carried over or not as theirs).
            let which = if there.len() == ic.vips.len() { String::new() } else { format!(" {}", there.join(", ")) };
            log(&format!(
                "vrid {}: VIPs{which} on `{on}`, adverts on `{}`: connections open at a hand-over are not carried over for them",
                ic.vrid, cfg.interface
            ));
        }
    }

    // A daemon killed with SIGKILL leaves its VIPs. In a hapair pair an instance whose VIPs are
    // all still bound (each on its interface) keeps them (nginx still serves; the peer answers
    // our first advert at once if it took over meanwhile); everything else carrying our label
    // is removed.
    let mut bound: HashMap<&str, Vec<(Ipv4Addr, u8)>> = HashMap::new();
    for (name, l) in &links {
        bound.insert(name.as_str(), l.vips.labelled().await?);
    }
    let keep: Vec<u8> = if cfg.peer_hapair {
        cfg.instances
            .iter()
            .filter(|ic| {
                ic.placed(&cfg.interface)
                    .all(|(v, on)| bound.get(on).map(Vec::as_slice).unwrap_or(&[]).iter().any(|b| b.0 == v.addr()))
            })
            .map(|ic| ic.vrid.get())
            .collect()
    } else {
        Vec::new()
    };
    for (name, l) in &links {
        let kept: Vec<Ipv4Addr> = cfg
            .instances
            .iter()
            .filter(|ic| keep.contains(&ic.vrid.get()))
            .flat_map(|ic| ic.placed(&cfg.interface).filter(|(_, on)| on == name).map(|(v, _)| v.addr()))
            .collect();
        for v in l.vips.remove_stale(&kept).await? {
            log(&format!("removed stale VIP {v} left by an earlier run"));
        }
    }
    let vips = &links[&cfg.interface].vips;
    match vips.remove_stale_routes().await {
        Ok(gone) => {
            for v in gone {
                log(&format!("removed the route for {v} left by an earlier run (it was handing over)"));
            }
        }
        Err(e) => log(&e),
    }

    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut sighup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let metrics_addr = metrics.or(cfg.metrics);
    let listener = match metrics_addr {
        Some(a) => {
            Some(tokio::net::TcpListener::bind(a).await.map_err(|e| format!("cannot serve metrics on {a}: {e}"))?)
        }
        None => None,
    };

    let mut d = Daemon {
        clock: (Instant::now(), SystemTime::now()),
        instances: Vec::new(),
        retired: Vec::new(),
        sock,
        ah_sock,
        ah_seq: Default::default(),
        ah_logged: Default::default(),
        ip_id: Default::default(),
        links,
        index,
        nft_missing: std::cell::Cell::new(false),
        tracker: CheckTracker::new(cfg.check.fall, cfg.check.rise),
        last_check_error: None,
        cfg: cfg.clone(),
    };
    let (check_tx, mut check_rx) = mpsc::channel::<Result<(), String>>(4);
    let mut check_task = spawn_check(cfg.check.clone(), check_tx.clone());
    let (event_tx, mut event_rx) = mpsc::channel::<String>(4);
    let mut watch_task = spawn_pid_watch(cfg.check.clone(), event_tx.clone());
    let mut port_task = spawn_port_watch(cfg.check.clone(), event_tx.clone());
    let (ctl_tx, mut ctl_rx) = mpsc::channel::<control::Request>(4);
    let mut ctl_task = control::serve(cfg.control_socket.clone(), ctl_tx.clone())?;

    let now = Instant::now();
    for ic in &cfg.instances {
        let mut inst = d.new_instance(ic);
        if keep.contains(&ic.vrid.get()) {
            inst.startup_holding(now);
        } else {
            inst.handle(now, Input::Startup);
        }
        d.instances.push(inst);
    }
    d.execute_all().await;
    d.write_status();
    if cfg.peer_hapair {
        d.remove_stale_tables().await;
    }

    let mut buf = vec![0u8; 2048];
    let mut ah_buf = vec![0u8; 2048];
    let mut status_tick = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = false;
    loop {
        let deadline = d.instances.iter().filter_map(|i| i.poll_timeout()).min();
        let sleep_to = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let ah_rx = d.ah_sock.clone();
        tokio::select! {
            biased;
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            _ = sighup.recv() => {
                match reload(&config_path, &cfg, &d.links) {
                    Ok(new) => {
                        if new.check != cfg.check {
                            check_task.abort();
                            watch_task.abort();
                            // Keep the check's state: instances failing now must see it pass.
                            d.tracker = d.tracker.reconfigured(new.check.fall, new.check.rise);
                            check_task = spawn_check(new.check.clone(), check_tx.clone());
                            watch_task = spawn_pid_watch(new.check.clone(), event_tx.clone());
                            port_task.abort();
                            port_task = spawn_port_watch(new.check.clone(), event_tx.clone());
                        }
                        if new.control_socket != cfg.control_socket {
                            ctl_task.abort();
                            match control::serve(new.control_socket.clone(), ctl_tx.clone()) {
                                Ok(t) => ctl_task = t,
                                Err(e) => log(&e),
                            }
                        }
                        if d.ah_sock.is_none() && new.instances.iter().any(|ic| ic.ah_key().is_some()) {
                            match open_ah(&new) {
                                Ok(s) => d.ah_sock = Some(s),
                                Err(e) => log(&e),
                            }
                        }
                        d.cfg = new.clone();
                        d.reconfigure(&new);
                        cfg = new;
                        log("configuration reloaded");
                    }
                    Err(e) => log(&format!("reload ignored, keeping the running configuration: {e}")),
                }
            }
            _ = tokio::time::sleep_until(sleep_to.into()) => {
                let now = Instant::now();
                for i in &mut d.instances {
                    if i.poll_timeout().is_some_and(|t| t <= now) {
                        i.handle(now, Input::Timeout);
                    }
                }
                dirty = true;
            }
            r = rx_sock.recv(&mut buf) => {
                match r {
                    Ok(pkt) => { d.receive(pkt); dirty = true; }
                    Err(e) => log(&format!("receive error: {e}")),
                }
            }
            r = recv_on(ah_rx.as_deref(), &mut ah_buf) => {
                match r {
                    Ok(pkt) => { d.receive_ah(pkt); dirty = true; }
                    Err(e) => log(&format!("receive error (AH): {e}")),
                }
            }
            Some(res) = check_rx.recv() => {
                let ok = res.is_ok();
                if let Err(e) = &res {
                    if d.tracker.consecutive_failures == 0 { log(&format!("health check failed: {e}")); }
                }
                d.last_check_error = res.err();
                if let Some(now_ok) = d.tracker.record(ok) {
                    log(&format!("health check is now {}", if now_ok { "passing" } else { "failing" }));
                    let now = Instant::now();
                    for i in &mut d.instances { i.handle(now, Input::Check { ok: now_ok }); }
                }
                dirty = true;
            }
            Some(why) = event_rx.recv() => {
                // nginx's master process exited or its port closed: the check fails now, not
                // after `fall` probes.
                log(&format!("health check failed at once: {why}"));
                d.last_check_error = Some(why);
                if d.tracker.fail_now() {
                    log("health check is now failing");
                    let now = Instant::now();
                    for i in &mut d.instances { i.handle(now, Input::Check { ok: false }); }
                }
                dirty = true;
            }
            Some(req) = ctl_rx.recv() => {
                let reply = d.control(&req.command);
                let _ = req.reply.send(reply);
                dirty = true;
            }
            acc = async { match &listener { Some(l) => l.accept().await, None => std::future::pending().await } } => {
                if let Ok((mut s, _)) = acc {
                    let body = d.snapshot().to_metrics();
                    let extra = super::monitoring::Scrape::new(&d.cfg);
                    tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let body = body + &extra.collect().await;
                        let mut req = [0u8; 1024];
                        let _ = tokio::time::timeout(Duration::from_secs(1), s.read(&mut req)).await;
                        let head = format!("HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                        let _ = s.write_all(head.as_bytes()).await;
                        let _ = s.write_all(body.as_bytes()).await;
                    });
                }
            }
            _ = status_tick.tick() => {
                if dirty { d.write_status(); dirty = false; }
            }
        }
        if d.execute_all().await {
            d.write_status();
        }
    }

    // RFC 5798 §6.4.3 Shutdown: priority 0, release the VIPs. With a hapair peer the VIPs are
    // kept until the peer's first advert as master is heard (it takes over at once), bounded by
    // the state machine (Master_Down_Interval): keep receiving until then.
    check_task.abort();
    watch_task.abort();
    port_task.abort();
    ctl_task.abort();
    let now = Instant::now();
    for i in &mut d.instances {
        i.handle(now, Input::Shutdown);
    }
    d.execute_all().await;
    // Lingering (the peer forwards our open connections to us) ends early once none is left.
    let ah_rx = d.ah_sock.clone();
    let mut drained = tokio::time::interval(DRAINED_EVERY);
    let mut drain_error = false;
    while d.instances.iter().any(|i| i.holding() || i.lingering()) {
        let deadline = d.instances.iter().filter_map(|i| i.poll_timeout()).min();
        let sleep_to = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        tokio::select! {
            _ = drained.tick(), if !drain_error && d.instances.iter().any(Instance::lingering) => {
                let now = Instant::now();
                for i in d.instances.iter_mut().filter(|i| i.lingering()) {
                    match listen::open_connections(&addrs(i.config())) {
                        Ok(0) => i.handle(now, Input::Drained),
                        Ok(_) => {}
                        Err(e) => {
                            log(&format!("cannot count the connections still open (sock_diag): {e}; keeping them for the whole window"));
                            drain_error = true;
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(sleep_to.into()) => {
                let now = Instant::now();
                for i in &mut d.instances {
                    if i.poll_timeout().is_some_and(|t| t <= now) {
                        i.handle(now, Input::Timeout);
                    }
                }
            }
            r = rx_sock.recv(&mut buf) => {
                if let Ok(pkt) = r { d.receive(pkt); }
            }
            r = recv_on(ah_rx.as_deref(), &mut ah_buf) => {
                if let Ok(pkt) = r { d.receive_ah(pkt); }
            }
        }
        d.execute_all().await;
    }
    d.write_status();
    if let Some(p) = &cfg.control_socket {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

/// Watch nginx's master process (from `check.pid_file`) with a pidfd: its exit is reported at
/// once. A missing pid file or process is retried every check interval (nginx stopped).
fn spawn_pid_watch(c: CheckConfig, tx: mpsc::Sender<String>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(path) = c.pid_file.clone() else {
            return;
        };
        let mut last: Option<i32> = None;
        loop {
            let pid = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<i32>().ok());
            // A pid already seen exit is not watched again (a stale pid file).
            if let Some(pid) = pid.filter(|p| Some(*p) != last) {
                if let Ok(fd) = pidfd::open(pid) {
                    if fd.exited().await.is_ok() {
                        last = Some(pid);
                        let msg = format!("nginx's master process {pid} (from `{}`) exited", path.display());
                        if tx.send(msg).await.is_err() {
                            return;
                        }
                        continue;
                    }
                }
            }
            tokio::time::sleep(c.interval.min(Duration::from_secs(1))).await;
        }
    })
}

/// While a stopping daemon lingers, how often it looks whether connections are still open.
const DRAINED_EVERY: Duration = Duration::from_millis(50);

/// Without the kernel's announcements (before Linux 4.9), how often nginx's port is looked at.
const PORT_POLL_EVERY: Duration = Duration::from_millis(20);
/// While nothing listens (nginx down), how often to look whether it is back, to watch again.
const PORT_REARM_EVERY: Duration = Duration::from_millis(100);

/// Watch the HTTP check's port: when it stops listening (a graceful `systemctl stop nginx`
/// closes its sockets first, long before its master process exits) that is reported at once.
/// Woken by the kernel's announcement of a listener on the port being destroyed
/// ([`listen::Closings`]; nothing runs on an idle node), else by polling. Reported once per
/// closing, only after the port was seen open; without `sock_diag` at all the HTTP check alone
/// finds it.
fn spawn_port_watch(c: CheckConfig, tx: mpsc::Sender<String>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let config::CheckKind::Http { addr, .. } = c.kind else {
            return;
        };
        let give_up =
            |e: std::io::Error| log(&format!("cannot watch port {addr} (sock_diag): {e}; the HTTP check still runs"));
        let mut probe = match listen::ListenProbe::open() {
            Ok(p) => p,
            Err(e) => return give_up(e),
        };
        let closings = match listen::Closings::open(addr.port()) {
            Ok(c) => Some(c),
            Err(e) => {
                log(&format!(
                    "no announcements of closing sockets ({e}); looking at port {addr} every {} ms",
                    PORT_POLL_EVERY.as_millis()
                ));
                None
            }
        };
        let mut open = false;
        loop {
            match probe.listening(addr) {
                Ok(now) => {
                    if open && !now {
                        let msg = format!("nothing listens on {addr} any more (nginx closed its port)");
                        if tx.send(msg).await.is_err() {
                            return;
                        }
                    }
                    open = now;
                }
                Err(e) => return give_up(e),
            }
            let wait = if !open {
                PORT_REARM_EVERY
            } else if closings.is_some() {
                Duration::from_secs(1)
            } else {
                PORT_POLL_EVERY
            };
            match &closings {
                Some(cl) => {
                    tokio::select! {
                        r = cl.announced() => if let Err(e) = r { return give_up(e) },
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                None => tokio::time::sleep(wait).await,
            }
        }
    })
}

fn reload(path: &Path, old: &Config, links: &HashMap<String, VipLink>) -> Result<Config, String> {
    let src = crate::input::read_text_capped(path, crate::input::DAEMON_CONFIG_CAP)
        .map_err(|e| format!("cannot read `{}`: {}", path.display(), e.reason()))?;
    let new = config::parse(&src).map_err(|f| f.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; "))?;
    if new.interface != old.interface || new.address != old.address {
        return Err("`interface` and `address` change only with a restart".into());
    }
    if let Some(v) = new.instances.iter().flat_map(|ic| ic.elsewhere()).find(|v| !links.contains_key(*v)) {
        return Err(format!("`vip_interface` `{v}` is new to this daemon: a new VIP interface needs a restart"));
    }
    Ok(new)
}

/// One interface VIPs live on: its netlink handle (addresses, routes) and its ARP socket.
struct VipLink {
    vips: Vips,
    garp: Garp,
}

impl VipLink {
    fn open(name: &str) -> Result<VipLink, String> {
        let index = ifindex(name).map_err(|e| format!("interface `{name}`: {e}"))?;
        let garp = Garp::open(name).map_err(|e| format!("cannot open the ARP socket on `{name}`: {e}"))?;
        let vips = Vips::open(index, config::vip_label(name)).map_err(|e| format!("cannot open netlink: {e}"))?;
        Ok(VipLink { vips, garp })
    }
}

fn spawn_check(c: CheckConfig, tx: mpsc::Sender<Result<(), String>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if c.kind == config::CheckKind::None {
            return;
        }
        let mut tick = tokio::time::interval(c.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let r = check::run_once(&c.kind, c.timeout).await;
            if tx.send(r).await.is_err() {
                return;
            }
        }
    })
}

struct Daemon {
    clock: (Instant, SystemTime),
    instances: Vec<Instance>,
    /// Instances removed by a reload, until their shutdown actions are carried out.
    retired: Vec<Instance>,
    sock: Rc<VrrpSocket>,
    /// IP protocol 51, open while an instance uses `auth_type: ah`.
    ah_sock: Option<Rc<VrrpSocket>>,
    /// The AH sequence numbers of each VRID (kept across a reload's restart of an instance).
    ah_seq: std::cell::RefCell<HashMap<u8, Sequence>>,
    /// The kind of the last AH failure logged (logged again when it changes).
    ah_logged: std::cell::Cell<Option<std::mem::Discriminant<AhError>>>,
    /// The IPv4 identification of the packets we write (AH: the ICV covers it).
    ip_id: std::cell::Cell<u16>,
    /// By interface name: the VRRP interface's, and those of VIPs living elsewhere.
    links: HashMap<String, VipLink>,
    /// The VRRP interface's index (names our nftables tables).
    index: u32,
    /// `nft` was not found the last time (said once until it is found again).
    nft_missing: std::cell::Cell<bool>,
    tracker: CheckTracker,
    last_check_error: Option<String>,
    cfg: Config,
}

impl Daemon {
    /// A state machine for `ic` with this node's settings, told the check's current state.
    fn new_instance(&self, ic: &InstanceConfig) -> Instance {
        let mut i = Instance::new(ic.clone(), self.cfg.address);
        i.set_hapair_peer(self.cfg.peer.filter(|_| self.cfg.peer_hapair));
        i.set_accept_only(self.cfg.peer.filter(|_| self.cfg.peer_only));
        if !self.tracker.ok() {
            i.handle(Instant::now(), Input::Check { ok: false });
        }
        i
    }

    /// A control request: `handover [VRID...]`, `claim [VRID...]` (no VRID: every instance).
    fn control(&mut self, command: &str) -> String {
        let mut words = command.split_whitespace();
        let verb = words.next().unwrap_or("");
        let vrids: Result<Vec<u8>, _> = words.map(str::parse::<u8>).collect();
        let Ok(vrids) = vrids else {
            return "error: VRIDs are numbers from 1 to 255\n".into();
        };
        let input = match verb {
            "handover" => Input::Handover,
            "claim" => Input::Claim,
            _ => return format!("error: unknown request `{verb}` (handover|claim [VRID...])\n"),
        };
        let mut out = String::new();
        let now = Instant::now();
        for i in &mut self.instances {
            let vrid = i.config().vrid.get();
            if !vrids.is_empty() && !vrids.contains(&vrid) {
                continue;
            }
            let before = i.state();
            i.handle(now, input.clone());
            out.push_str(&format!("vrid {vrid}: {} -> {}\n", before.as_str(), i.state().as_str()));
        }
        if out.is_empty() {
            out = "error: no instance has these VRIDs\n".into();
        } else {
            log(&format!("control: {command}"));
        }
        out
    }

    fn receive(&mut self, pkt: &[u8]) {
        let (ip, payload) = match parse_ipv4(pkt) {
            Ok(x) => x,
            Err(e) => return self.dispatch(None, Input::Malformed(e)),
        };
        if ip.src == self.cfg.address {
            return; // our own packet (multicast loop is off; unicast never comes back)
        }
        match Advert::decode(payload, ip.src, ip.dst) {
            Ok((advert, checksum)) => {
                let vrid = advert.vrid;
                self.dispatch(Some(vrid), Input::Advert { src: ip.src, ttl: ip.ttl, checksum, advert })
            }
            // A bad packet is charged to the instance its VRID byte names, if any.
            Err(e) => self.dispatch(payload.get(1).copied(), Input::Malformed(e)),
        }
    }

    /// An IP protocol-51 packet: verified with the key of the instance its VRID names (ICV,
    /// SPI, then the sequence number), then handled as any advert.
    fn receive_ah(&mut self, pkt: &[u8]) {
        let r = match ah::parse(pkt) {
            Ok(r) => r,
            Err(e) => return self.dispatch(None, Input::Malformed(e)),
        };
        if r.ip.src == self.cfg.address {
            return;
        }
        let Some(vrid) = r.vrrp.get(1).copied() else {
            return self.dispatch(None, Input::Malformed(DecodeError::Truncated { need: 8, got: r.vrrp.len() }));
        };
        let verified = match self.instances.iter().find(|i| i.config().vrid.get() == vrid).map(|i| i.config()) {
            // Another virtual router: counted as a `vrid` drop like any advert for it.
            None => Ok(()),
            Some(ic) => match ic.ah_key() {
                None => Err(AhError::NotConfigured),
                Some(key) => r.verify(&key, matches!(ic.transport, Transport::Unicast(_))).and_then(|()| {
                    self.ah_seq.borrow_mut().entry(vrid).or_insert_with(sequence_start).accept(r.ah.seq)
                }),
            },
        };
        if let Err(e) = verified {
            if self.ah_logged.replace(Some(std::mem::discriminant(&e))) != Some(std::mem::discriminant(&e)) {
                log(&format!("dropping AH adverts for vrid {vrid} from {}: {e}", r.ip.src));
            }
            return self.dispatch(Some(vrid), Input::Malformed(DecodeError::Ah(e)));
        }
        self.ah_logged.set(None);
        match Advert::decode(r.vrrp, r.ip.src, r.ip.dst) {
            Ok((advert, checksum)) => {
                self.dispatch(Some(vrid), Input::Advert { src: r.ip.src, ttl: r.ip.ttl, checksum, advert })
            }
            Err(e) => self.dispatch(Some(vrid), Input::Malformed(e)),
        }
    }

    /// To the instance with `vrid`; to every instance when none matches (each counts a drop).
    fn dispatch(&mut self, vrid: Option<u8>, input: Input) {
        let now = Instant::now();
        if let Some(i) = self.instances.iter_mut().find(|i| Some(i.config().vrid.get()) == vrid) {
            return i.handle(now, input);
        }
        for i in &mut self.instances {
            i.handle(now, input.clone());
        }
    }

    /// Carry out every pending action; true when a state changed.
    async fn execute_all(&mut self) -> bool {
        let mut batch = Vec::new();
        for i in self.retired.iter_mut().chain(self.instances.iter_mut()) {
            while let Some(a) = i.poll_action() {
                batch.push((i.config().clone(), a));
            }
        }
        // An instance a reload replaced is dropped now. One that would still hold its VIPs
        // until the peer is heard (a hapair pair's make-before-break), or linger, gives them up
        // at once instead: nothing would ever remove them later, and the replacement starts as
        // Backup. Such a reload is break-before-make for a moment (the peer takes over at once
        // on our priority 0).
        for i in &self.retired {
            if i.holding() || i.lingering() {
                let ic = i.config().clone();
                batch.push((ic.clone(), Action::StopForward));
                if i.lingering() {
                    batch.push((ic.clone(), Action::StopLinger));
                }
                if i.holding() {
                    batch.push((ic, Action::RemoveVips));
                }
            }
        }
        self.retired.clear();
        let mut changed = false;
        for (ic, a) in batch {
            changed |= matches!(a, Action::Transition { .. });
            self.execute(&ic, a).await;
        }
        changed
    }

    async fn execute(&self, ic: &InstanceConfig, a: Action) {
        match a {
            Action::Send(adv) => self.send(ic, &adv),
            Action::AddVips => {
                for (v, on) in ic.placed(&self.cfg.interface) {
                    if let Err(e) = self.link(on).vips.add(v).await {
                        log(&e);
                    }
                }
            }
            Action::RemoveVips => {
                for (v, on) in ic.placed(&self.cfg.interface) {
                    if let Err(e) = self.link(on).vips.remove(v).await {
                        log(&e);
                    }
                }
            }
            Action::Garp => {
                for (v, on) in ic.placed(&self.cfg.interface) {
                    if let Err(e) = self.link(on).garp.send(v.addr()) {
                        log(&format!("cannot send gratuitous ARP for {}: {e}", v.addr()));
                    }
                }
            }
            Action::Forward { to } => {
                let script = strays::forward(self.index, ic.vrid.get(), &addrs(ic), to);
                self.nft(&script, "forward the old holder's open connections to it").await;
            }
            Action::StopForward => {
                self.nft(&strays::stop_forward(self.index, ic.vrid.get()), "stop forwarding").await;
            }
            Action::Linger => {
                // ARP first: the addresses are still bound until RemoveVips, which follows. A
                // node that cannot mute ARP keeps no route either: it would answer ARP for the
                // VIPs and pull clients back.
                let script = strays::linger(self.index, ic.vrid.get(), &addrs(ic), self.cfg.address);
                if !self.nft(&script, "keep this node's open connections after the hand-over").await {
                    return;
                }
                for a in addrs(ic) {
                    if let Err(e) = self.vrrp_link().vips.add_local_route(a).await {
                        log(&e);
                    }
                }
                for v in off_subnet(ic, self.cfg.address) {
                    if let Err(e) = self.vrrp_link().vips.add_subnet_route(v).await {
                        log(&e);
                    }
                }
            }
            Action::StopLinger => {
                // The routes first: ARP stays muted while the node still accepts the VIPs.
                for a in addrs(ic) {
                    if let Err(e) = self.vrrp_link().vips.remove_local_route(a).await {
                        log(&e);
                    }
                }
                // A route another lingering VRID's VIPs still need (the same subnet) stays.
                let needed: Vec<_> = self
                    .instances
                    .iter()
                    .filter(|i| i.lingering() && i.config().vrid != ic.vrid)
                    .flat_map(|i| off_subnet(i.config(), self.cfg.address))
                    .collect();
                for v in off_subnet(ic, self.cfg.address) {
                    if needed.iter().any(|w| w.prefix() == v.prefix() && v.contains(w.addr())) {
                        continue;
                    }
                    if let Err(e) = self.vrrp_link().vips.remove_subnet_route(v).await {
                        log(&e);
                    }
                }
                self.nft(&strays::stop_linger(self.index, ic.vrid.get()), "stop lingering").await;
            }
            Action::Transition { from, to, reason } => {
                let vips: Vec<String> = ic.vips.iter().map(|v| v.addr().to_string()).collect();
                log(&format!("{to} for {} (vrid {}): {reason}", vips.join(", "), ic.vrid));
                let event = super::monitoring::Event::new(&self.cfg, ic, from, to, reason.to_string());
                super::monitoring::run_hooks(&self.cfg, event, log);
            }
        }
    }

    /// The interface `name` a VIP lives on (every interface a running instance names was
    /// opened: at the start, and a reload naming a new one is refused).
    fn link(&self, name: &str) -> &VipLink {
        self.links.get(name).unwrap_or_else(|| self.vrrp_link())
    }

    /// The VRRP interface's (opened first, never removed).
    fn vrrp_link(&self) -> &VipLink {
        &self.links[&self.cfg.interface]
    }

    /// Carry out an nftables change (true when done); a node without `nft` is told once (until
    /// it has one).
    async fn nft(&self, script: &str, what: &str) -> bool {
        match strays::nft(script).await {
            Ok(()) => {
                self.nft_missing.set(false);
                return true;
            }
            Err(strays::NftError::Missing) if self.nft_missing.get() => {}
            Err(strays::NftError::Missing) => {
                self.nft_missing.set(true);
                log(&format!(
                    "cannot {what}: `nft` is not installed; requests in flight when the VIPs move between the nodes \
                     may fail (install nftables)"
                ));
            }
            Err(strays::NftError::Failed(e)) => log(&format!("cannot {what}: {e}")),
        }
        false
    }

    /// Delete the tables a killed daemon may have left (forwarding or muting ARP forever).
    async fn remove_stale_tables(&self) {
        let mut script = String::new();
        for i in &self.instances {
            let vrid = i.config().vrid.get();
            script.push_str(&strays::stop_forward(self.index, vrid));
            script.push_str(&strays::stop_linger(self.index, vrid));
        }
        self.nft(&script, "remove the tables of an earlier run").await;
    }

    fn send(&self, ic: &InstanceConfig, adv: &Advert) {
        let dst = match ic.transport {
            Transport::Multicast => MULTICAST_GROUP,
            Transport::Unicast(p) => p,
        };
        let mode = if ic.v3_checksum_pseudo_header { ChecksumMode::PseudoHeader } else { ChecksumMode::Plain };
        match adv.encode(mode, self.cfg.address, dst) {
            Ok(b) if ic.ah_key().is_some() => self.send_ah(ic, &b, dst),
            Ok(b) => {
                if let Err(e) = self.sock.send(&b, dst) {
                    log(&format!("cannot send the advert for vrid {} to {dst}: {e}", ic.vrid));
                }
            }
            Err(e) => log(&format!("cannot encode the advert for vrid {}: {e}", ic.vrid)),
        }
    }

    /// `msg` inside an IP Authentication Header, with the next sequence number of its VRID.
    fn send_ah(&self, ic: &InstanceConfig, msg: &[u8], dst: Ipv4Addr) {
        let (Some(key), Some(sock)) = (ic.ah_key(), &self.ah_sock) else {
            return log(&format!("cannot send the advert for vrid {}: the AH socket is not open", ic.vrid));
        };
        let vrid = ic.vrid.get();
        let seq = self.ah_seq.borrow_mut().entry(vrid).or_insert_with(sequence_start).next_to_send();
        let id = self.ip_id.get().wrapping_add(1).max(1);
        self.ip_id.set(id);
        let seal = ah::Seal {
            src: self.cfg.address,
            dst,
            id,
            seq,
            key: &key,
            zero_ttl: matches!(ic.transport, Transport::Unicast(_)),
        };
        if let Err(e) = sock.send(&ah::seal(&seal, msg), dst) {
            log(&format!("cannot send the advert for vrid {vrid} to {dst}: {e}"));
        }
    }

    /// SIGHUP: unchanged instances keep running untouched; instances with the same identity
    /// take new settings in place; others are stopped (priority 0) and started anew.
    fn reconfigure(&mut self, new: &Config) {
        let now = Instant::now();
        let mut old: HashMap<u8, Instance> = self.instances.drain(..).map(|i| (i.config().vrid.get(), i)).collect();
        let mut next = Vec::new();
        for ic in &new.instances {
            match old.remove(&ic.vrid.get()) {
                Some(mut i) if i.config() == ic => {
                    i.set_hapair_peer(new.peer.filter(|_| new.peer_hapair));
                    i.set_accept_only(new.peer.filter(|_| new.peer_only));
                    next.push(i)
                }
                Some(mut i)
                    if i.config().version == ic.version
                        && i.config().vips == ic.vips
                        && i.config().vip_interfaces == ic.vip_interfaces
                        && i.config().transport == ic.transport =>
                {
                    i.update(ic.clone());
                    i.set_hapair_peer(new.peer.filter(|_| new.peer_hapair));
                    i.set_accept_only(new.peer.filter(|_| new.peer_only));
                    next.push(i);
                }
                Some(mut i) => {
                    i.handle(now, Input::Shutdown);
                    self.retired.push(i);
                    let mut fresh = self.new_instance(ic);
                    fresh.handle(now, Input::Startup);
                    next.push(fresh);
                }
                None => {
                    let mut fresh = self.new_instance(ic);
                    fresh.handle(now, Input::Startup);
                    next.push(fresh);
                }
            }
        }
        for (_, mut i) in old {
            i.handle(now, Input::Shutdown);
            self.retired.push(i);
        }
        self.instances = next;
    }

    fn unix_ms(&self, t: Instant) -> u64 {
        let st = self.clock.1 + t.saturating_duration_since(self.clock.0);
        st.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    fn snapshot(&self) -> Status {
        let instances = self
            .instances
            .iter()
            .map(|i| {
                let c = i.config();
                let k = i.counters();
                let d = k.drops;
                status::InstanceStatus {
                    name: c.name.clone(),
                    vrid: c.vrid.get(),
                    vips: c.vips.iter().map(|v| v.to_string()).collect(),
                    state: i.state().as_str(),
                    since_unix_ms: i.since().map_or(0, |t| self.unix_ms(t)),
                    base_priority: c.priority.get(),
                    effective_priority: i.effective_priority(),
                    priority_reason: i.priority_reason(),
                    master_seen: i.master_seen().map(|a: Ipv4Addr| a.to_string()),
                    last_advert_unix_ms: i.last_advert().map(|t| self.unix_ms(t)),
                    adverts_sent: k.adverts_sent,
                    adverts_received: k.adverts_received,
                    transitions: k.transitions,
                    drops: d,
                    peer_checksum: i.peer_checksum().map(ChecksumMode::as_str),
                }
            })
            .collect();
        Status {
            node: self.cfg.node.clone(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").into(),
            updated_unix_ms: self.unix_ms(Instant::now()),
            check: status::CheckStatus {
                ok: self.tracker.ok(),
                consecutive_failures: self.tracker.consecutive_failures,
                last_error: self.last_check_error.clone(),
            },
            instances,
        }
    }

    /// Write the status file atomically (temp file in the same directory, then rename).
    fn write_status(&self) {
        let path = &self.cfg.status_file;
        let json = self.snapshot().to_json();
        let r = (|| {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, json.as_bytes())?;
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = r {
            log(&format!("cannot write the status file `{}`: {e}", path.display()));
        }
    }
}

/// One line to stderr (journald adds the time).
fn log(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

/// The AH socket on the configured interface.
fn open_ah(cfg: &Config) -> Result<Rc<VrrpSocket>, String> {
    VrrpSocket::open_ah(&cfg.interface, cfg.address)
        .map(Rc::new)
        .map_err(|e| format!("cannot open the AH (IP protocol 51) socket on `{}`: {e}", cfg.interface))
}

/// Receive on `sock`, or never when there is none.
async fn recv_on<'b>(sock: Option<&VrrpSocket>, buf: &'b mut [u8]) -> std::io::Result<&'b [u8]> {
    match sock {
        Some(s) => s.recv(buf).await,
        None => std::future::pending().await,
    }
}

/// A VRID's AH sequence numbers, started from the wall clock (see [`Sequence`]).
fn sequence_start() -> Sequence {
    Sequence::start(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// The addresses whose open connections a hand-over carries over: the VIPs on the VRRP
/// interface (fsm `carries_over`); those living elsewhere move as with keepalived.
fn addrs(ic: &InstanceConfig) -> Vec<Ipv4Addr> {
    ic.on_vrrp_interface().map(|v| v.addr()).collect()
}

/// The VIPs whose subnet only their own address gives a route to: off the node's subnet
/// (`own`), with a prefix shorter than /32 ([`super::vip::Vips::add_subnet_route`]).
fn off_subnet(ic: &InstanceConfig, own: Ipv4Addr) -> Vec<crate::values::VipCidr> {
    ic.on_vrrp_interface().filter(|v| v.prefix() < 32 && !v.contains(own)).collect()
}
