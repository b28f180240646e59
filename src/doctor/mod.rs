//! `hapair doctor`: the usual troubleshooting of a live pair, automated. One fixed script per
//! node gathers what to look at (twice, a few seconds apart, to see adverts arrive); a pure
//! diagnosis turns it into findings, each with a fix.

use crate::error::Error;
use crate::inventory::{Inventory, Pair};
use crate::transport::{check, Host, SshHost, SshOptions};
use crate::verify::snapshot::Snapshot;
use crate::vrrp::config as vconf;
use std::time::Duration;

/// Args: IFACE ZONE_HINT. Sections start with `@name`; the snapshot part is verify's.
const SCRIPT: &str = r#"
i=$1
echo @link; ip -o link show dev "$i" 2>&1
echo @config; cat /etc/hapair/vrrpd.yml 2>/dev/null
echo @firewall
if command -v firewall-cmd >/dev/null 2>&1; then
  echo "state $(firewall-cmd --state 2>&1)"
  z=$(firewall-cmd --get-zone-of-interface="$i" 2>/dev/null || firewall-cmd --get-default-zone 2>/dev/null)
  echo "zone $z"
  firewall-cmd --zone="$z" --list-rich-rules 2>/dev/null | sed 's/^/rule /'
  echo "ports $(firewall-cmd --zone="$z" --list-ports 2>/dev/null)"
  sed 's/^/owned /' /var/lib/hapair/firewall.owned 2>/dev/null
else
  echo "state absent"
fi
echo @nginx_t; nginx -t 2>&1; echo "exit $?"
echo @nft; if command -v nft >/dev/null 2>&1; then echo present; else echo absent; fi
echo @journal; journalctl -u hapair-vrrpd -n 8 --no-pager -o cat 2>/dev/null
echo @end
"#;

/// Args: URL... ; prints `URL CODE`.
const CURL: &str = r#"
for u in "$@"; do printf '%s %s\n' "$u" "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$u" 2>/dev/null || echo 000)"; done
"#;

#[derive(Debug, Clone, Default)]
pub struct NodeView {
    pub link: String,
    pub config: String,
    pub firewall_state: String,
    pub zone: String,
    pub rich_rules: Vec<String>,
    pub ports: String,
    /// Rich rules hapair recorded as its own (`/var/lib/hapair/firewall.owned`).
    pub owned_rules: Vec<String>,
    pub nginx_t: String,
    pub nginx_t_ok: bool,
    /// `nft` is installed (the daemon carries open connections over a hand-over with it).
    pub nft: bool,
    pub journal: Vec<String>,
    pub before: Snapshot,
    pub after: Snapshot,
    /// (upstream, HTTP code) as seen from the node.
    pub upstreams: Vec<(String, String)>,
}

