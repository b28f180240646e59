//! `hapair apply`: converge the nodes to the inventory.

use std::io::{BufRead, IsTerminal, Write};

use super::Format;
use crate::apply::{self, ui, Outcome, Ui};
use crate::error::Error;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub target: super::Target,
    #[command(flatten)]
    pub daemon: super::DaemonBuilds,
    /// Approve the changes without asking (required when stdin or stdout is not a terminal)
    #[arg(short, long)]
    pub yes: bool,
    /// Stop every pair at the first failure (default: only the failing pair stops)
    #[arg(long)]
    pub fail_fast: bool,
    /// Users' roles folder (`NAME/role.yml`, `NAME/templates/`, `NAME/files/`), after `roles/` beside the inventory
    #[arg(long, value_name = "DIR")]
    pub roles: Option<std::path::PathBuf>,
}

pub fn run(args: Args) -> Result<u8, Error> {
    let inv = args.target.load()?;
    let builds = args.daemon.load()?;
    let opts = apply::Options { fail_fast: args.fail_fast, ..args.target.engine_options(args.roles) };
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    // Terraform's convention: without a terminal to ask on, only `--yes` approves; refused
    // before any connection, so a script that forgot `--yes` changes nothing.
    if !interactive && !args.yes {
        return Err(Error::new("`apply` needs approval and there is no terminal to ask on; nothing was changed")
            .with_fix(format!(
                "review the changes with `hapair plan -i {0}`, then approve them with `hapair apply -i {0} --yes`",
                args.target.inventory.display()
            )));
    }
    let ui = Ui::new(args.target.format == Format::Json, false);
    let rt = super::runtime()?;
    let results = rt.block_on(async {
        let survey = apply::survey(&inv, &opts, &builds, &|h, s| ui.step(h, s)).await?;
        if let Some(e) = survey.refusal() {
            survey.close().await;
            return Err(e);
        }
        let plans = survey.plans();
        let pending = plans.iter().any(|p| p.has_changes());
        match args.target.format {
            Format::Json => {
                let mut doc = super::plan_json::document(&survey.targets);
                doc["event"] = serde_json::json!("plan");
                ui.json_line(doc);
            }
            Format::Text if pending => {
                ui.finish();
                print!("{}", crate::plan::render_text(&plans, super::conventions::stdout_color()));
            }
            Format::Text => {}
        }
        if pending && interactive && !args.yes && !confirm()? {
            survey.close().await;
            return Err(
                Error::new("nothing was changed: the plan was not confirmed").with_fix("answer `y`, or pass `--yes`")
            );
        }
        let results = apply::execute(&inv, &survey, &opts, &builds, &ui).await;
        survey.close().await;
        Ok::<_, Error>(results)
    })?;
    ui.finish();
    let failed: Vec<_> = results.iter().filter(|r| r.outcome == Outcome::Failed).collect();
    match args.target.format {
        Format::Json => {
            ui.json_line(serde_json::json!({"event": "recap", "hosts": results}));
        }
        Format::Text => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(ui::recap(&results).as_bytes());
            let _ = out.flush();
        }
    }
    for r in &failed {
        if let Some(e) = &r.error {
            super::report(&Error::new(e.clone()));
        }
    }
    Ok(if failed.is_empty() { 0 } else { 1 })
}

fn confirm() -> Result<bool, Error> {
    print!("apply these changes? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
