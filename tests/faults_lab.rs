//! Faults during `apply` on real lab hosts: a cut SSH connection, a full disk, a daemon config
//! that fails validation. Never a half-written file, never a broken config activated, and the
//! next `apply` converges.

mod common;

use common::{hapair, text, Lab};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn apply(lab: &Lab, extra: &[&str]) -> std::process::Output {
    hapair().args(["apply", "--yes", "-i"]).arg(&lab.inventory).args(extra).output().unwrap()
}

fn host_root(lab: &Lab, node: &str) -> PathBuf {
    PathBuf::from(format!("/var/lib/hapair-lab/labs/{}/hosts/{node}/merged", lab.name))
}

fn sha256(lab: &Lab, node: &str, path: &str) -> String {
    let out = lab.exec(node, &["sha256sum", path]);
    text(&out.stdout).split_whitespace().next().unwrap_or("absent").to_string()
}

/// The ssh master connection this test's `hapair` opened to `addr` (our own grandchild).
fn ssh_master_to(addr: &str) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let args: Vec<String> = cmd.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).to_string()).collect();
        let is_ssh = args.first().is_some_and(|a| a == "ssh" || a.ends_with("/ssh"));
        if is_ssh && args.iter().any(|a| a == "-M") && args.iter().any(|a| a.contains(addr)) {
            return Some(pid);
        }
    }
    None
}

#[test]
fn a_cut_ssh_connection_mid_apply_leaves_no_half_written_binary_and_the_next_apply_converges() {
    let lab = Lab::up("t-flt1", 2, "master-backup");
    let local = {
        let out = std::process::Command::new("sha256sum").arg(env!("CARGO_BIN_EXE_hapair")).output().unwrap();
        text(&out.stdout).split_whitespace().next().unwrap().to_string()
    };
    // With no daemon yet, the preferred master (node1) goes last: node2 is converged first.
    let addr = lab.node("node2").address.to_string();
    let sbin = host_root(&lab, "node2").join("usr/local/sbin");
    let mut child = hapair()
        .args(["apply", "--yes", "-i"])
        .arg(&lab.inventory)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Cut the connection while the binary streams into its temp file on node2.
    let start = Instant::now();
    let mut cut = false;
    while start.elapsed() < Duration::from_secs(30) {
        let staging = std::fs::read_dir(&sbin)
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with(".hapair-new")))
            .unwrap_or(false);
        if staging {
            if let Some(pid) = ssh_master_to(&addr) {
                // SAFETY: kill(2) on the ssh master our own `hapair apply` started.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                cut = true;
                break;
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = child.wait_with_output().unwrap();
    assert!(cut, "the upload finished before the test could cut it: {}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{}\n{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stderr).contains("`node2`"), "the error does not name the host: {}", text(&out.stderr));
    // Old state (absent) or new state (complete), never a partial binary at its path.
    let on_node = sha256(&lab, "node2", "/usr/local/sbin/hapair");
    assert!(on_node == "absent" || on_node == local, "half-written binary on node2: {on_node}");
    // node1 was not touched: its pair stopped at the failure.
    assert_eq!(sha256(&lab, "node1", "/usr/local/sbin/hapair"), "absent");

    let again = apply(&lab, &[]);
    assert!(again.status.success(), "{}\n{}", text(&again.stdout), text(&again.stderr));
    assert_eq!(sha256(&lab, "node2", "/usr/local/sbin/hapair"), local);
    let plan = hapair().args(["plan", "-i"]).arg(&lab.inventory).output().unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stdout));
}

