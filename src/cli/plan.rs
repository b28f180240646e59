//! `hapair plan`: what `apply` would change, changing nothing. Exit 0 = nothing to do,
//! 2 = changes pending, 1 = error.

use std::io::{IsTerminal, Write};

use crate::apply::{self, Format, LocalBinary, Ui};
use crate::error::Error;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Inventory file
    #[arg(short, long, default_value = "inventories/lab.yml")]
    pub inventory: std::path::PathBuf,
    /// Only this node or pair
    #[arg(long, value_name = "HOST|PAIR")]
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
    /// Folder with template overrides (`vrrpd.yml.tera`, `hapair-vrrpd.service.tera`, `nginx-site.conf.tera`)
    #[arg(long, value_name = "DIR")]
    pub roles: Option<std::path::PathBuf>,
}

pub fn run(args: Args) -> Result<u8, Error> {
    let inv = apply::load::load(&args.inventory, &args.overrides)?;
    let binary = LocalBinary::current()?;
    let opts = apply::Options {
        limit: args.limit,
        forks: 1,
        fail_fast: false,
        accept_new_host_keys: args.accept_new_host_keys,
        roles_dir: args.roles,
    };
    let ui = Ui::new(args.format, true);
    let plans = super::runtime()?.block_on(async {
        let survey = apply::survey(&inv, &opts, &binary.spec, &ui).await?;
        let plans = survey.plans();
        survey.close().await;
        Ok::<_, Error>(plans)
    })?;
    match args.format {
        Format::Json => {
            for p in &plans {
                ui.json_line(serde_json::json!({"event": "plan", "plan": p}));
            }
        }
        Format::Text => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(crate::plan::render_text(&plans, color).as_bytes());
        }
    }
    Ok(if plans.iter().any(|p| p.has_changes()) { 2 } else { 0 })
}
