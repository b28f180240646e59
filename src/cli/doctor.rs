//! `hapair doctor`: diagnose a live pair over SSH, with a fix for each finding.

use super::Format;
use crate::error::Error;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub target: super::Target,
}

pub fn run(args: Args) -> Result<u8, Error> {
    let inv = args.target.load()?;
    let quiet = args.target.format == Format::Json;
    let progress = move |m: &str| {
        if !quiet {
            eprintln!("doctor: {m}");
        }
    };
    let (findings, journals) = super::runtime()?.block_on(crate::doctor::run(
        &inv,
        args.target.limit.as_deref(),
        args.target.accept_new_host_keys,
        usize::from(args.target.forks),
        &progress,
    ))?;
    match args.target.format {
        Format::Json => println!("{}", serde_json::json!({"findings": findings})),
        Format::Text => print!("{}", crate::doctor::text(&findings, &journals)),
    }
    Ok(if findings.iter().all(|f| f.ok) { 0 } else { 1 })
}
