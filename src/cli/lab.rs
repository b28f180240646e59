//! `hapair lab`: real Debian hosts on this machine.

use crate::error::Error;
use crate::lab;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create (or reuse) N Debian hosts and write an inventory for them
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
        /// Debian release of the hosts: `bullseye` (11), `bookworm` (12) or `trixie` (13), for
        /// all nodes or per node (`node1=bullseye,node2=trixie`); each base is built once
        #[arg(long, default_value = "bookworm", value_name = "RELEASE|NODE=RELEASE,...")]
        distro: String,
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
        Command::Up { nodes, name, mode, out, distro } => {
            let out = out.unwrap_or_else(|| PathBuf::from(format!("inventories/{name}.yml")));
            let distros = lab::parse_distros(&distro, nodes)?;
            let info = lab::up(&lab::UpOptions { name, nodes, mode, out, distros }, &progress)?;
            println!(
                "lab `{}` is up: {} hosts on `{}` (10.77.{}.0/24)",
                info.name,
                info.hosts.len(),
                info.bridge,
                info.subnet
            );
            for (node, addr, distro) in &info.hosts {
                println!("  {node:<8} {:<15} {}", addr.to_string(), distro.title());
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
            println!("  {:<8} {:<15} {:<8} {:<10} STATE", "NODE", "ADDRESS", "PID", "RELEASE");
            for r in rows {
                let pid = r.pid.map_or("-".to_string(), |p| p.to_string());
                println!(
                    "  {:<8} {:<15} {:<8} {:<10} {}",
                    r.node,
                    r.address.to_string(),
                    pid,
                    r.distro.name(),
                    r.state
                );
            }
            Ok(0)
        }
    }
}
