//! The lab itself: real hosts come up, answer SSH with their real host keys, run systemd and
//! firewalld, and leave nothing behind.

mod common;

use common::{hapair, Lab};
use std::path::Path;

/// Everything a lab could leave behind, by name: namespaces, links, mounts, files, processes.
fn leftovers(name: &str, bridge: &str, pids: &[u32], files: &[&Path]) -> Vec<String> {
    let mut left = Vec::new();
    let netns = std::process::Command::new("ip").args(["netns", "list"]).output().unwrap();
    for line in String::from_utf8_lossy(&netns.stdout).lines() {
        if line.starts_with(&format!("hapair-{name}-")) {
            left.push(format!("netns {line}"));
        }
    }
    if Path::new("/sys/class/net").join(bridge).exists() {
        left.push(format!("bridge {bridge}"));
    }
    let lab_dir = format!("/var/lib/hapair-lab/labs/{name}");
    for m in std::fs::read_to_string("/proc/mounts").unwrap().lines() {
        if m.contains(&lab_dir) {
            left.push(format!("mount {m}"));
        }
    }
    if Path::new(&lab_dir).exists() {
        left.push(format!("dir {lab_dir}"));
    }
    for f in files {
        if f.exists() {
            left.push(format!("file {}", f.display()));
        }
    }
    for pid in pids {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !cmdline.is_empty() {
            left.push(format!("process {pid}"));
        }
    }
    for root in ["/sys/fs/cgroup/unified/hapair-lab", "/sys/fs/cgroup/systemd/hapair-lab"] {
        if let Ok(d) = std::fs::read_dir(root) {
            for e in d.flatten() {
                if e.file_name().to_string_lossy().starts_with(&format!("{name}-")) {
                    left.push(format!("cgroup {}", e.path().display()));
                }
            }
        }
    }
    left
}

fn nspawn_pids(name: &str) -> Vec<u32> {
    let text = std::fs::read_to_string(format!("/var/lib/hapair-lab/labs/{name}/state.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["hosts"].as_array().unwrap().iter().filter_map(|h| h["nspawn_pid"].as_u64()).map(|p| p as u32).collect()
}

#[test]
fn two_hosts_are_real_servers_and_leave_nothing_behind() {
    let lab = Lab::up("t-lab2", 2, "master-backup");
    assert_eq!(lab.nodes.len(), 2);
    for node in ["node1", "node2"] {
        // Strict host-key checking against the written known_hosts: the hosts' real keys.
        let out = lab.ssh(
            node,
            "hostname; systemctl is-system-running; systemctl is-active firewalld nginx; \
             firewall-cmd --get-default-zone; systemctl is-enabled keepalived; cat /proc/1/comm",
        );
        assert!(
            out.status.success() || out.status.code() == Some(1),
            "ssh to {node}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout, format!("{node}\nrunning\nactive\nactive\npublic\ndisabled\nsystemd\n"), "on {node}");
    }
    // A wrong host key must be refused (the check is real).
    let wrong = lab.known_hosts.with_extension("wrong");
    let text = std::fs::read_to_string(&lab.known_hosts).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let swapped = format!(
        "{} {}\n",
        lines[0].split_whitespace().next().unwrap(),
        lines[1].split_whitespace().skip(1).collect::<Vec<_>>().join(" ")
    );
    std::fs::write(&wrong, swapped).unwrap();
    let out = std::process::Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-F", "/dev/null", "-o"])
        .arg(format!("UserKnownHostsFile={}", wrong.display()))
        .arg("-i")
        .arg(&lab.key)
        .arg(format!("root@{}", lab.node("node1").address))
        .arg("true")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"));
    std::fs::remove_file(&wrong).unwrap();

    // The host sees its own network namespace in sysfs, not this machine's interfaces.
    assert_eq!(lab.exec_ok("node1", &["ls", "/sys/class/net"]), "eth0\nlo\n");

    // `lab exec` passes the exit code through.
    assert_eq!(lab.exec("node2", &["sh", "-c", "exit 7"]).status.code(), Some(7));
    assert_eq!(lab.exec_ok("node2", &["cat", "/etc/hostname"]), "node2\n");

    // A second `up` reuses the running hosts.
    let pids = nspawn_pids(&lab.name);
    let again = hapair()
        .args(["lab", "up", "--name", &lab.name, "--nodes", "2", "--out"])
        .arg(&lab.inventory)
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already running; reusing it"));
    assert_eq!(nspawn_pids(&lab.name), pids);

    let (name, bridge) = (lab.name.clone(), lab.bridge.clone());
    let files = [lab.inventory.clone(), lab.key.clone(), lab.known_hosts.clone()];
    lab.down();
    let files: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    assert_eq!(leftovers(&name, &bridge, &pids, &files), Vec::<String>::new());
}

#[test]
fn four_nodes_up_and_down_twice() {
    for round in 0..2 {
        let lab = Lab::up("t-lab4", 4, "dual-master");
        assert_eq!(lab.nodes.len(), 4, "round {round}");
        let inv = std::fs::read_to_string(&lab.inventory).unwrap();
        assert_eq!(inv.matches("mode: dual-master").count(), 2, "{inv}");
        assert_eq!(inv.matches("vrid: ").count(), 4, "{inv}");
        for n in ["node1", "node2", "node3", "node4"] {
            assert_eq!(lab.exec_ok(n, &["systemctl", "is-system-running"]), "running\n");
        }
        let pids = nspawn_pids(&lab.name);
        let (name, bridge, inventory) = (lab.name.clone(), lab.bridge.clone(), lab.inventory.clone());
        lab.down();
        assert_eq!(leftovers(&name, &bridge, &pids, &[inventory.as_path()]), Vec::<String>::new(), "round {round}");
    }
    // Down twice is harmless.
    let out = hapair().args(["lab", "down", "--name", &common::lab_name("t-lab4")]).output().unwrap();
    assert!(out.status.success());
}

#[test]
fn bad_lab_arguments_are_refused_with_a_fix() {
    let out = hapair().args(["lab", "up", "--name", "Bad_Name"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: `Bad_Name` is not a valid lab name\n  fix: use 1 to 16 characters: lowercase letters, digits and `-`, starting with a letter\n"
    );
    let out = hapair().args(["lab", "up", "--name", "odd", "--nodes", "3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: a lab of 3 nodes cannot be split into pairs\n  fix: use an even `--nodes` from 2 to 32\n"
    );
    let out = hapair().args(["lab", "exec", "node1", "--name", "nosuchlab", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: lab `nosuchlab` is not up\n  fix: run `hapair lab up --name nosuchlab`\n"
    );
}
