//! The built-in lab: real Debian 12 hosts on this machine, each a systemd-nspawn container
//! booted with systemd as PID 1 over an overlay of a cached base, in its own network
//! namespace on a per-lab bridge. See `../shared/lab-recipe.md` for why each step is so.
//!
//! Everything a lab makes is recorded in its state file *before* it is made, so `down` (and a
//! later `up`) can clean up after a run that died halfway. Only PIDs recorded there are killed.

mod base;
mod cmd;
mod host;
mod inventory;
mod lock;
mod state;

use crate::error::Error;
use host::HostPaths;
use lock::Lock;
use state::{HostState, LabState};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use base::{Distro, PACKAGES as BASE_PACKAGES};

/// How long hosts may take to boot (seen: 1.5–6 s; a loaded CI machine is slower).
const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
const POWEROFF_GRACE: Duration = Duration::from_secs(20);
pub const MAX_NODES: u8 = 16;

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub name: String,
    pub nodes: u8,
    pub mode: String,
    pub out: PathBuf,
    /// The release of each node, in order (`nodes` entries).
    pub distros: Vec<Distro>,
}

/// `--distro`: a release for every node (`bullseye`), per node (`node1=bullseye,node2=trixie`),
/// or both (`trixie,node1=bullseye`). Unnamed nodes get bookworm.
pub fn parse_distros(spec: &str, nodes: u8) -> Result<Vec<Distro>, Error> {
    let mut all = vec![Distro::Bookworm; nodes as usize];
    let names = || Distro::ALL.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ");
    let release = |s: &str| {
        Distro::parse(s).ok_or_else(|| {
            Error::new(format!("`{s}` is not a release the lab can boot")).with_fix(format!("use one of: {}", names()))
        })
    };
    let mut per_node = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            None => all = vec![release(part)?; nodes as usize],
            Some((node, d)) => {
                let i = node
                    .strip_prefix("node")
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|i| (1..=nodes as usize).contains(i))
                    .ok_or_else(|| {
                        Error::new(format!("`{node}` is not a node of a {nodes}-node lab"))
                            .with_fix(format!("name nodes `node1` to `node{nodes}`"))
                    })?;
                per_node.push((i - 1, release(d)?));
            }
        }
    }
    for (i, d) in per_node {
        all[i] = d;
    }
    Ok(all)
}

/// A running lab, as `up` leaves it.
#[derive(Debug, Clone)]
pub struct LabInfo {
    pub name: String,
    pub subnet: u8,
    pub bridge: String,
    pub inventory: PathBuf,
    pub reused: bool,
    pub hosts: Vec<(String, Ipv4Addr, Distro)>,
}

/// Where the base and the labs live (`HAPAIR_LAB_DIR` overrides).
pub fn state_dir() -> PathBuf {
    std::env::var_os("HAPAIR_LAB_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/lib/hapair-lab"))
}

fn lab_dir(name: &str) -> PathBuf {
    state_dir().join("labs").join(name)
}

fn state_path(name: &str) -> PathBuf {
    lab_dir(name).join("state.json")
}

fn lock_path(name: &str) -> PathBuf {
    state_dir().join("labs").join(format!("{name}.lock"))
}

pub fn validate_name(name: &str) -> Result<(), Error> {
    let ok = (1..=16).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::new(format!("`{name}` is not a valid lab name"))
            .with_fix("use 1 to 16 characters: lowercase letters, digits and `-`, starting with a letter"))
    }
}

fn preflight() -> Result<(), Error> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::new("the lab needs root (it mounts overlays, makes namespaces and boots containers)")
            .with_fix("run it as root, e.g. with `sudo`"));
    }
    let tools = [
        ("systemd-nspawn", "systemd-container"),
        ("debootstrap", "debootstrap"),
        ("ssh-keygen", "openssh-client"),
        ("ip", "iproute2"),
        ("nsenter", "util-linux"),
    ];
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(bin, _)| !std::env::split_paths(&path).any(|d| d.join(bin).is_file()))
        .map(|(_, pkg)| *pkg)
        .collect();
    if !missing.is_empty() {
        return Err(Error::new(format!("the lab needs `{}`, which is not installed", missing.join("`, `")))
            .with_fix(format!("apt-get install -y {}", missing.join(" "))));
    }
    if host::cgroup_dirs("x", "y").is_empty() {
        return Err(Error::new("no cgroup hierarchy found under `/sys/fs/cgroup`")
            .with_fix("the lab needs cgroups mounted (unified or hybrid layout)"));
    }
    raise_inotify_limits()
}

