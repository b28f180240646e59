//! `hapair check`: validate an inventory offline; every finding at once, each with a fix.

use crate::error::Error;
use crate::inventory::{self, explain, Finding};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

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
}

pub fn run(args: Args) -> Result<u8, Error> {
    let file = args.inventory.display().to_string();
    let (findings, loaded) = match inventory::load(&args.inventory, &args.overrides) {
        Ok(l) => (l.warnings.clone(), Some(l)),
        Err(f) => (f, None),
    };
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
            let mut v = serde_json::json!({"file": file, "errors": errors, "warnings": warnings, "findings": findings});
            if let Some(node) = &args.explain {
                // `null` when the inventory has errors: nothing to explain yet.
                v["explain"] = loaded.as_ref().and_then(|l| explain::json(l, node)).unwrap_or_default();
            }
            println!("{v}");
        }
        Format::Text => {
            for f in &findings {
                println!("{f}");
            }
            println!("{}", summary(&file, &findings, loaded.as_ref()));
            if let Some(t) = args.explain.as_deref().and_then(|node| explain::text(loaded.as_ref()?, node)) {
                print!("{t}");
            }
        }
    }
    Ok(if errors > 0 { 1 } else { 0 })
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
            let w = if warnings > 0 { format!(" ({})", plural(warnings, "warning")) } else { String::new() };
            format!(
                "`{file}` is valid: {}, {}, {}{w}",
                plural(inv.pairs.len(), "pair"),
                plural(inv.pairs.len() * 2, "node"),
                plural(vips, "VIP")
            )
        }
        None => format!("`{file}`: {}, {}", plural(errors, "error"), plural(warnings, "warning")),
    }
}
