//! `hapair switchover`: move VIPs between the nodes of a pair for maintenance, without a failed
//! request. The node that should receive a VIP is told to `claim` it (take part in preemption
//! again after an earlier switchover), then its holder to `handover`: it resigns (priority 0),
//! keeps the VIP until the peer's first advert as master is heard, then releases it
//! (make-before-break) and stays backup (no preemption) until switched back or restarted.
//! Both requests go to the daemons' control sockets (`hapair vrrpd ctl`) over SSH.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::inventory::{Inventory, Pair, Vip};
use crate::transport::{argv, check, Host, SshHost, SshOptions};
use crate::verify::analysis::analyse;
use crate::verify::bounds;
use crate::verify::drill::{snapshots, PairHosts};

/// Where `apply` installs the binary on the nodes (the unit's ExecStart).
const NODE_BINARY: &str = "/usr/local/sbin/hapair";

#[derive(Debug, Clone)]
pub struct Options {
    pub pair: String,
    pub vip: Option<Ipv4Addr>,
    pub to: Option<String>,
    pub accept_new_host_keys: bool,
}

/// One VIP's move.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Move {
    pub vip: String,
    pub from: String,
    pub to: String,
    /// "moved", or "already there".
    pub outcome: String,
    /// From the hand-over request to the VIP seen on the target only (this machine's clock,
    /// SSH round trips included).
    pub elapsed_ms: Option<u64>,
}

/// The VIPs to move, and where: checked against the inventory before any connection.
pub fn select<'a>(inv: &'a Inventory, o: &Options) -> Result<(&'a Pair, Vec<&'a Vip>, Option<usize>), Error> {
    let pair = inv.pairs.iter().find(|p| p.name == o.pair).ok_or_else(|| {
        let names: Vec<&str> = inv.pairs.iter().map(|p| p.name.as_str()).collect();
        Error::new(format!("no pair `{}` in the inventory", o.pair))
            .with_fix(format!("name one of the inventory's pairs: {}", names.join(", ")))
    })?;
    let to = match &o.to {
        None => None,
        Some(n) => Some(pair.index_of(n).ok_or_else(|| {
            Error::new(format!("`--to {n}`: no node `{n}` in pair `{}`", pair.name))
                .with_fix(format!("name `{}` or `{}`", pair.nodes[0].name, pair.nodes[1].name))
        })?),
    };
    let vips: Vec<&Vip> =
        pair.vips.iter().filter(|v| o.vip.is_none_or(|a| v.addresses().any(|c| c.addr() == a))).collect();
    if vips.is_empty() {
        let all: Vec<String> = pair.vips.iter().map(|v| v.address.addr().to_string()).collect();
        return Err(Error::new(format!(
            "`--vip {}`: pair `{}` has no such VIP",
            o.vip.map(|a| a.to_string()).unwrap_or_default(),
            pair.name
        ))
        .with_fix(format!("name one of its VIPs: {}", all.join(", "))));
    }
    Ok((pair, vips, to))
}

pub async fn run(inv: &Inventory, o: &Options, progress: &(dyn Fn(&str) + Sync)) -> Result<Vec<Move>, Error> {
    let (pair, vips, to) = select(inv, o)?;
    // Each connection makes (and removes) its own private control directory.
    let ssh = SshOptions { accept_new_host_keys: o.accept_new_host_keys };
    async {
        progress(&format!("connecting to `{}` and `{}`", pair.nodes[0].name, pair.nodes[1].name));
        let (a, b) = tokio::join!(SshHost::connect(&pair.nodes[0], &ssh), SshHost::connect(&pair.nodes[1], &ssh));
        let (a, b) = (a?, b?);
        let r = {
            let p = PairHosts { pair, hosts: [&a as &dyn Host, &b as &dyn Host] };
            moves(&p, &vips, to, progress).await
        };
        Box::new(a).close().await;
        Box::new(b).close().await;
        r
    }
    .await
}

async fn ctl(h: &dyn Host, request: &str, vrid: u8) -> Result<(), Error> {
    let args = argv([NODE_BINARY, "vrrpd", "ctl", request, &vrid.to_string()]);
    check(h, &format!("hapair vrrpd ctl {request} {vrid}"), &args, None).await.map(|_| ())
}

