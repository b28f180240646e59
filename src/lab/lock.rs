//! An exclusive advisory lock on a file, held until dropped (flock: released if we die).

use crate::error::Error;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

pub struct Lock(#[allow(dead_code)] File);

impl Lock {
    pub fn exclusive(path: &Path) -> Result<Lock, Error> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::new(format!("cannot open lock `{}`: {e}", path.display())))?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(Error::new(format!("cannot lock `{}`: {}", path.display(), std::io::Error::last_os_error())));
        }
        Ok(Lock(file))
    }
}
