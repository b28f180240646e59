//! The failover drill: for each node in turn, stop its daemon, then its nginx, and time how
//! long each VIP it held takes to appear on the peer and leave it. Everything is restored
//! afterwards, also on error and on Ctrl-C.
//!
//! Timing is taken on the nodes themselves (`date +%s%3N` just before the action on the node,
//! and when a polling loop on the peer first sees the VIP), so SSH latency does not count; on
//! real clusters the nodes' clocks must agree (NTP) for the figures to be exact.

use super::analysis::analyse;
use super::bounds;
use super::http;
use super::snapshot::{self, Snapshot};
use crate::error::Error;
use crate::inventory::{CheckKind, Pair};
use crate::transport::{argv, check, Host};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Poll until the VIP is present/absent on the interface; print the time in ms, or `timeout`.
/// Args: IFACE VIP WANT(present|absent) TIMEOUT_S
const WATCH: &str = r#"
i=$1 v=$2 w=$3 t=$4
end=$(( $(date +%s) + t ))
while :; do
  if ip -4 -o addr show dev "$i" | grep -q -F " $v/"; then h=present; else h=absent; fi
  if [ "$h" = "$w" ]; then date +%s%3N; exit 0; fi
  if [ "$(date +%s)" -ge "$end" ]; then echo timeout; exit 3; fi
done
"#;

/// Print the time in ms, then run systemctl ACTION UNIT. Args: ACTION UNIT
const ACT: &str = r#"
date +%s%3N
exec systemctl "$1" "$2"
"#;

const DAEMON: &str = "hapair-vrrpd";
const NGINX: &str = "nginx";

/// One row of the drill table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub pair: String,
    pub scenario: String,
    pub node: String,
    pub vip: String,
    /// What should happen, e.g. "moves to node2".
    pub expect: String,
    pub bound_ms: u64,
    pub measured_ms: Option<u64>,
    /// How long the VIP took to leave the node, when measured.
    pub released_ms: Option<u64>,
    /// Longest time between two answered requests through the VIP, seen from this machine's
    /// client load (~200 requests/s, 200 ms timeout each).
    pub http_gap_ms: Option<u64>,
    /// Requests the client load sent through the VIP during the step, and how many failed
    /// (timeout, refused, reset or 5xx).
    pub requests: Option<u64>,
    pub failed_requests: Option<u64>,
    pub ok: bool,
    pub detail: String,
}

pub struct PairHosts<'a> {
    pub pair: &'a Pair,
    pub hosts: [&'a dyn Host; 2],
}

/// Set by the Ctrl-C handler: stop after restoring.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub async fn snapshots(p: &PairHosts<'_>) -> Result<[Snapshot; 2], Error> {
    let (a, b) = tokio::join!(snap(p, 0), snap(p, 1));
    Ok([a?, b?])
}

async fn snap(p: &PairHosts<'_>, i: usize) -> Result<Snapshot, Error> {
    snapshot::take(p.hosts[i], p.pair, &p.pair.nodes[i], "verify snapshot").await
}

