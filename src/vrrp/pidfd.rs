//! A process's exit as an event: `pidfd_open(2)` (Linux 5.3) gives a descriptor that becomes
//! readable when the process exits. Used to see nginx's master process go at once.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub struct PidFd {
    fd: AsyncFd<OwnedFd>,
}

/// Open a pidfd on `pid`. Fails when the process does not exist or the kernel is older.
pub fn open(pid: i32) -> io::Result<PidFd> {
    if pid <= 0 {
        return Err(io::Error::other("not a process id"));
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(r as i32) };
    // SAFETY: the descriptor is open and owned by the AsyncFd for its whole life.
    let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
    Ok(PidFd { fd })
}

impl PidFd {
    /// Resolves when the process has exited.
    pub async fn exited(&self) -> io::Result<()> {
        let mut g = self.fd.readable().await?;
        g.retain_ready();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_child_exiting_is_seen() {
        let mut child = std::process::Command::new("sleep").arg("0.2").spawn().unwrap();
        let fd = super::open(child.id() as i32).unwrap();
        let t = std::time::Instant::now();
        tokio::time::timeout(std::time::Duration::from_secs(5), fd.exited()).await.unwrap().unwrap();
        assert!(t.elapsed() >= std::time::Duration::from_millis(150));
        child.wait().unwrap();
        assert!(super::open(0).is_err());
    }
}
