//! The daemon configuration (`docs/vrrpd-config.md`): parsed once, validated into newtypes.
//! Pure: reads a string, returns a [`Config`] or every finding with its line and column.

use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::values::{self, Priority, VipCidr, Vrid};

/// A validated daemon configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub node: String,
    pub interface: String,
    pub address: Ipv4Addr,
    pub peer: Option<Ipv4Addr>,
    pub status_file: PathBuf,
    pub metrics: Option<SocketAddr>,
    pub check: CheckConfig,
    pub notify: Option<Vec<String>>,
    /// nginx numbers, webhook, pair name (`super::monitoring`).
    pub monitoring: super::monitoring::Monitoring,
    pub instances: Vec<InstanceConfig>,
    /// `peer` runs hapair too and is the only other router (a hapair pair, rendered by
    /// hapair): enables the pair's fast paths (see `fsm::Instance::set_hapair_peer`).
    pub peer_hapair: bool,
    /// Accept adverts only from `peer`, also in multicast mode (the inventory restricts VRRP
    /// to the peer; defence in depth next to the firewall rule).
    pub peer_only: bool,
    /// The control socket `hapair vrrpd ctl` (and `hapair switchover`) talks to.
    pub control_socket: Option<PathBuf>,
}

impl Config {
    /// The address label that marks VIPs as ours. The kernel requires a label to start with
    /// the interface name and to fit in 15 bytes.
    pub fn vip_label(&self) -> String {
        vip_label(&self.interface)
    }
}

/// The label used for the VIPs of `interface` (see [`Config::vip_label`]).
pub fn vip_label(interface: &str) -> String {
    if interface.len() + ":hapair".len() <= 15 {
        format!("{interface}:hapair")
    } else {
        format!("{interface}:hp")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// Plain HTTP GET to `addr` with `path`; success is a 2xx or 3xx status.
    Http {
        addr: SocketAddrV4,
        host: String,
        path: String,
    },
    /// An external command; exit 0 is success.
    Script(Vec<String>),
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckConfig {
    pub kind: CheckKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub fall: u32,
    pub rise: u32,
    /// nginx's pid file: its master process is watched (pidfd) and its exit fails the check
    /// at once, without waiting for `fall` probes.
    pub pid_file: Option<PathBuf>,
}

pub use super::packet::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Multicast,
    /// Adverts go to, and are accepted only from, `peer`.
    Unicast(Ipv4Addr),
}

/// A VRRPv2 simple-text password: 1..=8 bytes, zero-padded on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthPass([u8; 8]);

impl AuthPass {
    pub fn new(s: &[u8]) -> Option<AuthPass> {
        if !values::AUTH_PASS_BYTES.contains(s.len() as i64) {
            return None;
        }
        let mut b = [0u8; 8];
        b[..s.len()].copy_from_slice(s);
        Some(AuthPass(b))
    }
    pub fn bytes(&self) -> [u8; 8] {
        self.0
    }
}

impl fmt::Debug for AuthPass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthPass(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    pub name: String,
    pub vrid: Vrid,
    pub version: Version,
    pub priority: Priority,
    /// Advertisement interval in centiseconds (the v3 wire unit; v2 uses whole seconds).
    pub advert_interval_cs: u16,
    pub vips: Vec<VipCidr>,
    /// Per VIP (in the order of `vips`), the interface it lives on when it is not the VRRP
    /// `interface` (keepalived's `virtual_ipaddress { ADDR dev IFACE }`; the config's
    /// `vip_interface`, or the VIP's own `interface`): added, announced and removed there.
    /// `None`: on `interface`. Connections are carried over at a hand-over only for the VIPs on
    /// `interface` (`fsm::Instance::carries_over`, the daemon's `carried`).
    pub vip_interfaces: Vec<Option<String>>,
    pub preempt: bool,
    pub preempt_delay: Duration,
    pub auth_pass: Option<AuthPass>,
    /// How `auth_pass` authenticates (v2 only; meaningful only with `auth_pass`).
    pub auth_type: values::AuthType,
    pub transport: Transport,
    pub v3_checksum_pseudo_header: bool,
    pub check_weight: i16,
    pub garp_count: u32,
    pub garp_interval: Duration,
}

impl InstanceConfig {
    /// The authentication the adverts carry and must carry (RFC 3768 §7.1).
    pub fn auth(&self) -> super::packet::Auth {
        use super::packet::Auth;
        match (self.auth_pass, self.auth_type) {
            (None, _) => Auth::None,
            (Some(p), values::AuthType::Pass) => Auth::Pass(p.bytes()),
            (Some(_), values::AuthType::Ah) => Auth::Ah,
        }
    }

    /// Each VIP with the interface it lives on (the VRRP interface `vrrp` unless placed elsewhere).
    pub fn placed<'a>(&'a self, vrrp: &'a str) -> impl Iterator<Item = (VipCidr, &'a str)> + 'a {
        self.vips.iter().zip(&self.vip_interfaces).map(move |(v, on)| (*v, on.as_deref().unwrap_or(vrrp)))
    }

    /// The interfaces other than the VRRP one that some VIP lives on (each once, in order).
    pub fn elsewhere(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for on in self.vip_interfaces.iter().flatten() {
            if !out.contains(&on.as_str()) {
                out.push(on);
            }
        }
        out
    }

    /// The VIPs on the VRRP interface: those whose connections a hand-over carries over.
    pub fn on_vrrp_interface(&self) -> impl Iterator<Item = VipCidr> + '_ {
        self.vips.iter().zip(&self.vip_interfaces).filter(|(_, on)| on.is_none()).map(|(v, _)| *v)
    }

    /// The HMAC key when the adverts travel in an IP Authentication Header.
    pub fn ah_key(&self) -> Option<super::ah::Key> {
        self.auth_pass.filter(|_| self.auth_type == values::AuthType::Ah).map(|p| p.bytes())
    }
}

