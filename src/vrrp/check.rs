//! The node's health check: a plain HTTP GET to local nginx, or an external script with
//! keepalived's semantics (exit 0 = success). One run per call; fall/rise counting is pure
//! (`fsm::CheckTracker`).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::config::CheckKind;

/// Run the check once within `timeout`. `Ok(())` is success; `Err` says what failed.
pub async fn run_once(kind: &CheckKind, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, attempt(kind)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

async fn attempt(kind: &CheckKind) -> Result<(), String> {
    match kind {
        CheckKind::None => Ok(()),
        CheckKind::Http { addr, host, path } => {
            let mut s =
                tokio::net::TcpStream::connect(*addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            let req =
                format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: hapair-vrrpd\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.map_err(|e| format!("cannot send the request to {addr}: {e}"))?;
            // The status line is all we need; read a little, never the whole body.
            let mut buf = [0u8; 64];
            let mut n = 0;
            while n < buf.len() && !buf[..n].contains(&b'\n') {
                let k = s.read(&mut buf[n..]).await.map_err(|e| format!("cannot read the answer from {addr}: {e}"))?;
                if k == 0 {
                    break;
                }
                n += k;
            }
            match status_code(&buf[..n]) {
                Some(c) if (200..400).contains(&c) => Ok(()),
                Some(c) => Err(format!("GET http://{host}{path} answered {c}")),
                None => Err(format!("GET http://{host}{path} did not answer HTTP")),
            }
        }
        CheckKind::Script(argv) => {
            let (prog, args) = argv.split_first().ok_or("the check script is empty")?;
            let status = tokio::process::Command::new(prog)
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .status()
                .await
                .map_err(|e| format!("cannot run `{prog}`: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("`{prog}` exited with {status}"))
            }
        }
    }
}

/// The status code of an HTTP/1.x status line.
pub fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut it = line.split_whitespace();
    if !it.next()?.starts_with("HTTP/1.") {
        return None;
    }
    it.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::status_code;

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\nServer: nginx"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 503 Service Unavailable\r\n"), Some(503));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b""), None);
        assert_eq!(status_code(b"HTTP/1.1 abc"), None);
    }
}
