//! The user's own site on a real pair (lab hosts: sshd, systemd, nginx, firewalld): the example
//! role of `inventories/site/` applied to both nodes, both virtual hosts answered through the
//! VIP (HTTPS checked against the example CA), the same requests answered by the other node when
//! the master's nginx stops, a second apply that changes nothing, drift between peers said by
//! `plan`, and a broken site file refused by `nginx -t` with both nodes still serving the old
//! site.

mod common;

use common::{run, show, text};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/site")
}

/// The lab's inventory with the example's roles and variables (the key from its file).
fn with_site(lab: &common::Lab) {
    let inv = std::fs::read_to_string(&lab.inventory).expect("read the lab inventory");
    let key = example().join("certs/secure.example.test.key");
    let vars = format!(
        "defaults:\n  roles: [site]\n  vars:\n    site:\n      www: www.example.test\n      secure: secure.example.test\n      \
         backend_port: 8081\n      upstreams: [127.0.0.1:8081]\n      tls_key: {{file: {}}}\n",
        key.display()
    );
    std::fs::write(&lab.inventory, inv.replacen("defaults:\n", &vars, 1)).expect("write the lab inventory");
}

/// `curl` from this machine through the VIP: (status line + X-Served-By, body).
fn get(vip: &str, https: bool) -> Option<(String, String)> {
    let ca = example().join("certs/ca.crt");
    let mut c = std::process::Command::new("curl");
    c.args(["-s", "-D", "-", "--max-time", "2"]);
    if https {
        c.arg("--cacert").arg(&ca).args(["--resolve", &format!("secure.example.test:443:{vip}")]);
        c.arg("https://secure.example.test/");
    } else {
        c.args(["-H", "Host: www.example.test", &format!("http://{vip}/")]);
    }
    let o = c.output().ok()?;
    if !o.status.success() {
        return None;
    }
    let out = text(&o.stdout);
    let (head, body) = out.split_once("\r\n\r\n")?;
    let served =
        head.lines().find_map(|l| l.strip_prefix("X-Served-By: ").or_else(|| l.strip_prefix("x-served-by: ")))?;
    Some((format!("{} {}", head.lines().next()?.trim(), served.trim()), body.to_string()))
}

