//! `hapair import keepalived`: two nodes' keepalived.conf files → one inventory pair, checked.

use crate::error::Error;
use crate::import::keepalived;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Pair two nodes' keepalived.conf files into one inventory
    Keepalived {
        file_a: PathBuf,
        file_b: PathBuf,
        /// Where to write the inventory (default: standard output)
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// A node's address where its keepalived.conf does not say it: `--node NAME=ADDRESS`
        #[arg(long = "node", value_name = "NAME=ADDRESS")]
        nodes: Vec<String>,
    },
}

pub fn run(c: Command) -> Result<u8, Error> {
    let Command::Keepalived { file_a, file_b, output, nodes } = c;
    let mut addrs = BTreeMap::new();
    for n in &nodes {
        let parsed = n.split_once('=').and_then(|(k, v)| v.parse().ok().map(|a| (k.to_string(), a)));
        let Some((k, a)) = parsed else {
            return Err(
                Error::new(format!("`--node {n}` is not `NAME=ADDRESS`")).with_fix("write e.g. `--node lb1=10.0.0.11`")
            );
        };
        addrs.insert(k, a);
    }
    let to_err = |e: keepalived::ImportError| Error::new(e.to_string()).with_fix(e.fix);
    let a = keepalived::read(&file_a).map_err(to_err)?;
    let b = keepalived::read(&file_b).map_err(to_err)?;
    let imported = keepalived::pair(&a, &b, &addrs).map_err(to_err)?;

    // Check the result as `hapair check` would, from where it will live.
    let check_path = match &output {
        Some(p) => p.clone(),
        None => std::env::temp_dir().join(format!("hapair-import-{}.yml", std::process::id())),
    };
    std::fs::write(&check_path, &imported.yaml)
        .map_err(|e| Error::new(format!("cannot write `{}`: {e}", check_path.display())))?;
    let findings = match crate::inventory::load(&check_path, &[]) {
        Ok(l) => l.warnings,
        Err(f) => f,
    };
    if output.is_none() {
        let _ = std::fs::remove_file(&check_path);
        print!("{}", imported.yaml);
    }
    let shown = output.as_ref().map_or_else(|| "the imported inventory".to_string(), |p| format!("`{}`", p.display()));
    if !imported.notes.is_empty() {
        eprintln!("import: not carried over as is:");
        for n in &imported.notes {
            eprintln!("  - {n}");
        }
    }
    // Findings name the temporary file when printing to stdout; say "<imported>" instead.
    let label = output.as_ref().map_or("<imported>".to_string(), |p| p.display().to_string());
    let errors = findings.iter().filter(|f| f.is_error()).count();
    if findings.is_empty() {
        eprintln!("import: `hapair check` finds nothing wrong with {shown}");
    } else {
        eprintln!("import: `hapair check` on {shown}:");
        for f in &findings {
            let text = f.to_string().replace(&check_path.display().to_string(), &label);
            eprintln!("{text}");
        }
    }
    Ok(if errors > 0 { 1 } else { 0 })
}
