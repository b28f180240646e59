//! `hapair import`.

use crate::error::Error;
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
    },
}

pub fn run(_c: Command) -> Result<u8, Error> {
    Err(super::not_implemented("hapair import keepalived"))
}
