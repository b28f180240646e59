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

/// `read_capped` for any reader (stdin, a child's output).
pub fn read_capped_from(reader: impl Read, cap: u64) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::new();
    reader.take(cap.saturating_add(1)).read_to_end(&mut buf).map_err(ReadError::Io)?;
    if buf.len() as u64 > cap {
        return Err(ReadError::TooLarge { cap });
    }
    Ok(buf)
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
}
