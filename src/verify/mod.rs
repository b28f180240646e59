//! Post-deploy proof: each VIP bound on exactly one node (the expected one), the daemons agree,
//! the checks pass, HTTP answers through each VIP — and, with `--failover`, each VIP moves to
//! the peer within the protocol's bound when a node's daemon or nginx stops.

pub mod analysis;
pub mod bounds;
pub mod drill;
pub mod http;
pub mod report;
pub mod snapshot;
pub mod status;

use crate::error::Error;
use crate::inventory::{Inventory, Pair};
use crate::transport::{argv, Host, SshHost, SshOptions};
use analysis::Check;
use drill::{PairHosts, Row};
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A pair or node name.
    pub limit: Option<String>,
    pub failover: bool,
    pub accept_new_host_keys: bool,
    /// Pairs verified at the same time (`--forks`); 0 counts as 1.
    pub forks: usize,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    pub drill: Vec<Row>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok) && self.drill.iter().all(|r| r.ok)
    }
}

fn selected<'a>(inv: &'a Inventory, limit: Option<&str>) -> Result<Vec<&'a Pair>, Error> {
    let pairs: Vec<&Pair> =
        inv.pairs.iter().filter(|p| limit.is_none_or(|l| p.name == l || p.nodes.iter().any(|n| n.name == l))).collect();
    if pairs.is_empty() {
        if let Some(l) = limit {
            return Err(Error::new(format!("`--limit {l}` matches no pair or node in the inventory"))
                .with_fix("name a pair or a node of the inventory"));
        }
    }
    Ok(pairs)
}

pub async fn run(inv: &Inventory, opts: &Options, progress: &(dyn Fn(&str) + Sync)) -> Result<Report, Error> {
    let pairs = selected(inv, opts.limit.as_deref())?;
    let ssh = SshOptions { accept_new_host_keys: opts.accept_new_host_keys };
    run_pairs(&pairs, opts, &ssh, progress).await
}