pub fn parse(text: &str) -> NodeView {
    let mut v = NodeView::default();
    let mut section = "";
    for line in text.lines() {
        if let Some(s) = line.strip_prefix('@') {
            if ["link", "config", "firewall", "nginx_t", "nft", "journal", "end"].contains(&s) {
                section = match s {
                    "link" => "link",
                    "config" => "config",
                    "firewall" => "firewall",
                    "nginx_t" => "nginx_t",
                    "nft" => "nft",
                    "journal" => "journal",
                    _ => "end",
                };
                continue;
            }
        }
        match section {
            "link" => v.link.push_str(line),
            "config" => {
                v.config.push_str(line);
                v.config.push('\n');
            }
            "firewall" => {
                if let Some(s) = line.strip_prefix("state ") {
                    v.firewall_state = s.trim().to_string();
                } else if let Some(z) = line.strip_prefix("zone ") {
                    v.zone = z.trim().to_string();
                } else if let Some(r) = line.strip_prefix("rule ") {
                    v.rich_rules.push(r.trim().to_string());
                } else if let Some(p) = line.strip_prefix("ports ") {
                    v.ports = p.trim().to_string();
                } else if let Some(o) = line.strip_prefix("owned rich-rule\t") {
                    if let Some((_, rule)) = o.split_once('\t') {
                        v.owned_rules.push(rule.trim().to_string());
                    }
                }
            }
            "nginx_t" => {
                if let Some(code) = line.strip_prefix("exit ") {
                    v.nginx_t_ok = code.trim() == "0";
                } else {
                    v.nginx_t.push_str(line);
                    v.nginx_t.push('\n');
                }
            }
            "nft" => v.nft = line.trim() == "present",
            "journal" => v.journal.push(line.to_string()),
            _ => {}
        }
    }
    v
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub pair: String,
    pub node: String,
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The IP protocol the adverts of `n` travel in: VRRP (112), or AH (51) with `auth_type: ah`.
fn advert_protocol(n: &crate::inventory::Node) -> (&'static str, u8, &'static str) {
    if n.vrrp.uses_ah() {
        ("ah", 51, "VRRP in AH (IP protocol 51, `auth_type: ah`)")
    } else {
        ("vrrp", 112, "VRRP (IP protocol 112)")
    }
}

/// Does this rule accept VRRP from `peer`? (Any source, or the peer's address.)
#[cfg(test)]
fn accepts_vrrp_from(rules: &[String], peer: std::net::Ipv4Addr) -> bool {
    accepts_protocol_from(rules, peer, "vrrp", 112)
}

/// Does this rule accept IP protocol `name`/`number` from `peer`?
fn accepts_protocol_from(rules: &[String], peer: std::net::Ipv4Addr, name: &str, number: u8) -> bool {
    rules.iter().any(|r| {
        let vrrp =
            r.contains(&format!("protocol value=\"{name}\"")) || r.contains(&format!("protocol value=\"{number}\""));
        let from = !r.contains("source address=")
            || r.contains(&format!("source address=\"{peer}\""))
            || r.contains(&format!("source address=\"{peer}/32\""));
        vrrp && from && r.contains("accept") && !r.contains("NOT")
    })
}

/// The diagnosis of a pair. Pure.
pub fn diagnose(pair: &Pair, views: &[NodeView; 2]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |node: &str, check: &'static str, ok: bool, detail: String, fix: Option<String>| {
        out.push(Finding { pair: pair.name.clone(), node: node.to_string(), check, ok, detail, fix });
    };
    let configs: Vec<Option<vconf::Config>> = views.iter().map(|v| vconf::parse(&v.config).ok()).collect();
    for (i, n) in pair.nodes.iter().enumerate() {
        let v = &views[i];
        let peer = &pair.nodes[1 - i];
        // Interface.
        let up = v.link.contains("state UP")
            || (v.link.contains("<") && v.link.contains(",UP") && !v.link.contains("state DOWN"));
        if v.link.contains("does not exist") || v.link.trim().is_empty() {
            push(
                &n.name,
                "interface",
                false,
                format!("interface `{}` does not exist", n.interface),
                Some(format!(
                    "set `interface` in the inventory to the one holding {} (`ip -o addr` on the node)",
                    n.address
                )),
            );
        } else {
            push(
                &n.name,
                "interface",
                up,
                if up { format!("`{}` is up", n.interface) } else { format!("`{}` is down", n.interface) },
                (!up).then(|| format!("`ip link set {} up` on `{}`", n.interface, n.name)),
            );
        }
        // Deployed config.
        match &configs[i] {
            None => push(
                &n.name,
                "daemon config",
                false,
                "no valid /etc/hapair/vrrpd.yml".into(),
                Some("run `hapair apply`".into()),
            ),
            Some(_) => push(&n.name, "daemon config", true, "/etc/hapair/vrrpd.yml is valid".into(), None),
        }
        // Firewall.
        let (proto, number, what) = advert_protocol(n);
        match v.firewall_state.as_str() {
            "absent" => push(
                &n.name,
                "firewall",
                true,
                format!("firewalld is not installed; check any other firewall lets IP protocol {number} through"),
                None,
            ),
            "running" => {
                let ok = accepts_protocol_from(&v.rich_rules, peer.address, proto, number);
                push(
                    &n.name,
                    "firewall",
                    ok,
                    if ok {
                        format!("zone `{}` accepts {what} from {}", v.zone, peer.address)
                    } else if proto == "vrrp" {
                        format!("zone `{}` does not accept VRRP from {} (`{}`): VRRP is IP protocol 112, not UDP port 112, and the default zone drops it", v.zone, peer.address, peer.name)
                    } else {
                        format!("zone `{}` does not accept {what} from {} (`{}`): with AH the adverts are IP protocol 51, and the default zone drops it", v.zone, peer.address, peer.name)
                    },
                    (!ok).then(|| format!("on `{}`: firewall-cmd --zone={} --add-rich-rule='rule family=\"ipv4\" source address=\"{}/32\" protocol value=\"{proto}\" accept' (and again with --permanent), or run `hapair apply`", n.name, v.zone, peer.address)),
                );
            }
            other => push(&n.name, "firewall", true, format!("firewalld is `{other}`: not filtering"), None),
        }
        // Hand-over: requests in flight when the VIP moves need `nft` (src/vrrp/strays.rs).
        push(
            &n.name,
            "hand-over",
            v.nft,
            if v.nft {
                "`nft` is installed: requests in flight when the VIP moves between the nodes are answered".into()
            } else {
                "`nft` is not installed: a request in flight when the VIP moves between the nodes fails".into()
            },
            (!v.nft).then(|| {
                format!("install nftables on `{}` (`apt-get install nftables` or `dnf install nftables`)", n.name)
            }),
        );
        // VIPs living on another interface: their hand-over carries nothing over (said, not failed).
        for vip in pair.vips.iter().filter(|vip| vip.any_elsewhere_on(n)) {
            push(&n.name, "hand-over", true, elsewhere_note(vip, n), None);
        }
        let foreign = foreign_vrrp_rules(&v.rich_rules, &v.owned_rules);
        if !foreign.is_empty() {
            push(
                &n.name,
                "foreign rules",
                true,
                format!(
                    "zone `{}` has VRRP rules hapair did not add, which `apply` keeps: {}",
                    v.zone,
                    foreign.join("; ")
                ),
                None,
            );
        }
        // nginx.
        push(
            &n.name,
            "nginx -t",
            v.nginx_t_ok,
            if v.nginx_t_ok {
                "the nginx configuration is valid".into()
            } else {
                format!("nginx -t fails: {}", v.nginx_t.lines().last().unwrap_or("").trim())
            },
            (!v.nginx_t_ok).then(|| format!("fix the nginx configuration on `{}`", n.name)),
        );
        if let Some(ok) = v.after.check_ok() {
            push(
                &n.name,
                "health check",
                ok,
                if ok { "the daemon's nginx check passes".into() } else { "the daemon's nginx check fails".into() },
                (!ok).then(|| format!("make nginx on `{}` answer on port {}", n.name, n.nginx.listen)),
            );
        }
        for (u, code) in &v.upstreams {
            let ok = code != "000";
            push(
                &n.name,
                "upstream",
                ok,
                if ok {
                    format!("{u} answers ({code})")
                } else {
                    format!("{u} is not reachable from `{}`: nginx answers 502", n.name)
                },
                (!ok).then(|| format!("check the backend and the route from `{}` to it", n.name)),
            );
        }
    }
    // The two deployed configs agree on what must match.
    if let (Some(a), Some(b)) = (&configs[0], &configs[1]) {
        for ia in &a.instances {
            let Some(ib) = b.instances.iter().find(|x| x.vrid == ia.vrid) else {
                push(
                    &pair.nodes[1].name,
                    "consistency",
                    false,
                    format!("vrid {} is configured on `{}` only", ia.vrid.get(), pair.nodes[0].name),
                    Some("run `hapair apply` on both nodes".into()),
                );
                continue;
            };
            let mut diffs = Vec::new();
            if ia.version != ib.version {
                diffs.push("VRRP version");
            }
            if ia.advert_interval_cs != ib.advert_interval_cs {
                diffs.push("advert interval");
            }
            if ia.auth_pass != ib.auth_pass {
                diffs.push("password");
            }
            if ia.auth() != ib.auth() && ia.auth_pass == ib.auth_pass {
                diffs.push("authentication type (PASS or AH)");
            }
            if ia.transport != ib.transport {
                diffs.push("transport");
            }
            let ok = diffs.is_empty();
            push(
                "both",
                "consistency",
                ok,
                if ok {
                    format!("vrid {}: version, interval and auth agree", ia.vrid.get())
                } else {
                    format!("vrid {}: the nodes differ in {}", ia.vrid.get(), diffs.join(", "))
                },
                (!ok).then(|| "run `hapair apply` so both nodes get the same settings".into()),
            );
        }
    }
    // Who hears whom: a backup's received-advert counter grows while the master sends.
    for vip in &pair.vips {
        let vrid = vip.vrid.get();
        let counts: Vec<(Option<&str>, u64, u64)> = views
            .iter()
            .map(|v| {
                let st = v.after.instance(vrid).and_then(|i| i["state"].as_str());
                let c = |s: &Snapshot| s.instance(vrid).and_then(|i| i["adverts_received"].as_u64()).unwrap_or(0);
                (st, c(&v.before), c(&v.after))
            })
            .collect();
        for (i, n) in pair.nodes.iter().enumerate() {
            let (state, before, after) = counts[i];
            let peer = &pair.nodes[1 - i];
            let hears = after > before;
            match state {
                Some("backup") => push(
                    &n.name,
                    "adverts",
                    hears,
                    if hears {
                        format!("vrid {vrid}: hears `{}` ({} adverts in the sample)", peer.name, after - before)
                    } else {
                        format!("vrid {vrid}: BACKUP but hears no adverts")
                    },
                    (!hears).then(|| {
                        format!(
                            "check that `{}` sends and that VRRP reaches `{}` (firewall, multicast)",
                            peer.name, n.name
                        )
                    }),
                ),
                Some("master") => {
                    let peer_state = counts[1 - i].0;
                    let split = peer_state == Some("master");
                    let (detail, fix) = match (split, hears) {
                        (false, _) => (format!("vrid {vrid}: MASTER, sending"), None),
                        (true, true) => (
                            format!("vrid {vrid}: MASTER, and so is `{}` (split-brain); `{}` hears `{}` ({} adverts), so it is `{}` that does not hear `{}`", peer.name, n.name, peer.name, after - before, peer.name, n.name),
                            Some(format!("look at `{}`'s firewall finding", peer.name)),
                        ),
                        (true, false) => (
                            format!("vrid {vrid}: MASTER, and so is `{}` (split-brain); `{}` hears nothing from `{}`", peer.name, n.name, peer.name),
                            Some(format!("VRRP from `{}` does not reach `{}`: check `{}`'s firewall (IP protocol {}) and multicast on the segment", peer.name, n.name, n.name, advert_protocol(n).1)),
                        ),
                    };
                    push(&n.name, "adverts", !split, detail, fix);
                }
                Some(other) => push(
                    &n.name,
                    "adverts",
                    false,
                    format!("vrid {vrid}: the daemon is {other}"),
                    Some(format!("see `journalctl -u hapair-vrrpd` on `{}`", n.name)),
                ),
                None => push(
                    &n.name,
                    "adverts",
                    false,
                    format!("vrid {vrid}: the daemon is not running"),
                    Some(format!("`systemctl start hapair-vrrpd` on `{}`, or `hapair apply`", n.name)),
                ),
            }
        }
    }
    // VIP placement, as verify judges it.
    let snaps = [views[0].after.clone(), views[1].after.clone()];
    for c in crate::verify::analysis::analyse(pair, &snaps)
        .into_iter()
        .filter(|c| c.name == "bound once" || c.name == "addresses together")
    {
        out.push(Finding {
            pair: pair.name.clone(),
            node: c.subject.clone(),
            check: "vip",
            ok: c.ok,
            detail: c.detail,
            fix: c.fix,
        });
    }
    out
}

