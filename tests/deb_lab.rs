//! The Debian package of hapair (`bash scripts/deb.sh`, cargo-deb): built from the portable
//! build (glibc >= 2.17), declaring the glibc its binary really needs, installed with dpkg on a
//! bare lab host (no Rust there), where `hapair --version` and `hapair check` run, the man page
//! and completions are in place, and removal leaves nothing.

mod common;

use common::{show, text};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_deb_installs_on_a_bare_host_and_runs_there() {
    // The portable build scripts/test.sh made before the tests is what gets packaged.
    let portable = common::portable_daemon();
    let o =
        Command::new("bash").arg("scripts/deb.sh").arg("--prebuilt").current_dir(root()).output().expect("run deb.sh");
    assert!(o.status.success(), "{}", show(&o));
    let deb: PathBuf = root().join(format!("target/debian/hapair_{}-1_amd64.deb", env!("CARGO_PKG_VERSION")));
    assert!(deb.exists(), "no {}\n{}", deb.display(), show(&o));

    let contents = Command::new("dpkg-deb").arg("--contents").arg(&deb).output().expect("dpkg-deb");
    let listing = text(&contents.stdout);
    for path in [
        "./usr/bin/hapair",
        "./usr/share/man/man1/hapair.1.gz",
        "./usr/share/man/man1/hapair-plan.1.gz",
        "./usr/share/bash-completion/completions/hapair",
        "./usr/share/zsh/vendor-completions/_hapair",
        "./usr/share/fish/vendor_completions.d/hapair.fish",
        "./usr/share/hapair/monitoring/hapair-rules.yml",
        "./usr/share/hapair/monitoring/hapair-dashboard.json",
        "./usr/share/doc/hapair/examples/master-backup.yml",
    ] {
        assert!(listing.lines().any(|l| l.ends_with(path)), "{path} missing from the package:\n{listing}");
    }
    let depends = Command::new("dpkg-deb").arg("--field").arg(&deb).arg("Depends").output().expect("dpkg-deb");
    let depends = text(&depends.stdout);
    assert!(depends.contains("openssh-client"), "Depends: {depends}");

    // The packaged binary is the portable build (stripped by cargo-deb: same needs, same
    // version), and Depends asks for exactly the glibc its ELF headers ask for.
    let x = tempfile::tempdir().expect("tempdir");
    let o = Command::new("dpkg-deb").arg("-x").arg(&deb).arg(x.path()).output().expect("dpkg-deb -x");
    assert!(o.status.success(), "{}", show(&o));
    let packaged = hapair::binary::Build::read(&x.path().join("usr/bin/hapair"), false).expect("an ELF executable");
    let built = hapair::binary::Build::read(&portable, false).expect("the portable build");
    assert_eq!(packaged.elf.libc, built.elf.libc);
    let hapair::binary::elf::LibcNeed::Glibc(Some(need)) = &packaged.elf.libc else {
        panic!("the packaged binary should need a versioned glibc: {}", packaged.elf.libc);
    };
    assert_eq!(need.to_string(), "2.17", "scripts/build-portable.sh promises glibc 2.17");
    let libc6: Vec<&str> = depends.split(',').map(str::trim).filter(|d| d.starts_with("libc6")).collect();
    assert_eq!(libc6, [format!("libc6 (>= {need})")], "Depends: {depends}");
    let v = Command::new(x.path().join("usr/bin/hapair")).arg("--version").output().expect("run it");
    assert!(text(&v.stdout).starts_with(&format!("hapair {}\n", env!("CARGO_PKG_VERSION"))), "{}", show(&v));

    // A bare Debian 11 host (glibc 2.31, older than this machine's): no Rust, no hapair. A
    // package declaring this machine's glibc would not install there.
    let lab = common::Lab::up_distro("deb", 2, "master-backup", "node1=bullseye");
    assert_eq!(lab.exec_ok("node1", &["getconf", "GNU_LIBC_VERSION"]).trim(), "glibc 2.31");
    let which = lab.exec("node1", &["sh", "-c", "command -v hapair cargo rustc"]);
    assert_eq!(text(&which.stdout), "", "the host is not bare");
    let addr = lab.node("node1").address;
    let scp = Command::new("scp")
        .args(["-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-F", "/dev/null"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", lab.known_hosts.display()))
        .arg("-i")
        .arg(&lab.key)
        .arg(&deb)
        .arg(format!("root@{addr}:/root/hapair.deb"))
        .output()
        .expect("run scp");
    assert!(scp.status.success(), "{}", show(&scp));
    lab.exec_ok("node1", &["dpkg", "-i", "/root/hapair.deb"]);

    let v = lab.exec_ok("node1", &["hapair", "--version"]);
    let lines: Vec<&str> = v.lines().collect();
    assert_eq!(lines[0], format!("hapair {}", env!("CARGO_PKG_VERSION")), "{v}");
    assert_eq!(lines[1], "target: x86_64-unknown-linux-gnu", "{v}");
    assert!(lines[2].starts_with("libc: glibc, running on glibc 2."), "{v}");
    let check = lab.exec("node1", &["hapair", "check", "-i", "/usr/share/doc/hapair/examples/master-backup.yml"]);
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
    assert!(text(&check.stdout).contains("` is valid: 1 pair, 2 nodes, 1 VIP"), "{}", show(&check));
    let complete = lab.exec_ok(
        "node1",
        &["bash", "--norc", "-c", "source /usr/share/bash-completion/completions/hapair && complete -p hapair"],
    );
    assert!(complete.contains("-F _hapair hapair"), "{complete}");
    lab.exec_ok("node1", &["test", "-s", "/usr/share/man/man1/hapair.1.gz"]);

    lab.exec_ok("node1", &["dpkg", "--purge", "hapair"]);
    let gone = lab.exec("node1", &["sh", "-c", "command -v hapair; ls /usr/share/hapair /usr/share/doc/hapair 2>&1"]);
    assert!(!text(&gone.stdout).contains("/usr/bin/hapair"), "{}", show(&gone));
    assert!(text(&gone.stdout).contains("No such file"), "{}", show(&gone));
    lab.down();
}
