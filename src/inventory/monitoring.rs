//! The `monitoring:` settings of a node: the daemon's metrics endpoint, who may scrape it
//! through the firewall, nginx's numbers, and the transition hooks. Validated here, from the
//! layered values `load` resolved.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::finding::{Finding, Location};
use super::settings::Value;

/// Where nginx's `stub_status` is served (on the node's own site, to 127.0.0.1 only).
pub const NGINX_STATUS_PATH: &str = "/hapair-nginx-status";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonitoringSettings {
    /// The daemon's metrics endpoint; `None` = no endpoint.
    pub listen: Option<SocketAddrV4>,
    /// The only source the firewall admits to the metrics port (`ADDR` or `ADDR/PREFIX`);
    /// `None` = the firewall does not open it.
    pub scraper: Option<(Ipv4Addr, u8)>,
    /// nginx's `stub_status` on a local-only location, read by the daemon at each scrape.
    pub nginx_status: bool,
    /// Run on each state change: `ARGV... VRID STATE`, details in `HAPAIR_*` variables.
    pub notify: Option<Vec<String>>,
    /// `http://HOST:PORT/PATH`: a JSON POST on each state change.
    pub webhook: Option<String>,
}

impl MonitoringSettings {
    /// The address a scraper connects to: the listen address, or the node's own when the
    /// daemon listens on every address.
    pub fn target(&self, node_address: Ipv4Addr) -> Option<SocketAddrV4> {
        self.listen.map(|l| if l.ip().is_unspecified() { SocketAddrV4::new(node_address, l.port()) } else { l })
    }

    /// The scraper as firewalld prints a rich rule's source.
    pub fn scraper_source(&self) -> Option<String> {
        self.scraper.map(|(a, p)| if p == 32 { a.to_string() } else { format!("{a}/{p}") })
    }
}