/// Run the drill on one pair. Refuses when the pair is not healthy to begin with.
pub async fn run(p: &PairHosts<'_>, progress: &(dyn Fn(&str) + Sync)) -> Result<Vec<Row>, Error> {
    let snaps = snapshots(p).await?;
    let bad: Vec<String> = analyse(p.pair, &snaps).into_iter().filter(|c| !c.ok).map(|c| c.detail).collect();
    if !bad.is_empty() {
        return Err(Error::new(format!(
            "pair `{}` is already degraded, so the failover drill would prove nothing: {}",
            p.pair.name,
            bad.join("; ")
        ))
        .with_fix("run `hapair verify` without `--failover`, fix what it reports, then drill"));
    }
    let mut rows = Vec::new();
    for n in 0..2 {
        for scenario in [Scenario::DaemonStop, Scenario::NginxStop] {
            if INTERRUPTED.load(Ordering::SeqCst) {
                return Err(Error::new("interrupted; the nodes were restored").with_exit_code(130));
            }
            if scenario == Scenario::NginxStop && p.pair.nodes[n].check.kind == CheckKind::None {
                continue;
            }
            progress(&format!("{}: {} on `{}`", p.pair.name, scenario.label(), p.pair.nodes[n].name));
            let result = scenario_rows(p, n, scenario).await;
            // Restore whatever happened, then wait for the pair to settle.
            let restore = restore(p.hosts[n]).await;
            match result {
                Ok(mut r) => rows.append(&mut r),
                Err(e) => {
                    restore?;
                    return Err(e);
                }
            }
            restore?;
            settle(p, Duration::from_secs(20)).await?;
        }
    }
    Ok(rows)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    DaemonStop,
    NginxStop,
}

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::DaemonStop => "stop hapair-vrrpd",
            Scenario::NginxStop => "stop nginx",
        }
    }
    fn unit(self) -> &'static str {
        match self {
            Scenario::DaemonStop => DAEMON,
            Scenario::NginxStop => NGINX,
        }
    }
}

async fn restore(h: &dyn Host) -> Result<(), Error> {
    check(h, "restore", &argv(["systemctl", "start", NGINX, DAEMON]), None).await.map(|_| ())
}

