//! `hapair vrrpd --check-config` and `hapair vrrpd status`, run as the real binary.

mod common;

use common::hapair;
use std::path::PathBuf;

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hapair-vrrp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write config");
    p
}

const VALID: &str = "\
node: web1
interface: eth0
address: 10.77.1.11
peer: 10.77.1.12
check:
  type: http
  url: http://127.0.0.1:80/
instances:
  - name: web-51
    vrid: 51
    version: 2
    priority: 150
    advert_interval_ms: 1000
    vips: [10.77.1.200/24]
    auth_pass: s3cret
";

#[test]
fn check_config_accepts_a_valid_file() {
    let p = write("valid.yml", VALID);
    let out = hapair().args(["vrrpd", "--check-config"]).arg(&p).output().expect("run hapair");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("`{}` is valid: node `web1` on `eth0`, `web-51` (vrid 51, v2, priority 150)\n", p.display())
    );
    assert_eq!(out.status.code(), Some(1 - 1));
}

#[test]
fn check_config_reports_every_finding_with_its_place() {
    let bad = VALID
        .replace("auth_pass: s3cret", "auth_pass: much-too-long")
        .replace("advert_interval_ms: 1000", "advert_interval_ms: 250");
    let p = write("invalid.yml", &bad);
    let out = hapair().args(["vrrpd", "--check-config"]).arg(&p).output().expect("run hapair");
    let f = p.display();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: {f}:13:25: instance `web-51`: `advert_interval_ms` 250 is not whole seconds from 1 to 255, as VRRPv2 requires\n  \
             fix: use a multiple of 1000, or `version: 3` for sub-second adverts\n\
             error: {f}:15:16: instance `web-51`: `auth_pass` must be 1 to 8 bytes, it is 13\n  \
             fix: use a password of at most 8 characters (the VRRPv2 PASS field is 8 bytes)\n"
        )
    );
    assert_eq!(out.stdout, b"");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn check_config_reports_a_missing_file() {
    let out = hapair().args(["vrrpd", "--check-config", "/nonexistent/vrrpd.yml"]).output().expect("run hapair");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: cannot read `/nonexistent/vrrpd.yml`: No such file or directory (os error 2)\n  fix: pass the daemon configuration with `--config FILE`\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn status_prints_the_status_file() {
    let p = write("status.json", "{\n  \"node\": \"web1\",\n  \"instances\": []\n}\n");
    let out = hapair().args(["vrrpd", "status", "--file"]).arg(&p).output().expect("run hapair");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "{\n  \"node\": \"web1\",\n  \"instances\": []\n}\n");
    assert_eq!(out.status.code(), Some(0));
}

/// The daemon config goes through the bounded YAML reader: aliases that expand exponentially,
/// deep nesting and a NUL byte are refused at once with their place; an endless file at the cap.
#[test]
fn check_config_is_bounded() {
    let mut laughs = String::from("node: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..9 {
        laughs.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 9].join(", ")));
    }
    let cases = [
        ("laughs.yml", laughs, ":6:", "more than 200000 values"),
        ("deep.yml", format!("node: {}{}\n", "[".repeat(100), "]".repeat(100)), ":1:", "more than 64 deep"),
        ("nul.yml", VALID.replace("node: web1", "node: web1\u{0}"), ":1:11: ", "a NUL byte"),
    ];
    for (name, text, place, what) in cases {
        let p = write(name, &text);
        let t = std::time::Instant::now();
        let out = hapair().args(["vrrpd", "--check-config"]).arg(&p).output().expect("run hapair");
        assert!(t.elapsed() < std::time::Duration::from_secs(2), "{name} took {:?}", t.elapsed());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(&format!("{}{place}", p.display())) && stderr.contains(what), "{name}: {stderr}");
    }
    let out = hapair().args(["vrrpd", "--check-config", "/dev/zero"]).output().expect("run hapair");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: cannot read `/dev/zero`: it is larger than 64 KiB, the limit for this kind of file\n  fix: pass the daemon configuration with `--config FILE`\n"
    );
}

#[test]
fn status_refuses_an_endless_file() {
    let out = hapair().args(["vrrpd", "status", "--file", "/dev/zero"]).output().expect("run hapair");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("error: cannot read the status file `/dev/zero`: it is larger than 1 MiB"),
        "{out:?}"
    );
}
