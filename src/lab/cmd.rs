//! Running local commands as argument lists, with errors that name the command.

use crate::error::Error;
use std::process::{Command, Output, Stdio};

/// Run `argv`, capture its output, and fail with its stderr when it exits non-zero.
pub fn run(argv: &[&str]) -> Result<Output, Error> {
    let out = output(argv)?;
    if !out.status.success() {
        return Err(failed(argv, &out));
    }
    Ok(out)
}

/// Run `argv` and return its output whatever its exit status.
pub fn output(argv: &[&str]) -> Result<Output, Error> {
    let (prog, args) = argv.split_first().ok_or_else(|| Error::new("empty command"))?;
    Command::new(prog).args(args).stdin(Stdio::null()).output().map_err(|e| {
        Error::new(format!("cannot run `{prog}`: {e}")).with_fix(format!(
            "install `{prog}` (the lab needs systemd-container, debootstrap, iproute2, openssh-client)"
        ))
    })
}

/// Run `argv`, ignoring failure: for idempotent teardown of things that may already be gone.
pub fn quiet(argv: &[&str]) -> bool {
    output(argv).map(|o| o.status.success()).unwrap_or(false)
}

pub fn failed(argv: &[&str], out: &Output) -> Error {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().map_or("a signal".to_string(), |c| c.to_string());
    Error::new(format!("`{}` exited with {code}: {}", argv.join(" "), stderr.trim()))
}
