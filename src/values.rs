//! The VRRP value types and ranges that both the inventory (`hapair check`) and the daemon's
//! configuration (`hapair vrrpd`) validate: ONE definition of each, so a value `check` accepts
//! is a value the daemon accepts (and the other way round). Neither side owns them: the daemon
//! does not depend on the inventory, nor the inventory on the daemon.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

/// A closed range of whole numbers, shown as `min to max` in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    pub min: i64,
    pub max: i64,
}

impl IntRange {
    pub const fn new(min: i64, max: i64) -> IntRange {
        IntRange { min, max }
    }
    pub fn contains(self, v: i64) -> bool {
        (self.min..=self.max).contains(&v)
    }
}

impl fmt::Display for IntRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {}", self.min, self.max)
    }
}

/// Virtual router id.
pub const VRID: IntRange = IntRange::new(1, 255);
/// Configured priority; 255 only for the owner of the VIP address, 0 only sent on shutdown.
pub const PRIORITY: IntRange = IntRange::new(1, 255);
/// The priority of a node that does not own the VIP address.
pub const PRIORITY_NOT_OWNER: IntRange = IntRange::new(1, 254);
pub const VERSION: IntRange = IntRange::new(2, 3);
/// What a tracked check moves the priority by (keepalived's range): a negative weight applies
/// while the check fails, a positive one while it succeeds, 0 means FAULT while it fails.
pub const CHECK_WEIGHT: IntRange = IntRange::new(-253, 253);
/// The inventory's `check.weight`: applied while the check fails, so the negative half of
/// [`CHECK_WEIGHT`] (`hapair import` translates keepalived's positive weights into it).
pub const CHECK_WEIGHT_ON_FAILURE: IntRange = IntRange::new(CHECK_WEIGHT.min, 0);
/// `fall` and `rise`: consecutive results before the check's state changes.
pub const CHECK_COUNT: IntRange = IntRange::new(1, 255);
/// Gratuitous ARPs sent on becoming master.
pub const GARP_COUNT: IntRange = IntRange::new(0, 100);
/// Addresses on one VRID (one VIP of the inventory): keepalived's `virtual_ipaddress` block is
/// limited to 20, and an advert interoperating with it carries no more.
pub const VIP_ADDRESSES: IntRange = IntRange::new(1, 20);
/// The VRRPv2 password: 1 to 8 bytes. For PASS it is the 8-byte Authentication Data field; for
/// AH it is the HMAC-MD5 key, which keepalived keeps in the same 8-byte buffer (it cuts a longer
/// `auth_pass` to 8 bytes for both types).
pub const AUTH_PASS_BYTES: IntRange = IntRange::new(1, 8);

/// VRRPv2 authentication with a password (RFC 2338 §5.3.6, kept by keepalived; VRRPv3 has
/// none). The one list of names: the inventory's `vrrp.auth_type`, the daemon's `auth_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AuthType {
    /// The password in clear in the advert (type 1).
    #[default]
    Pass,
    /// IPsec Authentication Header (type 2, IP protocol 51): HMAC-MD5-96 over the IP header,
    /// the AH header and the advert, keyed with the password (RFC 2402, as keepalived sends it).
    Ah,
}

impl AuthType {
    /// Every accepted name, as written in the inventory and the daemon's configuration.
    pub const NAMES: &'static [&'static str] = &["pass", "ah"];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Pass => "pass",
            AuthType::Ah => "ah",
        }
    }

    pub fn parse(s: &str) -> Option<AuthType> {
        match s {
            "pass" => Some(AuthType::Pass),
            "ah" => Some(AuthType::Ah),
            _ => None,
        }
    }
}

/// The shortest check interval the daemon runs.
pub const CHECK_INTERVAL_MIN: Duration = Duration::from_millis(10);
/// The longest wait between gratuitous ARPs.
pub const GARP_INTERVAL_MAX: Duration = Duration::from_secs(60);
/// The longest preemption delay.
pub const PREEMPT_DELAY_MAX: Duration = Duration::from_secs(3600);

