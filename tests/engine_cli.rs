//! `plan`/`apply` argument and inventory errors: the real binary, exact output, no lab needed.

mod common;

fn write_inventory(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let p = dir.join("inv.yml");
    std::fs::write(
        &p,
        "pairs:\n  web:\n    mode: master-backup\n    interface: eth0\n    nodes:\n      - name: web1\n        address: 10.77.250.11\n      - name: web2\n        address: 10.77.250.12\n    vips:\n      - address: 10.77.250.200/24\n        vrid: 51\n        master: web1\n",
    )
    .expect("write inventory");
    p
}

#[test]
fn limit_that_matches_nothing_is_an_error_before_any_connection() {
    let inv = write_inventory("engcli-limit");
    for cmd in ["plan", "apply"] {
        let o = common::hapair()
            .args([cmd, "-i"])
            .arg(&inv)
            .args(["--limit", "nosuch"])
            .args(if cmd == "apply" { &["--yes"][..] } else { &[] })
            .output()
            .expect("run hapair");
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), "", "{cmd}");
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            "error: `--limit nosuch` matches no node or pair of the inventory\n  fix: name a node or a pair from the inventory\n",
            "{cmd}"
        );
    }
}

#[test]
fn forks_must_be_positive() {
    let inv = write_inventory("engcli-forks");
    let o = common::hapair().args(["apply", "-i"]).arg(&inv).args(["--forks", "0"]).output().expect("run hapair");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid value '0' for '--forks <FORKS>'"));
}

/// No terminal and no `--yes`: refused before any connection (the nodes' addresses here answer
/// nothing), saying how to approve; with `--yes` it goes on (and fails connecting).
#[test]
fn apply_without_a_terminal_needs_yes() {
    let inv = write_inventory("engcli-tty");
    let o = common::hapair()
        .args(["apply", "-i"])
        .arg(&inv)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run hapair");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: `apply` needs approval and there is no terminal to ask on; nothing was changed\n  fix: review the changes with `hapair plan -i {0}`, then approve them with `hapair apply -i {0} --yes`\n",
            inv.display()
        )
    );
}
