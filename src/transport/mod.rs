//! How commands reach a node: a `Host` trait with an SSH implementation (one multiplexed
//! connection per host for the whole run) and a local one (unit and CLI tests). Commands are
//! argument lists; the only scripts are the fixed, reviewed ones in this crate, run as
//! `sh -c SCRIPT NAME ARGS...` with every variable part passed as a positional argument.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

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

/// The most stdout one remote command may send back (facts carry the managed files); more is
/// refused as an error, never buffered without bound (docs/limits.md).
pub const OUTPUT_CAP: usize = 64 << 20;
/// The stderr kept per command (it is only ever shown in messages); the rest is read and dropped.
pub const STDERR_CAP: usize = 64 << 10;
/// The time limit of one remote step unless the inventory's `connection.timeout` says otherwise.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(300);
/// Extra time a step gets per byte it uploads (at 256 KiB/s), so a large upload on a slow link
/// is not cut by the step limit.
const UPLOAD_RATE: u64 = 256 << 10;

/// A node commands can run on.
///
/// Every command is a named step with a time limit (`Host::timeout`), enforced here, in the
/// transport, for every caller: a hung `systemctl` or `nginx -t` fails the run with an error
/// naming host and step instead of hanging it. Output is bounded (`OUTPUT_CAP`).
pub trait Host: Send + Sync {
    /// The inventory name of the node.
    fn name(&self) -> &str;

    /// The time limit of one step on this host (before the upload allowance).
    fn timeout(&self) -> Duration {
        DEFAULT_STEP_TIMEOUT
    }

    /// Run `argv` as the step named `step` (no shell in between beyond what ssh itself imposes,
    /// see `SshHost`), feeding `stdin` if given; fails with a timeout error naming host and
    /// step when it takes longer than `step_limit`.
    fn run_step<'a>(
        &'a self,
        step: &'a str,
        argv: &'a [String],
        stdin: Option<&'a [u8]>,
        progress: Option<Progress>,
    ) -> BoxFuture<'a, Result<Output, Error>>;

    /// `run_step` with the step named after the command (`sh -c SCRIPT NAME …` is `NAME`).
    fn run<'a>(
        &'a self,
        argv: &'a [String],
        stdin: Option<&'a [u8]>,
        progress: Option<Progress>,
    ) -> BoxFuture<'a, Result<Output, Error>> {
        self.run_step(step_name(argv), argv, stdin, progress)
    }

    /// End the connection cleanly (the SSH master exits instead of being killed).
    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// The name of a step run without one: the program, or a fixed script's `$0` name.
pub fn step_name(argv: &[String]) -> &str {
    match argv {
        [sh, c, _, name, ..] if sh == "sh" && c == "-c" => name,
        [prog, ..] => prog,
        [] => "",
    }
}

/// The time limit of a step on `host` that uploads `stdin_len` bytes.
pub fn step_limit(host: &dyn Host, stdin_len: usize) -> Duration {
    host.timeout() + Duration::from_secs(stdin_len as u64 / UPLOAD_RATE)
}

