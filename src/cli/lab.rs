//! `hapair lab`: real Debian hosts on this machine.

use crate::error::Error;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create (or reuse) N Debian 12 hosts and write an inventory for them
    Up {
        #[arg(long, default_value_t = 2)]
        nodes: u8,
        #[arg(long, default_value = "lab")]
        name: String,
        #[arg(long, default_value = "master-backup")]
        mode: String,
        /// Inventory to write (default `inventories/<name>.yml`)
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Remove every host, bridge, mount, file and process the lab made
    Down {
        #[arg(long, default_value = "lab")]
        name: String,
    },
    /// Run a command inside a lab host
    Exec {
        node: String,
        #[arg(long, default_value = "lab")]
        name: String,
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// List hosts, addresses and state
    Status {
        #[arg(long, default_value = "lab")]
        name: String,
    },
}

pub fn run(_c: Command) -> Result<u8, Error> {
    Err(super::not_implemented("hapair lab"))
}
