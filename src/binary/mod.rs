//! The daemon builds hapair can push to nodes, and which one a node can run.
//!
//! hapair installs its own executable on every node (`hapair vrrpd` is the daemon). The
//! running executable is always a candidate; `--daemon-binary PATH` (or
//! `HAPAIR_DAEMON_BINARY`) adds builds of the same hapair for other targets, e.g. the glibc 2.17
//! build `scripts/build-portable.sh` makes, or one for aarch64. Each build's needs are read from
//! its ELF headers (`elf`); each node's architecture and C library come from its facts. A node
//! no build fits is refused before anything is uploaded anywhere, naming the node and the fix.

pub mod elf;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;
use crate::observe::Facts;
use crate::roles::BinarySpec;
use elf::{ElfInfo, LibcNeed, Version};

/// Daemon builds larger than this are refused (hapair's release build is ~7 MB, debug ~150 MB).
pub const MAX_BINARY_SIZE: u64 = 512 << 20;

/// Where `scripts/build-portable.sh` leaves the glibc 2.17 x86_64 build, from the repository.
pub const PORTABLE_BUILD: &str = "target/portable/x86_64-unknown-linux-gnu/release/hapair";

/// Names daemon builds when `--daemon-binary` is not given.
pub const ENV: &str = "HAPAIR_DAEMON_BINARY";

/// What `--version` prints: the same for every build of this source.
pub fn version_line() -> String {
    format!("hapair {}", env!("CARGO_PKG_VERSION"))
}

/// One executable hapair can push.
#[derive(Debug, Clone)]
pub struct Build {
    pub path: PathBuf,
    /// The hapair running now (as opposed to one given with `--daemon-binary`).
    pub running: bool,
    pub elf: ElfInfo,
    pub spec: BinarySpec,
    pub bytes: Arc<Vec<u8>>,
}

impl Build {
    /// Read and inspect `path`.
    pub fn read(path: &Path, running: bool) -> Result<Build, Error> {
        let bytes = crate::input::read_capped(path, MAX_BINARY_SIZE)
            .map_err(|e| Error::new(format!("cannot use daemon build `{}`: {e}", path.display())))?;
        let elf = elf::parse(&bytes).map_err(|e| {
            Error::new(format!("`{}` is not a usable daemon build: {e}", path.display()))
                .with_fix("pass a Linux executable built from this hapair with `--daemon-binary`")
        })?;
        let spec = BinarySpec {
            sha256: crate::plan::sha256_hex(&bytes),
            size: bytes.len() as u64,
            version: version_line(),
            needs: needs(&elf),
        };
        Ok(Build { path: path.to_path_buf(), running, elf, spec, bytes: Arc::new(bytes) })
    }

    /// How plans and errors name this build.
    pub fn describe(&self) -> String {
        let who = if self.running { "this hapair".to_string() } else { format!("`{}`", self.path.display()) };
        format!("{who} ({})", self.spec.needs)
    }
}

/// `x86_64, glibc >= 2.17`.
pub fn needs(e: &ElfInfo) -> String {
    format!("{}, {}", e.arch(), e.libc)
}

/// Why `elf` cannot run on the node these facts describe (`Err`), or whether it can (`Ok`,
/// with a caveat when the facts could not tell).
pub fn fits(e: &ElfInfo, f: &Facts) -> Result<Option<String>, String> {
    let arch = elf::normalize_arch(f.arch.as_str());
    if arch.is_empty() {
        return Err("the node did not report its architecture".into());
    }
    if e.arch() != arch {
        return Err(format!("it is built for {}, the node is {arch}", e.arch()));
    }
    let node_libc = match f.libc.as_str() {
        "" | "unknown" => None,
        name => Some((name, Version::parse(&f.libc_version))),
    };
    match (&e.libc, node_libc) {
        (LibcNeed::None, _) => Ok(None),
        (LibcNeed::Glibc(need), Some(("glibc", have))) => match (need, have) {
            (_, _) if e.glibc_private => Err("it uses GLIBC_PRIVATE symbols (tied to one glibc build)".into()),
            (Some(n), Some(h)) if h < *n => Err(format!("it needs glibc >= {n}, the node has glibc {h}")),
            (Some(_), None) => Ok(Some(format!("could not read the glibc version `{}` of the node", f.libc_version))),
            _ => Ok(None),
        },
        (LibcNeed::Musl, Some(("musl", _))) => Ok(None),
        (need, Some((name, _))) => {
            Err(format!("it needs {need}, the node has {name} {}", f.libc_version).trim().to_string())
        }
        (need, None) => Ok(Some(format!("could not tell the node's C library; the build needs {need}"))),
    }
}

/// The builds of this run: those given first (in order), the running executable last.
#[derive(Debug, Clone)]
pub struct Builds {
    pub list: Vec<Build>,
}

/// Which build a node gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub index: usize,
    /// Said in the plan when the facts could not settle it (validated on the node anyway).
    pub caveat: Option<String>,
}