/// Wait until both virtual hosts answer 200 through `vip`, served by `node`.
fn wait_both_served_by(vip: &str, node: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = (None, None);
    while Instant::now() < deadline {
        last = (get(vip, false), get(vip, true));
        if let (Some((h1, b1)), Some((h2, b2))) = &last {
            if h1.ends_with(&format!("200 OK {node}")) && h2.ends_with(&format!("200 OK {node}")) {
                assert_eq!(b1, "www.example.test: plain HTTP through the upstream\n");
                assert_eq!(b2, "secure.example.test: HTTPS\n");
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("both virtual hosts were not served by `{node}` through {vip} within 20 s; last: {last:?}");
}

#[test]
fn the_users_site_is_deployed_to_both_nodes_and_survives_failover() {
    let lab = common::Lab::up("site1", 2, "master-backup");
    with_site(&lab);
    let inv = lab.inventory.to_string_lossy().to_string();
    let roles = example().join("roles");
    let roles = roles.to_str().expect("utf-8 path");
    let key = std::fs::read_to_string(example().join("certs/secure.example.test.key")).expect("key");
    let key_line = key.lines().nth(1).expect("a base64 line");
    let vip = lab.addr(200);

    let o = run(&["check", "-i", &inv, "--roles", roles]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = run(&["plan", "-i", &inv, "--roles", roles]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(out.contains("  [site] create `/etc/nginx/site/secure.key` (mode 0600, owner root:root)\n"), "{out}");
    assert!(out.contains("# secret content not shown ("), "{out}");
    assert!(out.contains("+    server_name www.example.test;"), "{out}");
    assert!(out.contains("add port in zone `public` (runtime and permanent): 443/tcp"), "{out}");
    assert!(!out.contains(key_line) && !out.contains("PRIVATE KEY"), "the key leaked:\n{out}");

    let o = run(&["apply", "-i", &inv, "--roles", roles, "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(!text(&o.stdout).contains(key_line) && !text(&o.stderr).contains(key_line), "the key leaked");
    // Both nodes have the same site files; the key is private.
    let files = "/etc/nginx/conf.d/site.conf /etc/nginx/site/upstreams.conf /etc/nginx/site/secure.crt \
                 /etc/nginx/site/secure.key /var/www/site/www/index.html /var/www/site/secure/index.html";
    let sums: Vec<String> =
        ["node1", "node2"].iter().map(|n| lab.exec_ok(n, &["sh", "-c", &format!("sha256sum {files}")])).collect();
    assert_eq!(sums[0], sums[1]);
    for n in ["node1", "node2"] {
        assert_eq!(lab.exec_ok(n, &["stat", "-c", "%a %U", "/etc/nginx/site/secure.key"]), "600 root\n");
    }
    wait_both_served_by(&vip, "node1");

    // Nothing left to do; a second apply changes nothing.
    let o = run(&["plan", "-i", &inv, "--roles", roles]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = run(&["apply", "-i", &inv, "--roles", roles, "--yes", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(!text(&o.stdout).contains("\"event\":\"change\""), "second apply changed something:\n{}", show(&o));

    // The master's nginx stops: the same requests are answered by the other node.
    lab.exec_ok("node1", &["systemctl", "stop", "nginx"]);
    wait_both_served_by(&vip, "node2");
    lab.exec_ok("node1", &["systemctl", "start", "nginx"]);
    wait_both_served_by(&vip, "node1");

    // Drift between peers: a page edited by hand on node2 is said as such.
    lab.exec_ok("node2", &["sh", "-c", "echo edited > /var/www/site/www/index.html"]);
    let o = run(&["plan", "-i", &inv, "--roles", roles]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(
        out.contains(
            "warning: `/var/www/site/www/index.html` differs between `node2` and `node1` (drift between peers)"
        ),
        "{out}"
    );
    let o = run(&["apply", "-i", &inv, "--roles", roles, "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    // A broken site file: refused by `nginx -t` on the first node, every file put back, the
    // other node untouched; both still serve the old site.
    let broken = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("site1-broken-roles");
    let _ = std::fs::remove_dir_all(&broken);
    let cp = std::process::Command::new("cp").arg("-r").arg(example().join("roles")).arg(&broken).status();
    assert!(cp.is_ok_and(|s| s.success()), "cannot copy the example's roles");
    let tpl = broken.join("site/templates/site.conf.tera");
    let text_of = std::fs::read_to_string(&tpl).expect("template");
    let bad = text_of.replace("root /var/www/site/secure;", "root /var/www/site/secure;\n    no_such_directive on;");
    assert_ne!(bad, text_of, "the template changed shape; update this test");
    std::fs::write(&tpl, bad).expect("write");
    let before: Vec<String> =
        ["node1", "node2"].iter().map(|n| lab.exec_ok(n, &["sha256sum", "/etc/nginx/conf.d/site.conf"])).collect();
    let o = run(&["apply", "-i", &inv, "--roles", broken.to_str().expect("utf-8"), "--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(err.contains("(nginx -t)` failed") && err.contains("unknown directive \"no_such_directive\""), "{err}");
    let out = text(&o.stdout);
    assert!(out.contains("node2  failed") && out.contains("node1  skipped"), "{out}");
    let after: Vec<String> =
        ["node1", "node2"].iter().map(|n| lab.exec_ok(n, &["sha256sum", "/etc/nginx/conf.d/site.conf"])).collect();
    assert_eq!(before, after, "a refused site replaced the old one");
    for n in ["node1", "node2"] {
        lab.exec_ok(n, &["nginx", "-t"]);
        assert_eq!(lab.exec_ok(n, &["find", "/etc/nginx", "-name", ".hapair*"]), "", "{n}: temporary files left");
    }
    wait_both_served_by(&vip, "node1");
    let o = run(&["plan", "-i", &inv, "--roles", roles]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    lab.down();
}
