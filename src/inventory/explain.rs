//! `check --explain NODE`: every effective setting of a node and the layer it came from.

use super::load::Loaded;

pub fn text(loaded: &Loaded, node: &str) -> Option<String> {
    let rows = loaded.provenance.get(node)?;
    let pair = loaded.inventory.pairs.iter().find(|p| p.nodes.iter().any(|n| n.name == node))?;
    let n = pair.node(node)?;
    let mut s = format!(
        "node `{node}` of pair `{}` ({}), address {}, interface {}\n",
        pair.name,
        pair.mode.as_str(),
        n.address,
        n.interface
    );
    for vip in &pair.vips {
        let i = pair.index_of(node).unwrap_or(0);
        s.push_str(&format!(
            "  vip {:<18} vrid {:<3} priority {:<3} ({}{}{})\n",
            vip.addresses_text(),
            vip.vrid,
            vip.priorities[i],
            if vip.master == node { "preferred master" } else { "backup" },
            if vip.outside_subnet { ", outside the nodes' subnet" } else { "" },
            elsewhere_text(vip, n)
        ));
    }
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(10);
    let v = rows.iter().map(|r| r.1.len()).max().unwrap_or(10).min(40);
    for (key, shown, layer, loc) in rows {
        let place = if loc.line > 0 {
            format!(" ({}:{})", loc.file.display(), loc.line)
        } else if layer.as_str() == "command line" {
            format!(" ({})", loc.file.display())
        } else {
            String::new()
        };
        s.push_str(&format!("  {key:<w$}  {shown:<v$}  {}{place}\n", layer.as_str()));
    }
    Some(s)
}

/// `text` as one JSON value: the node, its VIPs, and every setting with its layer and place.
pub fn json(loaded: &Loaded, node: &str) -> Option<serde_json::Value> {
    let rows = loaded.provenance.get(node)?;
    let pair = loaded.inventory.pairs.iter().find(|p| p.nodes.iter().any(|n| n.name == node))?;
    let n = pair.node(node)?;
    let i = pair.index_of(node).unwrap_or(0);
    let vips: Vec<serde_json::Value> = pair
        .vips
        .iter()
        .map(|vip| {
            serde_json::json!({
                "address": vip.address.to_string(),
                "addresses": vip.addresses().map(|a| a.to_string()).collect::<Vec<_>>(),
                "vrid": vip.vrid.get(),
                "priority": vip.priorities[i].get(),
                "role": if vip.master == node { "preferred master" } else { "backup" },
                "outside_subnet": vip.outside_subnet,
                "interface": vip.interface_on(n),
                "interfaces": vip.placed_on(n).map(|(_, on)| on).collect::<Vec<_>>(),
            })
        })
        .collect();
    let settings: Vec<serde_json::Value> = rows
        .iter()
        .map(|(key, shown, layer, loc)| {
            let place = if loc.line > 0 || layer.as_str() == "command line" {
                serde_json::json!({"file": loc.file.display().to_string(), "line": loc.line, "column": loc.column})
            } else {
                serde_json::Value::Null
            };
            serde_json::json!({"key": key, "value": shown, "layer": layer.as_str(), "place": place})
        })
        .collect();
    Some(serde_json::json!({
        "node": node,
        "pair": pair.name,
        "mode": pair.mode.as_str(),
        "address": n.address.to_string(),
        "interface": n.interface,
        "vips": vips,
        "settings": settings,
    }))
}

/// `, on `eth1`` when its addresses live elsewhere than the node's VRRP interface, all on one;
/// `, 192.168.100.129/24 on `eth1`` naming each such address when they are spread.
fn elsewhere_text(vip: &crate::inventory::Vip, n: &crate::inventory::Node) -> String {
    let away: Vec<_> = vip.elsewhere_on(n).collect();
    match away.first() {
        None => String::new(),
        Some((_, on)) if away.len() == vip.addresses().count() && away.iter().all(|(_, o)| o == on) => {
            format!(", on `{on}`")
        }
        Some(_) => away.iter().map(|(a, on)| format!(", {a} on `{on}`")).collect(),
    }
}
