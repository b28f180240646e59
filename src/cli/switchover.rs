//! `hapair switchover PAIR [--vip ADDR] [--to NODE]`: planned, make-before-break VIP moves.

use super::Format;
use crate::error::Error;
use crate::switchover;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pair whose VIPs move
    pub pair: String,
    /// Only this VIP (default: every VIP of the pair)
    #[arg(long, value_name = "ADDR")]
    pub vip: Option<std::net::Ipv4Addr>,
    /// Move the VIPs to this node (default: each VIP to the node not holding it)
    #[arg(long, value_name = "NODE")]
    pub to: Option<String>,
    /// Inventory file
    #[arg(short, long, default_value = "inventories/lab.yml")]
    pub inventory: std::path::PathBuf,
    /// Override a setting, e.g. `-e vrrp.advert_interval=100ms`
    #[arg(short = 'e', long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Add unknown host keys to the inventory's known_hosts instead of refusing
    #[arg(long)]
    pub accept_new_host_keys: bool,
}

pub fn run(args: Args) -> Result<u8, Error> {
    let inv = crate::inventory::load_or_error(&args.inventory, &args.overrides)?;
    let opts = switchover::Options {
        pair: args.pair,
        vip: args.vip,
        to: args.to,
        accept_new_host_keys: args.accept_new_host_keys,
    };
    switchover::select(&inv, &opts)?;
    let quiet = args.format == Format::Json;
    let progress = move |m: &str| {
        if !quiet {
            eprintln!("switchover: {m}");
        }
    };
    let moves = super::runtime()?.block_on(switchover::run(&inv, &opts, &progress))?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&moves).unwrap_or_default()),
        Format::Text => print!("{}", switchover::text(&moves)),
    }
    Ok(0)
}
