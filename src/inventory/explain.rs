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
            "  vip {:<18} vrid {:<3} priority {:<3} ({})\n",
            vip.address.to_string(),
            vip.vrid,
            vip.priorities[i],
            if vip.master == node { "preferred master" } else { "backup" }
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
