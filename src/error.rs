//! The one error type that reaches the CLI. Modules keep their own typed errors and convert
//! into this at their boundary; only `cli` prints it and picks the exit code.

use std::fmt;

/// What went wrong, where, and what to do about it.
///
/// Messages are lowercase, name things in backticks, and say what happened; `fix` says what to
/// do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub message: String,
    pub fix: Option<String>,
    /// Process exit code when this error ends the run (1 unless said otherwise).
    pub exit_code: u8,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Error { message: message.into(), fix: None, exit_code: 1 }
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub fn with_exit_code(mut self, code: u8) -> Self {
        self.exit_code = code;
        self
    }

    /// Prefix the message with context, e.g. the host or step it happened in.
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.message = format!("{ctx}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
