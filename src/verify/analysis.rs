//! Judging a pair from its two snapshots: is each VIP bound exactly once, on the expected node;
//! do the daemons agree; do the checks pass. Pure.

use super::snapshot::Snapshot;
use crate::inventory::{Pair, Vip};
use serde_json::Value;

/// One line of the verify report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub pair: String,
    /// What was checked: a VIP, a node, or a VRID.
    pub subject: String,
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    /// What to do when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Status-file lag (it is rewritten at most once a second) on top of the advert interval.
const STATUS_LAG_MS: u64 = 1500;

/// Which node (index) should hold `vip` now: the preferred master, unless it cannot (daemon
/// down, check failing) or it does not take the VIP back (preemption off, or equal priorities)
/// and the peer already holds it.
pub fn expected_holder(pair: &Pair, vip: &Vip, snaps: &[Snapshot; 2]) -> usize {
    let m = pair.index_of(&vip.master).unwrap_or(0);
    let other = 1 - m;
    let master_fit = snaps[m].daemon_active && snaps[m].check_ok() != Some(false);
    let preempt = pair.takes_back(vip, m);
    // `hapair switchover` moved the VIP away and the master yields until switched back.
    let yielded = snaps[m]
        .instance(vip.vrid.get())
        .and_then(|i| i.get("priority_reason"))
        .and_then(|r| r.as_str())
        .is_some_and(|r| r.contains("yielded by switchover"));
    if !master_fit || ((!preempt || yielded) && snaps[other].holds(vip.address.addr())) {
        other
    } else {
        m
    }
}

