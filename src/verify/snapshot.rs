//! What verify sees of a node, gathered in one round trip by a fixed script. The parser is
//! pure; the script takes every variable part as a positional argument.

use crate::inventory::{Node, Pair};
use serde_json::Value;
use std::net::Ipv4Addr;

/// Args: INTERFACE STATUS_FILE [VIP_INTERFACE...]. Sections start with `@name`.
pub const SCRIPT: &str = r#"
# hapair verify snapshot. Args: IFACE STATUS_FILE [VIP_IFACE...]
i=$1 s=$2
shift 2
echo @addrs; ip -4 -o addr show dev "$i" 2>&1
echo @vipaddrs; for x in "$@"; do ip -4 -o addr show dev "$x" 2>/dev/null; done
echo @services
for u in hapair-vrrpd nginx; do printf '%s %s\n' "$u" "$(systemctl is-active "$u" 2>/dev/null)"; done
echo @now; date +%s%3N
echo @status; cat -- "$s" 2>/dev/null
echo; echo @end
"#;

pub const STATUS_FILE: &str = "/run/hapair/status.json";

pub fn argv(interface: &str, vip_interfaces: &[&str]) -> Vec<String> {
    let mut v: Vec<String> =
        ["sh", "-c", SCRIPT, "hapair-verify", interface, STATUS_FILE].iter().map(|s| s.to_string()).collect();
    v.extend(vip_interfaces.iter().map(|s| s.to_string()));
    v
}

/// The addresses of `pair`'s VIPs that live on `node` elsewhere than its VRRP interface, each
/// with its interface.
pub fn placed(pair: &Pair, node: &Node) -> Vec<(Ipv4Addr, String)> {
    pair.vips.iter().flat_map(|v| v.elsewhere_on(node).map(|(c, on)| (c.addr(), on.to_string()))).collect()
}

/// Take a snapshot of `node` of `pair` on `host` (one round trip): the addresses on its VRRP
/// interface and on the interfaces its VIPs live on. `step` names it in errors.
pub async fn take(
    host: &dyn crate::transport::Host,
    pair: &Pair,
    node: &Node,
    step: &str,
) -> Result<Snapshot, crate::error::Error> {
    let placed = placed(pair, node);
    let mut devs: Vec<&str> = placed.iter().map(|(_, d)| d.as_str()).collect();
    devs.sort_unstable();
    devs.dedup();
    let out = crate::transport::check(host, step, &argv(&node.interface, &devs), None).await?;
    let mut s = Snapshot::parse(&String::from_utf8_lossy(&out.stdout));
    s.placed = placed;
    Ok(s)
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// IPv4 addresses on the VRRP interface.
    pub addrs: Vec<Ipv4Addr>,
    /// IPv4 addresses on the interfaces VIPs live on besides the VRRP one, with the interface.
    pub vip_addrs: Vec<(String, Ipv4Addr)>,
    /// The VIP addresses that live elsewhere than the VRRP interface, and where (from the
    /// inventory, [`placed`]): [`Snapshot::holds`] looks for them there.
    pub placed: Vec<(Ipv4Addr, String)>,
    /// `ip` complained (e.g. the interface does not exist).
    pub addr_error: Option<String>,
    pub daemon_active: bool,
    pub nginx_active: bool,
    pub now_unix_ms: u64,
    /// The daemon's status file, when it could be read and parsed.
    pub status: Option<Value>,
}

