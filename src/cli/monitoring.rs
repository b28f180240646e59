//! `hapair monitoring`: what a Prometheus server needs to watch the pairs of an inventory.

use std::io::Write;

use crate::error::Error;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print the Prometheus scrape configuration for every node with a metrics endpoint
    ScrapeConfig(ScrapeArgs),
    /// Print the alert rules (monitoring/hapair-rules.yml)
    Rules,
    /// Print the Grafana dashboard (monitoring/hapair-dashboard.json)
    Dashboard,
}

#[derive(clap::Args, Debug)]
pub struct ScrapeArgs {
    /// Inventory file
    #[arg(short, long, default_value = "inventories/lab.yml")]
    pub inventory: std::path::PathBuf,
    /// Override a setting, e.g. `-e monitoring.listen=0.0.0.0:9489`
    #[arg(short = 'e', long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// The job name (the shipped alert rules expect `hapair`)
    #[arg(long, default_value = "hapair")]
    pub job: String,
    /// A scrape interval for this job, e.g. `15s` (default: the server's global one)
    #[arg(long)]
    pub interval: Option<String>,
}

pub fn run(c: Command) -> Result<u8, Error> {
    let text = match c {
        Command::ScrapeConfig(a) => {
            let inv = crate::inventory::load_or_error(&a.inventory, &a.overrides)?;
            if !a.job.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)) || a.job.is_empty() {
                return Err(Error::new(format!("`--job {}` is not a job name", a.job.escape_debug()))
                    .with_fix("use letters, digits, `_` and `-`"));
            }
            if let Some(i) = &a.interval {
                let ok = i.len() > 1
                    && ["ms", "s", "m", "h"]
                        .iter()
                        .any(|u| i.strip_suffix(u).is_some_and(|n| n.parse::<u32>().is_ok()));
                if !ok {
                    return Err(Error::new(format!("`--interval {}` is not a Prometheus duration", i.escape_debug()))
                        .with_fix("write e.g. `15s` or `1m`"));
                }
            }
            crate::monitoring::scrape_config(&inv, &a.job, a.interval.as_deref())?
        }
        Command::Rules => crate::monitoring::RULES.to_string(),
        Command::Dashboard => crate::monitoring::DASHBOARD.to_string(),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    Ok(0)
}
