//! `hapair plan`: what `apply` would change, changing nothing. Exit 0 = nothing to do,
//! 2 = changes pending, 1 = error.

use std::io::Write;

use super::Format;
use crate::apply::{self, Ui};
use crate::error::Error;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub target: super::Target,
    #[command(flatten)]
    pub daemon: super::DaemonBuilds,
    /// Users' roles folder (`NAME/role.yml`, `NAME/templates/`, `NAME/files/`), after `roles/` beside the inventory
    #[arg(long, value_name = "DIR")]
    pub roles: Option<std::path::PathBuf>,
}

pub fn run(args: Args) -> Result<u8, Error> {
    let inv = args.target.load()?;
    let builds = args.daemon.load()?;
    let opts = args.target.engine_options(args.roles);
    // Progress goes to stderr (bars on a terminal); with `--format json` stdout holds exactly
    // one document.
    let ui = Ui::new(false, true);
    let (plans, doc) = super::runtime()?.block_on(async {
        let survey = apply::survey(&inv, &opts, &builds, &|h, s| ui.step(h, s)).await?;
        if let Some(e) = survey.refusal() {
            survey.close().await;
            return Err(e);
        }
        let plans = survey.plans();
        let doc = super::plan_json::document(&survey.targets);
        survey.close().await;
        Ok::<_, Error>((plans, doc))
    })?;
    ui.finish();
    match args.target.format {
        Format::Json => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{doc}");
        }
        Format::Text => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(crate::plan::render_text(&plans, super::conventions::stdout_color()).as_bytes());
        }
    }
    Ok(if plans.iter().any(|p| p.has_changes()) { 2 } else { 0 })
}