impl Builds {
    /// The running executable only.
    pub fn current() -> Result<Builds, Error> {
        Builds::load(&[])
    }

    /// The builds named with `--daemon-binary`, else in `HAPAIR_DAEMON_BINARY` (paths separated
    /// by `:`), plus the running executable.
    pub fn from_args(given: &[PathBuf]) -> Result<Builds, Error> {
        if !given.is_empty() {
            return Builds::load(given);
        }
        let env: Vec<PathBuf> = std::env::var_os(ENV)
            .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
            .unwrap_or_default();
        Builds::load(&env)
    }

    /// The running executable plus `given` (each checked to be this hapair where it can run here).
    pub fn load(given: &[PathBuf]) -> Result<Builds, Error> {
        let mut list = Vec::new();
        for p in given {
            let b = Build::read(p, false)?;
            check_version_locally(&b)?;
            list.push(b);
        }
        let exe =
            std::env::current_exe().map_err(|e| Error::new(format!("cannot find the running `hapair` binary: {e}")))?;
        list.push(Build::read(&exe, true)?);
        Ok(Builds { list })
    }

    /// The running executable.
    pub fn running(&self) -> &Build {
        self.list.iter().find(|b| b.running).unwrap_or(&self.list[self.list.len() - 1])
    }

    /// The first build the node can run, or an error naming the node, why, and the fix.
    pub fn choose(&self, node: &str, f: &Facts) -> Result<Choice, Error> {
        let mut why = Vec::new();
        for (index, b) in self.list.iter().enumerate() {
            match fits(&b.elf, f) {
                Ok(caveat) => return Ok(Choice { index, caveat }),
                Err(w) => why.push(format!("{}: {w}", b.describe())),
            }
        }
        Err(refusal(node, f, &why))
    }
}

fn refusal(node: &str, f: &Facts, why: &[String]) -> Error {
    let libc =
        if f.libc.is_empty() { "an unknown C library".to_string() } else { format!("{} {}", f.libc, f.libc_version) };
    let arch = elf::normalize_arch(&f.arch);
    let fix = if arch == "x86_64" && f.libc == "glibc" {
        format!(
            "build the portable daemon (glibc >= 2.17) with `bash scripts/build-portable.sh` and pass it: \
             `--daemon-binary {PORTABLE_BUILD}`"
        )
    } else {
        format!(
            "build this hapair for {arch} ({libc}, or statically) and pass it with `--daemon-binary PATH`; \
             nothing was uploaded"
        )
    };
    Error::new(format!(
        "`{node}` ({arch}, {libc}) cannot run any daemon build of this run, so nothing was changed: {}",
        why.join("; ")
    ))
    .with_fix(fix)
}

/// A build that can run here must say it is this hapair: a different version may read the
/// daemon config differently. Builds for other targets are checked on the node instead.
fn check_version_locally(b: &Build) -> Result<(), Error> {
    let mut here = Facts { arch: std::env::consts::ARCH.to_string(), ..Facts::default() };
    if let Some(v) = local_glibc() {
        here.libc = "glibc".into();
        here.libc_version = v.to_string();
    }
    if !matches!(fits(&b.elf, &here), Ok(None)) {
        return Ok(());
    }
    let out = run_with_timeout(&b.path, std::time::Duration::from_secs(10))
        .map_err(|e| Error::new(format!("cannot run daemon build `{}` --version: {e}", b.path.display())))?;
    let first = out.lines().next().unwrap_or_default().trim().to_string();
    if first != version_line() {
        return Err(Error::new(format!(
            "`{}` is not a build of this hapair: `--version` printed `{first}`, expected `{}`",
            b.path.display(),
            version_line()
        ))
        .with_fix("rebuild it from this source (`bash scripts/build-portable.sh`) or drop `--daemon-binary`"));
    }
    Ok(())
}

/// The glibc this process runs on.
fn local_glibc() -> Option<Version> {
    // SAFETY: gnu_get_libc_version returns a pointer to a static NUL-terminated string.
    #[cfg(target_env = "gnu")]
    unsafe {
        extern "C" {
            fn gnu_get_libc_version() -> *const std::ffi::c_char;
        }
        let s = std::ffi::CStr::from_ptr(gnu_get_libc_version());
        Version::parse(&s.to_string_lossy())
    }
    #[cfg(not(target_env = "gnu"))]
    None
}