/// One problem in a configuration file, with where it is and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub fix: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

// ---- raw, as written ----------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    node: String,
    interface: String,
    address: String,
    #[serde(default)]
    peer: Option<String>,
    #[serde(default = "default_status_file")]
    status_file: PathBuf,
    #[serde(default)]
    metrics: Option<String>,
    #[serde(default)]
    check: Option<RawCheck>,
    #[serde(default)]
    notify: Option<Vec<String>>,
    #[serde(default)]
    monitoring: Option<super::monitoring::Monitoring>,
    instances: Vec<RawInstance>,
    #[serde(default)]
    peer_hapair: bool,
    #[serde(default)]
    peer_only: bool,
    #[serde(default)]
    control_socket: Option<PathBuf>,
}

fn default_status_file() -> PathBuf {
    PathBuf::from("/run/hapair/status.json")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    #[serde(rename = "type")]
    kind: RawCheckKind,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    script: Option<Vec<String>>,
    #[serde(default = "default_1000")]
    interval_ms: u64,
    #[serde(default = "default_1000")]
    timeout_ms: u64,
    #[serde(default = "default_2")]
    fall: u32,
    #[serde(default = "default_2")]
    rise: u32,
    #[serde(default)]
    pid_file: Option<PathBuf>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawCheckKind {
    Http,
    Script,
    None,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawTransport {
    Multicast,
    Unicast,
}

/// One entry of `vips`: `ADDRESS/PREFIX`, or `{address: ADDRESS/PREFIX, interface: NAME}` for
/// one that lives on its own interface.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawVip {
    Plain(String),
    Placed(RawPlacedVip),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlacedVip {
    address: String,
    interface: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    name: String,
    vrid: u8,
    #[serde(default = "default_3")]
    version: u8,
    priority: u8,
    #[serde(default = "default_1000")]
    advert_interval_ms: u64,
    vips: Vec<RawVip>,
    #[serde(default)]
    vip_interface: Option<String>,
    #[serde(default = "default_true")]
    preempt: bool,
    #[serde(default)]
    preempt_delay_ms: u64,
    #[serde(default)]
    auth_pass: Option<String>,
    #[serde(default)]
    auth_type: Option<String>,
    #[serde(default = "default_multicast")]
    transport: RawTransport,
    #[serde(default = "default_true")]
    v3_checksum_pseudo_header: bool,
    #[serde(default)]
    check_weight: i64,
    #[serde(default = "default_5")]
    garp_count: u32,
    #[serde(default = "default_1000")]
    garp_interval_ms: u64,
}

fn default_1000() -> u64 {
    1000
}
fn default_2() -> u32 {
    2
}
fn default_3() -> u8 {
    3
}
fn default_5() -> u32 {
    5
}
fn default_true() -> bool {
    true
}
fn default_multicast() -> RawTransport {
    RawTransport::Multicast
}

// ---- parse + validate ---------------------------------------------------------------------

/// Parse and validate a configuration. On failure, every finding is returned (serde stops at
/// the first syntax/type error; semantic checks report all).
pub fn parse(src: &str) -> Result<Config, Vec<Finding>> {
    // Bounded (nesting, aliases, size, NUL) like every YAML input: `crate::input::yaml`.
    let raw: RawConfig = crate::input::yaml(src).map_err(|e| {
        vec![Finding {
            line: e.line,
            column: e.column,
            message: e.message,
            fix: Some("see docs/vrrpd-config.md for the fields and their types".into()),
        }]
    })?;
    let mut v = Validator { src, findings: Vec::new() };
    let cfg = v.config(raw);
    if v.findings.is_empty() {
        cfg.ok_or_else(Vec::new)
    } else {
        Err(v.findings)
    }
}

struct Validator<'a> {
    src: &'a str,
    findings: Vec<Finding>,
}

impl Validator<'_> {
    fn err(&mut self, path: &[Seg], message: String, fix: impl Into<String>) {
        let (line, column) = locate(self.src, path);
        self.findings.push(Finding { line, column, message, fix: Some(fix.into()) });
    }

    fn config(&mut self, raw: RawConfig) -> Option<Config> {
        if raw.node.trim().is_empty() {
            self.err(&[Seg::Key("node")], "`node` is empty".into(), "name this node, e.g. `node: web1`");
        }
        if let Some(why) = crate::values::interface_problem(&raw.interface) {
            self.err(
                &[Seg::Key("interface")],
                format!("`interface` `{}` {why}", raw.interface),
                crate::values::INTERFACE_FIX,
            );
        }
        let address = match raw.address.parse::<Ipv4Addr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    &[Seg::Key("address")],
                    format!("`address` `{}` is not an IPv4 address", raw.address),
                    "write this node's own address on `interface`, e.g. `10.77.1.11`",
                );
                None
            }
        };
        let peer = match raw.peer.as_deref() {
            None => None,
            Some(p) => match p.parse::<Ipv4Addr>() {
                Ok(a) => {
                    if Some(a) == address {
                        self.err(
                            &[Seg::Key("peer")],
                            format!("`peer` `{a}` is this node's own `address`"),
                            "set `peer` to the other node's address",
                        );
                    }
                    Some(a)
                }
                Err(_) => {
                    self.err(
                        &[Seg::Key("peer")],
                        format!("`peer` `{p}` is not an IPv4 address"),
                        "write the other node's address, e.g. `10.77.1.12`, or `null`",
                    );
                    None
                }
            },
        };
        let metrics = match raw.metrics.as_deref() {
            None => None,
            Some(m) => match m.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    self.err(
                        &[Seg::Key("metrics")],
                        format!("`metrics` `{m}` is not an address and port"),
                        "write it as `127.0.0.1:9489`, or `null` to serve no metrics",
                    );
                    None
                }
            },
        };
        if let Some(n) = &raw.notify {
            if n.is_empty() || n[0].is_empty() {
                self.err(
                    &[Seg::Key("notify")],
                    "`notify` is an empty command".into(),
                    "give the program and its arguments as a list, e.g. `[/usr/local/bin/on-vrrp]`, or `null`",
                );
            }
        }
        let monitoring = raw.monitoring.unwrap_or_default();
        for (field, message, fix) in monitoring.problems() {
            self.err(&[Seg::Key("monitoring"), Seg::Key(field)], message, fix);
        }
        let check = self.check(raw.check);
        for (key, on) in [("peer_hapair", raw.peer_hapair), ("peer_only", raw.peer_only)] {
            if on && raw.peer.is_none() {
                self.err(
                    &[Seg::Key(key)],
                    format!("`{key}: true` needs `peer`"),
                    "set `peer` to the other node's address, or set this to `false`",
                );
            }
        }
        if raw.instances.is_empty() {
            self.err(
                &[Seg::Key("instances")],
                "`instances` is empty".into(),
                "add at least one instance with `vrid`, `priority` and `vips`",
            );
        }
        let mut names = HashSet::new();
        let mut vrids = HashSet::new();
        let mut instances = Vec::new();
        for (i, ri) in raw.instances.into_iter().enumerate() {
            if !names.insert(ri.name.clone()) {
                self.err(
                    &[Seg::Key("instances"), Seg::Index(i), Seg::Key("name")],
                    format!("instance name `{}` is used twice", ri.name),
                    "give every instance its own `name`",
                );
            }
            if ri.vrid != 0 && !vrids.insert(ri.vrid) {
                self.err(
                    &[Seg::Key("instances"), Seg::Index(i), Seg::Key("vrid")],
                    format!("`vrid` {} is used by two instances", ri.vrid),
                    "give every instance on this interface its own `vrid` (1 to 255)",
                );
            }
            if let Some(inst) = self.instance(i, ri, address, peer, &raw.interface) {
                instances.push(inst);
            }
        }
        Some(Config {
            node: raw.node,
            interface: raw.interface,
            address: address?,
            peer,
            status_file: raw.status_file,
            metrics,
            check: check?,
            notify: raw.notify,
            monitoring,
            instances,
            peer_hapair: raw.peer_hapair,
            peer_only: raw.peer_only,
            control_socket: raw.control_socket,
        })
    }

    fn check(&mut self, raw: Option<RawCheck>) -> Option<CheckConfig> {
        let Some(raw) = raw else {
            return Some(CheckConfig {
                kind: CheckKind::None,
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                fall: 2,
                rise: 2,
                pid_file: None,
            });
        };
        let at = |k| [Seg::Key("check"), Seg::Key(k)];
        let kind = match raw.kind {
            RawCheckKind::None => Some(CheckKind::None),
            RawCheckKind::Script => match raw.script {
                Some(s) if !s.is_empty() && !s[0].is_empty() => Some(CheckKind::Script(s)),
                _ => {
                    self.err(
                        &at("script"),
                        "`check.script` is missing or empty for `type: script`".into(),
                        "give the command as a list, e.g. `script: [/usr/local/bin/check-nginx]`",
                    );
                    None
                }
            },
            RawCheckKind::Http => match raw.url.as_deref().map(parse_http_url) {
                Some(Ok((addr, host, path))) => Some(CheckKind::Http { addr, host, path }),
                Some(Err(why)) => {
                    self.err(
                        &at("url"),
                        format!("`check.url` {why}"),
                        "write a plain HTTP URL to an IPv4 address, e.g. `http://127.0.0.1:80/`",
                    );
                    None
                }
                None => {
                    self.err(
                        &[Seg::Key("check")],
                        "`check.url` is missing for `type: http`".into(),
                        "add `url: http://127.0.0.1:80/`",
                    );
                    None
                }
            },
        };
        let min_ms = values::CHECK_INTERVAL_MIN.as_millis() as u64;
        if raw.interval_ms < min_ms {
            self.err(
                &at("interval_ms"),
                format!("`check.interval_ms` {} is below {min_ms} ms", raw.interval_ms),
                "check at most every 10 ms; 1000 is usual",
            );
        }
        if raw.timeout_ms == 0 || raw.timeout_ms > raw.interval_ms.max(min_ms) {
            self.err(
                &at("timeout_ms"),
                format!(
                    "`check.timeout_ms` {} must be between 1 and `check.interval_ms` ({})",
                    raw.timeout_ms, raw.interval_ms
                ),
                "set `timeout_ms` at most `interval_ms` so checks never overlap",
            );
        }
        for (k, v) in [("fall", raw.fall), ("rise", raw.rise)] {
            if v == 0 {
                self.err(&at(k), format!("`check.{k}` is 0"), format!("set `{k}` to 1 or more (2 is usual)"));
            } else if !values::CHECK_COUNT.contains(i64::from(v)) {
                self.err(
                    &at(k),
                    format!("`check.{k}` {v} is outside {}", values::CHECK_COUNT),
                    format!("use a `{k}` from {} (2 is usual)", values::CHECK_COUNT),
                );
            }
        }
        Some(CheckConfig {
            kind: kind?,
            interval: Duration::from_millis(raw.interval_ms),
            timeout: Duration::from_millis(raw.timeout_ms),
            fall: raw.fall,
            rise: raw.rise,
            pid_file: raw.pid_file,
        })
    }

    fn instance(
        &mut self,
        i: usize,
        raw: RawInstance,
        address: Option<Ipv4Addr>,
        peer: Option<Ipv4Addr>,
        interface: &str,
    ) -> Option<InstanceConfig> {
        let at = |k| [Seg::Key("instances"), Seg::Index(i), Seg::Key(k)];
        let who = format!("instance `{}`", raw.name);
        let mut ok = true;
        if raw.name.trim().is_empty() {
            self.err(&at("name"), "an instance has an empty `name`".into(), "name it, e.g. `web-51`");
            ok = false;
        }
        let vrid = Vrid::new(raw.vrid);
        if vrid.is_none() {
            self.err(&at("vrid"), format!("{who}: `vrid` 0 is not a virtual router id"), "use a `vrid` from 1 to 255");
        }
        let version = match raw.version {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            v => {
                self.err(
                    &at("version"),
                    format!("{who}: `version` {v} is not a VRRP version"),
                    "use `version: 2` or `version: 3`",
                );
                None
            }
        };
        let priority = Priority::new(raw.priority);
        if priority.is_none() {
            self.err(
                &at("priority"),
                format!("{who}: `priority` 0 is reserved for a master that stops"),
                "use a `priority` from 1 to 254 (255 only for the owner of the VIP address)",
            );
        }
        let mut vips = Vec::new();
        if raw.vips.is_empty() {
            self.err(
                &at("vips"),
                format!("{who}: `vips` is empty"),
                "list at least one address, e.g. `[10.77.1.200/24]`",
            );
            ok = false;
        }
        if raw.vips.len() > 255 {
            self.err(
                &at("vips"),
                format!("{who}: {} `vips` do not fit in one advert", raw.vips.len()),
                "use at most 255 addresses per instance",
            );
            ok = false;
        }
        // The VIPs' own interface; the VRRP interface's name written again means no other.
        let vip_interface = raw.vip_interface.filter(|v| v != interface);
        if let Some(v) = &vip_interface {
            if let Some(why) = crate::values::interface_problem(v) {
                self.err(
                    &at("vip_interface"),
                    format!("{who}: `vip_interface` `{v}` {why}"),
                    crate::values::INTERFACE_FIX,
                );
                ok = false;
            }
        }
        let mut vip_interfaces = Vec::new();
        for (j, entry) in raw.vips.iter().enumerate() {
            let here = [Seg::Key("instances"), Seg::Index(i), Seg::Key("vips"), Seg::Index(j)];
            let s = match entry {
                RawVip::Plain(s) => s,
                RawVip::Placed(p) => &p.address,
            };
            let on = match entry {
                RawVip::Plain(_) => vip_interface.clone(),
                RawVip::Placed(p) => {
                    if let Some(why) = crate::values::interface_problem(&p.interface) {
                        self.err(
                            &[
                                Seg::Key("instances"),
                                Seg::Index(i),
                                Seg::Key("vips"),
                                Seg::Index(j),
                                Seg::Key("interface"),
                            ],
                            format!("{who}: VIP `{}`: `interface` `{}` {why}", p.address, p.interface),
                            crate::values::INTERFACE_FIX,
                        );
                        ok = false;
                    }
                    Some(p.interface.clone()).filter(|v| v != interface)
                }
            };
            match s.parse::<VipCidr>() {
                Ok(v) if v.addr().is_multicast() || v.addr().is_unspecified() || v.addr().is_broadcast() => {
                    self.err(
                        &here,
                        format!("{who}: `{s}` is not a unicast address"),
                        "use a unicast IPv4 address as VIP",
                    );
                    ok = false;
                }
                Ok(v) => {
                    if vips.iter().any(|o: &VipCidr| o.addr() == v.addr()) {
                        self.err(&here, format!("{who}: VIP `{s}` is listed twice"), "remove the duplicate");
                        ok = false;
                    }
                    vips.push(v);
                    vip_interfaces.push(on);
                }
                Err(why) => {
                    self.err(
                        &here,
                        format!("{who}: {why}"),
                        "write each VIP as `ADDRESS/PREFIX`, e.g. `10.77.1.200/24`",
                    );
                    ok = false;
                }
            }
        }
        let owns = address.is_some_and(|a| vips.iter().any(|v| v.addr() == a));
        if !values::PRIORITY_NOT_OWNER.contains(i64::from(raw.priority))
            && raw.priority != 0
            && !owns
            && address.is_some()
        {
            self.err(
                &at("priority"),
                format!("{who}: `priority` 255 is only for the owner of the VIP, and `address` is not in `vips`"),
                "use a `priority` from 1 to 254",
            );
        }
        if raw.priority != 255 && owns {
            self.err(
                &at("priority"),
                format!("{who}: `address` is one of the `vips`, so this node owns it and must use `priority` 255"),
                "set `priority: 255`, or take `address` out of `vips`",
            );
        }
        let ms = raw.advert_interval_ms;
        let carried = |v: u8| values::advert_interval_problem(v, Duration::from_millis(ms)).is_none();
        let interval_cs = match version {
            Some(Version::V2) if !carried(2) => {
                self.err(
                    &at("advert_interval_ms"),
                    format!("{who}: `advert_interval_ms` {ms} is not whole seconds from 1 to 255, as VRRPv2 requires"),
                    "use a multiple of 1000, or `version: 3` for sub-second adverts",
                );
                None
            }
            Some(Version::V3) if !carried(3) => {
                self.err(
                    &at("advert_interval_ms"),
                    format!("{who}: `advert_interval_ms` {ms} is not whole centiseconds from 10 to 40950, as VRRPv3 requires"),
                    "use a multiple of 10 between 10 and 40950, e.g. 100 or 1000",
                );
                None
            }
            _ => u16::try_from(ms / 10).ok(),
        };
        let max_delay = values::PREEMPT_DELAY_MAX.as_millis() as u64;
        if raw.preempt_delay_ms > max_delay {
            self.err(
                &at("preempt_delay_ms"),
                format!("{who}: `preempt_delay_ms` {} is over an hour", raw.preempt_delay_ms),
                format!("use at most {max_delay}"),
            );
            ok = false;
        }
        let auth_pass = match (&raw.auth_pass, version) {
            (None, _) => None,
            (Some(_), Some(Version::V3)) => {
                self.err(
                    &at("auth_pass"),
                    format!("{who}: `auth_pass` is set but VRRPv3 has no authentication (RFC 5798 §9)"),
                    "remove `auth_pass`, or use `version: 2`",
                );
                ok = false;
                None
            }
            (Some(p), _) => match AuthPass::new(p.as_bytes()) {
                Some(a) => Some(a),
                None => {
                    self.err(
                        &at("auth_pass"),
                        format!("{who}: `auth_pass` must be {} bytes, it is {}", values::AUTH_PASS_BYTES, p.len()),
                        "use a password of at most 8 characters (the VRRPv2 PASS field is 8 bytes)",
                    );
                    ok = false;
                    None
                }
            },
        };
        let auth_type = match raw.auth_type.as_deref().map(|t| (t, values::AuthType::parse(t))) {
            None => Some(values::AuthType::Pass),
            Some((_, Some(t))) if auth_pass.is_some() || raw.auth_pass.is_some() => Some(t),
            Some((_, Some(_))) => {
                self.err(
                    &at("auth_type"),
                    format!("{who}: `auth_type` is set but `auth_pass` is not"),
                    "set `auth_pass` (the password, or AH's key), or remove `auth_type`",
                );
                None
            }
            Some((t, None)) => {
                self.err(
                    &at("auth_type"),
                    format!("{who}: `auth_type` `{t}` is not one of {}", values::AuthType::NAMES.join(", ")),
                    "use `pass` (the password in the advert) or `ah` (IPsec AH, HMAC-MD5-96)",
                );
                None
            }
        };
        let transport = match (raw.transport, peer) {
            (RawTransport::Multicast, _) => Some(Transport::Multicast),
            (RawTransport::Unicast, Some(p)) => Some(Transport::Unicast(p)),
            (RawTransport::Unicast, None) => {
                self.err(
                    &at("transport"),
                    format!("{who}: `transport: unicast` needs `peer`"),
                    "set `peer` to the other node's address, or use `transport: multicast`",
                );
                None
            }
        };
        let check_weight = match i16::try_from(raw.check_weight) {
            Ok(w) if values::CHECK_WEIGHT.contains(i64::from(w)) => Some(w),
            _ => {
                self.err(
                    &at("check_weight"),
                    format!("{who}: `check_weight` {} is outside {}", raw.check_weight, values::CHECK_WEIGHT),
                    "use a negative weight such as -60, or 0 to enter FAULT while the check fails",
                );
                None
            }
        };
        if !values::GARP_COUNT.contains(i64::from(raw.garp_count)) {
            self.err(
                &at("garp_count"),
                format!("{who}: `garp_count` {} is more than {}", raw.garp_count, values::GARP_COUNT.max),
                "5 is usual",
            );
            ok = false;
        }
        if raw.garp_interval_ms > values::GARP_INTERVAL_MAX.as_millis() as u64 {
            self.err(
                &at("garp_interval_ms"),
                format!("{who}: `garp_interval_ms` {} is over a minute", raw.garp_interval_ms),
                "1000 is usual",
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(InstanceConfig {
            name: raw.name,
            vrid: vrid?,
            version: version?,
            priority: priority?,
            advert_interval_cs: interval_cs?,
            vips,
            vip_interfaces,
            preempt: raw.preempt,
            preempt_delay: Duration::from_millis(raw.preempt_delay_ms),
            auth_pass,
            auth_type: auth_type?,
            transport: transport?,
            v3_checksum_pseudo_header: raw.v3_checksum_pseudo_header,
            check_weight: check_weight?,
            garp_count: raw.garp_count,
            garp_interval: Duration::from_millis(raw.garp_interval_ms),
        })
    }
}

/// `http://IPV4[:PORT][/PATH]` → (address, Host header, path).
fn parse_http_url(url: &str) -> Result<(SocketAddrV4, String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("`{url}` is not an `http://` URL"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("`{url}` has a bad port `{p}`"))?),
        None => (hostport, 80),
    };
    let ip: Ipv4Addr = if host == "localhost" {
        Ipv4Addr::LOCALHOST
    } else {
        host.parse().map_err(|_| format!("`{url}` does not name an IPv4 address (`{host}`)"))?
    };
    if path.contains(['\r', '\n', ' ']) {
        return Err(format!("`{url}` has spaces or line breaks in its path"));
    }
    Ok((SocketAddrV4::new(ip, port), hostport.to_string(), path.to_string()))
}