/// The lab's hosts share this machine's kernel and run as its root user, so every host's
/// systemd and services count against root's inotify limits. Debian's default of 128 instances
/// lets only about ten hosts boot cleanly at once (the rest come up `degraded`, with
/// `systemd-ask-password-*.path` failed); raise the limits, never lower them.
fn raise_inotify_limits() -> Result<(), Error> {
    for (key, want) in [("max_user_instances", 8192u64), ("max_user_watches", 524_288)] {
        let path = format!("/proc/sys/fs/inotify/{key}");
        let now: u64 = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        if now < want {
            std::fs::write(&path, want.to_string()).map_err(|e| {
                Error::new(format!("cannot raise `fs.inotify.{key}` from {now} to {want}: {e}"))
                    .with_fix(format!("run `sysctl -w fs.inotify.{key}={want}` as root, then try again"))
            })?;
        }
    }
    Ok(())
}

/// Bring up (or reuse) a lab and write its inventory, key and known_hosts.
pub fn up(opts: &UpOptions, progress: &dyn Fn(&str)) -> Result<LabInfo, Error> {
    validate_name(&opts.name)?;
    if opts.nodes < 2 || opts.nodes > MAX_NODES || opts.nodes % 2 != 0 {
        return Err(Error::new(format!("a lab of {} nodes cannot be split into pairs", opts.nodes))
            .with_fix(format!("use an even `--nodes` from 2 to {MAX_NODES}")));
    }
    if opts.mode != "master-backup" && opts.mode != "dual-master" {
        return Err(Error::new(format!("`{}` is not a mode", opts.mode))
            .with_fix("use `--mode master-backup` or `--mode dual-master`"));
    }
    if opts.distros.len() != opts.nodes as usize {
        return Err(Error::new(format!("{} releases given for {} nodes", opts.distros.len(), opts.nodes)));
    }
    preflight()?;
    let sd = state_dir();
    std::fs::create_dir_all(sd.join("labs"))?;
    let bases = ensure_bases(&sd, &opts.distros, progress)?;
    let _lock = Lock::exclusive(&lock_path(&opts.name))?;

    if let Some(st) = LabState::load(&state_path(&opts.name))? {
        if let Some(info) = try_reuse(&st, opts)? {
            progress(&format!("lab `{}` is already running; reusing it", opts.name));
            return Ok(info);
        }
        progress(&format!("lab `{}` exists but is not as asked or not healthy; rebuilding it", opts.name));
    }
    teardown(&opts.name, progress)?;

    let subnet = allocate_subnet(&opts.name)?;
    let bridge = format!("hpbr{subnet}");
    let hosts: Vec<HostState> = (1..=opts.nodes)
        .map(|i| {
            let node = format!("node{i}");
            HostState {
                address: Ipv4Addr::new(10, 77, subnet, 10 + i),
                netns: format!("hapair-{}-{node}", opts.name),
                veth: format!("hp{subnet}n{i}"),
                node,
                nspawn_pid: None,
                distro: opts.distros[usize::from(i - 1)],
            }
        })
        .collect();
    let files = inventory::files_for(&opts.out);
    let mut st = LabState {
        name: opts.name.clone(),
        subnet,
        bridge: bridge.clone(),
        mode: opts.mode.clone(),
        hosts,
        files: files.all(),
    };
    std::fs::create_dir_all(lab_dir(&opts.name))?;
    st.save(&state_path(&opts.name))?;

    let result = create(&mut st, &bases, &files, progress);
    if let Err(e) = result {
        if std::env::var_os("HAPAIR_LAB_KEEP_ON_FAILURE").is_none() {
            progress("bringing the lab up failed; removing what was made");
            let _ = teardown(&opts.name, progress);
        }
        return Err(e.context(format!("lab `{}`", opts.name)));
    }
    Ok(info_of(&st, &opts.out, false))
}

