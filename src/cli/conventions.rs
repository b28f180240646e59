//! What ops tools are expected to do: shell completions and a man page generated from the clap
//! definitions, a `--version` that names the build's target and libc, and colour only on
//! terminals, never when `NO_COLOR` is set.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};

use clap::CommandFactory;

use crate::error::Error;

/// The target triple this binary was built for (recorded by `build.rs`).
pub const TARGET: &str = env!("HAPAIR_BUILD_TARGET");

/// The C library this build links against, by the target's environment.
pub const LIBC: &str = if cfg!(target_env = "gnu") {
    "glibc"
} else if cfg!(target_env = "musl") {
    "musl"
} else {
    "unknown libc"
};

/// The glibc this process runs on (`gnu_get_libc_version`), when linked against glibc.
pub fn running_libc_version() -> Option<String> {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: returns a pointer to a static NUL-terminated string owned by glibc.
        let p = unsafe { libc::gnu_get_libc_version() };
        if p.is_null() {
            return None;
        }
        // SAFETY: non-null, NUL-terminated, static.
        let s = unsafe { std::ffi::CStr::from_ptr(p) };
        Some(s.to_string_lossy().into_owned())
    }
    #[cfg(not(target_env = "gnu"))]
    {
        None
    }
}

/// `hapair -V`: one line, e.g. `hapair 0.1.0 (x86_64-unknown-linux-gnu, glibc)`.
pub fn short_version() -> String {
    format!("{} ({TARGET}, {LIBC})", env!("CARGO_PKG_VERSION"))
}

/// `hapair --version`: the first line is the version alone (what `observe` reads from a node's
/// binary), then the target and the libc, built for and running on.
pub fn long_version() -> String {
    let running = running_libc_version().map(|v| format!(", running on {LIBC} {v}")).unwrap_or_default();
    format!("{}\ntarget: {TARGET}\nlibc: {LIBC}{running}", env!("CARGO_PKG_VERSION"))
}

/// The clap command with the version strings filled in (they are computed at run time, once
/// per process: clap keeps `'static` strings).
pub fn command() -> clap::Command {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    super::Cli::command().version(leak(short_version())).long_version(leak(long_version()))
}

/// Colour decision for a stream: only on a terminal, never with a non-empty `NO_COLOR`
/// (<https://no-color.org>), `TERM=dumb` or `CLICOLOR=0`; `CLICOLOR_FORCE` (non-zero) forces it.
/// The same rules clap (help and errors) and indicatif (progress) follow.
pub fn color_enabled(is_terminal: bool, env: impl Fn(&str) -> Option<OsString>) -> bool {
    let set = |k: &str| env(k).is_some_and(|v| !v.is_empty());
    if set("NO_COLOR") {
        return false;
    }
    if env("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    is_terminal && env("TERM").is_none_or(|t| t != "dumb") && env("CLICOLOR").is_none_or(|v| v != "0")
}

/// Whether to colour what goes to standard output.
pub fn stdout_color() -> bool {
    color_enabled(std::io::stdout().is_terminal(), |k| std::env::var_os(k))
}

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to generate completions for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `hapair completions SHELL`: the completion script on stdout.
pub fn completions(args: CompletionsArgs) -> Result<u8, Error> {
    let mut cmd = command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "hapair", &mut buf);
    write_stdout(&buf)
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write `hapair.1` and one `hapair-COMMAND.1` per subcommand into this folder instead of
    /// printing `hapair.1`
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// `hapair man`: the man page (roff) on stdout, or every page into `--dir`.
pub fn man(args: ManArgs) -> Result<u8, Error> {
    let cmd = command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| Error::new(format!("cannot create `{}`: {e}", dir.display())))?;
            clap_mangen::generate_to(cmd, &dir)
                .map_err(|e| Error::new(format!("cannot write the man pages into `{}`: {e}", dir.display())))?;
            Ok(0)
        }
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .map_err(|e| Error::new(format!("cannot render the man page: {e}")))?;
            write_stdout(&buf)
        }
    }
}

fn write_stdout(buf: &[u8]) -> Result<u8, Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(buf).and_then(|_| out.flush()) {
        Ok(()) => Ok(0),
        // `hapair man | head` closes the pipe early: not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(Error::new(format!("cannot write to standard output: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn colour_only_on_terminals_and_never_with_no_color() {
        assert!(color_enabled(true, env(&[])));
        assert!(!color_enabled(false, env(&[])));
        assert!(!color_enabled(true, env(&[("NO_COLOR", "1")])));
        // An empty NO_COLOR does not count (no-color.org).
        assert!(color_enabled(true, env(&[("NO_COLOR", "")])));
        assert!(!color_enabled(true, env(&[("TERM", "dumb")])));
        assert!(!color_enabled(true, env(&[("CLICOLOR", "0")])));
        assert!(color_enabled(false, env(&[("CLICOLOR_FORCE", "1")])));
        assert!(!color_enabled(false, env(&[("CLICOLOR_FORCE", "0")])));
        assert!(!color_enabled(true, env(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")])));
    }

    #[test]
    fn version_names_target_and_libc() {
        assert!(short_version().contains(TARGET), "{}", short_version());
        assert!(!TARGET.is_empty());
        let long = long_version();
        assert_eq!(long.lines().next(), Some(env!("CARGO_PKG_VERSION")));
        assert!(long.contains(&format!("target: {TARGET}")));
        assert!(long.contains(&format!("libc: {LIBC}")));
    }
}
