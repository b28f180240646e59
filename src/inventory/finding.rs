//! A finding of `check`: a rule code, how bad, where, what is wrong and how to fix it.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Where a value came from: a place in a file, or the command line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based; 0 when the value came from the command line or a built-in default.
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    #[serde(flatten)]
    pub location: Location,
    pub message: String,
    pub fix: String,
}

impl Finding {
    pub fn error(
        code: &'static str,
        location: Location,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding { code, severity: Severity::Error, location, message: message.into(), fix: fix.into() }
    }

    pub fn warning(
        code: &'static str,
        location: Location,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding { code, severity: Severity::Warning, location, message: message.into(), fix: fix.into() }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let l = &self.location;
        if l.line == 0 {
            write!(f, "{}: {sev}[{}]: {}", l.file.display(), self.code, self.message)?;
        } else {
            write!(f, "{}:{}:{}: {sev}[{}]: {}", l.file.display(), l.line, l.column, self.code, self.message)?;
        }
        if !self.fix.is_empty() {
            write!(f, "\n  fix: {}", self.fix)?;
        }
        Ok(())
    }
}

/// Findings in file order, errors before warnings at the same place.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (a.location.line == 0, a.location.line, a.location.column, a.severity, a.code, &a.message).cmp(&(
            b.location.line == 0,
            b.location.line,
            b.location.column,
            b.severity,
            b.code,
            &b.message,
        ))
    });
}
