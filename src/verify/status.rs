//! `hapair status`: per pair and node, each VIP's VRRP state, priority and why, the check, the
//! last advert, the deployed hapair version, and config drift (what `plan` would change).

use super::snapshot;
use crate::error::Error;
use crate::inventory::Inventory;
use crate::survey::{self, Options};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub pair: String,
    pub node: String,
    /// The VIP's (first) address, which names it.
    pub vip: String,
    /// Every address on the VRID, the first first.
    pub addresses: Vec<String>,
    pub vrid: u8,
    /// Every address of the VRID is bound on this node.
    pub bound: bool,
    pub state: String,
    pub priority: Option<u64>,
    pub base_priority: Option<u64>,
    pub priority_reason: String,
    pub check_ok: Option<bool>,
    pub last_advert_ms_ago: Option<u64>,
    pub version: String,
    /// Number of changes `plan` would make on the node (0 = in sync).
    pub drift: usize,
}

pub async fn gather(inv: &Inventory, opts: &Options, builds: &crate::binary::Builds) -> Result<Vec<Row>, Error> {
    let survey = survey::survey(inv, opts, builds, &|_, _| {}).await?;
    let snaps = futures::future::join_all(survey.targets.iter().map(|t| async move {
        let pair = &inv.pairs[t.pair];
        snapshot::take(t.host.as_ref(), pair, &pair.nodes[t.node], "status snapshot").await
    }))
    .await;
    let mut rows = Vec::new();
    for (t, snap) in survey.targets.iter().zip(snaps) {
        let snap = snap?;
        let pair = &inv.pairs[t.pair];
        let node = &pair.nodes[t.node];
        for vip in &pair.vips {
            let inst = snap.instance(vip.vrid.get());
            let state = if !snap.daemon_active {
                "stopped".to_string()
            } else {
                inst.and_then(|i| i["state"].as_str()).unwrap_or("unknown").to_string()
            };
            rows.push(Row {
                pair: pair.name.clone(),
                node: node.name.clone(),
                vip: vip.address.to_string(),
                addresses: vip.addresses().map(|a| a.to_string()).collect(),
                vrid: vip.vrid.get(),
                bound: vip.addresses().all(|a| snap.holds(a.addr())),
                state,
                priority: inst.and_then(|i| i["effective_priority"].as_u64()),
                base_priority: inst.and_then(|i| i["base_priority"].as_u64()),
                priority_reason: inst.and_then(|i| i["priority_reason"].as_str()).unwrap_or("").to_string(),
                check_ok: snap.check_ok(),
                last_advert_ms_ago: inst
                    .and_then(|i| i["last_advert_unix_ms"].as_u64())
                    .map(|l| snap.now_unix_ms.saturating_sub(l)),
                version: snap.version().unwrap_or("-").to_string(),
                drift: t.plan.changes.len(),
            });
        }
    }
    survey.close().await;
    Ok(rows)
}

pub fn text(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<8}  {:<6}  {:<16}  {:>4}  {:<8}  {:<5}  {:<12}  {:<6}  {:>11}  {:<8}  {}\n",
        "PAIR", "NODE", "VIP", "VRID", "STATE", "BOUND", "PRIORITY", "CHECK", "LAST ADVERT", "VERSION", "DRIFT"
    );
    for r in rows {
        let prio = match (r.priority, r.base_priority) {
            (Some(p), Some(b)) if p != b => format!("{p} (of {b})"),
            (Some(p), _) => p.to_string(),
            _ => "-".into(),
        };
        let check = match r.check_ok {
            Some(true) => "ok",
            Some(false) => "FAIL",
            None => "-",
        };
        let advert = r.last_advert_ms_ago.map_or("-".to_string(), |a| format!("{a} ms ago"));
        // A VRID with several addresses shows its first and how many more.
        let vip = match r.addresses.len() {
            0 | 1 => r.vip.clone(),
            n => format!("{} +{}", r.vip, n - 1),
        };
        let drift = if r.drift == 0 { "in sync".to_string() } else { format!("{} changes pending", r.drift) };
        s.push_str(&format!(
            "{:<8}  {:<6}  {:<16}  {:>4}  {:<8}  {:<5}  {:<12}  {:<6}  {:>11}  {:<8}  {}\n",
            r.pair,
            r.node,
            vip,
            r.vrid,
            r.state,
            if r.bound { "yes" } else { "no" },
            prio,
            check,
            advert,
            r.version,
            drift
        ));
    }
    s
}
