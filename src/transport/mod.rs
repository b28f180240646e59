//! How commands reach a node: a `Host` trait with an SSH implementation (one multiplexed
//! connection per host for the whole run) and a local one (unit and CLI tests). Commands are
//! argument lists; the only scripts are the fixed, reviewed ones in this crate, run as
//! `sh -c SCRIPT NAME ARGS...` with every variable part passed as a positional argument.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use crate::error::Error;
use crate::inventory::Node;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Called with the number of stdin bytes sent so far (upload progress).
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// `None` when the command was killed by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_string()
    }
}

/// A node commands can run on.
pub trait Host: Send + Sync {
    /// The inventory name of the node.
    fn name(&self) -> &str;
    /// Run `argv` (no shell in between beyond what ssh itself imposes, see `SshHost`), feeding
    /// `stdin` if given.
    fn run<'a>(
        &'a self,
        argv: &'a [String],
        stdin: Option<&'a [u8]>,
        progress: Option<Progress>,
    ) -> BoxFuture<'a, Result<Output, Error>>;

    /// End the connection cleanly (the SSH master exits instead of being killed).
    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// `argv` as one readable line for error messages (not for execution).
pub fn display_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.contains('\n') {
                // The fixed scripts: name them, don't dump them.
                "'<script>'".to_string()
            } else if a.is_empty() || a.contains(|c: char| !(c.is_ascii_alphanumeric() || "-_./=:@,+%".contains(c))) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Build an argv from string-likes.
pub fn argv<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

/// Run `argv` on `host` and fail unless it exits 0; the error names host, command and stderr.
pub async fn check(host: &dyn Host, step: &str, argv: &[String], stdin: Option<&[u8]>) -> Result<Output, Error> {
    let out = host.run(argv, stdin, None).await?;
    if out.success() {
        Ok(out)
    } else {
        Err(command_failed(host.name(), step, argv, &out))
    }
}

pub fn command_failed(host: &str, step: &str, argv: &[String], out: &Output) -> Error {
    let code = out.code.map(|c| c.to_string()).unwrap_or_else(|| "a signal".into());
    let stderr = out.stderr_text();
    let stderr = if stderr.is_empty() { String::from_utf8_lossy(&out.stdout).trim().to_string() } else { stderr };
    Error::new(format!("`{host}`: step `{step}` failed: `{}` exited with {code}: {stderr}", display_argv(argv)))
}

const WRITE_SCRIPT: &str = r#"
# hapair write: stdin -> a temp file in the target's folder, owner and mode set, then renamed
# over the target (atomic). With STAGE=stage it stops before the rename and prints the temp path.
# The content's sha256 must match SHA256: a cut connection ends stdin early, and `cat` would
# happily call a truncated stream complete.
# Args: PATH MODE OWNER GROUP STAGE SHA256
set -eu
p=$1 m=$2 o=$3 g=$4
d=$(dirname -- "$p")
mkdir -p -- "$d"
t=$(mktemp -- "$d/.hapair-new.XXXXXX")
trap 'rm -f -- "$t"' EXIT
trap 'rm -f -- "$t"; exit 1' HUP INT TERM PIPE
cat > "$t"
got=$(sha256sum -- "$t")
if [ "${got%% *}" != "$6" ]; then
  echo "incomplete upload of $p: $(wc -c < "$t") bytes arrived, their sha256 differs" >&2
  exit 1
fi
chown -- "$o:$g" "$t"
chmod -- "$m" "$t"
if [ "$5" = stage ]; then trap - EXIT; printf '%s\n' "$t"; exit 0; fi
mv -f -- "$t" "$p"
trap - EXIT
"#;

/// The argv that writes `content` (sent on stdin) to `path` atomically, or only stages it,
/// printing the temp path. The target checks the content's hash before using it.
pub fn write_argv(path: &str, mode: u32, owner: &str, group: &str, stage: bool, content: &[u8]) -> Vec<String> {
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(content).iter().map(|b| format!("{b:02x}")).collect();
    argv([
        "sh",
        "-c",
        WRITE_SCRIPT,
        "hapair-write",
        path,
        &format!("{mode:o}"),
        owner,
        group,
        if stage { "stage" } else { "final" },
        &sha,
    ])
}

/// Runs argv on this machine. For tests and for `--local` use; never spawns a shell itself.
pub struct LocalHost {
    name: String,
}

impl LocalHost {
    pub fn new(name: impl Into<String>) -> LocalHost {
        LocalHost { name: name.into() }
    }
}

impl Host for LocalHost {
    fn name(&self) -> &str {
        &self.name
    }

