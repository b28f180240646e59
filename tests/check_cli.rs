//! `hapair check`, run as the real binary: the corpus of broken inventories is rejected with
//! exactly the expected messages, every rule fires, the examples pass, `--explain` and JSON.

use std::path::{Path, PathBuf};
use std::process::Command;

fn hapair() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hapair"));
    c.current_dir(env!("CARGO_MANIFEST_DIR")).env_remove("RUST_BACKTRACE").env_remove("HAPAIR_TEST_SURELY_UNSET");
    c
}

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inventory_corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_corpus_is_rejected_with_exact_messages() {
    let files = corpus();
    assert!(files.len() >= 25, "only {} corpus files", files.len());
    let mut mismatches = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
        let out = hapair().args(["check", "-i"]).arg(rel).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!stderr.contains("panicked"), "{}: panicked\n{stderr}", rel.display());
        let expected = std::fs::read_to_string(f.with_extension("expected"))
            .unwrap_or_else(|_| panic!("no .expected for {}", rel.display()));
        if stdout != expected {
            mismatches.push(format!("--- {}\nexpected:\n{expected}got:\n{stdout}", rel.display()));
        }
        let want = if expected.contains(": error[") { 1 } else { 0 };
        assert_eq!(out.status.code(), Some(want), "{}: {stdout}", rel.display());
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Every rule code documented in docs/rules.md fires on some minimal inventory of the corpus.
#[test]
fn every_documented_rule_fires_somewhere() {
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md")).unwrap();
    let codes: Vec<&str> = docs.lines().filter_map(|l| l.strip_prefix("| `HA")).map(|r| &r[..3]).collect();
    assert!(codes.len() >= 20, "{codes:?}");
    let mut all: String =
        corpus().iter().map(|f| std::fs::read_to_string(f.with_extension("expected")).unwrap()).collect();
    all.extend(role_corpus().iter().map(|d| std::fs::read_to_string(d.join("expected")).unwrap()));
    // HA000 (unreadable or too large file) is shown by `unreadable_files_and_bad_overrides_are_findings_too`
    // and `an_oversized_or_endless_inventory_is_refused`.
    let missing: Vec<&&str> = codes.iter().filter(|c| **c != "000" && !all.contains(&format!("[HA{c}]"))).collect();
    assert!(missing.is_empty(), "rules never shown by the corpus: {missing:?}");
}

fn role_corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/role_corpus");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).collect();
    dirs.sort();
    dirs
}

