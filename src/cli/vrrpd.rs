//! `hapair vrrpd`: the embedded VRRP daemon.

use crate::error::Error;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Daemon configuration file
    #[arg(long, default_value = "/etc/hapair/vrrpd.yml")]
    pub config: PathBuf,
    /// Validate a configuration file and exit 0 (valid) or 1
    #[arg(long, value_name = "FILE")]
    pub check_config: Option<PathBuf>,
}

pub fn run(_args: Args) -> Result<u8, Error> {
    Err(super::not_implemented("hapair vrrpd"))
}