/// The base of every release asked for, built at the same time when several are missing.
fn ensure_bases(sd: &Path, distros: &[Distro], progress: &dyn Fn(&str)) -> Result<Vec<(Distro, PathBuf)>, Error> {
    let mut wanted: Vec<Distro> = distros.to_vec();
    wanted.sort();
    wanted.dedup();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let results: Vec<Result<(Distro, PathBuf), Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = wanted
            .iter()
            .map(|&d| {
                let tx = tx.clone();
                s.spawn(move || {
                    let say = |m: &str| {
                        let _ = tx.send(m.to_string());
                    };
                    base::ensure(sd, d, &say).map(|p| (d, p))
                })
            })
            .collect();
        drop(tx);
        for m in rx.iter() {
            progress(&m);
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::new("a base builder thread panicked"))))
            .collect()
    });
    results.into_iter().collect()
}

fn create(
    st: &mut LabState,
    bases: &[(Distro, PathBuf)],
    files: &inventory::Files,
    progress: &dyn Fn(&str),
) -> Result<(), Error> {
    let started = Instant::now();
    let gateway = format!("10.77.{}.1/24", st.subnet);
    if !host::link_exists(&st.bridge) {
        cmd::run(&["ip", "link", "add", &st.bridge, "type", "bridge"])?;
    }
    cmd::run(&["ip", "addr", "replace", &gateway, "dev", &st.bridge])?;
    cmd::run(&["ip", "link", "set", &st.bridge, "up"])?;

    let public_key = inventory::ensure_key(&files.key)?;
    let hosts_file = hosts_file(st);
    let mut host_keys = Vec::new();
    for i in 0..st.hosts.len() {
        let h = st.hosts[i].clone();
        let paths = HostPaths::new(&lab_dir(&st.name), &h.node);
        let base = bases
            .iter()
            .find(|(d, _)| *d == h.distro)
            .map(|(_, p)| p.as_path())
            .ok_or_else(|| Error::new(format!("no {} base was built", h.distro)))?;
        let hk = host::prepare(base, &paths, &h.node, &public_key, &hosts_file)?;
        host::release_quirks(&paths, h.distro)?;
        host_keys.push((h.address, hk));
        host::plumb(&h, &st.bridge, 24)?;
        let pid = host::boot(&st.name, &h, &paths)?;
        st.hosts[i].nspawn_pid = Some(pid);
        st.save(&state_path(&st.name))?;
    }
    progress(&format!("booting {} hosts on `{}` (10.77.{}.0/24)", st.hosts.len(), st.bridge, st.subnet));
    let deadline = Instant::now() + BOOT_TIMEOUT;
    let name = st.name.clone();
    let results: Vec<Result<(), Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = st
            .hosts
            .iter()
            .map(|h| {
                let name = &name;
                s.spawn(move || host::wait_ready(name, h, deadline))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::new("a boot watcher thread panicked"))))
            .collect()
    });
    for r in results {
        r?;
    }
    inventory::write(st, files, &host_keys)?;
    progress(&format!(
        "lab `{}` ready in {:.1} s: {}",
        st.name,
        started.elapsed().as_secs_f64(),
        st.hosts.iter().map(|h| format!("{} {} ({})", h.node, h.address, h.distro)).collect::<Vec<_>>().join(", ")
    ));
    Ok(())
}

