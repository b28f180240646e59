//! `hapair import keepalived`, run as the real binary on fixtures written for this project:
//! the inventory on stdout, what could not be carried over and `check`'s findings on stderr,
//! all compared exactly.

use std::path::{Path, PathBuf};
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
    if std::env::var_os("HAPAIR_BLESS").is_some() {
        std::fs::write(dir.join("expected.stderr"), &out.stderr).unwrap();
        std::fs::write(dir.join("expected.stdout"), &out.stdout).unwrap();
        std::fs::write(dir.join("expected.code"), format!("{}\n", out.status.code().unwrap_or(-1))).unwrap();
    }
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
    // An existing, world-readable file: the inventory (which may hold the password) is private.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&out_file, "old").unwrap();
        std::fs::set_permissions(&out_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
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
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777, 0o600);
}

// ---- the corpus of real keepalived setups ---------------------------------------------------

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keepalived-corpus")
}

/// Each case: `args` (file A, file B, then the flags), the files, `SOURCE`, and `expected`: the
/// import's stderr and exit code, the inventory it wrote (`-o`), and `hapair check` on it.
/// Returns the transcript and whether the case imported clean (import and check exit 0).
fn corpus_case(dir: &Path) -> (String, bool) {
    let case = dir.file_name().unwrap().to_string_lossy().to_string();
    let args: Vec<String> = std::fs::read_to_string(dir.join("args")).unwrap().lines().map(String::from).collect();
    let out_file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("corpus-{case}.yml"));
    let _ = std::fs::remove_file(&out_file);
    let out = Command::new(env!("CARGO_BIN_EXE_hapair"))
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .args(["import", "keepalived"])
        .args(&args)
        .arg("-o")
        .arg(&out_file)
        .output()
        .unwrap();
    let shown = out_file.display().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&shown, "imported.yml");
    assert!(!stderr.contains("panicked"), "{case}: {stderr}");
    assert!(out.stdout.is_empty(), "{case}: stdout with -o");
    let import_code = out.status.code().unwrap_or(-1);
    let mut t = format!("$ hapair import keepalived {} -o imported.yml\n{stderr}exit {import_code}\n", args.join(" "));
    let mut check_code = 1;
    if let Ok(yaml) = std::fs::read_to_string(&out_file) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{case}: the inventory may hold the password");
        assert_only_expected_keys(&case, &yaml);
        t.push_str(&format!("--- imported.yml\n{yaml}"));
        let check = Command::new(env!("CARGO_BIN_EXE_hapair"))
            .current_dir(dir)
            .env_remove("RUST_BACKTRACE")
            .args(["check", "-i"])
            .arg(&out_file)
            .output()
            .unwrap();
        check_code = check.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&check.stdout).replace(&shown, "imported.yml");
        t.push_str(&format!("$ hapair check -i imported.yml\n{stdout}exit {check_code}\n"));
    }
    (t, import_code == 0 && check_code == 0)
}

/// The written inventory is YAML with exactly the shape the import writes: nothing from the
/// files became a key or a structure.
fn assert_only_expected_keys(case: &str, yaml: &str) {
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{case}: not YAML: {e}\n{yaml}"));
    let keys = |v: &serde_yaml_ng::Value| -> Vec<String> {
        v.as_mapping().map(|m| m.keys().map(|k| k.as_str().unwrap_or("?").to_string()).collect()).unwrap_or_default()
    };
    assert_eq!(keys(&v), ["pairs"], "{case}");
    let pairs = v["pairs"].as_mapping().unwrap();
    assert_eq!(pairs.len(), 1, "{case}");
    let pair = pairs.values().next().unwrap();
    for k in keys(pair) {
        assert!(["mode", "interface", "nodes", "vips", "vrrp", "check"].contains(&k.as_str()), "{case}: key {k}");
    }
    for n in pair["nodes"].as_sequence().unwrap() {
        for k in keys(n) {
            assert!(["name", "address", "interface", "check"].contains(&k.as_str()), "{case}: node key {k}");
        }
    }
    for vip in pair["vips"].as_sequence().unwrap() {
        for k in keys(vip) {
            let ok = ["address", "vrid", "master", "priorities", "outside_subnet", "interface"];
            assert!(ok.contains(&k.as_str()), "{case}: VIP key {k}");
        }
        assert!(vip.get("interface").is_none_or(|i| i.is_string()), "{case}: VIP interface");
    }
    for k in keys(&pair["vrrp"]) {
        let ok = ["version", "advert_interval", "auth_pass", "auth_type", "preempt", "preempt_delay", "transport"];
        assert!(ok.contains(&k.as_str()), "{case}: vrrp key {k}");
    }
    for k in keys(&pair["check"]) {
        let ok = ["type", "script", "interval", "timeout", "fall", "rise", "weight"];
        assert!(ok.contains(&k.as_str()), "{case}: check key {k}");
    }
    assert!(pair["check"]["script"].as_sequence().is_none_or(|s| s.iter().all(|a| a.is_string())), "{case}");
}