/// Wait until every VIP is bound once on its expected node and the daemons agree.
pub async fn settle(p: &PairHosts<'_>, limit: Duration) -> Result<(), Error> {
    let start = Instant::now();
    loop {
        let snaps = snapshots(p).await?;
        let bad: Vec<String> = analyse(p.pair, &snaps).into_iter().filter(|c| !c.ok).map(|c| c.detail).collect();
        if bad.is_empty() {
            return Ok(());
        }
        if start.elapsed() > limit {
            return Err(Error::new(format!(
                "pair `{}` did not settle within {} s after the drill restored it: {}",
                p.pair.name,
                limit.as_secs(),
                bad.join("; ")
            ))
            .with_fix("see `hapair status` and `journalctl -u hapair-vrrpd` on both nodes"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn watch(h: &dyn Host, iface: &str, vip: Ipv4Addr, want: &str, timeout: Duration) -> Result<Option<u64>, Error> {
    let secs = timeout.as_secs().max(1).to_string();
    let args = argv(["sh", "-c", WATCH, "hapair-watch", iface, &vip.to_string(), want, &secs]);
    let out = h.run(&args, None, None).await?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse().ok())
}

async fn act(h: &dyn Host, action: &str, unit: &str) -> Result<u64, Error> {
    let args = argv(["sh", "-c", ACT, "hapair-act", action, unit]);
    let out = check(h, &format!("systemctl {action} {unit}"), &args, None).await?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| Error::new(format!("`{}`: no timestamp from `systemctl {action} {unit}`", h.name())))
}

/// What a client saw through one VIP during a drill step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientView {
    pub requests: u64,
    pub failed: u64,
    /// Longest time between two answered requests (completion times), ms.
    pub longest_gap_ms: u64,
    /// The last request was answered (HTTP came back).
    pub recovered: bool,
}

/// Workers of the client load; each paces itself to one request per [`PACE`].
const WORKERS: usize = 4;
const PACE: Duration = Duration::from_millis(20);
/// A client's patience per request (what the issue's table was measured with).
pub const CLIENT_TIMEOUT: Duration = Duration::from_millis(200);

/// Summarise completion events `(when, answered)` (any order). Pure.
pub fn client_view(mut events: Vec<(Instant, bool)>) -> ClientView {
    events.sort_by_key(|e| e.0);
    let mut longest = Duration::ZERO;
    let mut last_ok: Option<Instant> = None;
    for (t, ok) in &events {
        if *ok {
            if let Some(l) = last_ok {
                longest = longest.max(*t - l);
            }
            last_ok = Some(*t);
        }
    }
    ClientView {
        requests: events.len() as u64,
        failed: events.iter().filter(|e| !e.1).count() as u64,
        longest_gap_ms: longest.as_millis() as u64,
        recovered: events.last().is_some_and(|e| e.1),
    }
}

/// A client load through a VIP (~200 requests/s, each with a 200 ms timeout), until told to
/// stop and answered again (at most 5 s more; 120 s hard cap).
fn client_load(vip: Ipv4Addr, port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<ClientView> {
    std::thread::spawn(move || {
        let events = Arc::new(std::sync::Mutex::new(Vec::new()));
        let started = Instant::now();
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (events, stop) = (events.clone(), stop.clone());
                std::thread::spawn(move || {
                    // Spread the workers over one pace period.
                    std::thread::sleep(PACE * w as u32 / WORKERS as u32);
                    let mut stopped_at: Option<Instant> = None;
                    let mut last_ok = true;
                    while started.elapsed() < Duration::from_secs(120) {
                        if stop.load(Ordering::SeqCst) {
                            let at = *stopped_at.get_or_insert_with(Instant::now);
                            if last_ok || at.elapsed() > Duration::from_secs(5) {
                                break;
                            }
                        }
                        let t = Instant::now();
                        let ok = http::get(vip, port, CLIENT_TIMEOUT).is_ok_and(|a| a.status < 500);
                        last_ok = ok;
                        if let Ok(mut e) = events.lock() {
                            e.push((Instant::now(), ok));
                        }
                        if let Some(rest) = PACE.checked_sub(t.elapsed()) {
                            std::thread::sleep(rest);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        let events = std::mem::take(&mut *events.lock().unwrap_or_else(|p| p.into_inner()));
        client_view(events)
    })
}

/// Whether this machine reaches HTTP through the VIP (tried for up to 2 s: a client's ARP
/// cache may still point at the previous holder).
fn reaches(vip: Ipv4Addr, port: u16) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if http::get(vip, port, Duration::from_millis(300)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

async fn scenario_rows(p: &PairHosts<'_>, n: usize, scenario: Scenario) -> Result<Vec<Row>, Error> {
    let pair = p.pair;
    let other = 1 - n;
    let (node, peer) = (&pair.nodes[n], &pair.nodes[other]);
    let snaps = snapshots(p).await?;
    // The VIPs this node holds now: the ones that must move.
    let held: Vec<_> = pair.vips.iter().filter(|v| snaps[n].holds(v.address.addr())).collect();
    let mut rows = Vec::new();
    if held.is_empty() {
        rows.push(Row {
            pair: pair.name.clone(),
            scenario: scenario.label().into(),
            node: node.name.clone(),
            vip: "-".into(),
            expect: "nothing to move".into(),
            bound_ms: 0,
            measured_ms: None,
            released_ms: None,
            http_gap_ms: None,
            requests: None,
            failed_requests: None,
            ok: true,
            detail: format!("`{}` holds no VIP", node.name),
        });
        return Ok(rows);
    }
    // Both nodes run hapair (an inventory's pairs always do): the pair's fast paths apply.
    let bound_of = |_: &&crate::inventory::Vip| match scenario {
        Scenario::DaemonStop => bounds::hapair_handover(),
        Scenario::NginxStop => bounds::nginx_event(),
    };
    let max_bound = held.iter().map(&bound_of).max().unwrap_or_default();
    let timeout = max_bound + Duration::from_secs(5);
    let port = node.nginx.listen;
    let addrs: Vec<Ipv4Addr> = held.iter().map(|v| v.address.addr()).collect();
    let reachable = tokio::task::spawn_blocking(move || addrs.iter().map(|a| reaches(*a, port)).collect::<Vec<_>>())
        .await
        .unwrap_or_default();
    let stop = Arc::new(AtomicBool::new(false));
    let probes: Vec<_> = held
        .iter()
        .zip(&reachable)
        .map(|(vip, r)| r.then(|| client_load(vip.address.addr(), node.nginx.listen, stop.clone())))
        .collect();

    // Watchers first (each on its own channel of the multiplexed connection), then the action.
    let watchers = futures::future::join_all(held.iter().map(|vip| async {
        let a = vip.address.addr();
        tokio::join!(
            watch(p.hosts[other], vip.first_interface_on(peer), a, "present", timeout),
            watch(p.hosts[n], vip.first_interface_on(node), a, "absent", timeout)
        )
    }));
    let action = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        act(p.hosts[n], "stop", scenario.unit()).await
    };
    let (results, acted) = tokio::join!(watchers, action);
    stop.store(true, Ordering::SeqCst);
    let views: Vec<Option<ClientView>> =
        tokio::task::spawn_blocking(move || probes.into_iter().map(|h| h.and_then(|h| h.join().ok())).collect())
            .await
            .unwrap_or_default();
    let t0 = acted?;

    for (i, (vip, (present, absent))) in held.iter().zip(results).enumerate() {
        let bound = bound_of(vip);
        let measured = present?.map(|t| t.saturating_sub(t0));
        let released = absent?.map(|t| t.saturating_sub(t0));
        let reached = reachable.get(i).copied().unwrap_or(false);
        let view = if reached { views.get(i).copied().flatten() } else { None };
        let recovered = view.is_some_and(|v| v.recovered);
        let gap = view.filter(|v| v.recovered).map(|v| v.longest_gap_ms);
        // The client's view is judged too: a graceful stop must fail no request; a failure
        // found by the check must not keep clients waiting longer than the bound plus one
        // client timeout.
        let client_ok = match (scenario, view) {
            (_, None) => !reached,
            (_, Some(v)) if !v.recovered => false,
            (Scenario::DaemonStop, Some(v)) => v.failed == 0,
            (Scenario::NginxStop, Some(v)) => v.longest_gap_ms <= (bound + CLIENT_TIMEOUT).as_millis() as u64,
        };
        let ok = measured.is_some_and(|m| m <= bound.as_millis() as u64) && released.is_some() && client_ok;
        let detail = match (measured, released) {
            (None, _) => {
                format!("`{}` never appeared on `{}` within {} s", vip.address.addr(), peer.name, timeout.as_secs())
            }
            (_, None) => format!("`{}` stayed on `{}`: duplicate address", vip.address.addr(), node.name),
            _ if reached && !recovered => "HTTP through the VIP did not answer again".into(),
            (Some(m), _) if m > bound.as_millis() as u64 => {
                format!("slower than the bound by {} ms", m - bound.as_millis() as u64)
            }
            _ if !client_ok => match view {
                Some(v) if scenario == Scenario::DaemonStop => {
                    format!("{} of {} requests through the VIP failed", v.failed, v.requests)
                }
                Some(v) => format!("clients waited {} ms for an answer", v.longest_gap_ms),
                None => String::new(),
            },
            _ => String::new(),
        };
        rows.push(Row {
            pair: pair.name.clone(),
            scenario: scenario.label().into(),
            node: node.name.clone(),
            vip: vip.address.addr().to_string(),
            expect: format!("moves to {}", peer.name),
            bound_ms: bound.as_millis() as u64,
            measured_ms: measured,
            released_ms: released,
            http_gap_ms: gap,
            requests: view.map(|v| v.requests),
            failed_requests: view.map(|v| v.failed),
            ok,
            detail,
        });
    }

    // A VRID's other addresses moved with its first (one row per VIP, in `held`'s order).
    mark_apart(p, &held, other, &mut rows).await?;

    // Bring the stopped service back and see the VIPs return (preempt, a higher priority) or stay
    // (nopreempt, or equal priorities).
    let t1 = act(p.hosts[n], "start", scenario.unit()).await?;
    for vip in &held {
        let a = vip.address.addr();
        let preempt = pair.takes_back(vip, n);
        let prio = vip.priorities[n].get();
        let nv = &node.vrrp;
        // A returning node starts as Backup and takes over when its Master_Down_Timer fires;
        // the daemon needs up to a second to start, the check `rise` probes to pass.
        let mut back = bounds::master_down_interval(nv.version, prio, nv.advert_interval)
            + nv.preempt_delay
            + Duration::from_secs(1);
        if scenario == Scenario::NginxStop {
            back += node.check.interval * node.check.rise;
        }
        let (expect, measured, ok, detail) = if preempt {
            let t =
                watch(p.hosts[n], vip.first_interface_on(node), a, "present", back + Duration::from_secs(5)).await?;
            let m = t.map(|t| t.saturating_sub(t1));
            let ok = m.is_some_and(|m| m <= back.as_millis() as u64);
            let d = if m.is_none() { format!("`{a}` did not return to `{}`", node.name) } else { String::new() };
            (format!("returns to {}", node.name), m, ok, d)
        } else {
            tokio::time::sleep(back).await;
            let s = snapshots(p).await?;
            let stays = s[other].holds(a) && !s[n].holds(a);
            let d = if stays {
                String::new()
            } else {
                format!(
                    "`{a}` moved although `{}` does not take it back ({})",
                    node.name,
                    if node.vrrp.preempt && peer.vrrp.preempt { "equal priorities" } else { "preemption is off" }
                )
            };
            (format!("stays on {}", peer.name), None, stays, d)
        };
        rows.push(Row {
            pair: pair.name.clone(),
            scenario: format!("start {}", scenario.unit()),
            node: node.name.clone(),
            vip: a.to_string(),
            expect,
            bound_ms: back.as_millis() as u64,
            measured_ms: measured,
            released_ms: None,
            http_gap_ms: None,
            requests: None,
            failed_requests: None,
            ok,
            detail,
        });
    }
    let preempt = held.iter().all(|v| pair.takes_back(v, n));
    let mut back_rows = rows.split_off(rows.len() - held.len());
    mark_apart(p, &held, if preempt { n } else { other }, &mut back_rows).await?;
    rows.append(&mut back_rows);
    Ok(rows)
}

/// For VIPs with several addresses (`Vip::also`): waits up to 2 s for all of them to be on
/// `holder` only (`analysis::apart`) and fails the VIP's row (`rows[i]` for `vips[i]`) for
/// those still elsewhere.
async fn mark_apart(
    p: &PairHosts<'_>,
    vips: &[&crate::inventory::Vip],
    holder: usize,
    rows: &mut [Row],
) -> Result<(), Error> {
    if vips.iter().all(|v| v.also.is_empty()) {
        return Ok(());
    }
    let start = Instant::now();
    let apart = loop {
        let s = snapshots(p).await?;
        let apart: Vec<Option<String>> = vips.iter().map(|v| super::analysis::apart(p.pair, v, &s, holder)).collect();
        if apart.iter().all(Option::is_none) || start.elapsed() > Duration::from_secs(2) {
            break apart;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for (row, d) in rows.iter_mut().zip(apart) {
        if let Some(d) = d {
            row.ok = false;
            // First, so the row never reads as a timing-only failure.
            row.detail = if row.detail.is_empty() { d } else { format!("{d}; {}", row.detail) };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_view_counts_failures_and_the_longest_wait() {
        let t0 = Instant::now();
        let at = |ms: u64, ok: bool| (t0 + Duration::from_millis(ms), ok);
        // Out of order, as four workers push them.
        let v =
            client_view(vec![at(10, true), at(0, true), at(230, false), at(250, true), at(20, true), at(260, true)]);
        assert_eq!(v, ClientView { requests: 6, failed: 1, longest_gap_ms: 230, recovered: true });
        let v = client_view(vec![at(0, true), at(5, false)]);
        assert!(!v.recovered);
        assert_eq!(client_view(vec![]), ClientView { requests: 0, failed: 0, longest_gap_ms: 0, recovered: false });
    }
}