// ---- locating a field in the source -------------------------------------------------------

/// A step of a path into the YAML document.
#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Where the value at `path` is written (1-based line and column), for block-style YAML as the
/// engine renders it. Falls back to the deepest part of the path it found, then to 1:1.
fn locate(src: &str, path: &[Seg]) -> (usize, usize) {
    let lines: Vec<&str> = src.lines().collect();
    let mut pos = (1, 1);
    // Current range of lines [lo, hi) that holds the node the path points into.
    let (mut lo, mut hi) = (0, lines.len());
    // For an item's first line, the text after "- " starts the mapping.
    for seg in path {
        let meaningful = |l: &str| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with('#')
        };
        match *seg {
            Seg::Key(k) => {
                // Keys of this mapping sit at the smallest key column in the range.
                let col = (lo..hi).filter(|&n| meaningful(lines[n])).map(|n| key_col(lines[n])).min();
                let Some(col) = col else { return pos };
                let found = (lo..hi).find(|&n| {
                    meaningful(lines[n])
                        && key_col(lines[n]) == col
                        && lines[n][col..].strip_prefix(k).is_some_and(|r| r.starts_with(':'))
                });
                let Some(n) = found else { return pos };
                let after = col + k.len() + 1;
                let rest = &lines[n][after..];
                let value_col = after + (rest.len() - rest.trim_start().len());
                pos = (n + 1, if rest.trim().is_empty() { col + 1 } else { value_col + 1 });
                // Children: following lines indented deeper, or "- " items at the key's column.
                let mut end = n + 1;
                while end < hi {
                    let l = lines[end];
                    if meaningful(l) {
                        let ind = l.len() - l.trim_start().len();
                        if ind < col || (ind == col && !l.trim_start().starts_with('-')) {
                            break;
                        }
                    }
                    end += 1;
                }
                lo = n + 1;
                hi = end;
            }
            Seg::Index(i) => {
                let dash_col = (lo..hi)
                    .filter(|&n| lines[n].trim_start().starts_with('-'))
                    .map(|n| lines[n].len() - lines[n].trim_start().len())
                    .min();
                let Some(dc) = dash_col else { return pos };
                let items: Vec<usize> = (lo..hi)
                    .filter(|&n| {
                        let l = lines[n];
                        l.len() - l.trim_start().len() == dc && l.trim_start().starts_with('-')
                    })
                    .collect();
                let Some(&n) = items.get(i) else { return pos };
                let t = lines[n].trim_start();
                let inner = t[1..].len() - t[1..].trim_start().len();
                pos = (n + 1, dc + 1 + inner + 1);
                let end = items.get(i + 1).copied().unwrap_or(hi);
                // The item's own first line is part of its mapping (after "- ").
                lo = n;
                hi = end;
            }
        }
    }
    pos
}