fn show_limit(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// The error of a step that ran out of time.
pub fn timed_out(host: &str, step: &str, argv: &[String], limit: Duration) -> Error {
    Error::new(format!(
        "`{host}`: step `{step}` did not finish within {} and was stopped: `{}`",
        show_limit(limit),
        display_argv(argv)
    ))
    .with_fix("find out on the node why it hangs (`hapair doctor`), or raise `connection.timeout` if it is only slow")
}

/// Why reading a command's output stopped.
enum ReadFail {
    Io(std::io::Error),
    /// Stdout went past `OUTPUT_CAP`.
    TooMuch,
}

/// Read a command's stdout (refused past `OUTPUT_CAP`) and stderr (kept up to `STDERR_CAP`,
/// the rest drained) at the same time.
async fn collect<O, E>(
    host: &str,
    step: &str,
    stdout: Option<O>,
    stderr: Option<E>,
) -> Result<(Vec<u8>, Vec<u8>), Error>
where
    O: tokio::io::AsyncRead + Unpin,
    E: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    let out = async {
        let mut buf = Vec::new();
        if let Some(o) = stdout {
            o.take(OUTPUT_CAP as u64 + 1).read_to_end(&mut buf).await.map_err(ReadFail::Io)?;
        }
        // Past the cap the step ends at once (the stderr reader is dropped with it).
        if buf.len() > OUTPUT_CAP {
            return Err(ReadFail::TooMuch);
        }
        Ok(buf)
    };
    let err = async {
        let mut buf = Vec::new();
        if let Some(mut e) = stderr {
            let mut chunk = [0u8; 8192];
            loop {
                let n = e.read(&mut chunk).await.map_err(ReadFail::Io)?;
                if n == 0 {
                    break;
                }
                let room = STDERR_CAP.saturating_sub(buf.len()).min(n);
                buf.extend_from_slice(&chunk[..room]);
            }
        }
        Ok(buf)
    };
    tokio::try_join!(out, err).map_err(|e| match e {
        ReadFail::TooMuch => Error::new(format!(
            "`{host}`: step `{step}` sent more than {} of output; refused",
            crate::input::human(OUTPUT_CAP as u64)
        ))
        .with_fix("the node is broken or not what hapair expects; run `hapair doctor`"),
        ReadFail::Io(e) => Error::new(format!("`{host}`: step `{step}`: reading its output: {e}")),
    })
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
    let out = host.run_step(step, argv, stdin, None).await?;
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
    timeout: Duration,
}

impl LocalHost {
    pub fn new(name: impl Into<String>) -> LocalHost {
        LocalHost { name: name.into(), timeout: DEFAULT_STEP_TIMEOUT }
    }

    /// The same with another step time limit.
    pub fn with_timeout(mut self, timeout: Duration) -> LocalHost {
        self.timeout = timeout;
        self
    }
}