/// Resolve and check the `monitoring.*` values of one node; a refused value is reported, left
/// unset and recorded in `refused` (the rules do not judge it again).
pub fn settings(
    v: &BTreeMap<&str, Value>,
    at: &dyn Fn(&str) -> Location,
    firewall_managed: bool,
    refused: &mut std::collections::BTreeSet<String>,
    findings: &mut Vec<Finding>,
) -> MonitoringSettings {
    let s = |k: &str| match v.get(k) {
        Some(Value::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let mut ok = true;
    let listen = match s("monitoring.listen") {
        None => None,
        Some(l) => match l.parse::<SocketAddrV4>() {
            Ok(a) if a.port() != 0 => Some(a),
            _ => {
                findings.push(Finding::error(
                    "HA004",
                    at("monitoring.listen"),
                    format!("`monitoring.listen` `{}` is not an IPv4 address and port", l.escape_debug()),
                    "write `0.0.0.0:9489` (every address), the node's address with a port, or `null` for no endpoint",
                ));
                refused.insert("monitoring.listen".into());
                ok = false;
                None
            }
        },
    };
    let scraper = match s("monitoring.scraper") {
        None => None,
        Some(sc) => {
            let (a, p) = sc.split_once('/').unwrap_or((sc.as_str(), "32"));
            match (a.parse::<Ipv4Addr>(), p.parse::<u8>()) {
                (Ok(a), Ok(p)) if p <= 32 => Some((a, p)),
                _ => {
                    findings.push(Finding::error(
                        "HA004",
                        at("monitoring.scraper"),
                        format!("`monitoring.scraper` `{}` is not an IPv4 address or subnet", sc.escape_debug()),
                        "write the Prometheus server's address, e.g. `10.0.0.5` or `10.0.0.0/24`",
                    ));
                    refused.insert("monitoring.scraper".into());
                    ok = false;
                    None
                }
            }
        }
    };
    // A listen address that was refused above has its own error; say nothing more about it.
    if let (Some(sc), l, true) = (&scraper, &listen, ok) {
        let why = match l {
            None => Some("`monitoring.listen` is not set: there is no endpoint to open".to_string()),
            Some(l) if l.ip().is_loopback() => {
                Some(format!("the endpoint listens on {l}, which only the node itself reaches"))
            }
            Some(_) if !firewall_managed => {
                Some("`firewall.manage` is false: hapair opens no port, the firewall stays as it is".to_string())
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            findings.push(Finding::warning(
                "HA060",
                at("monitoring.scraper"),
                format!("`monitoring.scraper` {} cannot scrape: {why}", sc.0),
                "set `monitoring.listen` to `0.0.0.0:9489` (and keep `firewall.manage: true`), or remove `monitoring.scraper`",
            ));
        }
    }
    let mut webhook = s("monitoring.webhook");
    if let Some(w) = webhook.clone() {
        if w.parse::<crate::vrrp::monitoring::HttpUrl>().is_err() {
            findings.push(Finding::error(
                "HA013",
                at("monitoring.webhook"),
                format!("`monitoring.webhook` `{}` is not a plain `http://HOST:PORT/PATH` URL", w.escape_debug()),
                "write e.g. `http://10.0.0.5:9000/hapair` (for https, use `monitoring.notify` with a command such as curl)",
            ));
            refused.insert("monitoring.webhook".into());
            webhook = None;
        }
    }
    let notify = match v.get("monitoring.notify") {
        Some(Value::List(l)) if !l.is_empty() => Some(l.clone()),
        _ => None,
    };
    let nginx_status = matches!(v.get("monitoring.nginx_status"), Some(Value::Bool(true))) && listen.is_some();
    MonitoringSettings { listen, scraper, nginx_status, notify, webhook }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Mode;
    use crate::render::{tests::pair, Shown};
    use crate::roles::{Desired, RoleSet, Want};

    fn monitored() -> crate::inventory::Pair {
        let mut p = pair(Mode::MasterBackup);
        for n in &mut p.nodes {
            n.monitoring = MonitoringSettings {
                listen: Some("0.0.0.0:9489".parse().expect("valid")),
                scraper: Some((Ipv4Addr::new(10, 77, 1, 1), 32)),
                nginx_status: true,
                notify: Some(vec!["/usr/local/bin/on-vrrp".into(), "--page".into()]),
                webhook: Some("http://10.77.1.1:9000/hook?token=abc".into()),
            };
        }
        p
    }

    fn want(p: &crate::inventory::Pair) -> Desired {
        let bin =
            crate::roles::BinarySpec { sha256: String::new(), size: 0, version: String::new(), needs: String::new() };
        crate::roles::desired(&RoleSet::builtin().expect("roles"), p, &p.nodes[0], &[], &bin).expect("renders")
    }

    fn file<'a>(d: &'a Desired, path: &str) -> &'a Want {
        &d.files.iter().find(|f| f.path == path).expect("managed").want
    }

    fn text(w: &Want) -> String {
        match w {
            Want::Content { bytes, .. } => String::from_utf8_lossy(bytes).to_string(),
            w => panic!("{w:?}"),
        }
    }

    /// What the inventory says reaches the daemon's config (which the daemon accepts), the
    /// nginx site and the firewall; plans never show the webhook (it may carry a token).
    #[test]
    fn monitoring_reaches_daemon_nginx_and_firewall() {
        let p = monitored();
        let d = want(&p);
        let cfg_want = file(&d, "/etc/hapair/vrrpd.yml");
        let cfg_text = text(cfg_want);
        let cfg = crate::vrrp::config::parse(&cfg_text).unwrap_or_else(|f| panic!("{f:?}\n{cfg_text}"));
        assert_eq!(cfg.metrics, Some("0.0.0.0:9489".parse().expect("valid")));
        assert_eq!(cfg.notify, Some(vec!["/usr/local/bin/on-vrrp".to_string(), "--page".to_string()]));
        assert_eq!(cfg.monitoring.pair.as_deref(), Some("web"));
        assert_eq!(cfg.monitoring.nginx_status.as_deref(), Some("http://127.0.0.1:80/hapair-nginx-status"));
        assert_eq!(cfg.monitoring.webhook.as_deref(), Some("http://10.77.1.1:9000/hook?token=abc"));
        let Want::Content { shown: Shown::Masked(m), .. } = cfg_want else { panic!("{cfg_want:?}") };
        assert!(m.contains("  webhook: \"<redacted>\"\n") && !m.contains("token=abc"), "{m}");
        assert!(d.secrets.iter().any(|s| s.contains("token=abc")));

        let site = text(file(&d, "/etc/nginx/conf.d/hapair.conf"));
        assert!(site.contains("    location = /hapair-nginx-status {\n        stub_status;\n"), "{site}");
        assert!(site.contains("        allow 127.0.0.1;\n        deny all;\n"), "{site}");

        let fw = d.firewall.expect("managed");
        assert_eq!(
            fw.rich_rules[1],
            "rule family=\"ipv4\" source address=\"10.77.1.1\" port port=\"9489\" protocol=\"tcp\" accept"
        );
        let n = &p.nodes[0];
        assert_eq!(n.monitoring.target(n.address), Some("10.77.1.11:9489".parse().expect("valid")));
    }

    /// Without `monitoring:` nothing changes: no endpoint, no location, no rule.
    #[test]
    fn off_by_default() {
        let p = pair(Mode::MasterBackup);
        let d = want(&p);
        let cfg = text(file(&d, "/etc/hapair/vrrpd.yml"));
        assert!(cfg.contains("\nmetrics: null\n") && !cfg.contains("monitoring:"), "{cfg}");
        assert!(!text(file(&d, "/etc/nginx/conf.d/hapair.conf")).contains("stub_status"));
        assert_eq!(d.firewall.expect("managed").rich_rules.len(), 1);
    }
}
