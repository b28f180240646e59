//! `hapair import keepalived`: two nodes' keepalived.conf files → one inventory pair, checked.
//!
//! The inventory goes to standard output, or to `-o FILE` (created with mode 0600: it may hold
//! the VRRP password). It is checked in memory, as `hapair check` would check it: it never goes
//! to a temporary file.

use crate::error::Error;
use crate::import::keepalived::{self, NoteKind};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Pair two nodes' keepalived.conf files into one inventory
    Keepalived {
        file_a: PathBuf,
        file_b: PathBuf,
        /// Where to write the inventory, mode 0600 (default: standard output)
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// A node's address, and its prefix length for VIPs written without one:
        /// `--node NAME=ADDRESS/PREFIX` (the prefix may be left out)
        #[arg(long = "node", value_name = "NAME=ADDRESS/PREFIX")]
        nodes: Vec<String>,
    },
}

pub fn run(c: Command) -> Result<u8, Error> {
    let Command::Keepalived { file_a, file_b, output, nodes } = c;
    let mut addrs = BTreeMap::new();
    for n in &nodes {
        let parsed = n.split_once('=').and_then(|(k, v)| v.parse().ok().map(|a| (k.to_string(), a)));
        let Some((k, a)) = parsed else {
            return Err(Error::new(format!("`--node {}` is not `NAME=ADDRESS/PREFIX`", n.escape_debug()))
                .with_fix("write e.g. `--node lb1=10.0.0.11/24`"));
        };
        addrs.insert(k, a);
    }
    let to_err = |e: keepalived::ImportError| Error::new(e.to_string()).with_fix(e.fix);
    let a = keepalived::read(&file_a).map_err(to_err)?;
    let b = keepalived::read(&file_b).map_err(to_err)?;
    let imported = keepalived::pair(&a, &b, &addrs).map_err(to_err)?;

    // Check the result as `hapair check` would, from where it will live, without writing it.
    let label = output.clone().unwrap_or_else(|| PathBuf::from("<imported>"));
    let findings = match crate::inventory::load_bytes(&label, imported.yaml.clone().into_bytes(), &[]) {
        Ok(l) => l.warnings,
        Err(f) => f,
    };
    match &output {
        Some(p) => write_private(p, &imported.yaml)?,
        None => print!("{}", imported.yaml),
    }
    let shown = output.as_ref().map_or_else(|| "the imported inventory".to_string(), |p| format!("`{}`", p.display()));
    for (kind, title) in [
        (NoteKind::Translated, "translated (same behaviour, written differently)"),
        (NoteKind::NotCarried, "not carried over"),
        (NoteKind::Decision, "decisions needed before the inventory can be used"),
    ] {
        let these: Vec<_> = imported.notes.iter().filter(|n| n.kind == kind).collect();
        if !these.is_empty() {
            eprintln!("import: {title}:");
            for n in these {
                eprintln!("  - {n}");
            }
        }
    }
    let errors = findings.iter().filter(|f| f.is_error()).count();
    if findings.is_empty() {
        eprintln!("import: `hapair check` finds nothing wrong with {shown}");
    } else {
        eprintln!("import: `hapair check` on {shown}:");
        for f in &findings {
            eprintln!("{f}");
            // Name the keepalived lines the finding's line was written from: that is where
            // the decision is made.
            if f.location.file == label {
                if let Some(from) = imported.origins.get(&f.location.line) {
                    let from: Vec<String> = from.iter().map(|a| a.to_string()).collect();
                    eprintln!("  written from: {}", from.join(" and "));
                }
            }
        }
    }
    let decisions = imported.decisions();
    if decisions > 0 {
        eprintln!("import: {decisions} decision{} needed (listed above)", if decisions == 1 { "" } else { "s" });
    }
    Ok(if errors > 0 || decisions > 0 { 1 } else { 0 })
}

/// Write the inventory with mode 0600 from the start (it may hold the VRRP password).
fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |e: std::io::Error| Error::new(format!("cannot write `{}`: {e}", path.display()));
    let mut f =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).map_err(fail)?;
    // An existing file keeps its mode through `open`: make it private too.
    f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    f.write_all(text.as_bytes()).map_err(fail)?;
    f.sync_all().map_err(fail)
}