async fn run_pairs(
    pairs: &[&Pair],
    opts: &Options,
    ssh: &SshOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Report, Error> {
    progress(&format!("connecting to {} nodes", pairs.len() * 2));
    use futures::StreamExt;
    let forks = opts.forks.max(1);
    let conns: Vec<_> = futures::stream::iter(pairs.iter().map(|p| async move {
        let (a, b) = tokio::join!(SshHost::connect(&p.nodes[0], ssh), SshHost::connect(&p.nodes[1], ssh));
        Ok::<_, Error>([a?, b?])
    }))
    .buffered(forks)
    .collect()
    .await;
    let mut hosts = Vec::new();
    for c in conns {
        hosts.push(c?);
    }
    let per_pair: Vec<_> = futures::stream::iter(pairs.iter().zip(&hosts).map(|(p, h)| async move {
        let ph = PairHosts { pair: p, hosts: [&h[0] as &dyn Host, &h[1] as &dyn Host] };
        verify_pair(&ph, opts, progress).await
    }))
    .buffered(forks)
    .collect()
    .await;
    for h in hosts {
        let [a, b] = h;
        a.close().await;
        b.close().await;
    }
    let mut report = Report::default();
    for r in per_pair {
        let (checks, rows) = r?;
        report.checks.extend(checks);
        report.drill.extend(rows);
    }
    Ok(report)
}

async fn verify_pair(
    p: &PairHosts<'_>,
    opts: &Options,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Vec<Check>, Vec<Row>), Error> {
    progress(&format!("{}: reading addresses, services and daemon status", p.pair.name));
    // Right after `apply` an election may still be running: give the pair the time the
    // protocol needs to converge before judging it.
    let limit = settle_time(p.pair);
    let started = std::time::Instant::now();
    let (snaps, mut checks) = loop {
        let snaps = drill::snapshots(p).await?;
        let checks = analysis::analyse(p.pair, &snaps);
        if checks.iter().all(|c| c.ok) || started.elapsed() >= limit {
            break (snaps, checks);
        }
        if started.elapsed() < Duration::from_millis(300) {
            progress(&format!(
                "{}: not converged yet; waiting up to {:.1} s for the election",
                p.pair.name,
                limit.as_secs_f64()
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for vip in &p.pair.vips {
        checks.push(http_check(p, vip, &snaps).await);
    }
    let mut rows = Vec::new();
    if opts.failover {
        if checks.iter().any(|c| !c.ok) {
            checks.push(Check {
                pair: p.pair.name.clone(),
                subject: "failover".into(),
                name: "drill",
                ok: false,
                detail: "not started: the pair is degraded (see above)".into(),
                fix: Some("fix what is reported above, then run `hapair verify --failover` again".into()),
            });
        } else {
            rows = drill::run(p, progress).await?;
            crate::monitoring::record_drill(p.hosts, rows.iter().all(|r| r.ok)).await;
        }
    }
    Ok((checks, rows))
}

/// How long an election may take: the slowest Master_Down_Interval plus preempt delay, plus
/// the status file's one-second refresh.
fn settle_time(pair: &Pair) -> Duration {
    pair.nodes
        .iter()
        .map(|n| {
            let low = pair.vips.iter().flat_map(|v| v.priorities).map(|p| p.get()).min().unwrap_or(100);
            bounds::master_down_interval(n.vrrp.version, low, n.vrrp.advert_interval) + n.vrrp.preempt_delay
        })
        .max()
        .unwrap_or_default()
        + Duration::from_secs(2)
}

/// HTTP through the VIP from this machine; when this machine cannot reach the VIP, from the node
/// that does not hold it (through the segment).
async fn http_check(p: &PairHosts<'_>, vip: &crate::inventory::Vip, snaps: &[snapshot::Snapshot; 2]) -> Check {
    let a = vip.address.addr();
    let holder = (0..2).find(|i| snaps[*i].holds(a));
    let port = p.pair.nodes[holder.unwrap_or(0)].nginx.listen;
    let mk = |ok: bool, detail: String, fix: Option<String>| Check {
        pair: p.pair.name.clone(),
        subject: vip.address.to_string(),
        name: "http",
        ok,
        detail,
        fix,
    };
    let answer = match tokio::task::spawn_blocking(move || http::get(a, port, Duration::from_secs(2))).await {
        Ok(Ok(ans)) => Some(("this machine", ans)),
        _ => {
            // From the other node, with curl (on every node hapair deploys nginx to).
            let from = 1 - holder.unwrap_or(0);
            let url = format!("http://{a}:{port}/");
            let args = argv(["curl", "-si", "-m", "2", &url]);
            match p.hosts[from].run(&args, None, None).await {
                Ok(out) if out.success() => http::parse(&String::from_utf8_lossy(&out.stdout))
                    .map(|ans| (p.pair.nodes[from].name.as_str(), ans)),
                _ => None,
            }
        }
    };
    match (answer, holder) {
        (Some((from, ans)), h) if ans.status < 500 => {
            let served = ans.served_by.clone().unwrap_or_else(|| "an unnamed node".into());
            let expect = h.map(|h| p.pair.nodes[h].name.clone());
            let ok = expect.as_ref().is_none_or(|e| ans.served_by.as_ref().is_none_or(|s| s == e));
            mk(
                ok,
                format!("http://{a}:{port}/ answers {} from {from}, served by {served}", ans.status),
                (!ok).then(|| {
                    "the VIP's holder is not the node that answered: check for a duplicate address on the segment"
                        .into()
                }),
            )
        }
        (Some((from, ans)), _) => mk(
            false,
            format!("http://{a}:{port}/ answers {} from {from}", ans.status),
            Some("check nginx's upstreams and error log on the VIP's holder".into()),
        ),
        (None, _) => mk(
            false,
            format!("http://{a}:{port}/ does not answer"),
            Some("check that firewalld allows the nginx port and that nginx listens on it".into()),
        ),
    }
}