async fn moves(
    p: &PairHosts<'_>,
    vips: &[&Vip],
    to: Option<usize>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<Move>, Error> {
    let pair = p.pair;
    let snaps = snapshots(p).await?;
    // Refuse to move anything onto a node that could not serve it.
    let bad: Vec<String> = analyse(pair, &snaps).into_iter().filter(|c| !c.ok).map(|c| c.detail).collect();
    if !bad.is_empty() {
        return Err(Error::new(format!(
            "pair `{}` is degraded, a switchover could move a VIP onto a node that cannot serve it: {}",
            pair.name,
            bad.join("; ")
        ))
        .with_fix("run `hapair verify`, fix what it reports, then switch over"));
    }
    let mut out = Vec::new();
    for vip in vips {
        let a = vip.address.addr();
        let holder = (0..2).find(|i| snaps[*i].holds(a)).ok_or_else(|| {
            Error::new(format!("`{a}` is bound on neither node")).with_fix("see `hapair verify` and `hapair status`")
        })?;
        let target = to.unwrap_or(1 - holder);
        let (from, dest) = (&pair.nodes[holder], &pair.nodes[target]);
        if target == holder {
            out.push(Move {
                vip: a.to_string(),
                from: from.name.clone(),
                to: dest.name.clone(),
                outcome: "already there".into(),
                elapsed_ms: None,
            });
            continue;
        }
        progress(&format!("moving {a} from `{}` to `{}`", from.name, dest.name));
        let vrid = vip.vrid.get();
        ctl(p.hosts[target], "claim", vrid).await?;
        let start = Instant::now();
        ctl(p.hosts[holder], "handover", vrid).await?;
        // A hapair peer takes over at once; give an RFC-timed one its Master_Down_Interval.
        let v = &dest.vrrp;
        let limit = bounds::master_down_interval(v.version, vip.priorities[target].get(), v.advert_interval)
            + Duration::from_secs(3);
        let elapsed = loop {
            let s = snapshots(p).await?;
            if s[target].holds(a) && !s[holder].holds(a) {
                break start.elapsed();
            }
            if start.elapsed() > limit {
                return Err(Error::new(format!(
                    "`{a}` did not move from `{}` to `{}` within {:.1} s; `{}` kept it",
                    from.name,
                    dest.name,
                    limit.as_secs_f64(),
                    from.name
                ))
                .with_fix(format!("see `journalctl -u hapair-vrrpd` on `{}`", dest.name)));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        out.push(Move {
            vip: a.to_string(),
            from: from.name.clone(),
            to: dest.name.clone(),
            outcome: "moved".into(),
            elapsed_ms: Some(elapsed.as_millis() as u64),
        });
    }
    Ok(out)
}

pub fn text(moves: &[Move]) -> String {
    let mut s = String::new();
    for m in moves {
        match m.elapsed_ms {
            Some(ms) => s.push_str(&format!(
                "{}: moved from {} to {} (seen on {} only after {ms} ms, SSH included)\n",
                m.vip, m.from, m.to, m.to
            )),
            None => s.push_str(&format!("{}: already on {}\n", m.vip, m.to)),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inventory {
        let pair = crate::render::tests::pair(crate::inventory::Mode::DualMaster);
        Inventory { source: "inventory.yml".into(), pairs: vec![pair] }
    }

    fn opts(pair: &str, vip: Option<&str>, to: Option<&str>) -> Options {
        Options {
            pair: pair.into(),
            vip: vip.map(|v| v.parse().unwrap()),
            to: to.map(str::to_string),
            accept_new_host_keys: false,
        }
    }

    #[test]
    fn selection_is_checked_before_any_connection() {
        let inv = inv();
        let pair = &inv.pairs[0];
        let (p, vips, to) = select(&inv, &opts(&pair.name, None, Some(&pair.nodes[1].name))).unwrap();
        assert_eq!((p.name.as_str(), vips.len(), to), (pair.name.as_str(), 2, Some(1)));
        let e = select(&inv, &opts("nope", None, None)).unwrap_err();
        assert!(e.to_string().starts_with("no pair `nope` in the inventory"), "{e}");
        let e = select(&inv, &opts(&pair.name, Some("192.0.2.1"), None)).unwrap_err();
        assert!(e.to_string().contains("has no such VIP"), "{e}");
        let e = select(&inv, &opts(&pair.name, None, Some("ghost"))).unwrap_err();
        assert!(e.to_string().contains("no node `ghost`"), "{e}");
    }
}