/// Broken roles (beside their inventory) are refused offline, at the role file's line (or the
/// template's), with a fix: unknown task kind, missing template, syntax error, undefined
/// variable, unknown role.
#[test]
fn broken_roles_are_rejected_with_file_line_and_fix() {
    let dirs = role_corpus();
    assert!(dirs.len() >= 5, "only {} role corpus cases", dirs.len());
    let mut mismatches = Vec::new();
    for d in &dirs {
        let rel = d.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
        let out = hapair().args(["check", "-i"]).arg(rel.join("inventory.yml")).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{}", rel.display());
        let expected = std::fs::read_to_string(d.join("expected")).unwrap();
        if stdout != expected {
            mismatches.push(format!("--- {}\nexpected:\n{expected}got:\n{stdout}", rel.display()));
        }
        assert!(expected.contains("error[HA060]") && expected.contains("\n  fix: "), "{expected}");
        assert_eq!(out.status.code(), Some(1), "{}: {stdout}", rel.display());
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn the_examples_pass() {
    for name in ["master-backup", "dual-master", "multi-pair", "site/site"] {
        let out = hapair()
            .args(["check", "-i", &format!("inventories/{name}.yml")])
            .env("VRRP_PASS", "s3cret")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {stdout}");
        assert!(!stdout.contains(": error["), "{name}: {stdout}");
        assert!(stdout.lines().last().unwrap().contains("` is valid: "), "{name}: {stdout}");
    }
}

#[test]
fn explain_shows_each_setting_and_its_layer_with_the_secret_redacted() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explain");
    std::fs::create_dir_all(&dir).unwrap();
    let inv = dir.join("inv.yml");
    std::fs::write(
        &inv,
        "defaults:\n  vrrp:\n    version: 2\n    auth_pass: hunter2\npairs:\n  web:\n    mode: master-backup\n    interface: eth0\n    check:\n      fall: 3\n    nodes:\n      - name: web1\n        address: 10.0.0.11\n        nginx:\n          listen: 8080\n      - name: web2\n        address: 10.0.0.12\n    vips:\n      - address: 10.0.0.200/24\n        vrid: 51\n        master: web1\n",
    )
    .unwrap();
    let out = hapair()
        .args(["check", "-i"])
        .arg(&inv)
        .args(["--explain", "web1", "-e", "web1.check.rise=4", "-e", "vrrp.advert_interval=2s"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let p = inv.display();
    for line in [
        format!("  vrrp.auth_pass                  <redacted>  defaults ({p}:4)"),
        format!("  vrrp.version                    2           defaults ({p}:3)"),
        "  vrrp.advert_interval            2s          command line (-e vrrp.advert_interval)".to_string(),
        format!("  check.fall                      3           pair ({p}:10)"),
        "  check.rise                      4           command line (-e web1.check.rise)".to_string(),
        format!("  nginx.listen                    8080        node ({p}:15)"),
        "  check.weight                    -60         built-in default".to_string(),
        "  vip 10.0.0.200/24      vrid 51  priority 150 (preferred master)".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "missing line {line:?} in:\n{text}");
    }
    let out = hapair().args(["check", "-i"]).arg(&inv).args(["--explain", "web9"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("error: `{p}` has no node `web9`\n  fix: use one of `web1`, `web2`\n")
    );
}

#[test]
fn json_output_carries_every_field() {
    let out = hapair()
        .args(["check", "-i", "tests/inventory_corpus/weight-cannot-move.yml", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["errors"], 1);
    assert_eq!(v["warnings"], 0);
    let f = &v["findings"][0];
    assert_eq!(f["code"], "HA032");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["file"], "tests/inventory_corpus/weight-cannot-move.yml");
    assert_eq!(f["line"], 17);
    assert_eq!(f["column"], 15);
    assert_eq!(
        f["message"],
        "an nginx failure on `web1` never moves 10.0.0.200: 100 - 5 = 95 is still above `web2`'s 90"
    );
    assert_eq!(f["fix"], "set `check.weight` to -11 or lower (or 0 to release the VIP on failure)");
}

#[test]
fn unreadable_files_and_bad_overrides_are_findings_too() {
    let out = hapair().args(["check", "-i", "tests/inventory_corpus/no-such-file.yml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("tests/inventory_corpus/no-such-file.yml: error[HA000]: cannot read the inventory: No such file or directory"), "{text}");
    let out = hapair()
        .args([
            "check",
            "-i",
            "inventories/master-backup.yml",
            "-e",
            "vrrp.advert_intervall=1s",
            "-e",
            "nosuchnode.check.fall=3",
            "-e",
            "oops",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "command line: error[HA003]: `-e vrrp.advert_intervall` sets no known setting\n  fix: did you mean `vrrp.advert_interval`?",
        "command line: error[HA003]: `-e oops` is not `key=value`",
        "command line: error[HA003]: `-e nosuchnode.…` names no node of the inventory",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let out = hapair()
        .args(["check", "-i", "tests/inventory_corpus/weight-cannot-move.yml", "-e", "web1.check.weight=-20"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

/// An endless file (`/dev/zero`) and one a byte over the cap are refused at once, named, with
/// the cap; a file of exactly the cap is read (and answered within the time bound).
#[test]
fn an_oversized_or_endless_inventory_is_refused() {
    let out = hapair().args(["check", "-i", "/dev/zero"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/dev/zero: error[HA000]: cannot read the inventory: it is larger than 256 KiB, the limit for this kind of file\n  fix: split the pairs over several inventories\n`/dev/zero`: 1 error, 0 warnings\n"
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("oversized");
    std::fs::create_dir_all(&dir).unwrap();
    let cap = 256 << 10;
    let exact = dir.join("exact.yml");
    std::fs::write(&exact, format!("pairs: {}\n", "#".repeat(0)) + &"# comment\n".repeat((cap - 8) / 10)).unwrap();
    let out = hapair().args(["check", "-i"]).arg(&exact).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("`pairs` must be a mapping"), "{out:?}");
    let over = dir.join("over.yml");
    std::fs::write(&over, "#".repeat(cap + 1)).unwrap();
    let out = hapair().args(["check", "-i"]).arg(&over).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("larger than 256 KiB"), "{out:?}");
}

/// `--format json` is one JSON document on stdout, `--explain` included (it used to print the
/// text explanation after the JSON); an unknown node is an error on stderr, stdout empty.
#[test]
fn json_with_explain_is_one_document() {
    let out = hapair()
        .args(["check", "-i", "inventories/master-backup.yml", "--format", "json", "--explain", "web1"])
        .args(["-e", "vrrp.version=2", "-e", "vrrp.auth_pass=s3cret"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(v["explain"]["node"], "web1");
    let settings = v["explain"]["settings"].as_array().expect("settings");
    let pass = settings.iter().find(|s| s["key"] == "vrrp.auth_pass").expect("auth_pass row");
    assert_eq!(pass["value"], "<redacted>");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret"));
    let out = hapair()
        .args(["check", "-i", "inventories/master-backup.yml", "--format", "json", "--explain", "nope"])
        .env("VRRP_PASS", "s3cret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no node `nope`"));
}