/// Gather and diagnose every selected pair, `forks` pairs at a time.
pub async fn run(
    inv: &Inventory,
    limit: Option<&str>,
    accept_new: bool,
    forks: usize,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Vec<Finding>, Vec<(String, Vec<String>)>), Error> {
    let pairs: Vec<&Pair> =
        inv.pairs.iter().filter(|p| limit.is_none_or(|l| p.name == l || p.nodes.iter().any(|n| n.name == l))).collect();
    if pairs.is_empty() {
        return Err(Error::new("no pair matches `--limit`").with_fix("name a pair or a node of the inventory"));
    }
    let ssh = SshOptions { accept_new_host_keys: accept_new };
    let results: Vec<_> = {
        use futures::StreamExt;
        futures::stream::iter(pairs.into_iter().map(|p| doctor_pair(p, &ssh, progress)))
            .buffered(forks.max(1))
            .collect()
            .await
    };
    let mut findings = Vec::new();
    let mut journals = Vec::new();
    for r in results {
        let (f, j) = r?;
        findings.extend(f);
        journals.extend(j);
    }
    Ok((findings, journals))
}

type PairDiagnosis = (Vec<Finding>, Vec<(String, Vec<String>)>);

async fn doctor_pair(p: &Pair, ssh: &SshOptions, progress: &(dyn Fn(&str) + Sync)) -> Result<PairDiagnosis, Error> {
    progress(&format!("{}: connecting", p.name));
    let (a, b) = tokio::join!(SshHost::connect(&p.nodes[0], ssh), SshHost::connect(&p.nodes[1], ssh));
    let hosts = [a?, b?];
    progress(&format!("{}: gathering, then listening for adverts for 3 s", p.name));
    let (va, vb) = tokio::join!(gather(&hosts[0], p, &p.nodes[0]), gather(&hosts[1], p, &p.nodes[1]));
    let [a, b] = hosts;
    let views = match (va, vb) {
        (Ok(va), Ok(vb)) => [va, vb],
        (Err(e), _) | (_, Err(e)) => {
            a.close().await;
            b.close().await;
            return Err(e);
        }
    };
    let journals = p.nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), views[i].journal.clone())).collect();
    let findings = diagnose(p, &views);
    a.close().await;
    b.close().await;
    Ok((findings, journals))
}

