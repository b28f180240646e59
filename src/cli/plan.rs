//! `hapair plan`: what `apply` would change, changing nothing. Exit 0 = nothing to do,
//! 2 = changes pending, 1 = error.

use std::io::{IsTerminal, Write};

use crate::apply::{self, Format, LocalBinary, Ui};
use crate::error::Error;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub target: super::Target,
    /// Users' roles folder (`NAME/role.yml`, `NAME/templates/`, `NAME/files/`), after `roles/` beside the inventory
    #[arg(long, value_name = "DIR")]
    pub roles: Option<std::path::PathBuf>,
}

pub fn run(args: Args) -> Result<u8, Error> {
    let inv = args.target.load()?;
    let binary = LocalBinary::current()?;
    let opts = args.target.engine_options(args.roles);
    let ui = Ui::new(args.target.format, true);
    let plans = super::runtime()?.block_on(async {
        let survey = apply::survey(&inv, &opts, &binary.spec, &|h, s| ui.step(h, s)).await?;
        let plans = survey.plans();
        survey.close().await;
        Ok::<_, Error>(plans)
    })?;
    match args.target.format {
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