fn try_reuse(st: &LabState, opts: &UpOptions) -> Result<Option<LabInfo>, Error> {
    if st.hosts.len() != opts.nodes as usize
        || st.mode != opts.mode
        || st.hosts.iter().map(|h| h.distro).ne(opts.distros.iter().copied())
    {
        return Ok(None);
    }
    let alive = st
        .hosts
        .iter()
        .all(|h| h.nspawn_pid.is_some_and(|p| host::is_our_nspawn(p, &host::machine_name(&st.name, &h.node))));
    if !alive {
        return Ok(None);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    if st.hosts.iter().any(|h| host::wait_ready(&st.name, h, deadline).is_err()) {
        return Ok(None);
    }
    let files = inventory::files_for(&opts.out);
    if files.all() != st.files {
        return Ok(None); // asked to write elsewhere: rebuild so `down` knows every file
    }
    let mut host_keys = Vec::new();
    for h in &st.hosts {
        let paths = HostPaths::new(&lab_dir(&st.name), &h.node);
        let k = std::fs::read_to_string(paths.merged.join("etc/ssh/ssh_host_ed25519_key.pub"))?;
        host_keys.push((h.address, k.trim().to_string()));
    }
    inventory::ensure_key(&files.key)?;
    inventory::write(st, &files, &host_keys)?;
    Ok(Some(info_of(st, &opts.out, true)))
}

fn info_of(st: &LabState, out: &Path, reused: bool) -> LabInfo {
    LabInfo {
        name: st.name.clone(),
        subnet: st.subnet,
        bridge: st.bridge.clone(),
        inventory: out.to_path_buf(),
        reused,
        hosts: st.hosts.iter().map(|h| (h.node.clone(), h.address, h.distro)).collect(),
    }
}

fn hosts_file(st: &LabState) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for h in &st.hosts {
        s.push_str(&format!("{}\t{}\n", h.address, h.node));
    }
    s
}

/// A /24 in 10.77.0.0/16 not used by another lab nor by any address on this machine. Derived
/// from the name so a lab tends to keep its subnet; 250–255 are left to other tests.
fn allocate_subnet(name: &str) -> Result<u8, Error> {
    let mut used = std::collections::HashSet::new();
    if let Ok(dir) = std::fs::read_dir(state_dir().join("labs")) {
        for e in dir.flatten() {
            if e.file_name().to_string_lossy() == name {
                continue;
            }
            if let Ok(Some(st)) = LabState::load(&e.path().join("state.json")) {
                used.insert(st.subnet);
            }
        }
    }
    let addrs = cmd::output(&["ip", "-4", "-o", "addr", "show"])?;
    for line in String::from_utf8_lossy(&addrs.stdout).lines() {
        if let Some(rest) = line.split(" inet 10.77.").nth(1) {
            if let Some(k) = rest.split('.').next().and_then(|k| k.parse::<u8>().ok()) {
                used.insert(k);
            }
        }
    }
    let hash = name.bytes().fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    let start = (hash % 240) as u8 + 1;
    (0..240u32).map(|i| ((start as u32 - 1 + i) % 240 + 1) as u8).find(|k| !used.contains(k)).ok_or_else(|| {
        Error::new("every lab subnet in 10.77.0.0/16 is in use")
            .with_fix("bring a lab down with `hapair lab down --name NAME`")
    })
}

/// Remove a lab: everything in its state file, and anything of it found without one.
pub fn down(name: &str, progress: &dyn Fn(&str)) -> Result<(), Error> {
    validate_name(name)?;
    preflight()?;
    let sd = state_dir();
    std::fs::create_dir_all(sd.join("labs"))?;
    let lock = Lock::exclusive(&lock_path(name))?;
    teardown(name, progress)?;
    let _ = std::fs::remove_file(lock_path(name));
    drop(lock);
    Ok(())
}