async fn gather(h: &dyn Host, p: &Pair, n: &crate::inventory::Node) -> Result<NodeView, Error> {
    let before = crate::verify::snapshot::take(h, p, n, "doctor snapshot").await?;
    let argv = crate::transport::argv(["sh", "-c", SCRIPT, "hapair-doctor", n.interface.as_str()]);
    let out = check(h, "doctor", &argv, None).await?;
    let mut v = parse(&String::from_utf8_lossy(&out.stdout));
    if !n.nginx.upstreams.is_empty() {
        let mut argv = crate::transport::argv(["sh", "-c", CURL, "hapair-curl"]);
        argv.extend(n.nginx.upstreams.iter().map(|u| format!("http://{u}/")));
        let out = check(h, "doctor upstreams", &argv, None).await?;
        v.upstreams = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.rsplit_once(' ').map(|(u, c)| (u.to_string(), c.to_string())))
            .collect();
    }
    // The status file is rewritten at most once a second: 3 s shows several adverts at 1 s.
    tokio::time::sleep(Duration::from_secs(3)).await;
    v.after = crate::verify::snapshot::take(h, p, n, "doctor snapshot").await?;
    v.before = before;
    Ok(v)
}

pub fn text(findings: &[Finding], journals: &[(String, Vec<String>)]) -> String {
    let mut s = String::new();
    for f in findings {
        s.push_str(&format!(
            "{:<4}  {:<8}  {:<16}  {:<14}  {}\n",
            if f.ok { "ok" } else { "FAIL" },
            f.pair,
            f.node,
            f.check,
            f.detail
        ));
        if let (false, Some(fix)) = (f.ok, &f.fix) {
            s.push_str(&format!("{:<4}  {:<8}  {:<16}  {:<14}  fix: {fix}\n", "", "", "", ""));
        }
    }
    let failed = findings.iter().filter(|f| !f.ok).count();
    if failed > 0 {
        for (node, lines) in journals {
            if !lines.is_empty() {
                s.push_str(&format!("\nlast daemon log lines on `{node}`:\n"));
                for l in lines {
                    s.push_str(&format!("  {l}\n"));
                }
            }
        }
    }
    s.push_str(&format!("\ndoctor: {} passed, {failed} failed\n", findings.len() - failed));
    s
}

