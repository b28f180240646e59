//! `hapair status`: VRRP state, checks and config drift of every node.

use crate::apply::Format;
use crate::error::Error;
use crate::survey::LocalBinary;
use crate::verify::status;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub target: super::Target,
}

pub fn run(args: Args) -> Result<u8, Error> {
    let inv = args.target.load()?;
    let binary = LocalBinary::current()?;
    let opts = args.target.engine_options(None);
    let rows = super::runtime()?.block_on(status::gather(&inv, &opts, &binary))?;
    match args.target.format {
        Format::Json => println!("{}", serde_json::to_string(&rows).unwrap_or_default()),
        Format::Text => print!("{}", status::text(&rows)),
    }
    Ok(0)
}
