//! `hapair status`: VRRP state, checks and config drift of every node.

use crate::apply::{self, Format, LocalBinary, Ui};
use crate::error::Error;
use crate::verify::status;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Inventory file
    #[arg(short, long, default_value = "inventories/lab.yml")]
    pub inventory: std::path::PathBuf,
    /// Only this node or pair
    #[arg(long, value_name = "HOST|PAIR")]
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
    let inv = apply::load::load(&args.inventory, &args.overrides)?;
    let binary = LocalBinary::current()?;
    let opts = apply::Options {
        limit: args.limit,
        forks: 1,
        fail_fast: false,
        accept_new_host_keys: args.accept_new_host_keys,
        roles_dir: None,
    };
    let ui = Ui::new(args.format, true);
    let rows = super::runtime()?.block_on(status::gather(&inv, &opts, &binary, &ui))?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&rows).unwrap_or_default()),
        Format::Text => print!("{}", status::text(&rows)),
    }
    Ok(0)
}
