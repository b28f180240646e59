//! `hapair import keepalived`, run as the real binary on fixtures written for this project:
//! the inventory on stdout, what could not be carried over and `check`'s findings on stderr,
//! all compared exactly.

use std::path::Path;
use std::process::Command;

fn run_case(case: &str, args: &[&str]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keepalived").join(case);
    let out = Command::new(env!("CARGO_BIN_EXE_hapair"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_BACKTRACE")
        .args(["import", "keepalived"])
        .args(args)
        .output()
        .unwrap();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), read("expected.stderr"), "{case}: stderr");
    assert_eq!(String::from_utf8_lossy(&out.stdout), read("expected.stdout"), "{case}: stdout");
    assert_eq!(
        out.status.code().map(|c| c.to_string()),
        Some(read("expected.code").trim().to_string()),
        "{case}: exit code"
    );
}

#[test]
fn a_check_script_tracked_by_no_instance_is_said_and_flagged() {
    run_case(
        "untracked",
        &["tests/fixtures/keepalived/untracked/lb1.conf", "tests/fixtures/keepalived/untracked/lb2.conf"],
    );
}

#[test]
fn dual_master_with_two_instances_per_file_and_an_include() {
    run_case(
        "dual",
        &[
            "tests/fixtures/keepalived/dual/web-a.conf",
            "tests/fixtures/keepalived/dual/web-b.conf",
            "--node",
            "web-a=192.168.40.11",
            "--node",
            "web-b=192.168.40.12",
        ],
    );
}

#[test]
fn priorities_100_90_with_weight_minus_5_are_flagged_with_a_weight_to_use() {
    run_case(
        "weak",
        &[
            "tests/fixtures/keepalived/weak/keepalived-master.conf",
            "tests/fixtures/keepalived/weak/keepalived-backup.conf",
            "--node",
            "keepalived-master=10.0.0.11",
            "--node",
            "keepalived-backup=10.0.0.12",
        ],
    );
}

#[test]
fn what_cannot_be_parsed_is_named_with_file_and_line() {
    run_case("broken", &["tests/fixtures/keepalived/broken/lb1.conf", "tests/fixtures/keepalived/broken/lb2.conf"]);
}

#[test]
fn the_imported_inventory_written_with_o_passes_check_the_same_way() {
    let out_file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("imported-dual.yml");
    let out = Command::new(env!("CARGO_BIN_EXE_hapair"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "import",
            "keepalived",
            "tests/fixtures/keepalived/dual/web-a.conf",
            "tests/fixtures/keepalived/dual/web-b.conf",
        ])
        .args(["--node", "web-a=192.168.40.11", "--node", "web-b=192.168.40.12", "-o"])
        .arg(&out_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    let check = Command::new(env!("CARGO_BIN_EXE_hapair")).args(["check", "-i"]).arg(&out_file).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stdout));
    assert!(String::from_utf8_lossy(&check.stdout).contains("is valid: 1 pair, 2 nodes, 2 VIPs"));
}