/// Column where a line's key starts: after indentation and any "- " list markers.
fn key_col(line: &str) -> usize {
    let mut i = 0;
    let b = line.as_bytes();
    loop {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i + 1 < b.len() && b[i] == b'-' && b[i + 1] == b' ' {
            i += 2;
            continue;
        }
        return i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
node: web1
interface: eth0
address: 10.77.1.11
peer: 10.77.1.12
status_file: /run/hapair/status.json
metrics: null
check:
  type: http
  url: http://127.0.0.1:80/
  script: null
  interval_ms: 1000
  timeout_ms: 1000
  fall: 2
  rise: 2
notify: null
instances:
  - name: web-51
    vrid: 51
    version: 3
    priority: 150
    advert_interval_ms: 1000
    vips: [10.77.1.200/24]
    preempt: true
    preempt_delay_ms: 0
    auth_pass: null
    transport: multicast
    v3_checksum_pseudo_header: true
    check_weight: -60
    garp_count: 5
    garp_interval_ms: 1000
  - name: web-52
    vrid: 52
    version: 2
    priority: 100
    advert_interval_ms: 1000
    vips:
      - 10.77.1.201/24
    auth_pass: secret
    transport: unicast
";

    /// What the engine renders for `pair`, parsed by the daemon.
    fn rendered(pair: &crate::inventory::Pair) -> Vec<Result<Config, Vec<Finding>>> {
        rendered_text(pair).iter().map(|t| parse(t)).collect()
    }

    /// One definition of each range (`crate::values`): an inventory at the edges `check`
    /// accepts renders a daemon config the daemon accepts.
    #[test]
    fn the_edges_check_accepts_are_edges_the_daemon_accepts() {
        use crate::values;
        let mut pair = crate::render::tests::pair(crate::inventory::Mode::MasterBackup);
        for n in pair.nodes.iter_mut() {
            n.check.weight = values::CHECK_WEIGHT_ON_FAILURE.min as i32;
            n.check.interval = values::CHECK_INTERVAL_MIN;
            n.check.timeout = values::CHECK_INTERVAL_MIN;
            n.check.fall = values::CHECK_COUNT.max as u32;
            n.check.rise = values::CHECK_COUNT.min as u32;
            n.vrrp.garp_count = values::GARP_COUNT.max as u32;
            n.vrrp.garp_interval = values::GARP_INTERVAL_MAX;
            n.vrrp.preempt_delay = values::PREEMPT_DELAY_MAX;
            n.vrrp.version = 2;
            n.vrrp.auth_pass = Some(crate::inventory::Secret::new("x".repeat(values::AUTH_PASS_BYTES.max as usize)));
        }
        for r in rendered(&pair) {
            r.unwrap_or_else(|f| panic!("{f:?}"));
        }
        // One step past an edge: the daemon refuses it (and `check` does, see
        // tests/inventory_corpus/weight-the-daemon-refuses.yml).
        pair.nodes[0].check.weight -= 1;
        assert!(rendered(&pair)[0].is_err());
    }

    /// The contract with the engine: what `roles/vrrp/templates/vrrpd.yml.tera` renders must validate.
    #[test]
    fn engine_rendered_configs_are_valid() {
        use crate::inventory::Mode;
        use crate::roles::{BinarySpec, RoleSet, Want};
        let set = RoleSet::builtin().expect("roles load");
        let bin = BinarySpec { sha256: String::new(), size: 0, version: String::new(), needs: String::new() };
        for mode in [Mode::MasterBackup, Mode::DualMaster] {
            let pair = crate::render::tests::pair(mode);
            for node in &pair.nodes {
                let d = crate::roles::desired(&set, &pair, node, &[], &bin).expect("renders");
                let f = d.files.iter().find(|f| f.path == "/etc/hapair/vrrpd.yml").expect("the daemon config");
                let Want::Content { bytes, .. } = &f.want else { panic!("{:?}", f.want) };
                let text = String::from_utf8_lossy(bytes).to_string();
                let c = parse(&text).unwrap_or_else(|f| panic!("{f:?}\n{text}"));
                assert_eq!(c.instances.len(), pair.vips.len());
                assert_eq!(c.peer, pair.peer_of(&node.name).map(|p| p.address));
            }
        }
    }

    #[test]
    fn documented_example_is_valid() {
        let c = parse(GOOD).expect("valid");
        assert_eq!(c.instances.len(), 2);
        assert_eq!(c.instances[0].advert_interval_cs, 100);
        assert_eq!(c.instances[1].transport, Transport::Unicast(Ipv4Addr::new(10, 77, 1, 12)));
        assert_eq!(
            c.check.kind,
            CheckKind::Http { addr: "127.0.0.1:80".parse().unwrap(), host: "127.0.0.1:80".into(), path: "/".into() }
        );
        assert_eq!(c.vip_label(), "eth0:hapair");
    }

    fn findings(src: &str) -> Vec<String> {
        parse(src).expect_err("invalid").iter().map(|f| format!("{}:{}: {}", f.line, f.column, f.message)).collect()
    }

    #[test]
    fn semantic_errors_point_at_the_value() {
        let bad = GOOD
            .replace("priority: 100", "priority: 255")
            .replace("advert_interval_ms: 1000\n    vips:", "advert_interval_ms: 1500\n    vips:");
        assert_eq!(
            findings(&bad),
            [
                "34:15: instance `web-52`: `priority` 255 is only for the owner of the VIP, and `address` is not in `vips`",
                "35:25: instance `web-52`: `advert_interval_ms` 1500 is not whole seconds from 1 to 255, as VRRPv2 requires",
            ]
        );
    }

    #[test]
    fn list_items_and_nested_keys_are_located() {
        let bad = GOOD.replace("      - 10.77.1.201/24", "      - 10.77.1.201").replace("  fall: 2", "  fall: 0");
        assert_eq!(
            findings(&bad),
            [
                "13:9: `check.fall` is 0",
                "37:9: instance `web-52`: `10.77.1.201` has no prefix length; write it as `10.77.1.201/24`",
            ]
        );
    }

    /// `vip_interface`: the VIPs' own interface; the VRRP interface's name again means none;
    /// a name that is not an interface, or too long for the VIPs' label, is refused.
    #[test]
    fn vip_interface() {
        let c = parse(
            &GOOD.replace("    vips: [10.77.1.200/24]\n", "    vips: [10.77.1.200/24]\n    vip_interface: eth1\n"),
        )
        .expect("valid");
        assert_eq!(c.instances[0].vip_interfaces, [Some("eth1".to_string())]);
        assert_eq!(c.instances[0].elsewhere(), ["eth1"]);
        assert_eq!(c.instances[1].vip_interfaces, [None]);
        assert_eq!(c.instances[1].placed(&c.interface).map(|(_, on)| on).collect::<Vec<_>>(), ["eth0"]);
        let c = parse(
            &GOOD.replace("    vips: [10.77.1.200/24]\n", "    vips: [10.77.1.200/24]\n    vip_interface: eth0\n"),
        )
        .expect("valid");
        assert_eq!(c.instances[0].vip_interfaces, [None]);
        for (name, why) in [
            ("eth1:0", "is not an interface name"),
            ("verylongname0", "is too long: the VIPs' label `<interface>:hp` must fit in 15 characters"),
        ] {
            let bad = GOOD.replace(
                "    vips: [10.77.1.200/24]\n",
                &format!("    vips: [10.77.1.200/24]\n    vip_interface: {name}\n"),
            );
            assert_eq!(findings(&bad), [format!("23:20: instance `web-51`: `vip_interface` `{name}` {why}")]);
        }
    }

    /// A VIP of `vips` may name its own interface (`{address, interface}`); it wins over the
    /// instance's `vip_interface`, and the VRRP interface's name means that one. Plain entries
    /// parse as before. A bad name, or an unknown key, is refused where it is written.
    #[test]
    fn a_vip_may_name_its_own_interface() {
        let two = "    vips: [10.77.1.200/24, {address: 192.168.100.129/24, interface: eth1}]\n";
        let c = parse(&GOOD.replace("    vips: [10.77.1.200/24]\n", two)).expect("valid");
        let ic = &c.instances[0];
        assert_eq!(ic.vip_interfaces, [None, Some("eth1".to_string())]);
        assert_eq!(
            ic.placed(&c.interface).map(|(v, on)| (v.to_string(), on)).collect::<Vec<_>>(),
            [("10.77.1.200/24".to_string(), "eth0"), ("192.168.100.129/24".to_string(), "eth1")]
        );
        assert_eq!(ic.on_vrrp_interface().map(|v| v.to_string()).collect::<Vec<_>>(), ["10.77.1.200/24"]);
        assert_eq!(ic.elsewhere(), ["eth1"]);
        let c = parse(&GOOD.replace(
            "    vips: [10.77.1.200/24]\n",
            "    vips: [10.77.1.200/24, {address: 10.77.1.201/24, interface: eth0}]\n    vip_interface: eth2\n",
        ))
        .expect("valid");
        assert_eq!(c.instances[0].vip_interfaces, [Some("eth2".to_string()), None]);
        assert_eq!(c.instances[0].elsewhere(), ["eth2"]);
        let bad = GOOD.replace(
            "    vips: [10.77.1.200/24]\n",
            "    vips: [10.77.1.200/24, {address: 192.168.100.129/24, interface: eth1:0}]\n",
        );
        assert_eq!(
            findings(&bad),
            ["22:11: instance `web-51`: VIP `192.168.100.129/24`: `interface` `eth1:0` is not an interface name"]
        );
        let bad = GOOD.replace(
            "    vips: [10.77.1.200/24]\n",
            "    vips: [10.77.1.200/24, {address: 192.168.100.129/24, dev: eth1}]\n",
        );
        assert_eq!(findings(&bad).len(), 1, "{:?}", findings(&bad));
    }

    /// A VIP's `interface` in the inventory is the daemon's `vip_interface`, written only where
    /// it differs from the node's VRRP interface (a config without it is unchanged).
    #[test]
    fn an_inventory_vip_interface_renders_as_vip_interface() {
        let mut pair = crate::render::tests::pair(crate::inventory::Mode::MasterBackup);
        pair.vips[0].interface = Some("eth1".into());
        for c in rendered(&pair) {
            assert_eq!(c.expect("valid").instances[0].vip_interfaces, [Some("eth1".to_string())]);
        }
        pair.vips[0].interface = Some("eth0".into());
        for c in rendered(&pair) {
            assert_eq!(c.expect("valid").instances[0].vip_interfaces, [None]);
        }
    }

    /// An inventory address naming its own interface renders as a `{address, interface}` entry
    /// of `vips`, and parses back to the same placement; the other addresses stay plain, so a
    /// config without such addresses is unchanged.
    #[test]
    fn an_inventory_address_on_its_own_interface_renders_as_an_entry() {
        let mut pair = crate::render::tests::pair(crate::inventory::Mode::MasterBackup);
        pair.vips[0].also = vec!["192.168.100.129/24".parse().expect("cidr")];
        let plain: Vec<String> = rendered_text(&pair);
        assert!(plain.iter().all(|t| t.contains("    vips: [10.77.1.200/24, 192.168.100.129/24]\n")), "{plain:?}");
        pair.vips[0].own_interfaces = vec![None, Some("eth1".into())];
        for t in rendered_text(&pair) {
            assert!(
                t.contains("    vips: [10.77.1.200/24, {address: 192.168.100.129/24, interface: \"eth1\"}]\n"),
                "{t}"
            );
            assert!(!t.contains("vip_interface"), "{t}");
        }
        for c in rendered(&pair) {
            assert_eq!(c.expect("valid").instances[0].vip_interfaces, [None, Some("eth1".to_string())]);
        }
        // The VIP on eth1, one of its addresses back on the VRRP interface.
        pair.vips[0].interface = Some("eth1".into());
        pair.vips[0].own_interfaces = vec![None, Some("eth0".into())];
        for c in rendered(&pair) {
            assert_eq!(c.expect("valid").instances[0].vip_interfaces, [Some("eth1".to_string()), None]);
        }
    }

    fn rendered_text(pair: &crate::inventory::Pair) -> Vec<String> {
        use crate::roles::{BinarySpec, RoleSet, Want};
        let set = RoleSet::builtin().expect("roles load");
        let bin = BinarySpec { sha256: String::new(), size: 0, version: String::new(), needs: String::new() };
        pair.nodes
            .iter()
            .map(|node| {
                let d = crate::roles::desired(&set, pair, node, &[], &bin).expect("renders");
                let f = d.files.iter().find(|f| f.path == "/etc/hapair/vrrpd.yml").expect("the daemon config");
                let Want::Content { bytes, .. } = &f.want else { panic!("{:?}", f.want) };
                String::from_utf8_lossy(bytes).into_owned()
            })
            .collect()
    }

    #[test]
    fn serde_errors_carry_their_location() {
        let bad = GOOD.replace("vrid: 51", "vrid: 300");
        assert_eq!(findings(&bad), ["18:11: instances[0].vrid: invalid value: integer `300`, expected u8"]);
        let bad = GOOD.replace("garp_count: 5", "garp_cuont: 5");
        let f = findings(&bad);
        assert!(f[0].starts_with("29:5: instances[0]: unknown field `garp_cuont`"), "{f:?}");
    }

    #[test]
    fn v3_with_auth_and_unicast_without_peer() {
        let bad = GOOD.replace("auth_pass: null", "auth_pass: x").replace("peer: 10.77.1.12\n", "");
        assert_eq!(
            findings(&bad),
            [
                "24:16: instance `web-51`: `auth_pass` is set but VRRPv3 has no authentication (RFC 5798 §9)",
                "38:16: instance `web-52`: `transport: unicast` needs `peer`",
            ]
        );
    }

    #[test]
    fn auth_type() {
        // web-52 is v2 with a password: AH is accepted and gives the key and the auth type.
        let ah = GOOD.replace("    auth_pass: secret\n", "    auth_pass: secret\n    auth_type: ah\n");
        let c = parse(&ah).unwrap_or_else(|f| panic!("{f:?}"));
        assert_eq!(c.instances[1].ah_key(), Some(*b"secret\0\0"));
        assert_eq!(c.instances[1].auth(), super::super::packet::Auth::Ah);
        let pass = parse(GOOD).unwrap();
        assert_eq!(pass.instances[1].ah_key(), None);
        assert_eq!(pass.instances[1].auth(), super::super::packet::Auth::Pass(*b"secret\0\0"));
        // Without a password, an unknown name, and on v3 (whose password is refused already).
        let bad = GOOD
            .replace("    auth_pass: null\n", "    auth_pass: null\n    auth_type: ah\n")
            .replace("    auth_pass: secret\n", "    auth_pass: secret\n    auth_type: md5\n");
        assert_eq!(
            findings(&bad),
            [
                "26:16: instance `web-51`: `auth_type` is set but `auth_pass` is not",
                "40:16: instance `web-52`: `auth_type` `md5` is not one of pass, ah",
            ]
        );
    }
}
