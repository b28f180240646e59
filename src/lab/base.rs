//! The base root filesystems lab hosts overlay: one per Debian release (11 bullseye, 12
//! bookworm, 13 trixie), each built once with debootstrap and cached in the state directory.
//! Built into `<base>.partial` and renamed when complete, so a run that died halfway leaves
//! nothing that looks finished.

use super::cmd;
use super::lock::Lock;
use crate::error::Error;
use std::path::{Path, PathBuf};

/// Bump when the package list or the customisation changes: a new base is built beside the
/// old one, which is removed once no lab overlays it.
const VERSION: &str = "v3";
const STAMP: &str = ".hapair-base-complete";

/// A Debian release the lab can boot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distro {
    /// Debian 11: glibc 2.31, firewalld 0.9, nginx 1.18, systemd 247.
    Bullseye,
    /// Debian 12: glibc 2.36, firewalld 1.3, nginx 1.22, systemd 252.
    #[default]
    Bookworm,
    /// Debian 13: glibc 2.41, firewalld 2.3 (nftables only), nginx 1.26, systemd 257.
    Trixie,
}

impl Distro {
    pub const ALL: [Distro; 3] = [Distro::Bullseye, Distro::Bookworm, Distro::Trixie];

    pub fn name(self) -> &'static str {
        match self {
            Distro::Bullseye => "bullseye",
            Distro::Bookworm => "bookworm",
            Distro::Trixie => "trixie",
        }
    }

    pub fn parse(s: &str) -> Option<Distro> {
        Distro::ALL.into_iter().find(|d| d.name() == s)
    }

    /// `Debian 12 (bookworm)`.
    pub fn title(self) -> String {
        let n = match self {
            Distro::Bullseye => 11,
            Distro::Bookworm => 12,
            Distro::Trixie => 13,
        };
        format!("Debian {n} ({})", self.name())
    }

    /// The cached base's directory name. Bookworm keeps the name it had before other releases
    /// existed, so caches built by earlier versions stay valid.
    pub(super) fn dir_name(self) -> String {
        match self {
            Distro::Bookworm => format!("base-{VERSION}"),
            d => format!("base-{}-{VERSION}", d.name()),
        }
    }

    fn lock_name(self) -> String {
        match self {
            Distro::Bookworm => "base.lock".into(),
            d => format!("base-{}.lock", d.name()),
        }
    }

    /// What debootstrap installs: the common list, with the nginx package the release has
    /// (Debian 13 dropped the nginx-light/-full flavours: its `nginx` is the light one).
    pub fn packages(self) -> Vec<&'static str> {
        let nginx = if self == Distro::Trixie { "nginx" } else { "nginx-light" };
        PACKAGES.iter().map(|p| if *p == "nginx-light" { nginx } else { p }).collect()
    }
}

impl std::fmt::Display for Distro {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "libpam-systemd",
    "dbus",
    "netbase",
    "openssh-server",
    "iproute2",
    "nginx-light",
    "firewalld",
    "procps",
    "curl",
    "keepalived",
    "sudo",
    "nftables",
    // Not needed by hapair (a POSIX shell is enough); there because real Debian servers have
    // it and the Ansible benchmark needs it on the targets.
    "python3",
    "python3-apt",
];

/// Units the hosts must not start at boot: keepalived is the interop peer, started by tests;
/// addresses are set from outside, so networkd (and its 2-minute wait-online) stays off.
const DISABLED_UNITS: &[&str] = &[
    "keepalived.service",
    "systemd-networkd.service",
    "systemd-networkd.socket",
    "systemd-networkd-wait-online.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
];