fn teardown(name: &str, progress: &dyn Fn(&str)) -> Result<(), Error> {
    let dir = lab_dir(name);
    let st = LabState::load(&state_path(name))?;
    let mut problems = Vec::new();

    // 1. Hosts: ask each to power off, then kill what is left of our own nspawn processes.
    let ours: Vec<(u32, String)> = st
        .iter()
        .flat_map(|s| s.hosts.iter())
        .filter_map(|h| h.nspawn_pid.map(|p| (p, host::machine_name(name, &h.node))))
        .filter(|(p, m)| host::is_our_nspawn(*p, m))
        .collect();
    if !ours.is_empty() {
        progress(&format!("powering off {} hosts of lab `{name}`", ours.len()));
    }
    for (pid, _) in &ours {
        host::request_poweroff(*pid);
    }
    let deadline = Instant::now() + POWEROFF_GRACE;
    while Instant::now() < deadline && ours.iter().any(|(p, m)| host::is_our_nspawn(*p, m)) {
        reap();
        std::thread::sleep(Duration::from_millis(50));
    }
    for (pid, m) in &ours {
        if host::is_our_nspawn(*pid, m) {
            progress(&format!("host `{m}` did not power off in time; killing its nspawn (pid {pid})"));
            host::kill(*pid);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && ours.iter().any(|(p, m)| host::is_our_nspawn(*p, m)) {
        reap();
        std::thread::sleep(Duration::from_millis(50));
    }

    // 2. Mounts under the lab directory, deepest first.
    let prefix = format!("{}/", dir.display());
    let mut mounts: Vec<String> = std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(String::from))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in &mounts {
        if !cmd::quiet(&["umount", m]) && !cmd::quiet(&["umount", "-l", m]) {
            problems.push(format!("cannot unmount `{m}`"));
        }
    }

    // 3. Network: namespaces (recorded or named like ours), veths, the bridge.
    let mut netns: Vec<String> = st.iter().flat_map(|s| s.hosts.iter().map(|h| h.netns.clone())).collect();
    if let Ok(out) = cmd::output(&["ip", "netns", "list"]) {
        let ns_prefix = format!("hapair-{name}-node");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let n = line.split_whitespace().next().unwrap_or("");
            let tail = n.strip_prefix(&ns_prefix).unwrap_or("x");
            if !tail.is_empty() && tail.chars().all(|c| c.is_ascii_digit()) && !netns.iter().any(|x| x == n) {
                netns.push(n.to_string());
            }
        }
    }
    for ns in &netns {
        if Path::new("/run/netns").join(ns).exists() && !cmd::quiet(&["ip", "netns", "del", ns]) {
            problems.push(format!("cannot delete network namespace `{ns}`"));
        }
    }
    if let Some(s) = &st {
        for h in &s.hosts {
            if host::link_exists(&h.veth) {
                cmd::quiet(&["ip", "link", "del", &h.veth]);
            }
        }
        if host::link_exists(&s.bridge) && !cmd::quiet(&["ip", "link", "del", &s.bridge]) {
            problems.push(format!("cannot delete bridge `{}`", s.bridge));
        }
    }

    // 4. cgroups (nspawn and the hosts' systemds made sub-groups: remove depth first).
    for root in host::cgroup_dirs(name, "x").iter().filter_map(|d| d.parent()) {
        if let Ok(entries) = std::fs::read_dir(root) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if n.strip_prefix(&format!("{name}-node")).is_some_and(|t| t.chars().all(|c| c.is_ascii_digit())) {
                    remove_cgroup(&e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(root); // only succeeds when no lab is left
    }

    // 5. Files: the lab directory and the inventory, key and known_hosts it wrote.
    if let Some(s) = &st {
        for f in &s.files {
            match std::fs::remove_file(f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => problems.push(format!("cannot remove `{}`: {e}", f.display())),
            }
        }
    }
    if dir.exists() && !host::is_mounted(&dir) {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            problems.push(format!("cannot remove `{}`: {e}", dir.display()));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::new(format!("lab `{name}` was not removed completely: {}", problems.join("; ")))
            .with_fix("run `hapair lab down` again; if it persists, a process still holds the lab"))
    }
}

fn remove_cgroup(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Reap children of ours that exited (nspawn started by this process, when up fails).
fn reap() {
    // SAFETY: waitpid with WNOHANG on any child; we keep no other child handles to confuse.
    unsafe { while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {} }
}

/// Run `argv` inside a lab host, with the caller's stdio; returns its exit code.
pub fn exec(name: &str, node: &str, argv: &[String]) -> Result<u8, Error> {
    let leader = leader_of(name, node)?;
    let mut full = host::nsenter_argv(leader);
    full.extend(argv.iter().cloned());
    let status = std::process::Command::new(&full[0])
        .args(&full[1..])
        .status()
        .map_err(|e| Error::new(format!("cannot run `nsenter`: {e}")))?;
    Ok(status.code().map_or(1, |c| c.clamp(0, 255) as u8))
}

/// Run `argv` inside a lab host and capture its output.
pub fn exec_output(name: &str, node: &str, argv: &[&str]) -> Result<std::process::Output, Error> {
    let leader = leader_of(name, node)?;
    let mut full = host::nsenter_argv(leader);
    full.extend(argv.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    cmd::output(&refs)
}

fn leader_of(name: &str, node: &str) -> Result<u32, Error> {
    validate_name(name)?;
    let st = LabState::load(&state_path(name))?.ok_or_else(|| {
        Error::new(format!("lab `{name}` is not up")).with_fix(format!("run `hapair lab up --name {name}`"))
    })?;
    let h = st.host(node).ok_or_else(|| {
        let names: Vec<&str> = st.hosts.iter().map(|h| h.node.as_str()).collect();
        Error::new(format!("lab `{name}` has no node `{node}`")).with_fix(format!("use one of: {}", names.join(", ")))
    })?;
    let machine = host::machine_name(name, node);
    h.nspawn_pid.filter(|p| host::is_our_nspawn(*p, &machine)).and_then(host::leader).ok_or_else(|| {
        Error::new(format!("host `{node}` of lab `{name}` is not running"))
            .with_fix(format!("run `hapair lab up --name {name}` to bring it back"))
    })
}

/// One row of `lab status`.
#[derive(Debug, Clone)]
pub struct HostStatus {
    pub node: String,
    pub address: Ipv4Addr,
    pub pid: Option<u32>,
    pub state: String,
    pub distro: Distro,
}

pub fn status(name: &str) -> Result<(LabInfo, Vec<HostStatus>), Error> {
    validate_name(name)?;
    let st = LabState::load(&state_path(name))?.ok_or_else(|| {
        Error::new(format!("lab `{name}` is not up")).with_fix(format!("run `hapair lab up --name {name}`"))
    })?;
    let rows = st
        .hosts
        .iter()
        .map(|h| {
            let machine = host::machine_name(name, &h.node);
            let pid = h.nspawn_pid.filter(|p| host::is_our_nspawn(*p, &machine));
            let state = match pid.and_then(host::leader) {
                None => "stopped".to_string(),
                Some(l) => {
                    let mut argv = host::nsenter_argv(l);
                    argv.extend(["systemctl", "is-system-running"].map(String::from));
                    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
                    cmd::output(&refs)
                        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                        .unwrap_or_else(|_| "unknown".into())
                }
            };
            HostStatus { node: h.node.clone(), address: h.address, pid, state, distro: h.distro }
        })
        .collect();
    let out = st.files.first().cloned().unwrap_or_default();
    Ok((info_of(&st, &out, true), rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distros_for_the_lab_or_per_node() {
        use Distro::*;
        assert_eq!(parse_distros("bookworm", 2).expect("valid"), [Bookworm, Bookworm]);
        assert_eq!(parse_distros("bullseye", 4).expect("valid"), [Bullseye; 4]);
        assert_eq!(parse_distros("node1=bullseye,node2=trixie", 2).expect("valid"), [Bullseye, Trixie]);
        assert_eq!(parse_distros("trixie,node3=bullseye", 4).expect("valid"), [Trixie, Trixie, Bullseye, Trixie]);
        let e = parse_distros("buster", 2).expect_err("gone");
        assert_eq!(e.message, "`buster` is not a release the lab can boot");
        assert_eq!(e.fix.as_deref(), Some("use one of: bullseye, bookworm, trixie"));
        let e = parse_distros("node3=trixie", 2).expect_err("no such node");
        assert_eq!(e.message, "`node3` is not a node of a 2-node lab");
    }

    #[test]
    fn trixie_installs_the_nginx_it_has() {
        assert!(Distro::Trixie.packages().contains(&"nginx"));
        assert!(!Distro::Trixie.packages().contains(&"nginx-light"));
        assert!(Distro::Bullseye.packages().contains(&"nginx-light"));
        assert_eq!(Distro::Bookworm.dir_name(), "base-v3");
        assert_eq!(Distro::Trixie.dir_name(), "base-trixie-v3");
    }
}
