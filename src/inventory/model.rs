//! The resolved inventory: every layer applied, every value validated into a newtype.
//! This is what the engine, verify and the lab consume. Built only by `inventory::load`
//! (or directly in tests).

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::values::{AuthType, Priority, VipCidr, Vrid};

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

/// One VRID of a pair: its address (which names it in reports), any further addresses on the
/// same VRID, and its election. All its addresses are held by one node and move together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    pub address: VipCidr,
    /// The VRID's other addresses (`address: [first, more…]` in the inventory), in order.
    pub also: Vec<VipCidr>,
    pub vrid: Vrid,
    /// Name of the preferred master node.
    pub master: String,
    /// Priority of each node for this VIP, in the order of `Pair::nodes`.
    pub priorities: [Priority; 2],
    /// `outside_subnet: true`: its addresses are deliberately off the nodes' subnet (a second
    /// subnet on the segment, a routed or public address). The daemon adds each with its
    /// prefix, as keepalived does; `check` then accepts them (HA025).
    pub outside_subnet: bool,
    /// `interface: eth1`: the interface its addresses live on, when not the nodes' VRRP
    /// interface (keepalived's `virtual_ipaddress { ADDR dev IFACE }`; the daemon's
    /// `vip_interface`). `None`: on each node's `interface`.
    pub interface: Option<String>,
    /// Per address (in the order of [`Vip::addresses`]), the interface it names itself in the
    /// `address` list (`{address: A/P, interface: eth1}`), which wins over `interface`: one
    /// VRID's addresses spread over several interfaces (keepalived's `A/P dev IFACE` in one
    /// `virtual_ipaddress`). Empty when no address names its own.
    pub own_interfaces: Vec<Option<String>>,
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
    pub monitoring: super::monitoring::MonitoringSettings,
    /// Users' roles applied to this node besides the built-in ones (docs/roles.md).
    pub roles: Vec<String>,
    /// Role variables (`vars:`), layered like every setting; dotted keys.
    pub vars: std::collections::BTreeMap<String, Var>,
}

/// A role variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Text(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
    /// Inline, `{env: VAR}` or `{file: PATH}`: never printed; files keep their bytes as text.
    Secret(Secret),
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
    /// How `auth_pass` authenticates the adverts (VRRPv2).
    pub auth_type: AuthType,
    pub preempt: bool,
    pub preempt_delay: Duration,
    pub transport: Transport,
    pub garp_count: u32,
    pub garp_interval: Duration,
    /// keepalived's default v3 checksum (with the IPv4 pseudo-header).
    pub v3_checksum_pseudo_header: bool,
}

impl VrrpSettings {
    /// The adverts travel in an IP Authentication Header (IP protocol 51, not 112): VRRPv2 with
    /// a password and `auth_type: ah`. The one test the renderer, doctor and verify use.
    pub fn uses_ah(&self) -> bool {
        self.version == 2 && self.auth_pass.is_some() && self.auth_type == AuthType::Ah
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxSettings {
    pub listen: u16,
    pub server_name: String,
    /// `host:port` backends; empty means a default page naming the node.
    pub upstreams: Vec<String>,
    /// Adopt the nginx already there: hapair writes no nginx file, only checks, reloads and
    /// monitors it.
    pub adopt: bool,
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

impl Vip {
    /// Every address of the VRID, the first (`address`) first.
    pub fn addresses(&self) -> impl Iterator<Item = VipCidr> + '_ {
        std::iter::once(self.address).chain(self.also.iter().copied())
    }

    /// The interface the VIP's addresses live on, on `node`, unless one names its own.
    pub fn interface_on<'a>(&'a self, node: &'a Node) -> &'a str {
        self.interface.as_deref().unwrap_or(&node.interface)
    }

    /// Each address with the interface it lives on, on `node`: its own, else the VIP's, else
    /// the node's VRRP interface.
    pub fn placed_on<'a>(&'a self, node: &'a Node) -> impl Iterator<Item = (VipCidr, &'a str)> + 'a {
        self.addresses().enumerate().map(move |(k, a)| {
            let own = self.own_interfaces.get(k).and_then(Option::as_deref);
            (a, own.unwrap_or_else(|| self.interface_on(node)))
        })
    }

    /// The interface its first address (`address`, the one the drill watches) lives on, on `node`.
    pub fn first_interface_on<'a>(&'a self, node: &'a Node) -> &'a str {
        self.placed_on(node).next().map_or(node.interface.as_str(), |(_, on)| on)
    }

    /// The addresses that live, on `node`, elsewhere than its VRRP interface (where its
    /// address is), with that interface: the node's subnet says nothing about them.
    pub fn elsewhere_on<'a>(&'a self, node: &'a Node) -> impl Iterator<Item = (VipCidr, &'a str)> + 'a {
        self.placed_on(node).filter(|(_, on)| *on != node.interface)
    }

    /// Whether any of its addresses lives, on `node`, elsewhere than its VRRP interface.
    pub fn any_elsewhere_on(&self, node: &Node) -> bool {
        self.elsewhere_on(node).next().is_some()
    }

    /// The addresses as the inventory lists them: `10.0.0.200/24, 10.0.0.201/24`.
    pub fn addresses_text(&self) -> String {
        self.addresses().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
    }
}

impl Pair {
    /// Whether node `n` (its index in `nodes`) takes `vip` back from its peer once it can hold
    /// it again: both nodes preempt and its priority is above the peer's. At equal priorities
    /// the holder keeps the VIP (a backup preempts only a lower priority, RFC 3768 §6.4.2).
    pub fn takes_back(&self, vip: &Vip, n: usize) -> bool {
        let n = n.min(1);
        self.nodes.iter().all(|x| x.vrrp.preempt) && vip.priorities[n].get() > vip.priorities[1 - n].get()
    }

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
