//! Command-line interface: clap types, dispatch, and the one place that prints errors and
//! picks exit codes. Each subcommand lives in its own file with its `Args` and `run`.

use clap::{FromArgMatches, Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

use crate::error::Error;

mod apply;
mod check;
pub mod conventions;
mod demo;
mod doctor;
mod import;
mod lab;
mod monitoring;
mod plan;
pub mod plan_json;
mod status;
mod switchover;
mod verify;
mod vrrpd;

#[derive(Parser, Debug)]
#[command(name = "hapair", version, about = "Build, deploy and prove a highly available nginx pair", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate an inventory offline and explain effective settings
    Check(check::Args),
    /// Show what `apply` would change on each node (dry run, changes nothing)
    Plan(plan::Args),
    /// Converge the nodes to the inventory over SSH
    Apply(apply::Args),
    /// Prove each VIP is bound once, serves HTTP, and fails over in time
    Verify(verify::Args),
    /// Show the VRRP state, checks and config drift of every node
    Status(status::Args),
    /// Bring up a local lab, apply the dual-master example and verify failover
    Demo(demo::Args),
    /// Manage the built-in lab of real Debian hosts on this machine
    #[command(subcommand)]
    Lab(lab::Command),
    /// Run the embedded VRRP daemon (what the systemd unit on each node runs)
    Vrrpd(vrrpd::Args),
    /// Convert an existing keepalived setup into an inventory
    #[command(subcommand)]
    Import(import::Command),
    /// Diagnose a live cluster over SSH, with a fix for each finding
    Doctor(doctor::Args),
    /// Move a pair's VIPs to the other node for maintenance, without a failed request
    Switchover(switchover::Args),
    /// Monitoring: Prometheus scrape configuration, alert rules, Grafana dashboard
    #[command(subcommand)]
    Monitoring(monitoring::Command),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(conventions::CompletionsArgs),
    /// Print the man page (roff), or write every page into a folder
    Man(conventions::ManArgs),
}

/// Entry point for `main`: parse, run, print the error if any, exit.
pub fn main() -> ExitCode {
    // The version strings name the running libc, so the command is completed at run time.
    let cli = match Cli::from_arg_matches(&conventions::command().get_matches()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e);
            ExitCode::from(e.exit_code)
        }
    }
}

/// Run one command; `Ok(code)` is the exit code of a run that did not fail (e.g. `plan`
/// exits 2 when changes are pending).
pub fn run(command: Command) -> Result<u8, Error> {
    match command {
        Command::Check(a) => check::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Apply(a) => apply::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Status(a) => status::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Lab(c) => lab::run(c),
        Command::Vrrpd(a) => vrrpd::run(a),
        Command::Import(c) => import::run(c),
        Command::Doctor(a) => doctor::run(a),
        Command::Switchover(a) => switchover::run(a),
        Command::Monitoring(c) => monitoring::run(c),
        Command::Completions(a) => conventions::completions(a),
        Command::Man(a) => conventions::man(a),
    }
}

/// Pairs contacted at once unless `--forks` says otherwise: 20 hosts. A no-op run is mostly
/// waiting on the nodes (SSH login, facts), so fleets of up to 10 pairs go in one wave.
pub const DEFAULT_FORKS: u16 = 10;

/// `--format`: text for people, or JSON for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// What every command acting on nodes takes: the inventory, a selection, overrides, output
/// format and the host-key policy.
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// Inventory file
    #[arg(short, long, default_value = "inventories/lab.yml")]
    pub inventory: std::path::PathBuf,
    /// Only this pair, or this node (and its pair where the command works on pairs)
    #[arg(long, value_name = "PAIR|NODE")]
    pub limit: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Override a setting, e.g. `-e vrrp.advert_interval=100ms` or `-e web1.check.weight=-80`
    #[arg(short = 'e', long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Add unknown host keys to the inventory's known_hosts instead of refusing
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Pairs contacted at the same time (connections, facts, changes, checks)
    #[arg(long, default_value_t = DEFAULT_FORKS, value_parser = clap::value_parser!(u16).range(1..))]
    pub forks: u16,
}

/// Daemon builds for nodes the running hapair cannot run on (`plan` and `apply`).
#[derive(clap::Args, Debug, Clone)]
pub struct DaemonBuilds {
    /// A build of this hapair to push to the nodes it fits, e.g. the glibc 2.17 build of
    /// `scripts/build-portable.sh` or one for aarch64 (repeatable; default: `$HAPAIR_DAEMON_BINARY`,
    /// paths separated by `:`). Each node gets the first build that runs there, this hapair last.
    #[arg(long = "daemon-binary", value_name = "PATH")]
    pub paths: Vec<std::path::PathBuf>,
}

impl DaemonBuilds {
    pub fn load(&self) -> Result<crate::binary::Builds, Error> {
        crate::binary::Builds::from_args(&self.paths)
    }
}

impl Target {
    /// The inventory, layered with the overrides; any error finding stops the command.
    pub fn load(&self) -> Result<crate::inventory::Inventory, Error> {
        crate::inventory::load_or_error(&self.inventory, &self.overrides)
    }

    /// Engine options for this selection: `--forks` pairs at a time, no fail-fast, unless the
    /// caller (`apply`) says otherwise.
    pub fn engine_options(&self, roles_dir: Option<std::path::PathBuf>) -> crate::survey::Options {
        crate::survey::Options {
            limit: self.limit.clone(),
            forks: usize::from(self.forks),
            fail_fast: false,
            accept_new_host_keys: self.accept_new_host_keys,
            roles_dirs: crate::survey::roles_dirs(&self.inventory, roles_dir),
            serving: Some(crate::survey::ServingProbe {
                path: crate::verify::snapshot::STATUS_FILE.to_string(),
                is_serving: is_master_of_any,
            }),
        }
    }
}

/// From the daemon's status file: whether it is MASTER of any instance now.
fn is_master_of_any(status: &[u8]) -> Option<bool> {
    let v: serde_json::Value = serde_json::from_slice(status).ok()?;
    let inst = v.get("instances")?.as_array()?;
    Some(inst.iter().any(|i| i.get("state").and_then(|s| s.as_str()) == Some("master")))
}

/// The one place errors are printed.
pub fn report(e: &Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
}

/// A multi-threaded-enough runtime for commands that do I/O (SSH, sockets, netlink).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::new(format!("cannot start the async runtime: {e}")))
}
