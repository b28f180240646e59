//! The resolved inventory: every layer applied, every value validated into a newtype.
//! This is what the engine, verify and the lab consume. Built only by `inventory::load`
//! (or directly in tests).

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// A VRRP virtual router id, 1..=255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vrid(u8);

impl Vrid {
    pub fn new(v: u8) -> Option<Vrid> {
        (v != 0).then_some(Vrid(v))
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Vrid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A configured VRRP priority, 1..=255 (0 is only ever sent on shutdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Priority(u8);

impl Priority {
    pub fn new(v: u8) -> Option<Priority> {
        (v != 0).then_some(Priority(v))
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An IPv4 virtual address with its prefix length, e.g. `10.77.1.200/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VipCidr {
    addr: Ipv4Addr,
    prefix: u8,
}

impl VipCidr {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<VipCidr> {
        (prefix <= 32).then_some(VipCidr { addr, prefix })
    }
    pub fn addr(self) -> Ipv4Addr {
        self.addr
    }
    pub fn prefix(self) -> u8 {
        self.prefix
    }
    /// Whether `other` lies in this address's subnet.
    pub fn contains(self, other: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
        (u32::from(self.addr) & mask) == (u32::from(other) & mask)
    }
}

impl fmt::Display for VipCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl std::str::FromStr for VipCidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = s.split_once('/').ok_or_else(|| format!("`{s}` has no prefix length; write it as `{s}/24`"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| format!("`{a}` is not an IPv4 address"))?;
        let prefix: u8 =
            p.parse().ok().filter(|p| *p <= 32).ok_or_else(|| format!("`{p}` is not a prefix length (0 to 32)"))?;
        Ok(VipCidr { addr, prefix })
    }
}

/// A secret (the VRRPv2 password). Never printed: `Display` and `Debug` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that writes it (the daemon's config file).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    MasterBackup,
    DualMaster,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::MasterBackup => "master-backup",
            Mode::DualMaster => "dual-master",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// The file it was read from; relative paths in it are resolved against its folder.
    pub source: PathBuf,
    pub pairs: Vec<Pair>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub name: String,
    pub mode: Mode,
    /// Exactly two nodes, each with its fully layered settings.
    pub nodes: [Node; 2],
    pub vips: Vec<Vip>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    pub address: VipCidr,
    pub vrid: Vrid,
    /// Name of the preferred master node.
    pub master: String,
    /// Priority of each node for this VIP, in the order of `Pair::nodes`.
    pub priorities: [Priority; 2],
}

/// One node with every setting layered (defaults < pair < node < command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// Address on the VRRP interface.
    pub address: Ipv4Addr,
    pub interface: String,
    pub connection: Connection,
    pub vrrp: VrrpSettings,
    pub nginx: NginxSettings,
    pub check: CheckSettings,
    pub firewall: FirewallSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// SSH host (defaults to the node's address).
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Absolute path (resolved against the inventory's folder).
    pub identity_file: Option<PathBuf>,
    /// Absolute path (resolved against the inventory's folder).
    pub known_hosts: Option<PathBuf>,
    /// `user@host:port`
    pub jump_host: Option<String>,
    pub become_root: bool,
    /// The longest any one remote step (command) may take before it is stopped and the run
    /// fails naming host and step.
    pub timeout: std::time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Multicast,
    Unicast,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpSettings {
    /// 2 or 3.
    pub version: u8,
    pub advert_interval: Duration,
    pub auth_pass: Option<Secret>,
    pub preempt: bool,
    pub preempt_delay: Duration,
    pub transport: Transport,
    pub garp_count: u32,
    pub garp_interval: Duration,
    /// keepalived's default v3 checksum (with the IPv4 pseudo-header).
    pub v3_checksum_pseudo_header: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxSettings {
    pub listen: u16,
    pub server_name: String,
    /// `host:port` backends; empty means a default page naming the node.
    pub upstreams: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    Http { path: String },
    Script { argv: Vec<String> },
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSettings {
    pub kind: CheckKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub fall: u32,
    pub rise: u32,
    /// Added to the priority while the check fails (negative); 0 means FAULT.
    pub weight: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallSettings {
    pub manage: bool,
    pub restrict_to_peer: bool,
}

impl Pair {
    /// The other node of the pair.
    pub fn peer_of(&self, node: &str) -> Option<&Node> {
        match (&self.nodes[0], &self.nodes[1]) {
            (a, b) if a.name == node => Some(b),
            (a, b) if b.name == node => Some(a),
            _ => None,
        }
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Index (0 or 1) of the node in `nodes`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}
