//! `hapair check`.

use crate::error::Error;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Inventory file
    #[arg(short, long, default_value = "inventories/lab.yml")]
    pub inventory: std::path::PathBuf,
}

pub fn run(_args: Args) -> Result<u8, Error> {
    Err(super::not_implemented("hapair check"))
}