    fn run<'a>(
        &'a self,
        argv: &'a [String],
        stdin: Option<&'a [u8]>,
        progress: Option<Progress>,
    ) -> BoxFuture<'a, Result<Output, Error>> {
        Box::pin(async move {
            use std::process::Stdio;
            use tokio::io::AsyncWriteExt;
            let (prog, args) =
                argv.split_first().ok_or_else(|| Error::new(format!("`{}`: empty command", self.name)))?;
            let mut cmd = tokio::process::Command::new(prog);
            cmd.args(args)
                .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            let mut child =
                cmd.spawn().map_err(|e| Error::new(format!("`{}`: cannot run `{prog}`: {e}", self.name)))?;
            let w = child.stdin.take();
            let feed = async move {
                if let (Some(data), Some(mut w)) = (stdin, w) {
                    write_chunks(&mut w, data, progress).await?;
                    w.shutdown().await?;
                }
                Ok::<_, std::io::Error>(())
            };
            let (fed, out) = tokio::join!(feed, child.wait_with_output());
            let out = out.map_err(|e| Error::new(format!("`{}`: `{prog}`: {e}", self.name)))?;
            if let Err(e) = fed {
                // A command that exits early closes stdin; its exit status tells the story.
                if out.status.success() {
                    return Err(Error::new(format!("`{}`: writing to `{prog}`: {e}", self.name)));
                }
            }
            Ok(Output { code: out.status.code(), stdout: out.stdout, stderr: out.stderr })
        })
    }
}

async fn write_chunks<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    data: &[u8],
    progress: Option<Progress>,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut sent = 0u64;
    for chunk in data.chunks(256 * 1024) {
        w.write_all(chunk).await?;
        sent += chunk.len() as u64;
        if let Some(p) = &progress {
            p(sent);
        }
    }
    w.flush().await
}

/// How to reach nodes over SSH.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Where control sockets and the generated ssh config live (private to this run).
    pub control_dir: PathBuf,
    /// Add unknown host keys to the inventory's known_hosts instead of refusing.
    pub accept_new_host_keys: bool,
}

/// One multiplexed SSH connection (native mux) to a node, kept for the whole run.
///
/// sshd runs every command through the login shell of the user, so each command costs a shell
/// start; callers batch work into few invocations.
pub struct SshHost {
    name: String,
    become_root: bool,
    session: openssh::Session,
}

impl SshHost {
    pub async fn connect(node: &Node, opts: &SshOptions) -> Result<SshHost, Error> {
        let c = &node.connection;
        std::fs::create_dir_all(&opts.control_dir)
            .map_err(|e| Error::new(format!("cannot create `{}`: {e}", opts.control_dir.display())))?;
        // A config of our own: nothing from ~/.ssh/config or /etc/ssh/ssh_config leaks in. One
        // per node: it also carries the node's key and known_hosts for its jump host.
        let config = opts.control_dir.join(format!("ssh_config.{}", node.name));
        let mut cfg = String::from(
            "Host *\n  BatchMode yes\n  LogLevel ERROR\n  PasswordAuthentication no\n  KbdInteractiveAuthentication no\n  UpdateHostKeys no\n  HashKnownHosts no\n",
        );
        // curve25519 first: the post-quantum hybrid (sntrup761) costs ~100 ms per handshake
        // on small hosts, a fifth of a no-op run; it stays allowed as a fallback.
        cfg.push_str(
            "  KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org,sntrup761x25519-sha512@openssh.com\n",
        );
        if c.known_hosts.is_some() {
            // Only the inventory's known_hosts is trusted.
            cfg.push_str("  GlobalKnownHostsFile /dev/null\n");
        }
        if c.jump_host.is_some() {
            // ssh hands `-F` (this file) to the jump connection, but not the `-o`/`-i` options
            // below: the jump host is checked against the same known_hosts, with the same key.
            let quoted = |p: &Path| format!("\"{}\"", p.display().to_string().replace('"', ""));
            if let Some(kh) = &c.known_hosts {
                cfg.push_str(&format!("  UserKnownHostsFile {}\n", quoted(kh)));
            }
            if let Some(k) = &c.identity_file {
                cfg.push_str(&format!("  IdentityFile {}\n", quoted(k)));
            }
            if opts.accept_new_host_keys {
                cfg.push_str("  StrictHostKeyChecking accept-new\n");
            }
            cfg.push_str("  ConnectTimeout 10\n");
        }
        std::fs::write(&config, cfg).map_err(|e| Error::new(format!("cannot write `{}`: {e}", config.display())))?;

        let mut b = openssh::SessionBuilder::default();
        b.user(c.user.clone())
            .port(c.port)
            .control_directory(&opts.control_dir)
            .config_file(&config)
            .connect_timeout(std::time::Duration::from_secs(10))
            .server_alive_interval(std::time::Duration::from_secs(15))
            .known_hosts_check(if opts.accept_new_host_keys {
                openssh::KnownHosts::Add
            } else {
                openssh::KnownHosts::Strict
            });
        if let Some(k) = &c.identity_file {
            b.keyfile(k);
        }
        if let Some(kh) = &c.known_hosts {
            b.user_known_hosts_file(kh);
        }
        if let Some(j) = &c.jump_host {
            b.jump_hosts([j.as_str()]);
        }
        match b.connect_mux(&c.host).await {
            Ok(session) => Ok(SshHost { name: node.name.clone(), become_root: c.become_root, session }),
            Err(e) => Err(connect_error(node, &error_chain(&e)).await),
        }
    }

