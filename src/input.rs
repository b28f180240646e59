//! Reading input files with a size cap: every file hapair reads has one, documented in
//! `docs/limits.md`, so an endless (`/dev/zero`) or huge file is refused with a clear error
//! instead of growing memory without bound.

use std::io::Read;
use std::path::Path;

/// Why a capped read failed.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// The file holds more than `cap` bytes (reading stopped at `cap + 1`).
    TooLarge { cap: u64 },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "cannot read it: {e}"),
            ReadError::TooLarge { cap } => {
                write!(f, "it is larger than {}, the limit for this kind of file", human(*cap))
            }
        }
    }
}

impl ReadError {
    /// The reason alone, for messages that already say "cannot read `FILE`: ".
    pub fn reason(&self) -> String {
        match self {
            ReadError::Io(e) => e.to_string(),
            e => e.to_string(),
        }
    }
}

/// `1 MiB`, `64 KiB`, `512 bytes`.
pub fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// Read at most `cap` bytes of `path`; a file with more is refused (never truncated silently).
/// Works on pipes and character devices too: it never trusts the reported size.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    read_capped_from(file, cap)
}

/// `read_capped`, as UTF-8 text.
pub fn read_text_capped(path: &Path, cap: u64) -> Result<String, ReadError> {
    String::from_utf8(read_capped(path, cap)?)
        .map_err(|_| ReadError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text")))
}

/// The largest daemon configuration (`hapair vrrpd --config`) read (docs/limits.md).
pub const DAEMON_CONFIG_CAP: u64 = 64 << 10;
/// The largest daemon status file read (`hapair vrrpd status`, docs/limits.md).
pub const STATUS_FILE_CAP: u64 = 1 << 20;

/// `read_capped` for any reader (stdin, a child's output).
pub fn read_capped_from(reader: impl Read, cap: u64) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::new();
    reader.take(cap.saturating_add(1)).read_to_end(&mut buf).map_err(ReadError::Io)?;
    if buf.len() as u64 > cap {
        return Err(ReadError::TooLarge { cap });
    }
    Ok(buf)
}

/// Why YAML text was refused by `yaml`: where, and what (the message has no location in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The one bounded way to read YAML into a serde type (daemon config, role files): the text
/// first goes through the inventory's positioned parser, which refuses NUL and control
/// characters and bounds nesting, alias expansion and size (`inventory::tree::LIMITS`,
/// docs/limits.md) at the first event past a bound; only then does serde see it. A UTF-8
/// byte-order mark is accepted.
pub fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    use crate::inventory::tree::{self, TreeError};
    let text = tree::strip_bom(text);
    match tree::parse(text) {
        Ok(_) => {}
        Err(
            TreeError::Syntax { pos, message }
            | TreeError::Limit { pos, message }
            | TreeError::BadChar { pos, message },
        ) => return Err(YamlError { line: pos.line, column: pos.col, message }),
        Err(TreeError::DuplicateKey { key, pos, .. }) => {
            return Err(YamlError { line: pos.line, column: pos.col, message: format!("duplicate key `{key}`") })
        }
        Err(TreeError::ComplexKey { pos }) => {
            return Err(YamlError { line: pos.line, column: pos.col, message: "a key must be a plain name".into() })
        }
    }
    serde_yaml_ng::from_str(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
        // serde_yaml_ng appends " at line L column C"; the location is returned apart.
        let mut message = e.to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        YamlError { line, column, message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_is_refused_at_the_cap() {
        let e = read_capped(Path::new("/dev/zero"), 4096).expect_err("endless");
        assert!(matches!(e, ReadError::TooLarge { cap: 4096 }));
        assert_eq!(e.to_string(), "it is larger than 4 KiB, the limit for this kind of file");
    }

    #[test]
    fn a_file_of_exactly_the_cap_is_read_whole() {
        let data = vec![b'x'; 1000];
        assert_eq!(read_capped_from(&data[..], 1000).expect("fits").len(), 1000);
        assert!(matches!(read_capped_from(&data[..], 999), Err(ReadError::TooLarge { cap: 999 })));
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human(1 << 20), "1 MiB");
        assert_eq!(human(64 << 10), "64 KiB");
        assert_eq!(human(1500), "1500 bytes");
    }

    #[test]
    fn yaml_is_bounded_and_located() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[allow(dead_code)]
            a: Vec<String>,
        }
        let mut laughs = String::from("x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..9 {
            laughs.push_str(&format!("x{i}: &x{i} [{}]\n", vec![format!("*x{}", i - 1); 9].join(", ")));
        }
        let e = yaml::<serde_yaml_ng::Value>(&laughs).expect_err("bounded");
        assert_eq!(e.line, 6);
        assert!(e.message.contains("more than 200000 values"), "{e:?}");
        let e = yaml::<T>("a: [x]\nb: \u{0}\n").expect_err("NUL");
        assert_eq!((e.line, e.column), (2, 4));
        let e = yaml::<T>("a: 1\n").expect_err("type");
        assert_eq!((e.line, e.message.as_str()), (1, "a: invalid type: integer `1`, expected a sequence"));
        assert_eq!(yaml::<T>("\u{feff}a: [x]\n").expect("BOM").a, vec!["x".to_string()]);
    }
}