impl Host for LocalHost {
    fn name(&self) -> &str {
        &self.name
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn run_step<'a>(
        &'a self,
        step: &'a str,
        argv: &'a [String],
        stdin: Option<&'a [u8]>,
        progress: Option<Progress>,
    ) -> BoxFuture<'a, Result<Output, Error>> {
        Box::pin(async move {
            use std::process::Stdio;
            use tokio::io::AsyncWriteExt;
            let (prog, args) =
                argv.split_first().ok_or_else(|| Error::new(format!("`{}`: empty command", self.name)))?;
            let limit = step_limit(self, stdin.map_or(0, <[u8]>::len));
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
            let (so, se) = (child.stdout.take(), child.stderr.take());
            let work = async {
                let (fed, out) = tokio::join!(feed, collect(&self.name, step, so, se));
                let (stdout, stderr) = out?;
                let status = child.wait().await.map_err(|e| Error::new(format!("`{}`: `{prog}`: {e}", self.name)))?;
                Ok::<_, Error>((fed, status, stdout, stderr))
            };
            let (fed, status, stdout, stderr) = match tokio::time::timeout(limit, work).await {
                Ok(r) => r?,
                // `kill_on_drop`: the child dies with the dropped future.
                Err(_) => return Err(timed_out(&self.name, step, argv, limit)),
            };
            if let Err(e) = fed {
                // A command that exits early closes stdin; its exit status tells the story.
                if status.success() {
                    return Err(Error::new(format!("`{}`: writing to `{prog}`: {e}", self.name)));
                }
            }
            Ok(Output { code: status.code(), stdout, stderr })
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
    /// Add unknown host keys to the inventory's known_hosts instead of refusing.
    pub accept_new_host_keys: bool,
}

/// One multiplexed SSH connection (native mux) to a node, kept for the whole run (and after it
/// when `HAPAIR_SSH_PERSIST` says so, see `persist_setting`).
///
/// sshd runs every command through the login shell of the user, so each command costs a shell
/// start; callers batch work into few invocations.
pub struct SshHost {
    name: String,
    become_root: bool,
    timeout: Duration,
    session: openssh::Session,
    /// This connection's own private directory (control socket, ssh_config); removed on drop.
    /// `None` when the connection is kept between runs (its directory is `persist_root`'s).
    _dir: Option<tempfile::TempDir>,
    /// Leave the master running at `close` (it exits by itself once idle that long).
    persist: bool,
}

/// Opt-in: keep each node's master connection open this many seconds after its last use, so
/// that the next run within that time (`plan` then `apply`) skips the SSH login on every node.
pub const PERSIST_ENV: &str = "HAPAIR_SSH_PERSIST";
/// The longest `HAPAIR_SSH_PERSIST` accepted.
pub const PERSIST_MAX_SECS: u64 = 3600;

/// `HAPAIR_SSH_PERSIST`: unset, empty or `0` is off (every run logs in and out).
pub fn persist_setting() -> Result<Option<Duration>, Error> {
    std::env::var_os(PERSIST_ENV).map_or(Ok(None), |v| parse_persist(&v.to_string_lossy()))
}

/// A `HAPAIR_SSH_PERSIST` value: seconds, `0` or empty for off.
pub fn parse_persist(v: &str) -> Result<Option<Duration>, Error> {
    match v.trim().parse::<u64>() {
        _ if v.trim().is_empty() => Ok(None),
        Ok(0) => Ok(None),
        Ok(n) if n <= PERSIST_MAX_SECS => Ok(Some(Duration::from_secs(n))),
        _ => Err(Error::new(format!("`{PERSIST_ENV}={v}` is not a number of seconds from 0 to {PERSIST_MAX_SECS}"))
            .with_fix(format!("set e.g. `{PERSIST_ENV}=30`, or unset it to close connections at the end of each run"))),
    }
}

/// Where kept connections live: `hapair-kept-UID` in `$XDG_RUNTIME_DIR` (else the temp
/// directory), mode 0700 and owned by this user, or refused: nobody else may plant a socket or
/// an ssh_config there. One subdirectory per connection (`persist_key`).
pub fn persist_root() -> Result<std::path::PathBuf, Error> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("hapair-kept-{uid}"));
    private_subdir(&dir, uid)?;
    Ok(dir)
}

/// Create `dir` (mode 0700) unless it exists; either way it must be a directory (not a link)
/// owned by `uid` that no one else can enter.
fn private_subdir(dir: &Path, uid: u32) -> Result<(), Error> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::new(format!("cannot create `{}`: {e}", dir.display()))),
    }
    let m = std::fs::symlink_metadata(dir).map_err(|e| Error::new(format!("cannot read `{}`: {e}", dir.display())))?;
    if !m.file_type().is_dir() || m.uid() != uid || m.mode() & 0o077 != 0 {
        return Err(Error::new(format!(
            "`{}` is not a private directory of this user (owner {}, mode {:o}); no connection is kept in it",
            dir.display(),
            m.uid(),
            m.mode() & 0o7777
        ))
        .with_fix(format!("remove it, or unset {PERSIST_ENV}")));
    }
    Ok(())
}

/// The name of a kept connection: everything that decides what it is (destination, key, known
/// hosts, options), hashed. A change to any of them is another connection.
fn persist_key(node: &Node, opts: &SshOptions, cfg: &str) -> String {
    let c = &node.connection;
    let id = format!(
        "{}\0{}\0{}\0{:?}\0{:?}\0{:?}\0{}\0{cfg}",
        c.user, c.host, c.port, c.identity_file, c.known_hosts, c.jump_host, opts.accept_new_host_keys
    );
    crate::observe::sha256_hex(id.as_bytes())[..20].to_string()
}