    /// Close the master connection.
    pub async fn close(self) {
        let _ = self.session.close().await;
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(x.to_string().trim());
        src = x.source();
    }
    s
}

/// Turn ssh's failure into a message that says what to do; host key problems name both
/// fingerprints.
async fn connect_error(node: &Node, chain: &str) -> Error {
    let c = &node.connection;
    let changed = chain.contains("REMOTE HOST IDENTIFICATION HAS CHANGED");
    let unknown = !changed && chain.contains("Host key verification failed");
    if changed || unknown {
        let expected = c.known_hosts.as_deref().and_then(|kh| known_key(kh, &c.host, c.port));
        let algorithm = expected.as_ref().map(|k| k.algorithm());
        let got = scan_key(&c.host, c.port, algorithm.as_ref()).await;
        let fp = |k: &ssh_key::PublicKey| k.fingerprint(ssh_key::HashAlg::Sha256).to_string();
        let got_s = got.as_ref().map(fp).unwrap_or_else(|| "an unreadable key".into());
        let kh =
            c.known_hosts.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "~/.ssh/known_hosts".into());
        return match expected {
            Some(exp) if changed => {
                Error::new(format!("host key of `{}` changed: expected {}, got {got_s}", node.name, fp(&exp))).with_fix(
                    format!(
                        "if the host was reinstalled on purpose, replace its line in `{kh}`; otherwise do not connect"
                    ),
                )
            }
            _ => Error::new(format!("host key of `{}` is not in `{kh}`: got {got_s}", node.name))
                .with_fix("check the fingerprint out of band, then run again with `--accept-new-host-keys`"),
        };
    }
    Error::new(format!("cannot connect to `{}` ({}@{}:{}): {}", node.name, c.user, c.host, c.port, chain.trim()))
        .with_fix("check the node is up and its `connection` settings in the inventory")
}

/// The key `known_hosts` holds for `host` (plain, non-hashed entries; `[host]:port` off 22).
pub fn known_key(known_hosts: &Path, host: &str, port: u16) -> Option<ssh_key::PublicKey> {
    let text = std::fs::read_to_string(known_hosts).ok()?;
    let want = if port == 22 { host.to_string() } else { format!("[{host}]:{port}") };
    for entry in ssh_key::known_hosts::KnownHosts::new(&text).flatten() {
        if entry.marker().is_some() {
            continue;
        }
        if let ssh_key::known_hosts::HostPatterns::Patterns(p) = entry.host_patterns() {
            if p.iter().any(|x| x == &want) {
                return Some(entry.public_key().clone());
            }
        }
    }
    None
}

/// What the host presents now (`ssh-keyscan`), of the same algorithm as `prefer` if given.
async fn scan_key(host: &str, port: u16, prefer: Option<&ssh_key::Algorithm>) -> Option<ssh_key::PublicKey> {
    let out = tokio::process::Command::new("ssh-keyscan")
        .args(["-T", "5", "-p", &port.to_string(), "--", host])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let keys: Vec<ssh_key::PublicKey> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' ').map(|(_, k)| k))
        .filter_map(|k| ssh_key::PublicKey::from_openssh(k).ok())
        .collect();
    match prefer {
        Some(a) => keys.iter().find(|k| &k.algorithm() == a).cloned().or_else(|| keys.first().cloned()),
        None => keys.first().cloned(),
    }
}

