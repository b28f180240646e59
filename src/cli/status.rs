//! `hapair status`: VRRP state, checks and config drift of every node.

use super::Format;
use crate::error::Error;
use crate::verify::status;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub target: super::Target,
}

pub fn run(args: Args) -> Result<u8, Error> {
    let inv = args.target.load()?;
    let builds = crate::binary::Builds::from_args(&[])?;
    let opts = args.target.engine_options(None);
    let rows = super::runtime()?.block_on(status::gather(&inv, &opts, &builds))?;
    match args.target.format {
        Format::Json => println!("{}", serde_json::to_string(&rows).unwrap_or_default()),
        Format::Text => print!("{}", status::text(&rows)),
    }
    Ok(0)
}
