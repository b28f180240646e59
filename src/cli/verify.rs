//! `hapair verify`: prove each VIP is bound once, serves HTTP, and fails over in time.

use super::Format;
use crate::error::Error;
use crate::verify;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub target: super::Target,
    /// Also run the failover drill: stop each node's daemon, then its nginx, and time the takeover
    #[arg(long)]
    pub failover: bool,
}

pub fn run(args: Args) -> Result<u8, Error> {
    let inv = args.target.load()?;
    let opts = verify::Options {
        limit: args.target.limit,
        failover: args.failover,
        accept_new_host_keys: args.target.accept_new_host_keys,
        forks: usize::from(args.target.forks),
    };
    let report = run_report(&inv, &opts, args.target.format)?;
    match args.target.format {
        Format::Json => println!("{}", verify::report::json(&report)),
        Format::Text => print!("{}", verify::report::text(&report)),
    }
    Ok(if report.ok() { 0 } else { 1 })
}

/// Run verify with progress on stderr, restoring the nodes on Ctrl-C.
pub(crate) fn run_report(
    inv: &crate::inventory::Inventory,
    opts: &verify::Options,
    format: Format,
) -> Result<verify::Report, Error> {
    let quiet = format == Format::Json;
    let progress = move |m: &str| {
        if !quiet {
            eprintln!("verify: {m}");
        }
    };
    super::runtime()?.block_on(async {
        tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("verify: interrupted; restoring the nodes before stopping");
                verify::drill::INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
        verify::run(inv, opts, &progress).await
    })
}
