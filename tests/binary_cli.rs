//! `--daemon-binary`: a file that is not a build of this hapair is refused before any node is
//! contacted (the inventory's hosts do not exist), with the reason and the fix.

mod common;

fn plan_with(binary: &str) -> (Option<i32>, String) {
    let inv = concat!(env!("CARGO_MANIFEST_DIR"), "/inventories/master-backup.yml");
    // SSH, if it gets that far, goes to a closed port on loopback: refused at once.
    let o = common::hapair()
        .args(["plan", "-i", inv, "-e", "connection.host=127.0.0.1", "-e", "connection.port=9"])
        .args(["--daemon-binary", binary])
        .output()
        .expect("run hapair");
    (o.status.code(), String::from_utf8_lossy(&o.stderr).to_string())
}

#[test]
fn a_program_that_is_not_this_hapair_is_refused() {
    let (code, err) = plan_with("/bin/true");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.starts_with("error: `/bin/true` is not a build of this hapair: `--version` printed `true (GNU coreutils)"),
        "{err}"
    );
    assert!(err.contains(&format!("expected `hapair {}`", env!("CARGO_PKG_VERSION"))), "{err}");
    assert!(
        err.contains("  fix: rebuild it from this source (`bash scripts/build-portable.sh`) or drop `--daemon-binary`"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_an_executable_is_refused() {
    let (code, err) = plan_with("/etc/hostname");
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err,
        "error: `/etc/hostname` is not a usable daemon build: not an ELF file\n  \
         fix: pass a Linux executable built from this hapair with `--daemon-binary`\n"
    );
    let (code, err) = plan_with("/nonexistent/hapair");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.starts_with("error: cannot use daemon build `/nonexistent/hapair`: cannot read it:"), "{err}");
}

#[test]
fn this_hapair_given_again_is_accepted() {
    // Its own executable passes the version check; the run then fails only at connecting.
    let (code, err) = plan_with(env!("CARGO_BIN_EXE_hapair"));
    assert_eq!(code, Some(1), "{err}");
    assert!(!err.contains("daemon build"), "{err}");
    assert!(err.contains("cannot connect") || err.contains("host key"), "{err}");
}