pub fn analyse(pair: &Pair, snaps: &[Snapshot; 2]) -> Vec<Check> {
    let mut out = Vec::new();
    let check = |subject: String, name: &'static str, ok: bool, detail: String, fix: Option<String>| Check {
        pair: pair.name.clone(),
        subject,
        name,
        ok,
        detail,
        fix,
    };

    for (i, node) in pair.nodes.iter().enumerate() {
        let s = &snaps[i];
        if let Some(e) = &s.addr_error {
            out.push(check(
                node.name.clone(),
                "interface",
                false,
                format!("interface `{}` on `{}`: {e}", node.interface, node.name),
                Some(format!("set `interface` in the inventory to the interface that holds {}", node.address)),
            ));
        }
        out.push(check(
            node.name.clone(),
            "daemon",
            s.daemon_active,
            if s.daemon_active { "hapair-vrrpd is active".into() } else { "hapair-vrrpd is not running".into() },
            (!s.daemon_active)
                .then(|| format!("run `hapair apply` or `systemctl start hapair-vrrpd` on `{}`", node.name)),
        ));
        out.push(check(
            node.name.clone(),
            "nginx",
            s.nginx_active,
            if s.nginx_active { "nginx is active".into() } else { "nginx is not running".into() },
            (!s.nginx_active).then(|| format!("check `journalctl -u nginx` on `{}` and start it", node.name)),
        ));
        if let Some(ok) = s.check_ok() {
            let err = s.status.as_ref().and_then(|v| v["check"]["last_error"].as_str()).unwrap_or("");
            out.push(check(
                node.name.clone(),
                "health check",
                ok,
                if ok { "the nginx check passes".into() } else { format!("the nginx check fails: {err}") },
                (!ok).then(|| format!("make nginx on `{}` answer the check (see `hapair vrrpd status`)", node.name)),
            ));
        }
    }

    for vip in &pair.vips {
        let addr = vip.address.addr();
        let holders: Vec<usize> = (0..2).filter(|i| snaps[*i].holds(addr)).collect();
        let names =
            |v: &[usize]| v.iter().map(|i| format!("`{}`", pair.nodes[*i].name)).collect::<Vec<_>>().join(" and ");
        let subject = vip.address.to_string();
        match holders.as_slice() {
            [] => out.push(check(
                subject,
                "bound once",
                false,
                format!("`{addr}` (vrid {}) is bound on no node", vip.vrid),
                Some(no_holder_cause(pair, vip, snaps)),
            )),
            [_, _] => out.push(check(
                subject,
                "bound once",
                false,
                format!(
                    "split-brain: `{addr}` (vrid {}) is bound on both {}{}",
                    vip.vrid,
                    names(&holders),
                    evidence(pair, vip, snaps)
                ),
                Some(split_brain_cause(pair, vip, snaps)),
            )),
            [h] => {
                let want = expected_holder(pair, vip, snaps);
                let ok = *h == want;
                out.push(check(
                    subject,
                    "bound once",
                    ok,
                    if ok {
                        format!("`{addr}` is bound on `{}` only", pair.nodes[*h].name)
                    } else {
                        format!("`{addr}` is bound on `{}`, expected `{}`", pair.nodes[*h].name, pair.nodes[want].name)
                    },
                    (!ok).then(|| {
                        format!(
                            "check priorities and the health check on `{}`; `hapair status` shows why",
                            pair.nodes[want].name
                        )
                    }),
                ));
            }
            _ => {}
        }
        // A VRID with several addresses: every one with the first, on its holder only.
        if !vip.also.is_empty() {
            let primary: Vec<usize> = (0..2).filter(|i| snaps[*i].holds(vip.address.addr())).collect();
            let n = 1 + vip.also.len();
            let (ok, detail) = match primary.as_slice() {
                [h] => match apart(pair, vip, snaps, *h) {
                    None => {
                        (true, format!("all {n} addresses of vrid {} are on `{}` only", vip.vrid, pair.nodes[*h].name))
                    }
                    Some(d) => (false, format!("vrid {}: {d}", vip.vrid)),
                },
                _ => {
                    let all: Vec<String> = vip.addresses().map(|c| placed(pair, c.addr(), snaps)).collect();
                    (false, format!("vrid {}: {}", vip.vrid, all.join(", ")))
                }
            };
            out.push(check(
                vip.address.to_string(),
                "addresses together",
                ok,
                detail,
                (!ok).then(|| {
                    "the daemon adds and removes a VRID's addresses together: run `hapair apply` (the deployed config may list other addresses) and look for a duplicate address on the segment".into()
                }),
            ));
        }
        out.extend(
            agreement(pair, vip, snaps)
                .into_iter()
                .map(|(ok, detail, fix)| check(format!("vrid {}", vip.vrid), "daemons agree", ok, detail, fix)),
        );
    }
    out
}

/// Where `addr` is bound: "`10.0.0.201` on `web1`", "… on no node", "… on `web1` and `web2`".
fn placed(pair: &Pair, addr: std::net::Ipv4Addr, snaps: &[Snapshot; 2]) -> String {
    let on: Vec<String> =
        (0..2).filter(|i| snaps[*i].holds(addr)).map(|i| format!("`{}`", pair.nodes[i].name)).collect();
    if on.is_empty() {
        format!("`{addr}` on no node")
    } else {
        format!("`{addr}` on {}", on.join(" and "))
    }
}

/// Whether every address of `vip` is on node `holder` and not on the other node: `None` when
/// so, else which addresses are elsewhere. A VRID's addresses move together; `verify` and the
/// drill judge them with this one rule.
pub fn apart(pair: &Pair, vip: &Vip, snaps: &[Snapshot; 2], holder: usize) -> Option<String> {
    let wrong: Vec<String> = vip
        .addresses()
        .map(|c| c.addr())
        .filter(|a| !snaps[holder].holds(*a) || snaps[1 - holder].holds(*a))
        .map(|a| placed(pair, a, snaps))
        .collect();
    (!wrong.is_empty())
        .then(|| format!("{}, not with the others on `{}` only", wrong.join(", "), pair.nodes[holder].name))
}

fn state_of(snap: &Snapshot, vrid: u8) -> Option<String> {
    snap.instance(vrid).and_then(|i| i["state"].as_str()).map(String::from)
}

