//! The documented connection settings, proven on real hosts rather than only parsed:
//!
//! - pair1 is reached as a non-root user (`user: deploy`, `become: true`, sudo without a
//!   password) on hosts where root may not log in over SSH at all;
//! - pair2 is reached only through a jump host (`jump_host: deploy@node1`): this machine's SSH
//!   to its nodes is dropped, so only the jump path can work. The jump host's key is checked
//!   against the inventory's known_hosts like any node's.
//!
//! Both pairs are applied, re-planned (empty), and verified.

mod common;

use common::{run, show, text};

#[test]
fn a_sudo_user_and_a_jump_host_deploy_and_verify() {
    let lab = common::Lab::up("conn", 4, "master-backup");
    let inv = lab.inventory.to_string_lossy().to_string();
    let key_pub = std::fs::read_to_string(lab.key.with_extension("key.pub")).expect("the lab's public key");
    let gateway = lab.addr(1);
    let jump = lab.node("node1").address;

    // A `deploy` user with the lab's key and password-less sudo on node1 and node2; root may
    // no longer log in there over SSH.
    for node in ["node1", "node2"] {
        lab.exec_ok(
            node,
            &[
                "sh",
                "-c",
                "set -e; useradd -m -s /bin/bash deploy; install -d -m 700 -o deploy -g deploy ~deploy/.ssh; \
                 printf '%s\\n' \"$1\" > ~deploy/.ssh/authorized_keys; \
                 chown deploy:deploy ~deploy/.ssh/authorized_keys; chmod 600 ~deploy/.ssh/authorized_keys; \
                 echo 'deploy ALL=(root) NOPASSWD: ALL' > /etc/sudoers.d/deploy; chmod 440 /etc/sudoers.d/deploy; \
                 echo 'PermitRootLogin no' > /etc/ssh/sshd_config.d/no-root.conf; systemctl reload ssh",
                "setup",
                key_pub.trim(),
            ],
        );
        let o = lab.ssh(node, "true");
        assert!(!o.status.success(), "root can still log in to {node}: {}", show(&o));
    }
    // node3 and node4 drop SSH from this machine: only the jump host reaches them.
    for node in ["node3", "node4"] {
        lab.exec_ok(
            node,
            &[
                "sh",
                "-c",
                "nft add table inet hapair_test && \
                 nft add chain inet hapair_test input '{ type filter hook input priority -10; }' && \
                 nft add rule inet hapair_test input ip saddr \"$1\" tcp dport 22 drop",
                "setup",
                &gateway,
            ],
        );
        let o = lab.ssh(node, "true");
        assert!(!o.status.success(), "{node} still answers SSH from this machine: {}", show(&o));
    }

    let text_inv = std::fs::read_to_string(&lab.inventory).expect("read the lab inventory");
    let text_inv = text_inv
        .replacen("  pair1:\n", "  pair1:\n    connection:\n      user: deploy\n      become: true\n", 1)
        .replacen("  pair2:\n", &format!("  pair2:\n    connection:\n      jump_host: deploy@{jump}\n"), 1);
    std::fs::write(&lab.inventory, &text_inv).expect("write the inventory");
    let o = run(&["check", "-i", &inv]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    let o = run(&["apply", "-i", &inv, "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = run(&["plan", "-i", &inv]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(text(&o.stdout).ends_with("nothing to do on 4 hosts\n"), "{}", show(&o));
    let o = run(&["verify", "-i", &inv]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(text(&o.stdout).contains(" passed, 0 failed"), "{}", show(&o));

    // The work on pair1 was done by `deploy` through sudo, and left root-owned files.
    for node in ["node1", "node2"] {
        let log = lab.exec_ok(node, &["journalctl", "--no-pager", "-q", "_COMM=sudo"]);
        assert!(log.contains("deploy : ") && log.contains("USER=root"), "no sudo by deploy on {node}:\n{log}");
        let st = lab.exec_ok(node, &["stat", "-c", "%U %a", "/etc/hapair/vrrpd.yml", "/usr/local/sbin/hapair"]);
        assert_eq!(st, "root 600\nroot 755\n", "on {node}");
    }
    // pair2 was reached through node1: its sshd logged the forwarding for deploy.
    let log = lab.exec_ok("node1", &["journalctl", "--no-pager", "-q", "-u", "ssh.service"]);
    let n3 = lab.node("node3").address.to_string();
    assert!(log.contains("Accepted publickey for deploy"), "{log}");
    let fwd = lab.exec_ok("node3", &["journalctl", "--no-pager", "-q", "-u", "ssh.service"]);
    assert!(fwd.contains(&format!("from {jump} ")), "node3 ({n3}) was not reached from the jump host:\n{fwd}");

    lab.down();
}

/// `HAPAIR_SSH_PERSIST`: a run leaves each node's connection open in a 0700 directory of this
/// user, the next run within the time uses it (no new login on the node), and a connection the
/// node dropped is replaced by a new login there alone.
#[test]
fn kept_connections_skip_the_login_and_are_replaced_when_gone() {
    use std::os::unix::fs::PermissionsExt;
    let lab = common::Lab::up("keep", 2, "master-backup");
    let inv = lab.inventory.to_string_lossy().to_string();
    let runtime = tempfile::tempdir().expect("tempdir");
    let plan = || {
        let o = common::hapair()
            .env("HAPAIR_SSH_PERSIST", "120")
            .env("XDG_RUNTIME_DIR", runtime.path())
            .args(["plan", "-i", &inv])
            .output()
            .expect("run hapair");
        // A fresh lab: changes pending, so every node was reached and planned.
        assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    };
    let logins = |node: &str| -> u32 {
        let n = lab.exec_ok(
            node,
            &["sh", "-c", "journalctl -u ssh.service -o cat --no-pager | grep -c '^Accepted publickey' || true"],
        );
        n.trim().parse().expect("a count")
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let dir = runtime.path().join(format!("hapair-kept-{}", unsafe { libc::geteuid() }));
    let ctls = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .expect("the kept connections' directory")
            .map(|e| std::fs::read_to_string(e.expect("entry").path().join("ctl")).expect("ctl"))
            .collect();
        v.sort();
        v
    };

    let before = [logins("node1"), logins("node2")];
    plan();
    let first = [logins("node1"), logins("node2")];
    assert_eq!(first, [before[0] + 1, before[1] + 1], "one login per node");
    let mode = std::fs::metadata(&dir).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let kept = ctls();
    assert_eq!(kept.len(), 2, "{kept:?}");

    plan();
    assert_eq!([logins("node1"), logins("node2")], first, "the second run logged in again");
    assert_eq!(ctls(), kept);

    // node1 drops its side: the next run logs in again there, and only there.
    lab.exec_ok("node1", &["pkill", "-f", "^sshd: root@notty"]);
    plan();
    assert_eq!([logins("node1"), logins("node2")], [first[0] + 1, first[1]]);
    let now = ctls();
    assert_eq!(now.iter().filter(|c| kept.contains(c)).count(), 1, "{now:?} vs {kept:?}");

    // The masters this test left: asked to exit (they would after 120 s idle anyway).
    for ctl in now {
        let _ = std::process::Command::new("ssh").args(["-S", ctl.trim(), "-O", "exit", "node"]).output();
    }
    lab.down();
}
