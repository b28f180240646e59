//! One lab host: an overlay over the base, its own network namespace and cgroup, booted with
//! systemd-nspawn, entered with nsenter.

use super::cmd;
use super::state::HostState;
use crate::error::Error;
use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// cgroup hierarchies each host gets its own group in (hybrid layout: the unified hierarchy and
/// the named systemd one). Sharing a group makes the hosts' systemds manage each other.
const CGROUP_ROOTS: &[&str] = &["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"];

pub struct HostPaths {
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
    pub console: PathBuf,
}

impl HostPaths {
    pub fn new(lab_dir: &Path, node: &str) -> HostPaths {
        let dir = lab_dir.join("hosts").join(node);
        HostPaths {
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("merged"),
            console: dir.join("console.log"),
        }
    }
}

pub fn machine_name(lab: &str, node: &str) -> String {
    format!("{lab}-{node}")
}

pub fn cgroup_dirs(lab: &str, node: &str) -> Vec<PathBuf> {
    CGROUP_ROOTS
        .iter()
        .map(Path::new)
        .filter(|r| r.join("cgroup.procs").exists())
        .map(|r| r.join("hapair-lab").join(machine_name(lab, node)))
        .collect()
}

/// Mount the host's overlay and write what makes it itself: hostname, machine id, host key,
/// the controller's key, /etc/hosts. Returns the host's ed25519 public host key line.
pub fn prepare(
    base: &Path,
    paths: &HostPaths,
    node: &str,
    authorized_key: &str,
    hosts_file: &str,
) -> Result<String, Error> {
    for d in [&paths.upper, &paths.work, &paths.merged] {
        std::fs::create_dir_all(d)?;
    }
    if !is_mounted(&paths.merged) {
        let opts =
            format!("lowerdir={},upperdir={},workdir={}", base.display(), paths.upper.display(), paths.work.display());
        let merged = paths.merged.to_string_lossy().to_string();
        cmd::run(&["mount", "-t", "overlay", "overlay", "-o", &opts, &merged])
            .map_err(|e| e.with_fix("the lab needs overlayfs (modprobe overlay) and root"))?;
    }
    let m = &paths.merged;
    std::fs::write(m.join("etc/hostname"), format!("{node}\n"))?;
    std::fs::write(m.join("etc/hosts"), hosts_file)?;
    if !m.join("etc/machine-id").exists() {
        std::fs::write(m.join("etc/machine-id"), format!("{}\n", random_hex(16)?))?;
    }
    let key = m.join("etc/ssh/ssh_host_ed25519_key");
    if !key.exists() {
        let key_s = key.to_string_lossy().to_string();
        let comment = format!("root@{node}");
        cmd::run(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", &comment, "-f", &key_s])?;
    }
    let ssh_dir = m.join("root/.ssh");
    std::fs::create_dir_all(&ssh_dir)?;
    set_mode(&ssh_dir, 0o700)?;
    let ak = ssh_dir.join("authorized_keys");
    std::fs::write(&ak, authorized_key)?;
    set_mode(&ak, 0o600)?;
    let pubkey = std::fs::read_to_string(key.with_extension("pub"))?;
    Ok(pubkey.trim().to_string())
}

/// What a release's hosts get beyond the base. Debian 11's hosts run firewalld's iptables
/// backend (Debian defaults to nftables there): 0.9 is the last generation many such hosts run
/// with iptables, and the Debian 12 and 13 hosts already cover nftables.
pub fn release_quirks(paths: &HostPaths, distro: super::Distro) -> Result<(), Error> {
    if distro == super::Distro::Bullseye {
        let conf = paths.merged.join("etc/firewalld/firewalld.conf");
        let text = std::fs::read_to_string(&conf)?;
        let text: String = text
            .lines()
            .map(|l| if l.starts_with("FirewallBackend=") { "FirewallBackend=iptables" } else { l })
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&conf, text)?;
    }
    Ok(())
}

/// Create the host's network namespace and veth (the host side named `eth0`), plugged into the
/// lab's bridge, with the host's address set from outside.
pub fn plumb(h: &HostState, bridge: &str, prefix: u8) -> Result<(), Error> {
    let ns = h.netns.as_str();
    if !Path::new("/run/netns").join(ns).exists() {
        cmd::run(&["ip", "netns", "add", ns])?;
    }
    if !link_exists(&h.veth) {
        cmd::run(&["ip", "link", "add", &h.veth, "type", "veth", "peer", "name", "eth0", "netns", ns])?;
    }
    cmd::run(&["ip", "link", "set", &h.veth, "master", bridge, "up"])?;
    let cidr = format!("{}/{prefix}", h.address);
    cmd::run(&["ip", "-n", ns, "addr", "replace", &cidr, "dev", "eth0"])?;
    cmd::run(&["ip", "-n", ns, "link", "set", "eth0", "up"])?;
    cmd::run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
    Ok(())
}

