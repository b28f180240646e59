//! The daemon's control socket (a unix stream socket, mode 0600 by the unit's umask, root
//! only): one request line, one reply. `handover [VRID...]` makes each master resign and keep
//! its VIPs until the peer holds them (make-before-break), then yield; `claim [VRID...]` makes a
//! yielded node take part in preemption again. Used by `hapair vrrpd ctl` and, over SSH, by
//! `hapair switchover`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

pub struct Request {
    pub command: String,
    pub reply: oneshot::Sender<String>,
}

/// Requests are at most this long (a verb and a few VRIDs).
const MAX_LINE: u64 = 1024;

/// Listen on `path` (an old socket file is replaced); each request goes to `tx`.
pub fn serve(path: Option<PathBuf>, tx: mpsc::Sender<Request>) -> Result<tokio::task::JoinHandle<()>, String> {
    let Some(path) = path else {
        return Ok(tokio::spawn(async {}));
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)
        .map_err(|e| format!("cannot listen on the control socket `{}`: {e}", path.display()))?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut line = String::new();
                let read = tokio::time::timeout(
                    Duration::from_secs(2),
                    tokio::io::AsyncReadExt::take(BufReader::new(r), MAX_LINE).read_line(&mut line),
                )
                .await;
                if !matches!(read, Ok(Ok(_))) {
                    return;
                }
                let (reply, rx) = oneshot::channel();
                if tx.send(Request { command: line.trim().to_string(), reply }).await.is_err() {
                    return;
                }
                if let Ok(answer) = rx.await {
                    let _ = w.write_all(answer.as_bytes()).await;
                }
            });
        }
    }))
}

/// Send one request and return the reply (client side, `hapair vrrpd ctl`).
pub async fn request(path: &Path, command: &str) -> Result<String, String> {
    use tokio::io::AsyncReadExt;
    let mut s = tokio::time::timeout(Duration::from_secs(2), tokio::net::UnixStream::connect(path))
        .await
        .map_err(|_| format!("`{}` did not answer within 2 s", path.display()))?
        .map_err(|e| format!("cannot connect to `{}`: {e}", path.display()))?;
    s.write_all(format!("{command}\n").as_bytes()).await.map_err(|e| e.to_string())?;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .map_err(|_| "the daemon did not answer within 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(out)
}
