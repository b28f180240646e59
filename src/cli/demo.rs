//! `hapair demo`: the README's main job. Bring up (or reuse) two real Debian hosts, apply a
//! dual-master pair to them, prove failover, and leave the lab running to play with.

use super::Format;
use crate::error::Error;
use crate::lab;
use crate::verify;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Lab name
    #[arg(long, default_value = "demo")]
    pub name: String,
    /// Mode of the demo pair
    #[arg(long, default_value = "dual-master", value_parser = ["master-backup", "dual-master"])]
    pub mode: String,
    /// Skip the failover drill (only check the deployed pair)
    #[arg(long)]
    pub no_failover: bool,
    /// Inventory to write (default `inventories/<name>.yml`)
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<u8, Error> {
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("inventories/{}.yml", args.name)));
    let progress = |m: &str| eprintln!("demo: {m}");
    let steps = if args.no_failover { 3 } else { 4 };

    eprintln!("demo: step 1/{steps}: two real Debian 12 hosts on this machine (`hapair lab up`)");
    let info = lab::up(
        &lab::UpOptions {
            name: args.name.clone(),
            nodes: 2,
            mode: args.mode.clone(),
            out,
            distros: vec![lab::Distro::Bookworm; 2],
        },
        &progress,
    )?;
    let inv_path = info.inventory.clone();

    eprintln!("demo: step 2/{steps}: the plan, then `hapair apply` ({} pair)", args.mode);
    let target = super::Target {
        inventory: inv_path.clone(),
        limit: None,
        format: Format::Text,
        overrides: vec![],
        accept_new_host_keys: false,
        forks: super::DEFAULT_FORKS,
    };
    let code = super::apply::run(super::apply::Args {
        target: target.clone(),
        daemon: super::DaemonBuilds { paths: vec![] },
        yes: true,
        fail_fast: false,
        roles: None,
    })?;
    if code != 0 {
        return Err(Error::new(format!("`hapair apply` exited with {code}")).with_fix("see the recap above"));
    }

    eprintln!("demo: step 3/{steps}: `hapair verify`: each VIP bound once, HTTP through it");
    let inv = target.load()?;
    let mut report = super::verify::run_report(&inv, &verify::Options::default(), Format::Text)?;
    if !args.no_failover && report.ok() {
        eprintln!("demo: step 4/{steps}: `hapair verify --failover`: stop each node's daemon, then nginx, and time the takeover");
        let opts = verify::Options { failover: true, ..Default::default() };
        report = super::verify::run_report(&inv, &opts, Format::Text)?;
    }
    print!("{}", verify::report::text(&report));
    println!();
    let node1 = info.hosts.first().map(|(_, a, _)| a.to_string()).unwrap_or_default();
    let inv_s = inv_path.display();
    // The binary as the user can call it from here (scripts/demo.sh runs ./target/release/hapair).
    let exe = std::env::current_exe()
        .ok()
        .zip(std::env::current_dir().ok())
        .and_then(|(e, d)| e.strip_prefix(&d).ok().map(|r| format!("./{}", r.display())));
    let hapair = exe.unwrap_or_else(|| "hapair".to_string());
    println!("the lab `{}` keeps running. What to try next:", info.name);
    println!(
        "  curl http://{}/                          # a VIP, served by one of the nodes",
        inv.pairs.first().and_then(|p| p.vips.first()).map(|v| v.address.addr().to_string()).unwrap_or_default()
    );
    println!("  {hapair} status -i {inv_s}");
    println!("  {hapair} lab exec node1 --name {} -- systemctl stop nginx; {hapair} verify -i {inv_s}", info.name);
    println!(
        "  ssh -i {} -o UserKnownHostsFile={} root@{node1}",
        inv_path.with_extension("key").display(),
        inv_path.with_extension("known_hosts").display()
    );
    println!("  {hapair} lab down --name {}", info.name);
    Ok(if report.ok() { 0 } else { 1 })
}
