//! `hapair check`: validate an inventory offline; every finding at once, each with a fix.

use super::Format;
use crate::error::Error;
use crate::inventory::{self, explain, Finding};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Inventory file
    #[arg(short, long, default_value = "inventories/lab.yml")]
    pub inventory: std::path::PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Show every effective setting of this node and where it came from
    #[arg(long, value_name = "NODE")]
    pub explain: Option<String>,
    /// Override a setting, e.g. `-e vrrp.advert_interval=100ms` or `-e web1.check.weight=-80`
    #[arg(short = 'e', long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Users' roles folder, after `roles/` beside the inventory
    #[arg(long, value_name = "DIR")]
    pub roles: Option<std::path::PathBuf>,
}

/// A role error (`FILE:LINE[:COL][ (task `x`)]: message`) as a finding at that place.
fn role_finding(e: &Error) -> Finding {
    let parts: Vec<&str> = e.message.splitn(3, ':').collect();
    let fix = e.fix.clone().unwrap_or_default();
    let (line, extra) = match parts.get(1) {
        Some(seg) => {
            let (n, extra) = seg.split_once(' ').unwrap_or((seg, ""));
            (n.parse::<usize>().ok(), extra.trim())
        }
        None => (None, ""),
    };
    let Some(line) = line.filter(|_| parts.len() == 3) else {
        return Finding::error(
            "HA060",
            inventory::Location { file: "roles".into(), line: 0, column: 0 },
            e.message.clone(),
            fix,
        );
    };
    let tail = parts[2];
    let (column, msg) = match tail.split_once(':') {
        Some((c, m)) if extra.is_empty() && c.trim().parse::<usize>().is_ok() => (c.trim().parse().unwrap_or(1), m),
        _ => (1, tail),
    };
    let msg = if extra.is_empty() { msg.trim().to_string() } else { format!("{extra}: {}", msg.trim()) };
    Finding::error("HA060", inventory::Location { file: parts[0].into(), line, column }, msg, fix)
}

pub fn run(args: Args) -> Result<u8, Error> {
    let file = args.inventory.display().to_string();
    let (mut findings, mut loaded) = match inventory::load(&args.inventory, &args.overrides) {
        Ok(l) => (l.warnings.clone(), Some(l)),
        Err(f) => (f, None),
    };
    if let Some(l) = &loaded {
        let dirs = crate::survey::roles_dirs(&args.inventory, args.roles.clone());
        let role_errors = crate::survey::check_roles(&l.inventory, &dirs);
        if !role_errors.is_empty() {
            for (e, node) in &role_errors {
                let mut f = role_finding(e);
                // Not in a role file: at the inventory's `roles:` of that node.
                if f.location.line == 0 {
                    let at = node
                        .as_ref()
                        .and_then(|n| l.provenance.get(n))
                        .and_then(|rows| rows.iter().find(|(k, ..)| k == "roles").map(|(_, _, _, at)| at.clone()));
                    if let Some(at) = at.filter(|a| a.line > 0) {
                        f.location = at;
                    }
                }
                findings.push(f);
            }
            loaded = None;
        }
    }
    let errors = findings.iter().filter(|f| f.is_error()).count();
    let warnings = findings.len() - errors;
    // The node is looked up before anything is printed: `--format json` prints exactly one
    // JSON document on stdout (the explanation inside it), errors go to stderr.
    if let (Some(node), Some(l)) = (&args.explain, &loaded) {
        if !l.provenance.contains_key(node) {
            let names: Vec<String> =
                l.inventory.pairs.iter().flat_map(|p| p.nodes.iter().map(|n| format!("`{}`", n.name))).collect();
            return Err(Error::new(format!("`{file}` has no node `{node}`"))
                .with_fix(format!("use one of {}", names.join(", "))));
        }
    }
    match args.format {
        Format::Json => {
            // One object, keys in order (errors, explain, file, findings, warnings), written a
            // finding at a time: tens of thousands of findings (a hostile file) never become
            // one JSON tree in memory.
            use std::io::Write;
            let out = std::io::stdout();
            let mut w = std::io::BufWriter::new(out.lock());
            let mut doc = format!("{{\"errors\":{errors},");
            if let Some(node) = &args.explain {
                // `null` when the inventory has errors: nothing to explain yet.
                let e = loaded.as_ref().and_then(|l| explain::json(l, node)).unwrap_or_default();
                doc.push_str(&format!("\"explain\":{e},"));
            }
            doc.push_str(&format!("\"file\":{},\"findings\":[", serde_json::Value::from(file.as_str())));
            let _ = w.write_all(doc.as_bytes());
            for (i, f) in findings.iter().enumerate() {
                let v = serde_json::to_value(f).unwrap_or_default();
                let _ = write!(w, "{}{v}", if i > 0 { "," } else { "" });
            }
            let _ = writeln!(w, "],\"warnings\":{warnings}}}");
            let _ = w.flush();
        }
        Format::Text => {
            for f in &findings {
                println!("{f}");
            }
            if let Some(l) = &loaded {
                for line in adopted(&l.inventory) {
                    println!("{line}");
                }
            }
            println!("{}", summary(&file, &findings, loaded.as_ref()));
            if let Some(t) = args.explain.as_deref().and_then(|node| explain::text(loaded.as_ref()?, node)) {
                print!("{t}");
            }
        }
    }
    Ok(if errors > 0 { 1 } else { 0 })
}

/// For nodes that adopt their nginx: what hapair leaves alone and what its check will probe.
fn adopted(inv: &inventory::Inventory) -> Vec<String> {
    let mut v = Vec::new();
    for n in inv.pairs.iter().flat_map(|p| p.nodes.iter()).filter(|n| n.nginx.adopt) {
        let probe = match &n.check.kind {
            inventory::CheckKind::Http { path } => format!(
                "its check probes GET http://127.0.0.1:{}{path} (the site nginx serves there by default)",
                n.nginx.listen
            ),
            inventory::CheckKind::Script { argv } => format!("its check runs `{}`", argv.join(" ")),
            inventory::CheckKind::None => "it has no check".to_string(),
        };
        v.push(format!(
            "`{}` adopts its nginx: hapair's nginx role writes no file, it only reloads and monitors nginx; {probe}",
            n.name
        ));
    }
    v
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn summary(file: &str, findings: &[Finding], loaded: Option<&inventory::Loaded>) -> String {
    let errors = findings.iter().filter(|f| f.is_error()).count();
    let warnings = findings.len() - errors;
    match loaded {
        Some(l) => {
            let inv = &l.inventory;
            let vips: usize = inv.pairs.iter().map(|p| p.vips.len()).sum();
            let addrs: usize = inv.pairs.iter().flat_map(|p| &p.vips).map(|v| 1 + v.also.len()).sum();
            // VIPs with several addresses on their VRID: how many addresses in all.
            let more = if addrs > vips { format!(" ({addrs} addresses)") } else { String::new() };
            let w = if warnings > 0 { format!(" ({})", plural(warnings, "warning")) } else { String::new() };
            format!(
                "`{file}` is valid: {}, {}, {}{more}{w}",
                plural(inv.pairs.len(), "pair"),
                plural(inv.pairs.len() * 2, "node"),
                plural(vips, "VIP")
            )
        }
        None => format!("`{file}`: {}, {}", plural(errors, "error"), plural(warnings, "warning")),
    }
}
