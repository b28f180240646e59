//! `hapair vrrpd`: the embedded VRRP daemon.

use crate::error::Error;
use crate::vrrp::config;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Daemon configuration file
    #[arg(long, default_value = "/etc/hapair/vrrpd.yml")]
    pub config: PathBuf,
    /// Validate a configuration file and exit 0 (valid) or 1
    #[arg(long, value_name = "FILE")]
    pub check_config: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (overrides `metrics` in the config)
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    #[command(subcommand)]
    pub command: Option<Sub>,
}

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Print the status file of the running daemon
    Status {
        /// Status file (default: the `status_file` of `--config`, else /run/hapair/status.json)
        #[arg(long)]
        file: Option<PathBuf>,
        /// Daemon configuration file naming the status file
        #[arg(long, default_value = "/etc/hapair/vrrpd.yml")]
        config: PathBuf,
    },
    /// Send a request to the running daemon's control socket: `handover [VRID...]` (resign
    /// mastership, keeping the VIPs until the peer holds them) or `claim [VRID...]`
    Ctl {
        /// The request and its VRIDs (none: every instance)
        #[arg(required = true, num_args = 1..)]
        request: Vec<String>,
        /// Control socket (default: the `control_socket` of `--config`)
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Daemon configuration file naming the control socket
        #[arg(long, default_value = "/etc/hapair/vrrpd.yml")]
        config: PathBuf,
    },
}

pub fn run(args: Args) -> Result<u8, Error> {
    if let Some(file) = &args.check_config {
        return check_config(file);
    }
    match args.command {
        Some(Sub::Status { file, config }) => status(file, &config),
        Some(Sub::Ctl { request, socket, config }) => ctl(&request.join(" "), socket, &config),
        None => daemon(&args.config, args.metrics),
    }
}

fn daemon(path: &Path, metrics: Option<std::net::SocketAddr>) -> Result<u8, Error> {
    let cfg = load(path)?;
    // One thread: the daemon is a single event loop, and a small RSS matters on the nodes.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(crate::vrrp::daemon::run(path.to_path_buf(), cfg, metrics)).map_err(|e| {
        Error::new(format!("`hapair vrrpd` stopped: {e}")).with_fix(
            "run it as root (raw sockets and netlink need CAP_NET_RAW and CAP_NET_ADMIN) and check `interface`",
        )
    })?;
    Ok(0)
}

/// Read and validate `path`; prints every finding as `FILE:LINE:COL: message`.
pub(crate) fn load(path: &Path) -> Result<config::Config, Error> {
    let src = crate::input::read_text_capped(path, crate::input::DAEMON_CONFIG_CAP).map_err(|e| {
        Error::new(format!("cannot read `{}`: {}", path.display(), e.reason()))
            .with_fix("pass the daemon configuration with `--config FILE`")
    })?;
    config::parse(&src).map_err(|findings| {
        let mut msg = String::new();
        for (i, f) in findings.iter().enumerate() {
            if i > 0 {
                msg.push_str("\nerror: ");
            }
            msg.push_str(&format!("{}:{f}", path.display()));
        }
        Error::new(msg)
    })
}

fn check_config(path: &Path) -> Result<u8, Error> {
    let cfg = load(path)?;
    let list: Vec<String> = cfg
        .instances
        .iter()
        .map(|i| format!("`{}` (vrid {}, v{}, priority {})", i.name, i.vrid, i.version.number(), i.priority))
        .collect();
    println!("`{}` is valid: node `{}` on `{}`, {}", path.display(), cfg.node, cfg.interface, list.join(", "));
    Ok(0)
}

fn ctl(request: &str, socket: Option<PathBuf>, config: &Path) -> Result<u8, Error> {
    let socket = match socket {
        Some(s) => s,
        None => std::fs::read_to_string(config)
            .ok()
            .and_then(|s| config::parse(&s).ok())
            .and_then(|c| c.control_socket)
            .unwrap_or_else(|| PathBuf::from("/run/hapair/control.sock")),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(format!("cannot start the async runtime: {e}")))?;
    let reply = rt.block_on(crate::vrrp::control::request(&socket, request)).map_err(|e| {
        Error::new(format!("control request `{request}`: {e}"))
            .with_fix("is `hapair vrrpd` running? `systemctl status hapair-vrrpd`")
    })?;
    if let Some(e) = reply.lines().find_map(|l| l.strip_prefix("error: ")) {
        return Err(Error::new(format!("the daemon refused `{request}`: {e}")));
    }
    print!("{reply}");
    Ok(0)
}

fn status(file: Option<PathBuf>, config: &Path) -> Result<u8, Error> {
    let file = match file {
        Some(f) => f,
        None => crate::input::read_text_capped(config, crate::input::DAEMON_CONFIG_CAP)
            .ok()
            .and_then(|s| config::parse(&s).ok())
            .map(|c| c.status_file)
            .unwrap_or_else(|| PathBuf::from("/run/hapair/status.json")),
    };
    let text = crate::input::read_text_capped(&file, crate::input::STATUS_FILE_CAP).map_err(|e| {
        Error::new(format!("cannot read the status file `{}`: {}", file.display(), e.reason()))
            .with_fix("is `hapair vrrpd` running? start it with `systemctl start hapair-vrrpd`, or pass `--file`")
    })?;
    // Printed as written (the daemon writes it pretty, fields in the documented order).
    serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
        Error::new(format!("the status file `{}` is not valid JSON: {e}", file.display()))
            .with_fix("the daemon rewrites it atomically on every change; wait a moment and retry")
    })?;
    println!("{}", text.trim_end());
    Ok(0)
}