impl Snapshot {
    pub fn parse(text: &str) -> Snapshot {
        let mut snap = Snapshot::default();
        let mut section = "";
        let mut status_text = String::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix('@') {
                if ["addrs", "vipaddrs", "services", "now", "status", "end"].contains(&name) {
                    section = match name {
                        "addrs" => "addrs",
                        "vipaddrs" => "vipaddrs",
                        "services" => "services",
                        "now" => "now",
                        "status" => "status",
                        _ => "end",
                    };
                    continue;
                }
            }
            match section {
                "addrs" => {
                    // 2: eth0    inet 10.77.1.11/24 brd 10.77.1.255 scope global eth0\ ...
                    let mut words = line.split_whitespace();
                    if words.clone().any(|w| w == "inet") {
                        let addr = words.by_ref().skip_while(|w| *w != "inet").nth(1);
                        if let Some(a) = addr.and_then(|a| a.split('/').next()).and_then(|a| a.parse().ok()) {
                            snap.addrs.push(a);
                        }
                    } else if !line.trim().is_empty() {
                        snap.addr_error = Some(line.trim().to_string());
                    }
                }
                "vipaddrs" => {
                    // 3: eth1    inet 192.168.100.129/24 scope global eth1:hapair\ ...
                    let mut words = line.split_whitespace();
                    let dev = words.nth(1).map(|d| d.split('@').next().unwrap_or(d).to_string());
                    let addr = words.skip_while(|w| *w != "inet").nth(1);
                    if let (Some(d), Some(a)) =
                        (dev, addr.and_then(|a| a.split('/').next()).and_then(|a| a.parse().ok()))
                    {
                        snap.vip_addrs.push((d, a));
                    }
                }
                "services" => {
                    let mut w = line.split_whitespace();
                    let (unit, state) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
                    match unit {
                        "hapair-vrrpd" => snap.daemon_active = state == "active",
                        "nginx" => snap.nginx_active = state == "active",
                        _ => {}
                    }
                }
                "now" => snap.now_unix_ms = line.trim().parse().unwrap_or(0),
                "status" => {
                    status_text.push_str(line);
                    status_text.push('\n');
                }
                _ => {}
            }
        }
        snap.status = serde_json::from_str(&status_text).ok();
        snap
    }

    /// Whether the node holds `vip` where it lives: on the VRRP interface, or on its own
    /// (a VIP's `interface`).
    pub fn holds(&self, vip: Ipv4Addr) -> bool {
        match self.placed.iter().find(|(a, _)| *a == vip) {
            Some((_, dev)) => self.vip_addrs.iter().any(|(d, a)| d == dev && *a == vip),
            None => self.addrs.contains(&vip),
        }
    }

    /// The daemon's view of the instance with this VRID.
    pub fn instance(&self, vrid: u8) -> Option<&Value> {
        self.status
            .as_ref()?
            .get("instances")?
            .as_array()?
            .iter()
            .find(|i| i.get("vrid").and_then(Value::as_u64) == Some(vrid as u64))
    }

    pub fn check_ok(&self) -> Option<bool> {
        self.status.as_ref()?.get("check")?.get("ok")?.as_bool()
    }

    pub fn version(&self) -> Option<&str> {
        self.status.as_ref()?.get("version")?.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "@addrs
2: eth0    inet 10.77.1.11/24 brd 10.77.1.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.77.1.200/24 scope global secondary eth0:hapair\\       valid_lft forever preferred_lft forever
@services
hapair-vrrpd active
nginx inactive
@now
1764050000123
@status
{\"node\": \"node1\", \"version\": \"0.1.0\", \"check\": {\"ok\": false},
 \"instances\": [{\"vrid\": 51, \"state\": \"master\"}]}

@end
";

    #[test]
    fn parses_every_section() {
        let s = Snapshot::parse(SAMPLE);
        assert_eq!(s.addrs, vec![Ipv4Addr::new(10, 77, 1, 11), Ipv4Addr::new(10, 77, 1, 200)]);
        assert!(s.holds(Ipv4Addr::new(10, 77, 1, 200)));
        assert!(s.daemon_active);
        assert!(!s.nginx_active);
        assert_eq!(s.now_unix_ms, 1764050000123);
        assert_eq!(s.check_ok(), Some(false));
        assert_eq!(s.version(), Some("0.1.0"));
        assert_eq!(s.instance(51).and_then(|i| i["state"].as_str()), Some("master"));
        assert!(s.instance(52).is_none());
    }

    /// A VIP living on another interface is held only there: the same address on the VRRP
    /// interface (or on a third one) is not it.
    #[test]
    fn a_vip_on_another_interface_is_looked_for_there() {
        let text = "@addrs\n2: eth0    inet 10.77.1.11/24 brd 10.77.1.255 scope global eth0\n2: eth0    inet 192.168.5.9/24 scope global eth0\n\
                    @vipaddrs\n3: eth1    inet 192.168.100.11/24 scope global eth1\n3: eth1    inet 192.168.100.129/24 scope global secondary eth1:hapair\n\
                    4: eth2    inet 192.168.5.10/24 scope global eth2\n@services\n@end\n";
        let mut s = Snapshot::parse(text);
        assert_eq!(s.addr_error, None);
        let a = |x: &str| x.parse::<Ipv4Addr>().unwrap();
        assert!(!s.holds(a("192.168.100.129")), "not placed yet: looked for on eth0");
        s.placed = vec![
            (a("192.168.100.129"), "eth1".into()),
            (a("192.168.5.9"), "eth1".into()),
            (a("192.168.5.10"), "eth1".into()),
        ];
        assert!(s.holds(a("192.168.100.129")));
        assert!(!s.holds(a("192.168.5.9")), "on eth0, not eth1");
        assert!(!s.holds(a("192.168.5.10")), "on eth2, not eth1");
        assert!(s.holds(a("10.77.1.11")));
    }

    #[test]
    fn a_missing_interface_is_reported_and_garbage_does_not_panic() {
        let s = Snapshot::parse("@addrs\nDevice \"eth9\" does not exist.\n@services\n@status\n{not json\n@end\n");
        assert_eq!(s.addr_error.as_deref(), Some("Device \"eth9\" does not exist."));
        assert!(s.status.is_none());
        let _ = Snapshot::parse("\u{0}@@@\n@now\nxyz\n@status");
    }

    /// A node's status file as hostile JSON: nested past serde_json's recursion limit, or large
    /// (the transport caps a command's output at 64 MiB): no panic, no stack overflow, no status.
    #[test]
    fn a_hostile_status_is_dropped_not_followed() {
        let deep = format!("@status\n{}{}\n@end\n", "[".repeat(200_000), "]".repeat(200_000));
        assert!(Snapshot::parse(&deep).status.is_none());
        let wide = format!("@status\n[{}0]\n@end\n", "0,".repeat(1_000_000));
        assert!(Snapshot::parse(&wide).instance(51).is_none());
    }
}
