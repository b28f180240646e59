//! `hapair demo`: the README's main job on the built-in lab.

use crate::error::Error;
use crate::lab;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Lab name
    #[arg(long, default_value = "demo")]
    pub name: String,
    /// Mode of the demo pair
    #[arg(long, default_value = "dual-master", value_parser = ["master-backup", "dual-master"])]
    pub mode: String,
}

pub fn run(args: Args) -> Result<u8, Error> {
    let out = PathBuf::from(format!("inventories/{}.yml", args.name));
    let progress = |m: &str| eprintln!("demo: {m}");
    progress("step 1/1: bringing up two real Debian 12 hosts");
    let info = lab::up(&lab::UpOptions { name: args.name.clone(), nodes: 2, mode: args.mode, out }, &progress)?;
    println!("lab `{}` is up on `{}`:", info.name, info.bridge);
    for (node, addr) in &info.hosts {
        println!("  {node:<8} {addr}");
    }
    println!("inventory: {}", info.inventory.display());
    println!();
    println!("what to try next:");
    println!("  hapair lab exec node1 --name {} -- systemctl status", info.name);
    println!("  hapair check -i {}", info.inventory.display());
    println!("  hapair lab down --name {}", info.name);
    Ok(0)
}