#[test]
fn a_full_disk_fails_clearly_and_loses_nothing() {
    let lab = Lab::up("t-flt2", 2, "master-backup");
    let first = apply(&lab, &[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let before = sha256(&lab, "node1", "/etc/hapair/vrrpd.yml");
    let pid = lab.exec_ok("node1", &["systemctl", "show", "-p", "MainPID", "--value", "hapair-vrrpd"]);
    // A tiny, full filesystem over /etc/hapair, holding the current config.
    lab.exec_ok(
        "node1",
        &["sh", "-c", "cp -a /etc/hapair /tmp/hapair-etc && mount -t tmpfs -o size=64k tmpfs /etc/hapair && \
                      cp -a /tmp/hapair-etc/. /etc/hapair/ && (dd if=/dev/zero of=/etc/hapair/fill bs=4k 2>/dev/null || true)"],
    );
    let out = apply(&lab, &["-e", "node1.check.fall=3"]);
    assert_eq!(out.status.code(), Some(1), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("`node1`") && err.contains("No space left on device"), "{err}");
    assert_eq!(sha256(&lab, "node1", "/etc/hapair/vrrpd.yml"), before, "the old config was damaged");
    assert_eq!(lab.exec_ok("node1", &["systemctl", "show", "-p", "MainPID", "--value", "hapair-vrrpd"]), pid);
    let leftovers = lab.exec_ok("node1", &["sh", "-c", "ls -a /etc/hapair | grep -c hapair-new || true"]);
    assert_eq!(leftovers.trim(), "0", "a temp file was left behind");

    lab.exec_ok("node1", &["sh", "-c", "umount /etc/hapair && rm -rf /tmp/hapair-etc"]);
    let out = apply(&lab, &["-e", "node1.check.fall=3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_ne!(sha256(&lab, "node1", "/etc/hapair/vrrpd.yml"), before);
}

#[test]
fn a_daemon_config_that_fails_validation_is_never_activated() {
    let lab = Lab::up("t-flt3", 2, "master-backup");
    let first = apply(&lab, &[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let before: Vec<String> = ["node1", "node2"].iter().map(|n| sha256(&lab, n, "/etc/hapair/vrrpd.yml")).collect();
    let pids: Vec<String> = ["node1", "node2"]
        .iter()
        .map(|n| lab.exec_ok(n, &["systemctl", "show", "-p", "MainPID", "--value", "hapair-vrrpd"]))
        .collect();
    // A template override that renders a config the daemon refuses (priority 0).
    let roles = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("t-flt3-roles");
    std::fs::create_dir_all(roles.join("vrrp/templates")).unwrap();
    let tpl =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("roles/vrrp/templates/vrrpd.yml.tera"))
            .unwrap();
    let broken = tpl.replace("priority: {{", "priority: 0 # {{");
    assert_ne!(broken, tpl, "the template changed shape; update this test");
    // A users' folder named like the built-in role, without a role.yml: replaces that template.
    std::fs::write(roles.join("vrrp/templates/vrrpd.yml.tera"), broken).unwrap();

    let out = apply(&lab, &["--roles", roles.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("check-config") && err.contains("priority"), "the validator's message is missing: {err}");
    for (i, n) in ["node1", "node2"].iter().enumerate() {
        assert_eq!(sha256(&lab, n, "/etc/hapair/vrrpd.yml"), before[i], "{n}: the refused config replaced the old one");
        assert_eq!(lab.exec_ok(n, &["systemctl", "show", "-p", "MainPID", "--value", "hapair-vrrpd"]), pids[i]);
    }
    let leftovers = lab.exec_ok("node1", &["sh", "-c", "ls -a /etc/hapair | grep -c hapair-new || true"]);
    assert_eq!(leftovers.trim(), "0", "a staged file was left behind");
}

/// A hung remote step (here `nginx -t`, replaced by a script that never returns) fails the run
/// at the step's time limit, naming host and step; the node stops the hung command and puts the
/// old site back; nothing waits forever. Then the next `apply` converges.
#[test]
fn a_hung_remote_step_times_out_naming_host_and_step() {
    let lab = Lab::up("t-flt4", 2, "master-backup");
    let first = apply(&lab, &[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let site = "/etc/nginx/conf.d/hapair.conf";
    let before = sha256(&lab, "node1", site);
    lab.exec_ok(
        "node1",
        &["sh", "-c", "mv /usr/sbin/nginx /usr/sbin/nginx.real && printf '#!/bin/sh\\nexec sleep 987\\n' > /usr/sbin/nginx && chmod 755 /usr/sbin/nginx"],
    );
    let start = Instant::now();
    let out = apply(&lab, &["-e", "connection.timeout=4s", "-e", "node1.nginx.server_name=hung.example"]);
    let took = start.elapsed();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}\n{err}", text(&out.stdout));
    assert!(
        err.contains("`node1`: step `validate /etc/nginx/conf.d/hapair.conf (nginx -t)` did not finish within 4 s and was stopped"),
        "{err}"
    );
    // Far below the default limit (300 s): the 4 s limit stopped it.
    assert!(took < Duration::from_secs(120), "apply took {took:?}");
    // The node stopped the hung command (polled: the kill is asynchronous) and restored the site.
    let gone = Instant::now();
    loop {
        let left = lab.exec("node1", &["pgrep", "-f", "sleep 987"]);
        if !left.status.success() {
            break;
        }
        assert!(gone.elapsed() < Duration::from_secs(30), "the hung `nginx -t` is still running on node1");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(sha256(&lab, "node1", site), before, "the unvalidated site was left in place");
    lab.exec_ok("node1", &["mv", "-f", "/usr/sbin/nginx.real", "/usr/sbin/nginx"]);
    let again = apply(&lab, &["-e", "node1.nginx.server_name=hung.example"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_ne!(sha256(&lab, "node1", site), before);
}