fn run_with_timeout(path: &Path, limit: std::time::Duration) -> std::io::Result<String> {
    use std::io::Read;
    let mut child = std::process::Command::new(path)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let deadline = std::time::Instant::now() + limit;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 10 s"));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut s = String::new();
    if let Some(o) = child.stdout.take() {
        o.take(4096).read_to_string(&mut s)?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::elf::tests::tiny_elf;
    use super::*;

    fn facts(arch: &str, libc: &str, ver: &str) -> Facts {
        Facts { arch: arch.into(), libc: libc.into(), libc_version: ver.into(), ..Facts::default() }
    }

    fn build(bytes: Vec<u8>, running: bool, name: &str) -> Build {
        let elf = elf::parse(&bytes).expect("parses");
        let spec =
            BinarySpec { sha256: name.into(), size: bytes.len() as u64, version: version_line(), needs: needs(&elf) };
        Build { path: PathBuf::from(name), running, elf, spec, bytes: Arc::new(bytes) }
    }

    const LD: &str = "/lib64/ld-linux-x86-64.so.2";

    fn builds() -> Builds {
        Builds {
            list: vec![
                build(tiny_elf(62, Some(LD), &["GLIBC_2.2.5", "GLIBC_2.17"]), false, "portable"),
                build(tiny_elf(62, Some(LD), &["GLIBC_2.34"]), true, "/usr/bin/hapair"),
            ],
        }
    }

    #[test]
    fn glibc_versions_decide() {
        let new = elf::parse(&tiny_elf(62, Some(LD), &["GLIBC_2.34"])).expect("parses");
        assert_eq!(fits(&new, &facts("x86_64", "glibc", "2.36")), Ok(None));
        assert_eq!(fits(&new, &facts("x86_64", "glibc", "2.41")), Ok(None));
        assert_eq!(
            fits(&new, &facts("x86_64", "glibc", "2.31")),
            Err("it needs glibc >= 2.34, the node has glibc 2.31".into())
        );
        assert_eq!(
            fits(&new, &facts("aarch64", "glibc", "2.36")),
            Err("it is built for x86_64, the node is aarch64".into())
        );
        assert_eq!(
            fits(&new, &facts("x86_64", "musl", "1.2.4")),
            Err("it needs glibc >= 2.34, the node has musl 1.2.4".into())
        );
        assert!(matches!(fits(&new, &facts("x86_64", "", "")), Ok(Some(_))));
        assert!(fits(&new, &facts("", "glibc", "2.36")).is_err());
        let stat = elf::parse(&tiny_elf(62, None, &[])).expect("parses");
        assert_eq!(fits(&stat, &facts("amd64", "musl", "1.2.4")), Ok(None));
    }

    #[test]
    fn the_first_build_that_fits_is_chosen() {
        let b = builds();
        // Debian 11 (glibc 2.31) and CentOS 7 (2.17): only the portable build runs there.
        assert_eq!(b.choose("old", &facts("x86_64", "glibc", "2.31")).expect("fits").index, 0);
        assert_eq!(b.choose("c7", &facts("x86_64", "glibc", "2.17")).expect("fits").index, 0);
        // Without the portable build, Debian 12 still gets this hapair.
        let only = Builds { list: vec![b.list[1].clone()] };
        assert_eq!(only.choose("new", &facts("x86_64", "glibc", "2.36")).expect("fits").index, 0);
    }

    #[test]
    fn a_node_no_build_fits_is_refused_with_the_fix() {
        let only = Builds { list: vec![builds().list[1].clone()] };
        let e = only.choose("web2", &facts("x86_64", "glibc", "2.31")).expect_err("refused");
        assert_eq!(
            e.message,
            "`web2` (x86_64, glibc 2.31) cannot run any daemon build of this run, so nothing was changed: \
             this hapair (x86_64, glibc >= 2.34): it needs glibc >= 2.34, the node has glibc 2.31"
        );
        assert_eq!(
            e.fix.as_deref(),
            Some(
                "build the portable daemon (glibc >= 2.17) with `bash scripts/build-portable.sh` and pass it: \
                 `--daemon-binary target/portable/x86_64-unknown-linux-gnu/release/hapair`"
            )
        );
        let e = builds().choose("pi", &facts("aarch64", "glibc", "2.36")).expect_err("refused");
        assert!(e.message.starts_with("`pi` (aarch64, glibc 2.36) cannot run any daemon build"), "{}", e.message);
        assert!(e.message.contains("`portable` (x86_64, glibc >= 2.17): it is built for x86_64, the node is aarch64"));
        assert_eq!(
            e.fix.as_deref(),
            Some("build this hapair for aarch64 (glibc 2.36, or statically) and pass it with `--daemon-binary PATH`; nothing was uploaded")
        );
    }

    #[test]
    fn the_running_binary_loads_and_a_foreign_one_is_refused() {
        let b = Builds::current().expect("loads");
        assert_eq!(b.list.len(), 1);
        assert!(b.running().running);
        assert_eq!(b.running().spec.version, version_line());
        // /bin/true runs here but is not hapair.
        let e = Builds::load(&[PathBuf::from("/bin/true")]).expect_err("not hapair");
        assert!(e.message.starts_with("`/bin/true` is not a build of this hapair"), "{}", e.message);
        let e = Builds::load(&[PathBuf::from("/etc/hostname")]).expect_err("not ELF");
        assert!(e.message.ends_with("is not a usable daemon build: not an ELF file"), "{}", e.message);
    }
}