/// One MASTER and one BACKUP for the VRID, and the backup has heard an advert recently.
fn agreement(pair: &Pair, vip: &Vip, snaps: &[Snapshot; 2]) -> Option<(bool, String, Option<String>)> {
    let vrid = vip.vrid.get();
    if snaps.iter().any(|s| s.status.is_none()) {
        return None; // the daemon checks above already failed for that node
    }
    let states: Vec<String> = snaps.iter().map(|s| state_of(s, vrid).unwrap_or_else(|| "absent".into())).collect();
    let desc = format!("`{}` {}, `{}` {}", pair.nodes[0].name, states[0], pair.nodes[1].name, states[1]);
    let mut sorted = states.clone();
    sorted.sort();
    if sorted != ["backup", "master"] {
        return Some((
            false,
            format!("vrid {vrid}: {desc}; expected one master and one backup"),
            Some("see `hapair status` and the daemon logs (`journalctl -u hapair-vrrpd`)".into()),
        ));
    }
    let b = states.iter().position(|s| s == "backup").unwrap_or(0);
    let inst = snaps[b].instance(vrid).cloned().unwrap_or(Value::Null);
    let last = inst["last_advert_unix_ms"].as_u64();
    let interval_ms = pair.nodes[1 - b].vrrp.advert_interval.as_millis() as u64;
    let limit = 3 * interval_ms + STATUS_LAG_MS;
    let age = last.map(|l| snaps[b].now_unix_ms.saturating_sub(l));
    match age {
        Some(a) if a <= limit => Some((true, format!("vrid {vrid}: {desc}; last advert {a} ms ago"), None)),
        Some(a) => Some((
            false,
            format!("vrid {vrid}: {desc}, but the backup's last advert is {a} ms old"),
            Some("the backup stops hearing the master: check the VRRP firewall rule on both nodes".into()),
        )),
        None => Some((
            false,
            format!("vrid {vrid}: {desc}, but the backup never heard an advert"),
            Some("the backup does not hear the master: check the VRRP firewall rule on both nodes".into()),
        )),
    }
}