/// What a VIP living elsewhere than the VRRP interface means at a hand-over (docs/vrrpd-config.md).
/// Some of a VRID's addresses may live elsewhere and the others on the VRRP interface (whose
/// connections are carried over as ever): those elsewhere are named then.
fn elsewhere_note(vip: &crate::inventory::Vip, n: &crate::inventory::Node) -> String {
    let away: Vec<_> = vip.elsewhere_on(n).collect();
    let mut ons: Vec<&str> = away.iter().map(|(_, on)| *on).collect();
    ons.dedup();
    let what = if away.len() == vip.addresses().count() && ons.len() == 1 {
        format!("its VIPs live on `{}`", ons[0])
    } else {
        let each: Vec<String> = away.iter().map(|(a, on)| format!("{a} on `{on}`")).collect();
        format!("its VIPs {}", each.join(", "))
    };
    format!(
        "vrid {}: {what}, adverts on `{}`: connections open at a hand-over are not carried over for them (a request in flight when they move may fail, as with keepalived)",
        vip.vrid, n.interface
    )
}

/// VRRP rich rules not in hapair's ownership record (another cluster's, or added by hand).
fn foreign_vrrp_rules(rules: &[String], owned: &[String]) -> Vec<String> {
    let norm = |r: &str| r.replace("/32\"", "\"").split_whitespace().collect::<Vec<_>>().join(" ");
    rules
        .iter()
        .filter(|r| r.contains("protocol value=\"vrrp\""))
        .filter(|r| !owned.iter().any(|o| norm(o) == norm(r)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrrp_rules_from_the_peer_or_anyone_count() {
        let peer: std::net::Ipv4Addr = "10.0.0.12".parse().unwrap();
        let r = |s: &str| vec![s.to_string()];
        assert!(accepts_vrrp_from(
            &r("rule family=\"ipv4\" source address=\"10.0.0.12/32\" protocol value=\"vrrp\" accept"),
            peer
        ));
        assert!(accepts_vrrp_from(&r("rule protocol value=\"vrrp\" accept"), peer));
        assert!(!accepts_vrrp_from(
            &r("rule family=\"ipv4\" source address=\"10.0.0.99/32\" protocol value=\"vrrp\" accept"),
            peer
        ));
        assert!(!accepts_vrrp_from(&r("rule family=\"ipv4\" port port=\"112\" protocol=\"udp\" accept"), peer));
        assert!(!accepts_vrrp_from(&[], peer));
        // With AH the adverts are IP protocol 51: a VRRP rule does not let them in.
        let ah = r("rule family=\"ipv4\" source address=\"10.0.0.12/32\" protocol value=\"ah\" accept");
        assert!(accepts_protocol_from(&ah, peer, "ah", 51));
        assert!(accepts_protocol_from(&r("rule protocol value=\"51\" accept"), peer, "ah", 51));
        assert!(!accepts_protocol_from(&r("rule protocol value=\"vrrp\" accept"), peer, "ah", 51));
    }

    /// A VIP on another interface is said once per node as a hand-over note, never a failure.
    #[test]
    fn a_vip_on_another_interface_is_a_hand_over_note() {
        let mut pair = crate::render::tests::pair(crate::inventory::Mode::MasterBackup);
        pair.vips[0].interface = Some("eth1".into());
        let views = [NodeView::default(), NodeView::default()];
        let notes: Vec<Finding> = diagnose(&pair, &views)
            .into_iter()
            .filter(|f| f.check == "hand-over" && f.detail.starts_with("vrid"))
            .collect();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes.iter().all(|f| f.ok));
        assert_eq!(
            notes[0].detail,
            "vrid 51: its VIPs live on `eth1`, adverts on `eth0`: connections open at a hand-over are not carried over for them (a request in flight when they move may fail, as with keepalived)"
        );
    }

    /// Some of a VRID's addresses elsewhere: the note names those, and only those.
    #[test]
    fn addresses_on_two_interfaces_are_named_in_the_hand_over_note() {
        let mut pair = crate::render::tests::pair(crate::inventory::Mode::MasterBackup);
        pair.vips[0].also = vec!["192.168.100.129/24".parse().expect("cidr")];
        pair.vips[0].own_interfaces = vec![None, Some("eth1".into())];
        let views = [NodeView::default(), NodeView::default()];
        let notes: Vec<Finding> = diagnose(&pair, &views)
            .into_iter()
            .filter(|f| f.check == "hand-over" && f.detail.starts_with("vrid"))
            .collect();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!(
            notes[0].detail,
            "vrid 51: its VIPs 192.168.100.129/24 on `eth1`, adverts on `eth0`: connections open at a hand-over are not carried over for them (a request in flight when they move may fail, as with keepalived)"
        );
    }

    #[test]
    fn parses_its_own_script_output() {
        let v = parse("@link\n2: eth0@if5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP\n@config\nnode: a\n@firewall\nstate running\nzone public\nrule rule protocol value=\"vrrp\" accept\nports 80/tcp\n@nginx_t\nnginx: ok\nexit 0\n@nft\npresent\n@journal\nMASTER for x\n@end\n");
        assert!(v.link.contains("state UP"));
        assert!(v.nft);
        assert!(!parse("@nft\nabsent\n@end\n").nft);
        assert_eq!((v.firewall_state.as_str(), v.zone.as_str(), v.ports.as_str()), ("running", "public", "80/tcp"));
        assert_eq!(v.rich_rules.len(), 1);
        let ours = "rule family=\"ipv4\" source address=\"10.0.0.12/32\" protocol value=\"vrrp\" accept".to_string();
        let theirs = "rule family=\"ipv4\" source address=\"10.0.0.99\" protocol value=\"vrrp\" accept".to_string();
        let w = parse(&format!(
            "@firewall\nstate running\nzone public\nrule {ours}\nrule {theirs}\nowned rich-rule\tpublic\t{ours}\n@end\n"
        ));
        assert_eq!(w.owned_rules, std::slice::from_ref(&ours));
        assert_eq!(foreign_vrrp_rules(&w.rich_rules, &w.owned_rules), [theirs]);
        assert!(v.nginx_t_ok);
        assert_eq!(v.journal, vec!["MASTER for x"]);
        assert_eq!(v.config, "node: a\n");
    }
}