/// Start systemd-nspawn for the host in its own session and cgroups; returns its PID.
pub fn boot(lab: &str, h: &HostState, paths: &HostPaths) -> Result<u32, Error> {
    let cgroups = cgroup_dirs(lab, &h.node);
    let mut procs = Vec::new();
    for dir in &cgroups {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::new(format!("cannot create cgroup `{}`: {e}", dir.display())))?;
        let p = dir.join("cgroup.procs");
        procs.push(CString::new(p.to_string_lossy().as_bytes()).map_err(|e| Error::new(e.to_string()))?);
    }
    let console = std::fs::File::create(&paths.console)?;
    let console2 = console.try_clone()?;
    let machine = machine_name(lab, &h.node);
    let ns_path = format!("/run/netns/{}", h.netns);
    let mut command = Command::new("systemd-nspawn");
    command
        .arg("--quiet")
        .arg("-D")
        .arg(&paths.merged)
        .args(["--boot", "--register=no", "--keep-unit", "--console=read-only"])
        .arg("-M")
        .arg(&machine)
        .arg(format!("--network-namespace-path={ns_path}"))
        // `--private-network` as well, or nspawn 252 bind-mounts this machine's /sys and the
        // host would see our interfaces (and our eth0's MAC) in /sys/class/net.
        .arg("--private-network")
        .arg("--capability=CAP_NET_ADMIN")
        .stdin(Stdio::null())
        .stdout(console)
        .stderr(console2);
    // SAFETY: between fork and exec we only call async-signal-safe functions (setsid, open,
    // write, close) on memory prepared before the fork.
    unsafe {
        command.pre_exec(move || {
            // Own session: a caller killing its process group must not take the hosts along.
            libc::setsid();
            for p in &procs {
                let fd = libc::open(p.as_ptr(), libc::O_WRONLY);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                libc::close(fd);
                if !ok {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| {
        Error::new(format!("cannot start `systemd-nspawn` for `{machine}`: {e}"))
            .with_fix("install systemd-container (`apt-get install systemd-container`)")
    })?;
    Ok(child.id())
}

/// Whether `pid` is the systemd-nspawn we started for `machine` (PIDs get reused).
pub fn is_our_nspawn(pid: u32, machine: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let is_nspawn = args.first().is_some_and(|a| a.ends_with(b"systemd-nspawn"));
    let has_name = args.windows(2).any(|w| w[0] == b"-M" && w[1] == machine.as_bytes());
    // A zombie has an empty cmdline and is not running.
    is_nspawn && has_name
}

/// The host's PID 1: the child of its nspawn process that runs systemd.
pub fn leader(nspawn_pid: u32) -> Option<u32> {
    let dir = std::fs::read_dir(format!("/proc/{nspawn_pid}/task")).ok()?;
    for task in dir.flatten() {
        if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
            for pid in children.split_whitespace().filter_map(|p| p.parse::<u32>().ok()) {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "systemd" {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// argv prefix that runs a command inside the host's namespaces.
pub fn nsenter_argv(leader: u32) -> Vec<String> {
    ["nsenter", "-t", &leader.to_string(), "-m", "-u", "-i", "-n", "-p", "--"].iter().map(|s| s.to_string()).collect()
}

/// Wait until the host's systemd reports `running` and its sshd answers with a banner.
pub fn wait_ready(lab: &str, h: &HostState, deadline: Instant) -> Result<(), Error> {
    let machine = machine_name(lab, &h.node);
    let pid = h.nspawn_pid.ok_or_else(|| Error::new(format!("`{machine}` was never started")))?;
    let mut state = String::new();
    while Instant::now() < deadline {
        if !is_our_nspawn(pid, &machine) {
            return Err(Error::new(format!("host `{machine}` exited while booting"))
                .with_fix("read its console log in the lab's `hosts/` directory"));
        }
        // Re-resolved each time: nspawn's first child is a short-lived helper, not systemd.
        let Some(leader) = leader(pid) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        // `--wait` blocks until boot finished; bound it ourselves.
        let mut argv = nsenter_argv(leader);
        argv.extend(["timeout", "60", "systemctl", "is-system-running", "--wait"].map(String::from));
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = cmd::output(&refs)?;
        state = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if state.is_empty() {
            state = format!("unknown ({})", String::from_utf8_lossy(&out.stderr).trim());
        }
        if state == "running" {
            break;
        }
        if state == "degraded" {
            let mut f = nsenter_argv(leader);
            f.extend(["systemctl", "--failed", "--no-legend", "--plain"].map(String::from));
            let refs: Vec<&str> = f.iter().map(String::as_str).collect();
            let failed = cmd::output(&refs).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
            return Err(Error::new(format!(
                "host `{machine}` booted degraded; failed units: {}",
                failed.unwrap_or_default()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if state != "running" {
        return Err(Error::new(format!("host `{machine}` is `{state}`, not running, after the boot timeout")));
    }
    while Instant::now() < deadline {
        if ssh_banner(h.address) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(Error::new(format!("sshd on `{machine}` ({}) does not answer", h.address)))
}

fn ssh_banner(addr: std::net::Ipv4Addr) -> bool {
    use std::io::Read;
    let sa = std::net::SocketAddr::from((addr, 22));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&sa, Duration::from_millis(500)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_millis(1000)));
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).is_ok() && &buf == b"SSH-"
}

/// Ask the host to power off (SIGRTMIN+4 to its systemd), as `systemctl poweroff` would.
pub fn request_poweroff(nspawn_pid: u32) {
    if let Some(l) = leader(nspawn_pid) {
        // SAFETY: plain kill(2) on a PID we verified belongs to our nspawn's child.
        unsafe {
            libc::kill(l as i32, libc::SIGRTMIN() + 4);
        }
    }
}

pub fn kill(pid: u32) {
    // SAFETY: plain kill(2) on a PID verified by the caller to be ours.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
}

pub fn is_mounted(path: &Path) -> bool {
    let target = path.to_string_lossy();
    std::fs::read_to_string("/proc/mounts")
        .map(|m| m.lines().any(|l| l.split_whitespace().nth(1) == Some(&*target)))
        .unwrap_or(false)
}

pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::new(format!("cannot chmod `{}`: {e}", path.display())))
}

pub fn random_hex(bytes: usize) -> Result<String, Error> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