#[test]
fn the_corpus_of_real_setups_imports_as_its_readme_says() {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(corpus_dir()).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    assert!(dirs.len() >= 25, "only {} cases", dirs.len());
    let bless = std::env::var_os("HAPAIR_BLESS").is_some();
    let mut mismatches = Vec::new();
    let mut clean = Vec::new();
    for d in &dirs {
        assert!(d.join("SOURCE").is_file(), "{}: no SOURCE", d.display());
        let (t, ok) = corpus_case(d);
        if ok {
            clean.push(d.file_name().unwrap().to_string_lossy().to_string());
        }
        let expected_file = d.join("expected");
        if bless {
            std::fs::write(&expected_file, &t).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_file).unwrap_or_default();
        if expected != t {
            mismatches.push(format!("--- {}\nexpected:\n{expected}\ngot:\n{t}", d.display()));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // The README's count is the test's count.
    let readme = std::fs::read_to_string(corpus_dir().join("README.md")).unwrap();
    let claim = format!("{} of {} pairs import clean", clean.len(), dirs.len());
    assert!(readme.contains(&claim), "README.md should say `{claim}`: {clean:?}");
    // Every other case names the decision it needs, with file:line.
    for d in &dirs {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        if clean.contains(&name) {
            continue;
        }
        let t = std::fs::read_to_string(d.join("expected")).unwrap();
        // A decision of the import, an error at a file:line, or a `check` error traced back
        // to the keepalived lines it was written from.
        let named = t.contains("decisions needed")
            || t.lines().any(|l| l.starts_with("error: ") && l.contains(".conf:"))
            || t.contains("  written from: ");
        assert!(named, "{name}: fails without naming the decision");
    }
}

// ---- hostile input ----------------------------------------------------------------------------

/// Hostile and broken variants: each is refused with a located error, or imported with every
/// value quoted (`assert_only_expected_keys`): no panic, no hang, no injected key.
#[test]
fn hostile_variants_are_refused_or_quoted_never_injected() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keepalived-hostile");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root).unwrap().flatten().map(|e| e.path()).collect();
    dirs.sort();
    let bless = std::env::var_os("HAPAIR_BLESS").is_some();
    let mut mismatches = Vec::new();
    for d in &dirs {
        let (t, _) = corpus_case(d);
        if bless {
            std::fs::write(d.join("expected"), &t).unwrap();
        }
        let expected = std::fs::read_to_string(d.join("expected")).unwrap_or_default();
        if expected != t {
            mismatches.push(format!("--- {}\nexpected:\n{expected}\ngot:\n{t}", d.display()));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

fn import_in(dir: &Path, a: &str, b: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hapair"))
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .args(["import", "keepalived", a, b])
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn endless_and_huge_inputs_are_refused_at_the_cap() {
    let (code, err) = import_in(Path::new("/"), "/dev/zero", "/dev/zero");
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: /dev/zero: it is larger than 512 KiB, the limit for this kind of file (512 KiB for a keepalived.conf)\n  fix: give the keepalived.conf itself, not a device or a log (docs/limits.md)\n"
    );
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("import-huge");
    std::fs::create_dir_all(&dir).unwrap();
    let line = "vrrp_instance VI_1 { interface eth0 }\n";
    std::fs::write(dir.join("big.conf"), line.repeat(30 * 1024 * 1024 / line.len())).unwrap();
    let (code, err) = import_in(&dir, "big.conf", "big.conf");
    assert_eq!(code, 1);
    assert!(err.starts_with("error: big.conf: it is larger than 512 KiB"), "{err}");
}

#[test]
fn an_include_glob_fanning_out_is_bounded() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("import-fanout");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    // Every file includes every file: without bounds, 100^depth reads.
    for i in 0..100 {
        std::fs::write(dir.join(format!("conf.d/{i:03}.conf")), "include *.conf\n").unwrap();
    }
    std::fs::write(dir.join("lb1.conf"), "include conf.d/*.conf\n").unwrap();
    let (code, err) = import_in(&dir, "lb1.conf", "lb1.conf");
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: lb1.conf:1: the include glob matches more than 64 files\n  fix: narrow the glob (docs/limits.md)\n"
    );
    // Fewer files, but each including the others: the chain is refused, not followed.
    for i in 10..100 {
        std::fs::remove_file(dir.join(format!("conf.d/{i:03}.conf"))).unwrap();
    }
    let (code, err) = import_in(&dir, "lb1.conf", "lb1.conf");
    assert_eq!(code, 1);
    assert!(err.starts_with("error: conf.d/000.conf:1: `conf.d/000.conf` includes itself"), "{err}");
}

/// VIPs off the nodes' subnet: one with its prefix is written as given, one without (keepalived
/// adds a /32) stays /32, both with `outside_subnet: true` and said with file:line; the
/// inventory passes `check`.
#[test]
fn vips_outside_the_nodes_subnet_are_written_with_outside_subnet() {
    run_case(
        "offsubnet",
        &[
            "tests/fixtures/keepalived/offsubnet/lb1.conf",
            "tests/fixtures/keepalived/offsubnet/lb2.conf",
            "--node",
            "lb1=10.0.0.11/24",
            "--node",
            "lb2=10.0.0.12/24",
        ],
    );
}

/// Without the nodes' prefix, whether a VIP written without one is off their subnet is not
/// known: a decision naming the flag, not a translation.
#[test]
fn a_vip_without_prefix_on_nodes_of_unknown_prefix_is_a_decision_not_outside_subnet() {
    run_case(
        "offsubnet-unknown",
        &["tests/fixtures/keepalived/offsubnet/lb1.conf", "tests/fixtures/keepalived/offsubnet/lb2.conf"],
    );
}

/// keepalived's `virtual_ipaddress { ADDR dev IFACE }` on another interface than the instance's:
/// the VIP's `interface`, said with both files' lines; one without prefix stays keepalived's /32
/// (the nodes' prefix is their VRRP interface's); the inventory passes `check`.
#[test]
fn a_vip_on_another_interface_is_written_with_its_interface() {
    run_case("vipdev", &["tests/fixtures/keepalived/vipdev/lb1.conf", "tests/fixtures/keepalived/vipdev/lb2.conf"]);
}

/// The two files put the VIP on different interfaces: a decision with both places.
#[test]
fn a_vip_the_two_files_put_on_different_interfaces_is_a_decision() {
    run_case(
        "vipdev-differ",
        &["tests/fixtures/keepalived/vipdev-differ/lb1.conf", "tests/fixtures/keepalived/vipdev-differ/lb2.conf"],
    );
}

/// One VRID's addresses on two interfaces, the two files disagreeing on one address's: a
/// decision with both places, and no address is given an interface.
#[test]
fn an_address_the_two_files_put_on_different_interfaces_is_a_decision() {
    run_case(
        "vipdev-mixed-differ",
        &[
            "tests/fixtures/keepalived/vipdev-mixed-differ/lb1.conf",
            "tests/fixtures/keepalived/vipdev-mixed-differ/lb2.conf",
        ],
    );
}
