//! Provisioning on real lab hosts: a bare host (nginx purged) converges in ONE apply — after the
//! package install, apply observes the node again and plans the rest on what the package brought
//! (Debian's default site, nginx started) — and a host
//! already serving its own default site is adopted (`nginx.adopt`) without touching that site.
//!
//! Lab hosts reach no package mirror: `scripts/deps.sh` keeps Debian's `nginx` and
//! `nginx-common` packages in /var/lib/hapair-lab/debs, and this test serves them to the hosts as
//! a local apt repository (`deb [trusted=yes] file:…`), so `apt-get install nginx` runs for real.

mod common;

use common::{run, show, text};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DEBS: &str = "/var/lib/hapair-lab/debs";
const REPO: &str = "/var/local/hapair-repo";

/// The packages' `Packages` index entry, as apt reads a flat repository.
fn index_entry(deb: &Path) -> String {
    let o = std::process::Command::new("dpkg-deb").arg("-f").arg(deb).output().expect("run dpkg-deb");
    assert!(o.status.success(), "dpkg-deb -f {}: {}", deb.display(), text(&o.stderr));
    let bytes = std::fs::read(deb).expect("read deb");
    let sha = std::process::Command::new("sha256sum").arg(deb).output().expect("sha256sum");
    let sha = text(&sha.stdout).split_whitespace().next().unwrap_or_default().to_string();
    let name = deb.file_name().expect("name").to_string_lossy().to_string();
    format!("{}Filename: ./{name}\nSize: {}\nSHA256: {sha}\n\n", text(&o.stdout), bytes.len())
}

/// Purge nginx on `node` and give it a local apt repository holding nginx.
fn bare_host_with_local_repo(lab: &common::Lab, node: &str) {
    let mut debs: Vec<PathBuf> = std::fs::read_dir(DEBS)
        .unwrap_or_else(|e| panic!("{DEBS}: {e}; run scripts/deps.sh"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    debs.sort();
    assert!(debs.len() >= 2, "no nginx packages in {DEBS}; run scripts/deps.sh");
    lab.exec_ok(
        node,
        &[
            "sh",
            "-c",
            "dpkg --purge nginx-light libnginx-mod-http-echo nginx nginx-common >/dev/null && ! test -e /etc/nginx",
        ],
    );
    lab.exec_ok(node, &["mkdir", "-p", REPO]);
    let mut index = String::new();
    for d in &debs {
        let name = d.file_name().expect("name").to_string_lossy().to_string();
        let file = std::fs::File::open(d).expect("open deb");
        let out = lab.ssh_command(node, &format!("cat > {REPO}/{name}")).stdin(file).output().expect("run ssh");
        assert!(out.status.success(), "copy {name}: {}", text(&out.stderr));
        index.push_str(&index_entry(d));
    }
    let script = format!(
        "set -e; cat > {REPO}/Packages; mkdir -p /etc/apt/hapair-test-saved; \
         mv /etc/apt/sources.list /etc/apt/hapair-test-saved/ 2>/dev/null || true; \
         echo 'deb [trusted=yes] file:{REPO} ./' > /etc/apt/sources.list; apt-get update -q >/dev/null"
    );
    let out = lab
        .ssh_command(node, &script)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(index.as_bytes())?;
            c.wait_with_output()
        })
        .expect("run ssh");
    assert!(out.status.success(), "local repository on {node}: {}", text(&out.stderr));
}

fn wait_served(vip: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        let o = std::process::Command::new("curl").args(["-s", "--max-time", "1", &format!("http://{vip}/")]).output();
        last = o.map(|o| text(&o.stdout)).unwrap_or_default();
        if last.contains(want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{vip} did not answer with `{want}` within 20 s; last answer: {last:?}");
}

#[test]
fn a_bare_host_converges_in_one_apply() {
    let lab = common::Lab::up("prov1", 2, "master-backup");
    for n in ["node1", "node2"] {
        bare_host_with_local_repo(&lab, n);
    }
    let inv = lab.inventory.to_string_lossy().to_string();
    let o = run(&["plan", "-i", &inv]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(out.contains("  [nginx] install package `nginx` (apt)\n"), "{out}");
    // One apply: the package, then (observed again) its default site out of the way, hapair's
    // site, the daemon.
    let o = run(&["apply", "-i", &inv, "--yes", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let removed = text(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "change" && e["summary"] == "remove `/etc/nginx/sites-enabled/default`")
        .count();
    assert_eq!(removed, 2, "the default site the package brought was not removed on both nodes:\n{}", show(&o));
    for n in ["node1", "node2"] {
        assert!(lab.exec_ok(n, &["dpkg-query", "-W", "-f", "${Status}", "nginx"]).contains("ok installed"));
        lab.exec_ok(n, &["test", "!", "-e", "/etc/nginx/sites-enabled/default"]);
        assert_eq!(lab.exec_ok(n, &["systemctl", "is-active", "nginx", "hapair-vrrpd"]), "active\nactive\n");
    }
    wait_served(&lab.addr(200), "served by node1");
    let o = run(&["plan", "-i", &inv]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    lab.down();
}

#[test]
fn a_host_serving_its_own_site_is_adopted_without_touching_it() {
    let lab = common::Lab::up("prov2", 2, "master-backup");
    let inv = lab.inventory.to_string_lossy().to_string();
    let site = |n: &str| {
        lab.exec_ok(n, &["sh", "-c", "readlink /etc/nginx/sites-enabled/default; sha256sum /etc/nginx/sites-available/default; ls /etc/nginx/conf.d"])
    };
    let before = [site("node1"), site("node2")];
    let o = run(&["check", "-i", &inv, "-e", "nginx.adopt=true"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        text(&o.stdout).contains("`node1` adopts its nginx: hapair's nginx role writes no file, it only reloads and monitors nginx; its check probes GET http://127.0.0.1:80/"),
        "{}",
        show(&o)
    );
    let o = run(&["plan", "-i", &inv, "-e", "nginx.adopt=true"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(!out.contains("/etc/nginx"), "adopting plans an nginx file:\n{out}");
    let o = run(&["apply", "-i", &inv, "--yes", "-e", "nginx.adopt=true"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!([site("node1"), site("node2")], before, "an adopted site was touched");
    // The VIP serves the node's own site; the daemon's check probes it.
    wait_served(&lab.addr(200), "Welcome to nginx!");
    let o = run(&["plan", "-i", &inv, "-e", "nginx.adopt=true"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    lab.down();
}
