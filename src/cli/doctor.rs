//! `hapair doctor`: diagnose a live pair over SSH, with a fix for each finding.

use crate::apply::Format;
use crate::error::Error;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Inventory file
    #[arg(short, long, default_value = "inventories/lab.yml")]
    pub inventory: std::path::PathBuf,
    /// Only this pair (or the pair of this node)
    #[arg(long, value_name = "PAIR|NODE")]
    pub limit: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Override a setting, e.g. `-e vrrp.advert_interval=100ms`
    #[arg(short = 'e', long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Add unknown host keys to the inventory's known_hosts instead of refusing
    #[arg(long)]
    pub accept_new_host_keys: bool,
}

pub fn run(args: Args) -> Result<u8, Error> {
    let inv = crate::inventory::load_or_error(&args.inventory, &args.overrides)?;
    let quiet = args.format == Format::Json;
    let progress = move |m: &str| {
        if !quiet {
            eprintln!("doctor: {m}");
        }
    };
    let (findings, journals) = super::runtime()?.block_on(crate::doctor::run(&inv, args.limit.as_deref(), args.accept_new_host_keys, &progress))?;
    match args.format {
        Format::Json => println!("{}", serde_json::json!({"findings": findings})),
        Format::Text => print!("{}", crate::doctor::text(&findings, &journals)),
    }
    Ok(if findings.iter().all(|f| f.ok) { 0 } else { 1 })
}