/// The base directory of `distro`, built if missing. Safe to call from parallel processes.
pub fn ensure(state_dir: &Path, distro: Distro, progress: &dyn Fn(&str)) -> Result<PathBuf, Error> {
    let base = state_dir.join(distro.dir_name());
    if base.join(STAMP).exists() {
        return Ok(base);
    }
    let _lock = Lock::exclusive(&state_dir.join(distro.lock_name()))?;
    if base.join(STAMP).exists() {
        return Ok(base); // another process built it while we waited
    }
    remove_unused_old_bases(state_dir, progress);
    let partial = state_dir.join(format!("{}.partial", distro.dir_name()));
    if partial.exists() {
        progress("removing a half-built base left by an earlier run");
        std::fs::remove_dir_all(&partial)
            .map_err(|e| Error::new(format!("cannot remove `{}`: {e}", partial.display())))?;
    }
    if base.exists() {
        std::fs::remove_dir_all(&base)
            .map_err(|e| Error::new(format!("cannot remove incomplete base `{}`: {e}", base.display())))?;
    }
    let mirror = mirror();
    progress(&format!("building the {} base with debootstrap from {mirror} (once, ~90 s)", distro.title()));
    let packages = distro.packages();
    let include = format!("--include={}", packages.join(","));
    let partial_s = partial.to_string_lossy().to_string();
    cmd::run(&["debootstrap", "--variant=minbase", &include, distro.name(), &partial_s, &mirror])
        .map_err(|e| e.with_fix("check that Debian's mirror is reachable and `debootstrap` is installed"))?;
    customise(&partial)?;
    std::fs::write(partial.join(STAMP), packages.join("\n"))?;
    std::fs::rename(&partial, &base)?;
    Ok(base)
}

/// Older bases (other versions) go once no lab is left that could overlay them.
fn remove_unused_old_bases(state_dir: &Path, progress: &dyn Fn(&str)) {
    let labs_running = std::fs::read_dir(state_dir.join("labs"))
        .map(|d| d.flatten().any(|e| e.path().join("state.json").exists()))
        .unwrap_or(false);
    if labs_running {
        return;
    }
    let current: Vec<String> = Distro::ALL.iter().map(|d| d.dir_name()).collect();
    for e in std::fs::read_dir(state_dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let is_current = current.iter().any(|c| name == *c || name == format!("{c}.partial"));
        if (name == "base" || name.starts_with("base-")) && !is_current && e.path().is_dir() {
            progress(&format!("removing the outdated lab base `{name}`"));
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn customise(root: &Path) -> Result<(), Error> {
    // Each host gets its own host keys and machine id; shared ones would make hosts twins.
    for entry in std::fs::read_dir(root.join("etc/ssh"))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with("ssh_host_") {
            std::fs::remove_file(entry.path())?;
        }
    }
    let _ = std::fs::remove_file(root.join("etc/machine-id"));
    let root_s = root.to_string_lossy().to_string();
    // Only units the release has (e2scrub, fstrim come with packages not every release installs).
    let present: Vec<&str> = DISABLED_UNITS
        .iter()
        .copied()
        .filter(|u| ["usr/lib/systemd/system", "lib/systemd/system"].iter().any(|d| root.join(d).join(u).exists()))
        .collect();
    let mut argv = vec!["chroot", &root_s, "systemctl", "disable", "--quiet"];
    argv.extend(present);
    cmd::run(&argv)?;
    cmd::run(&["chroot", &root_s, "systemctl", "mask", "--quiet", "systemd-networkd-wait-online.service"])?;
    std::fs::create_dir_all(root.join("root/.ssh"))?;
    Ok(())
}

/// Debian's mirror as configured on this machine (HAPAIR_LAB_MIRROR overrides).
fn mirror() -> String {
    if let Ok(m) = std::env::var("HAPAIR_LAB_MIRROR") {
        return m;
    }
    let mut texts = Vec::new();
    if let Ok(s) = std::fs::read_to_string("/etc/apt/sources.list") {
        texts.push(s);
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for e in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(e.path()) {
                texts.push(s);
            }
        }
    }
    for text in &texts {
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let uri = match words.as_slice() {
                ["URIs:", uri, ..] => *uri,
                ["deb", uri, suite, ..] if Distro::parse(suite).is_some() => *uri,
                _ => continue,
            };
            if uri.ends_with("/debian") || uri.ends_with("/debian/") {
                return uri.to_string();
            }
        }
    }
    "http://deb.debian.org/debian".to_string()
}