impl Host for SshHost {
    fn name(&self) -> &str {
        &self.name
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self.session.close().await;
        })
    }

    fn run<'a>(
        &'a self,
        argv: &'a [String],
        stdin: Option<&'a [u8]>,
        progress: Option<Progress>,
    ) -> BoxFuture<'a, Result<Output, Error>> {
        Box::pin(async move {
            use openssh::Stdio;
            use tokio::io::AsyncWriteExt;
            let full: Vec<&str> = if self.become_root {
                ["sudo", "-n", "--"].into_iter().chain(argv.iter().map(String::as_str)).collect()
            } else {
                argv.iter().map(String::as_str).collect()
            };
            let (prog, args) =
                full.split_first().ok_or_else(|| Error::new(format!("`{}`: empty command", self.name)))?;
            // `command`/`arg` quote every word for the remote shell: argv stays argv.
            let mut cmd = self.session.command(*prog);
            cmd.args(args.iter().copied())
                .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let lost = |e: openssh::Error| {
                Error::new(format!("`{}`: ssh: {}", self.name, error_chain(&e)))
                    .with_fix("check the connection to the node and run again")
            };
            let mut child = cmd.spawn().await.map_err(lost)?;
            let w = child.stdin().take();
            let feed = async move {
                if let (Some(data), Some(mut w)) = (stdin, w) {
                    write_chunks(&mut w, data, progress).await?;
                    w.shutdown().await?;
                }
                Ok::<_, std::io::Error>(())
            };
            let (fed, out) = tokio::join!(feed, child.wait_with_output());
            let out = out.map_err(lost)?;
            if let Err(e) = fed {
                if out.status.success() {
                    return Err(Error::new(format!("`{}`: sending data: {e}", self.name)));
                }
            }
            Ok(Output { code: out.status.code(), stdout: out.stdout, stderr: out.stderr })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
    }

    #[test]
    fn local_host_runs_argv_without_a_shell() {
        let h = LocalHost::new("local");
        let out = rt().block_on(h.run(&argv(["printf", "%s|", "a b", "$(id)", "'"]), None, None)).expect("runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a b|$(id)|'|");
    }

    #[test]
    fn write_is_atomic_and_sets_mode() {
        let dir = std::env::temp_dir().join(format!("hapair-write-{}", std::process::id()));
        let path = dir.join("sub/f.conf");
        let path_s = path.to_string_lossy().to_string();
        let h = LocalHost::new("local");
        let out = rt()
            .block_on(h.run(&write_argv(&path_s, 0o600, "root", "root", false, b"hello\n"), Some(b"hello\n"), None))
            .expect("runs");
        assert!(out.success(), "{}", out.stderr_text());
        assert_eq!(std::fs::read(&path).expect("written"), b"hello\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Staging leaves the target alone and names the temp file.
        let out = rt()
            .block_on(h.run(&write_argv(&path_s, 0o644, "root", "root", true, b"new\n"), Some(b"new\n"), None))
            .expect("runs");
        let staged = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(staged.starts_with(&dir.join("sub/.hapair-new.").to_string_lossy().to_string()), "{staged}");
        assert_eq!(std::fs::read(&path).expect("written"), b"hello\n");
        assert_eq!(std::fs::read(&staged).expect("staged"), b"new\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_truncated_upload_is_refused_and_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("hapair-trunc-{}", std::process::id()));
        let path = dir.join("f");
        let path_s = path.to_string_lossy().to_string();
        let h = LocalHost::new("local");
        // As when the connection drops mid-stream: stdin ends before the whole content arrived.
        let out = rt()
            .block_on(h.run(&write_argv(&path_s, 0o644, "root", "root", false, b"hello world\n"), Some(b"hello"), None))
            .expect("runs");
        assert!(!out.success());
        assert_eq!(out.stderr_text(), format!("incomplete upload of {path_s}: 5 bytes arrived, their sha256 differs"));
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0), 0, "a temp file was left");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn failures_name_host_step_command_and_stderr() {
        let h = LocalHost::new("web1");
        let e = rt()
            .block_on(check(&h, "probe", &argv(["sh", "-c", "echo bad >&2; exit 3", "x"]), None))
            .expect_err("fails");
        assert_eq!(e.message, "`web1`: step `probe` failed: `sh -c 'echo bad >&2; exit 3' x` exited with 3: bad");
    }

    #[test]
    fn known_key_reads_plain_and_bracketed_entries() {
        let dir = std::env::temp_dir().join(format!("hapair-kh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let kh = dir.join("known_hosts");
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
        std::fs::write(&kh, format!("10.77.1.11 {key}\n[10.77.1.12]:2222 {key}\n")).expect("write");
        assert!(known_key(&kh, "10.77.1.11", 22).is_some());
        assert!(known_key(&kh, "10.77.1.12", 2222).is_some());
        assert!(known_key(&kh, "10.77.1.12", 22).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