/// The longest interface name hapair runs VRRP or adds VIPs on: the kernel allows 15 bytes,
/// and the VIPs' address label, `<interface>:hp` at the shortest, must fit in the same 15.
pub const INTERFACE_NAME_MAX: usize = 12;

/// [`interface_problem`]'s answer for a value that is no interface name at all.
pub const NOT_AN_INTERFACE_NAME: &str = "is not an interface name";

/// Why `name` cannot be an interface hapair runs VRRP or adds VIPs on, or None when it can:
/// the one rule of `check`, the import and the daemon's configuration.
pub fn interface_problem(name: &str) -> Option<&'static str> {
    let alphabet = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@');
    if name.is_empty() || name.len() > 15 || !name.chars().all(alphabet) {
        Some(NOT_AN_INTERFACE_NAME)
    } else if name.len() > INTERFACE_NAME_MAX {
        Some("is too long: the VIPs' label `<interface>:hp` must fit in 15 characters")
    } else {
        None
    }
}

/// The fix for an [`interface_problem`].
pub const INTERFACE_FIX: &str =
    "write the interface's name as `ip link` shows it, e.g. `eth0` (letters, digits, `-`, `_`, `.`, `@`; at most 12 characters)";

/// Why an advertisement interval cannot be carried by a VRRP version, or None when it can:
/// VRRPv2 carries whole seconds 1 to 255 (RFC 3768), VRRPv3 centiseconds 1 to 4095 (RFC 5798).
pub fn advert_interval_problem(version: u8, interval: Duration) -> Option<&'static str> {
    let ms = interval.as_millis();
    let sub_ms = interval.subsec_nanos() % 1_000_000 != 0;
    match version {
        2 if sub_ms || ms % 1000 != 0 || !(1000..=255_000).contains(&ms) => Some("whole seconds from 1 to 255"),
        3 if sub_ms || ms % 10 != 0 || !(10..=40_950).contains(&ms) => Some("10 ms steps from 10 ms to 40.95 s"),
        _ => None,
    }
}

/// A VRRP virtual router id, 1..=255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vrid(u8);

impl Vrid {
    pub fn new(v: u8) -> Option<Vrid> {
        VRID.contains(i64::from(v)).then_some(Vrid(v))
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
        PRIORITY.contains(i64::from(v)).then_some(Priority(v))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advert_intervals_per_version() {
        assert_eq!(advert_interval_problem(2, Duration::from_secs(1)), None);
        assert!(advert_interval_problem(2, Duration::from_millis(1500)).is_some());
        assert_eq!(advert_interval_problem(3, Duration::from_millis(100)), None);
        assert!(advert_interval_problem(3, Duration::from_millis(5)).is_some());
        assert!(advert_interval_problem(3, Duration::from_micros(100_500)).is_some());
    }

    /// One rule for `check`, the import and the daemon: a name the label fits, no shell words.
    #[test]
    fn interface_names() {
        for ok in ["eth0", "enp0s31f6", "bond0.100", "br-lan", "veth@if2", "abcdefghijkl"] {
            assert_eq!(interface_problem(ok), None, "{ok}");
        }
        for bad in ["", "eth1:0", "eth0 x", "eth0$(reboot)", "a/b", "abcdefghijklmnop"] {
            assert_eq!(interface_problem(bad), Some("is not an interface name"), "{bad:?}");
        }
        assert!(interface_problem("abcdefghijklm").is_some_and(|w| w.starts_with("is too long")));
        assert!(crate::vrrp::config::vip_label("abcdefghijkl").len() <= 15);
    }

    #[test]
    fn the_inventory_weight_is_the_failing_half_of_the_daemon_range() {
        assert!(CHECK_WEIGHT_ON_FAILURE.contains(-253) && !CHECK_WEIGHT_ON_FAILURE.contains(-254));
        assert!(CHECK_WEIGHT.contains(253) && !CHECK_WEIGHT_ON_FAILURE.contains(1));
    }
}