fn evidence(pair: &Pair, vip: &Vip, snaps: &[Snapshot; 2]) -> String {
    let vrid = vip.vrid.get();
    let parts: Vec<String> = (0..2)
        .filter_map(|i| {
            let inst = snaps[i].instance(vrid)?;
            Some(format!(
                "`{}` is {} with {} adverts received",
                pair.nodes[i].name,
                inst["state"].as_str().unwrap_or("?"),
                inst["adverts_received"].as_u64().unwrap_or(0)
            ))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

fn drops(snap: &Snapshot, vrid: u8, reason: &str) -> u64 {
    snap.instance(vrid).and_then(|i| i["drops"][reason].as_u64()).unwrap_or(0)
}

fn split_brain_cause(pair: &Pair, vip: &Vip, snaps: &[Snapshot; 2]) -> String {
    let vrid = vip.vrid.get();
    for (reason, what) in [
        ("auth", "the VRRP password differs"),
        ("interval", "the advert interval differs"),
        ("version", "the VRRP version differs"),
        ("checksum", "the checksum form differs"),
    ] {
        if let Some(i) = (0..2).find(|i| drops(&snaps[*i], vrid, reason) > 0) {
            return format!(
                "`{}` drops the peer's adverts because {what}: make both nodes' `vrrp` settings equal and apply",
                pair.nodes[i].name
            );
        }
    }
    let protocol = if pair.nodes[0].vrrp.uses_ah() {
        "VRRP in AH (IP protocol 51, `auth_type: ah`)"
    } else {
        "VRRP (IP protocol 112, not a UDP port)"
    };
    format!(
        "the nodes do not hear each other's VRRP adverts: check that firewalld accepts {protocol} from the peer on both `{}` and `{}` (`firewall-cmd --list-rich-rules`), that the segment forwards multicast to 224.0.0.18, and that both use vrid {}",
        pair.nodes[0].name, pair.nodes[1].name, vrid
    )
}

fn no_holder_cause(pair: &Pair, vip: &Vip, snaps: &[Snapshot; 2]) -> String {
    let down: Vec<&str> = (0..2).filter(|i| !snaps[*i].daemon_active).map(|i| pair.nodes[i].name.as_str()).collect();
    if !down.is_empty() {
        return format!("start hapair-vrrpd on `{}` (`hapair apply` does)", down.join("`, `"));
    }
    let fault: Vec<&str> = (0..2)
        .filter(|i| state_of(&snaps[*i], vip.vrid.get()).as_deref() == Some("fault"))
        .map(|i| pair.nodes[i].name.as_str())
        .collect();
    if !fault.is_empty() {
        return format!("`{}` is in FAULT (check weight 0 and a failing check): make nginx answer", fault.join("`, `"));
    }
    "the daemons run but none took the VIP: see `journalctl -u hapair-vrrpd` on both nodes".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::*;

    // The engine's test pair: web1 (10.77.1.11) preferred master of 10.77.1.200, web2 backup.
    fn pair() -> Pair {
        crate::render::tests::pair(Mode::MasterBackup)
    }

    fn snap(vip: bool, state: &str, last_advert_age: Option<u64>, auth_drops: u64) -> Snapshot {
        let mut addrs = vec![];
        if vip {
            addrs.push(std::net::Ipv4Addr::new(10, 77, 1, 200));
        }
        let last = last_advert_age.map(|a| serde_json::json!(100_000 - a)).unwrap_or(serde_json::Value::Null);
        Snapshot {
            addrs,
            vip_addrs: vec![],
            placed: vec![],
            addr_error: None,
            daemon_active: true,
            nginx_active: true,
            now_unix_ms: 100_000,
            status: Some(serde_json::json!({
                "version": "0.1.0",
                "check": {"ok": true},
                "instances": [{"vrid": 51, "state": state, "last_advert_unix_ms": last,
                               "adverts_received": 0, "drops": {"auth": auth_drops}}]
            })),
        }
    }

    fn failures(checks: &[Check]) -> Vec<String> {
        checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect()
    }

    /// A VIP with three addresses: all on the master passes; one left behind, one missing or
    /// one on both nodes fails, naming where each stray address is.
    #[test]
    fn every_address_of_a_vrid_is_on_its_holder_only() {
        let mut p = pair();
        p.vips[0].also = vec!["10.77.1.210/24".parse().unwrap(), "10.77.1.211/24".parse().unwrap()];
        let a = |last: u8| std::net::Ipv4Addr::new(10, 77, 1, last);
        let with = |mut s: Snapshot, extra: &[u8]| {
            s.addrs.extend(extra.iter().map(|l| a(*l)));
            s
        };
        let run = |m: &[u8], b: &[u8]| {
            failures(&analyse(
                &p,
                &[with(snap(true, "master", None, 0), m), with(snap(false, "backup", Some(900), 0), b)],
            ))
        };
        assert_eq!(run(&[210, 211], &[]), Vec::<String>::new());
        let ok = analyse(&p, &[with(snap(true, "master", None, 0), &[210, 211]), snap(false, "backup", Some(900), 0)]);
        assert!(ok.iter().any(|c| c.name == "addresses together" && c.detail.contains("all 3 addresses")), "{ok:?}");
        assert_eq!(
            run(&[210], &[211]),
            ["addresses together: vrid 51: `10.77.1.211` on `web2`, not with the others on `web1` only"]
        );
        assert_eq!(
            run(&[210, 211], &[211]),
            ["addresses together: vrid 51: `10.77.1.211` on `web1` and `web2`, not with the others on `web1` only"]
        );
        assert_eq!(
            run(&[], &[]),
            ["addresses together: vrid 51: `10.77.1.210` on no node, `10.77.1.211` on no node, not with the others on `web1` only"]
        );
    }

    #[test]
    fn a_healthy_pair_passes() {
        let checks = analyse(&pair(), &[snap(true, "master", None, 0), snap(false, "backup", Some(900), 0)]);
        assert_eq!(failures(&checks), Vec::<String>::new());
    }

    #[test]
    fn split_brain_names_the_firewall() {
        let checks = analyse(&pair(), &[snap(true, "master", None, 0), snap(true, "master", None, 0)]);
        let c = checks.iter().find(|c| c.name == "bound once").unwrap();
        assert!(!c.ok);
        assert_eq!(
            c.detail,
            "split-brain: `10.77.1.200` (vrid 51) is bound on both `web1` and `web2` (`web1` is master with 0 adverts received; `web2` is master with 0 adverts received)"
        );
        assert!(c.fix.as_deref().unwrap().contains("firewalld accepts VRRP (IP protocol 112, not a UDP port)"));
        assert!(failures(&checks).iter().any(|f| f.contains("expected one master and one backup")));
    }

    #[test]
    fn split_brain_from_an_auth_mismatch_says_so() {
        let checks = analyse(&pair(), &[snap(true, "master", None, 0), snap(true, "master", None, 7)]);
        let c = checks.iter().find(|c| c.name == "bound once").unwrap();
        assert_eq!(
            c.fix.as_deref(),
            Some("`web2` drops the peer's adverts because the VRRP password differs: make both nodes' `vrrp` settings equal and apply")
        );
    }

    #[test]
    fn no_holder_and_wrong_holder_fail() {
        let checks = analyse(&pair(), &[snap(false, "backup", Some(100), 0), snap(false, "backup", Some(100), 0)]);
        assert!(failures(&checks).iter().any(|f| f == "bound once: `10.77.1.200` (vrid 51) is bound on no node"));
        let checks = analyse(&pair(), &[snap(false, "backup", Some(100), 0), snap(true, "master", None, 0)]);
        assert!(failures(&checks).iter().any(|f| f == "bound once: `10.77.1.200` is bound on `web2`, expected `web1`"));
    }

    #[test]
    fn a_failing_check_on_the_master_makes_the_peer_expected() {
        let mut a = snap(false, "backup", Some(100), 0);
        a.status.as_mut().unwrap()["check"]["ok"] = serde_json::json!(false);
        let checks = analyse(&pair(), &[a, snap(true, "master", None, 0)]);
        let bound = checks.iter().find(|c| c.name == "bound once").unwrap();
        assert!(bound.ok, "{bound:?}");
        assert!(failures(&checks).iter().any(|f| f.starts_with("health check: the nginx check fails")));
    }

    /// Equal priorities: whoever holds the VIP keeps it (no preemption at an equal priority),
    /// so the peer holding it after a failover is what verify expects; with a higher priority
    /// the preferred master is expected back.
    #[test]
    fn at_equal_priorities_the_holder_is_expected_to_keep_the_vip() {
        let mut p = pair();
        let on_web2 = [snap(false, "backup", Some(100), 0), snap(true, "master", None, 0)];
        assert!(failures(&analyse(&p, &on_web2)).iter().any(|f| f.contains("expected `web1`")));
        p.vips[0].priorities[1] = p.vips[0].priorities[0];
        assert_eq!(expected_holder(&p, &p.vips[0], &on_web2), 1);
        let checks = analyse(&p, &on_web2);
        assert!(checks.iter().find(|c| c.name == "bound once").unwrap().ok, "{checks:?}");
        let on_web1 = [snap(true, "master", None, 0), snap(false, "backup", Some(100), 0)];
        assert_eq!(expected_holder(&p, &p.vips[0], &on_web1), 0);
    }

    #[test]
    fn a_deaf_backup_fails_agreement() {
        let checks = analyse(&pair(), &[snap(true, "master", None, 0), snap(false, "backup", Some(9_000), 0)]);
        assert!(failures(&checks).iter().any(|f| f.contains("the backup's last advert is 9000 ms old")));
    }
}