/// Replace `path` with `text` (owner-only), atomically: a kept connection's files are rewritten
/// on every run.
fn replace_private(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = path.with_extension(format!("new{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, text)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::new(format!("cannot write `{}`: {e}", path.display())))
}

/// A kept master connection from an earlier run, if it still works: its control socket
/// answers, and one command makes the round trip to the node within 5 s (a master whose
/// network went away is not trusted until its keepalives give up).
async fn resume_kept(dir: &Path) -> Option<openssh::Session> {
    let ctl = std::fs::read_to_string(dir.join("ctl")).ok()?;
    let ctl = std::path::PathBuf::from(ctl.trim_end_matches('\n'));
    if !ctl.starts_with(dir) || !ctl.exists() {
        return None;
    }
    let session = openssh::Session::resume_mux(ctl.into_boxed_path(), None);
    let alive = async {
        session.check().await.ok()?;
        session.command("true").status().await.ok().filter(|s| s.success())
    };
    if tokio::time::timeout(Duration::from_secs(5), alive).await.ok().flatten().is_some() {
        return Some(session);
    }
    // Unusable: ask it to stop (a resumed session is not closed on drop), without waiting long.
    let _ = tokio::time::timeout(Duration::from_secs(2), session.close()).await;
    None
}

/// Remove the directories of masters that have exited (their socket gone or dead).
fn sweep_kept(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        let is_conn = e.file_name().to_string_lossy().starts_with(".ssh-connection");
        if is_conn
            && e.file_type().is_ok_and(|t| t.is_dir())
            && std::os::unix::net::UnixStream::connect(path.join("master")).is_err()
        {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// A new private directory for one connection: created atomically with mode 0700 and a random
/// name under the system's temp directory; an existing path is never reused (creation fails
/// instead), so no other local user can plant a socket or an ssh_config (`ProxyCommand`) in it.
pub fn private_dir(prefix: &str) -> Result<tempfile::TempDir, Error> {
    use std::os::unix::fs::PermissionsExt;
    let base = std::env::temp_dir();
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&base)
        .map_err(|e| Error::new(format!("cannot create a private directory in `{}`: {e}", base.display())))
}

/// Write `text` to a new file `path` (never an existing one) readable by the owner only.
fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| Error::new(format!("cannot write `{}`: {e}", path.display())))
}

impl SshHost {
    pub async fn connect(node: &Node, opts: &SshOptions) -> Result<SshHost, Error> {
        let c = &node.connection;
        let persist = persist_setting()?;
        // A config of our own: nothing from ~/.ssh/config or /etc/ssh/ssh_config leaks in.
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
        // One private directory and one config per connection (see `private_dir`); a kept
        // connection's directory is named after what it connects to (see `persist_root`).
        let (dir, kept) = match persist {
            None => (Some(private_dir("hapair-ssh-")?), None),
            Some(_) => {
                let root = persist_root()?;
                let kept = root.join(persist_key(node, opts, &cfg));
                // SAFETY: geteuid has no preconditions and cannot fail.
                private_subdir(&kept, unsafe { libc::geteuid() })?;
                (None, Some(kept))
            }
        };
        let base: &Path = match (&dir, &kept) {
            (Some(d), _) => d.path(),
            (None, Some(k)) => k,
            (None, None) => unreachable!("one of the two is set"),
        };
        if let Some(k) = &kept {
            if let Some(session) = resume_kept(k).await {
                return Ok(SshHost {
                    name: node.name.clone(),
                    become_root: c.become_root,
                    timeout: c.timeout,
                    session,
                    _dir: None,
                    persist: true,
                });
            }
            sweep_kept(k);
        }
        let config = base.join("ssh_config");
        if kept.is_some() {
            replace_private(&config, &cfg)?;
        } else {
            write_private(&config, &cfg)?;
        }

        let mut b = openssh::SessionBuilder::default();
        if let Some(d) = persist {
            let secs = std::num::NonZeroUsize::new(d.as_secs() as usize).unwrap_or(std::num::NonZeroUsize::MIN);
            b.control_persist(openssh::ControlPersist::IdleFor(secs));
        }
        b.user(c.user.clone())
            .port(c.port)
            .control_directory(base)
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
            Ok(session) => {
                if let Some(k) = &kept {
                    // Where the next run finds it.
                    let ctl = session.control_socket().display().to_string();
                    replace_private(&k.join("ctl"), &format!("{ctl}\n"))?;
                }
                Ok(SshHost {
                    name: node.name.clone(),
                    become_root: c.become_root,
                    timeout: c.timeout,
                    session,
                    _dir: dir,
                    persist: kept.is_some(),
                })
            }
            Err(e) => Err(connect_error(node, &error_chain(&e)).await),
        }
    }

    /// Close the master connection (or leave it for the next run, see `persist_setting`).
    pub async fn close(self) {
        if self.persist {
            let _ = self.session.detach();
        } else {
            let _ = self.session.close().await;
        }
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

/// The largest known_hosts file read (docs/limits.md).
pub const KNOWN_HOSTS_CAP: u64 = 16 << 20;

/// The key `known_hosts` holds for `host` (plain, non-hashed entries; `[host]:port` off 22).
pub fn known_key(known_hosts: &Path, host: &str, port: u16) -> Option<ssh_key::PublicKey> {
    let text = crate::input::read_text_capped(known_hosts, KNOWN_HOSTS_CAP).ok()?;
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

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move { SshHost::close(*self).await })
    }

    fn run_step<'a>(
        &'a self,
        step: &'a str,
        argv: &'a [String],
        stdin: Option<&'a [u8]>,
        progress: Option<Progress>,
    ) -> BoxFuture<'a, Result<Output, Error>> {
        Box::pin(async move {
            use openssh::Stdio;
            use tokio::io::AsyncWriteExt;
            if argv.is_empty() {
                return Err(Error::new(format!("`{}`: empty command", self.name)));
            }
            let limit = step_limit(self, stdin.map_or(0, <[u8]>::len));
            // The node stops the step itself at the limit (coreutils `timeout`, outside `sudo`
            // so sudoers rules still see the real command): a hung command does not stay behind.
            let secs = limit.as_secs().max(1).to_string();
            let mut full: Vec<&str> = vec!["timeout", "-k", "5", secs.as_str()];
            if self.become_root {
                full.extend(["sudo", "-n", "--"]);
            }
            full.extend(argv.iter().map(String::as_str));
            let (prog, args) = full.split_first().expect("not empty");
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
            let started = std::time::Instant::now();
            let work = async {
                let mut child = cmd.spawn().await.map_err(lost)?;
                let w = child.stdin().take();
                let feed = async move {
                    if let (Some(data), Some(mut w)) = (stdin, w) {
                        write_chunks(&mut w, data, progress).await?;
                        w.shutdown().await?;
                    }
                    Ok::<_, std::io::Error>(())
                };
                let (so, se) = (child.stdout().take(), child.stderr().take());
                let (fed, out) = tokio::join!(feed, collect(&self.name, step, so, se));
                let (stdout, stderr) = out?;
                let status = child.wait().await.map_err(lost)?;
                Ok::<_, Error>((fed, status, stdout, stderr))
            };
            // The local limit is a backstop for a connection that stops answering.
            let (fed, status, stdout, stderr) = match tokio::time::timeout(limit + Duration::from_secs(15), work).await
            {
                Ok(r) => r?,
                Err(_) => return Err(timed_out(&self.name, step, argv, limit)),
            };
            // 124: `timeout` stopped it; 137: it had to be killed after the grace period.
            if matches!(status.code(), Some(124 | 137)) && started.elapsed() >= limit {
                return Err(timed_out(&self.name, step, argv, limit));
            }
            if let Err(e) = fed {
                if status.success() {
                    return Err(Error::new(format!("`{}`: sending data: {e}", self.name)));
                }
            }
            Ok(Output { code: status.code(), stdout, stderr })
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
    fn persist_values() {
        assert_eq!(parse_persist("").expect("off"), None);
        assert_eq!(parse_persist("0").expect("off"), None);
        assert_eq!(parse_persist(" 30 ").expect("on"), Some(Duration::from_secs(30)));
        assert_eq!(parse_persist("3600").expect("on"), Some(Duration::from_secs(3600)));
        for bad in ["3601", "-1", "30s", "yes"] {
            let e = parse_persist(bad).expect_err(bad);
            assert_eq!(e.message, format!("`HAPAIR_SSH_PERSIST={bad}` is not a number of seconds from 0 to 3600"));
        }
    }

    #[test]
    fn kept_connections_live_only_in_a_private_directory_of_this_user() {
        use std::os::unix::fs::PermissionsExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        let t = tempfile::tempdir().expect("tempdir");
        let fresh = t.path().join("fresh");
        private_subdir(&fresh, uid).expect("made private");
        let mode = std::fs::metadata(&fresh).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        private_subdir(&fresh, uid).expect("an existing private directory is fine");
        let open = t.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let e = private_subdir(&open, uid).expect_err("group and others can enter");
        assert!(
            e.message.contains("is not a private directory of this user") && e.message.contains("mode 755"),
            "{}",
            e.message
        );
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&fresh, &link).expect("symlink");
        assert!(private_subdir(&link, uid).is_err(), "a symlink, even to a private directory, is refused");
        assert!(private_subdir(&fresh, uid + 1).is_err(), "another user's directory is refused");
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

    #[test]
    fn a_hung_step_times_out_naming_host_and_step() {
        let h = LocalHost::new("web1").with_timeout(Duration::from_millis(300));
        let t = std::time::Instant::now();
        let e = rt()
            .block_on(check(&h, "validate nginx.conf (nginx -t)", &argv(["sleep", "30"]), None))
            .expect_err("times out");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert_eq!(
            e.message,
            "`web1`: step `validate nginx.conf (nginx -t)` did not finish within 300 ms and was stopped: `sleep 30`"
        );
        // Callers of `run` get the same limit, the step named after the command.
        let e =
            rt().block_on(h.run(&argv(["sh", "-c", "sleep 30", "hapair-facts"]), None, None)).expect_err("times out");
        assert!(e.message.starts_with("`web1`: step `hapair-facts` did not finish within 300 ms"), "{}", e.message);
        // Uploads get more time per byte.
        assert_eq!(step_limit(&h, 1 << 20), Duration::from_millis(4300));
    }

    #[test]
    fn endless_output_is_refused_at_the_cap() {
        let h = LocalHost::new("web1");
        let e = rt().block_on(h.run(&argv(["yes"]), None, None)).expect_err("refused");
        assert_eq!(e.message, "`web1`: step `yes` sent more than 64 MiB of output; refused");
        // Endless stderr is drained and kept only up to its cap.
        let out = rt()
            .block_on(h.run(&argv(["sh", "-c", "head -c 1000000 /dev/zero >&2; echo done", "x"]), None, None))
            .expect("runs");
        assert_eq!(out.stderr.len(), STDERR_CAP);
        assert_eq!(out.stdout, b"done\n");
    }

    #[test]
    fn each_connection_gets_a_new_private_directory() {
        use std::os::unix::fs::PermissionsExt;
        let a = private_dir("hapair-test-").expect("created");
        let b = private_dir("hapair-test-").expect("created");
        assert_ne!(a.path(), b.path());
        for d in [&a, &b] {
            let m = std::fs::metadata(d.path()).expect("exists");
            assert_eq!(m.permissions().mode() & 0o777, 0o700);
        }
        let cfg = a.path().join("ssh_config");
        write_private(&cfg, "Host *\n").expect("written");
        assert_eq!(std::fs::metadata(&cfg).expect("exists").permissions().mode() & 0o777, 0o600);
        // A file already there (planted) is never written over or reused.
        assert!(write_private(&cfg, "Host *\n  ProxyCommand id\n").is_err());
        assert_eq!(std::fs::read_to_string(&cfg).expect("read"), "Host *\n");
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists(), "removed with the connection");
    }
}
