//! `hapair lab`: real Debian hosts on this machine.

use crate::error::Error;
use crate::lab;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create (or reuse) N Debian 12 hosts and write an inventory for them
    Up {
        /// Number of hosts (even: one pair per two hosts)
        #[arg(long, default_value_t = 2)]
        nodes: u8,
        /// Lab name (each lab has its own bridge and /24)
        #[arg(long, default_value = "lab")]
        name: String,
        /// Mode of the pairs in the written inventory
        #[arg(long, default_value = "master-backup", value_parser = ["master-backup", "dual-master"])]
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
        /// Node name, e.g. `node1`
        node: String,
        #[arg(long, default_value = "lab")]
        name: String,
        /// The command and its arguments, after `--`
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// List hosts, addresses and state
    Status {
        #[arg(long, default_value = "lab")]
        name: String,
    },
}

fn progress(msg: &str) {
    eprintln!("lab: {msg}");
}

pub fn run(c: Command) -> Result<u8, Error> {
    match c {
        Command::Up { nodes, name, mode, out } => {
            let out = out.unwrap_or_else(|| PathBuf::from(format!("inventories/{name}.yml")));
            let info = lab::up(&lab::UpOptions { name, nodes, mode, out }, &progress)?;
            println!(
                "lab `{}` is up: {} hosts on `{}` (10.77.{}.0/24)",
                info.name,
                info.hosts.len(),
                info.bridge,
                info.subnet
            );
            for (node, addr) in &info.hosts {
                println!("  {node:<8} {addr}");
            }
            println!("inventory: {}", info.inventory.display());
            Ok(0)
        }
        Command::Down { name } => {
            lab::down(&name, &progress)?;
            println!("lab `{name}` is down");
            Ok(0)
        }
        Command::Exec { node, name, cmd } => lab::exec(&name, &node, &cmd),
        Command::Status { name } => {
            let (info, rows) = lab::status(&name)?;
            println!(
                "lab `{}` on `{}` (10.77.{}.0/24), inventory {}",
                info.name,
                info.bridge,
                info.subnet,
                info.inventory.display()
            );
            println!("  {:<8} {:<15} {:<8} STATE", "NODE", "ADDRESS", "PID");
            for r in rows {
                let pid = r.pid.map_or("-".to_string(), |p| p.to_string());
                println!("  {:<8} {:<15} {:<8} {}", r.node, r.address.to_string(), pid, r.state);
            }
            Ok(0)
        }
    }
}
