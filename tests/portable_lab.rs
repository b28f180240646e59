//! Hosts older and newer than this machine, for real: one Debian 11 host (glibc 2.31, firewalld
//! 0.9 on its iptables backend, nginx 1.18, systemd 247) and one Debian 13 host (glibc 2.41,
//! firewalld 2.3 on nftables, nginx 1.26, systemd 257) as a dual-master pair.
//!
//! - `plan` with only this (debug, glibc 2.34+) hapair refuses the Debian 11 node before
//!   anything is uploaded, naming the node and the fix; a node reporting aarch64 is refused
//!   the same way;
//! - `apply --daemon-binary <the glibc 2.17 build>` provisions both, `plan` is then empty on both
//!   firewalld generations, `verify --failover` passes (exit 0), `doctor` passes, and VRRP is
//!   accepted only from the peer on both;
//! - a daemon build the node cannot run (the node's facts made to lie about its glibc) is
//!   stopped by the staged check on the node: the old binary and the running daemon stay.

mod common;

use common::{show, text};
use std::process::Output;

fn run(args: &[&str]) -> Output {
    common::hapair().args(args).env_remove(hapair::binary::ENV).output().expect("run hapair")
}

/// The installed binary's hash, the daemon's PID and state, and any staged leftovers.
fn daemon_state(lab: &common::Lab, node: &str) -> String {
    lab.exec_ok(
        node,
        &[
            "sh",
            "-c",
            "sha256sum /usr/local/sbin/hapair; systemctl show -p ActiveState,MainPID,NRestarts hapair-vrrpd.service; \
             ls -A /usr/local/sbin",
        ],
    )
}

#[test]
fn a_mixed_debian_11_and_13_pair_is_refused_then_provisioned_and_fails_over() {
    let lab = common::Lab::up_distro("mixed", 2, "dual-master", "node1=bullseye,node2=trixie");
    let inv = lab.inventory.to_string_lossy().to_string();
    let portable = common::portable_daemon();
    let portable = portable.to_string_lossy().to_string();

    // The releases are what they claim to be.
    assert_eq!(lab.exec_ok("node1", &["getconf", "GNU_LIBC_VERSION"]).trim(), "glibc 2.31");
    assert_eq!(lab.exec_ok("node2", &["getconf", "GNU_LIBC_VERSION"]).trim(), "glibc 2.41");
    assert!(lab.exec_ok("node1", &["firewall-cmd", "--version"]).starts_with("0.9."));
    assert!(lab.exec_ok("node2", &["firewall-cmd", "--version"]).starts_with("2."));

    // 1. This hapair needs glibc 2.34 or newer: the Debian 11 node is refused, nothing moves.
    let o = run(&["plan", "-i", &inv]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("error: `node1` (x86_64, glibc 2.31) cannot run any daemon build of this run, so nothing was changed: this hapair (x86_64, glibc >= 2."),
        "{err}"
    );
    assert!(err.contains("  fix: build the portable daemon (glibc >= 2.17) with `bash scripts/build-portable.sh` and pass it: `--daemon-binary target/portable/x86_64-unknown-linux-gnu/release/hapair`"), "{err}");
    assert!(!err.contains("node2"), "the Debian 13 node can run this hapair: {err}");
    let o = run(&["apply", "-i", &inv, "--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(text(&o.stderr).contains("`node1` (x86_64, glibc 2.31) cannot run any daemon build"), "{}", show(&o));
    // An architecture no build of the run is for: refused the same way (the Debian 13 node
    // made to report aarch64, as `uname -m` prints it there).
    lab.exec_ok(
        "node2",
        &[
            "sh",
            "-c",
            "printf '#!/bin/sh\n[ \"$1\" = -m ] && echo aarch64 && exit 0\nexec /usr/bin/uname \"$@\"\n' \
             > /usr/local/bin/uname && chmod 755 /usr/local/bin/uname",
        ],
    );
    let o = run(&["apply", "-i", &inv, "--yes", "--daemon-binary", &portable]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(
        err.contains("`node2` (aarch64, glibc 2.41) cannot run any daemon build of this run, so nothing was changed:"),
        "{err}"
    );
    assert!(err.contains("it is built for x86_64, the node is aarch64"), "{err}");
    assert!(
        err.contains(
            "build this hapair for aarch64 (glibc 2.41, or statically) and pass it with `--daemon-binary PATH`"
        ),
        "{err}"
    );
    lab.exec_ok("node2", &["rm", "-f", "/usr/local/bin/uname"]);
    for node in ["node1", "node2"] {
        let left = lab.exec_ok(node, &["sh", "-c", "ls -A /usr/local/sbin; [ ! -e /etc/hapair ] || echo /etc/hapair"]);
        assert!(!left.contains("hapair"), "apply touched `{node}` although it refused the run: {left}");
    }

    // 2. With the glibc 2.17 build both are provisioned, and a second plan is empty.
    let o = run(&["apply", "-i", &inv, "--yes", "--daemon-binary", &portable]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    for (node, glibc) in [("node1", "2.31"), ("node2", "2.41")] {
        let v = lab.exec_ok(node, &["/usr/local/sbin/hapair", "--version"]);
        assert_eq!(v.lines().next(), Some(format!("hapair {}", env!("CARGO_PKG_VERSION")).as_str()), "{v}");
        assert!(v.contains(&format!("running on glibc {glibc}")), "on {node}: {v}");
    }
    let o = run(&["plan", "-i", &inv, "--daemon-binary", &portable]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(
        text(&o.stdout),
        "node1 (pair `pair1`): no changes\nnode2 (pair `pair1`): no changes\nnothing to do on 2 hosts\n"
    );

    // VRRP only from the peer, on both firewalld generations (iptables and nftables backends).
    let n1 = lab.node("node1").address;
    let n2 = lab.node("node2").address;
    for (node, peer) in [("node1", n2), ("node2", n1)] {
        let rules = lab.exec_ok(node, &["firewall-cmd", "--list-rich-rules"]);
        assert_eq!(
            rules.trim(),
            format!("rule family=\"ipv4\" source address=\"{peer}/32\" protocol value=\"vrrp\" accept"),
            "on {node}"
        );
    }
    let ipt = lab.exec_ok("node1", &["iptables", "-S"]);
    assert!(ipt.contains(&format!("-s {n2}/32 -p vrrp")), "Debian 11 uses firewalld's iptables backend:\n{ipt}");

    // 3. The pair works: each VIP fails over and comes back, as clients see it. Every failed
    // row fails the test, but for rows tests tolerate (`common::drill_tolerated`).
    let o = run(&["verify", "-i", &inv, "--failover"]);
    common::assert_drill_passes_but_tolerated(o.status.code(), &text(&o.stdout));
    assert!(text(&o.stdout).contains("verify: 20 passed, "), "{}", show(&o));
    let o = run(&["doctor", "-i", &inv]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    // 4. A build the node cannot run never replaces the one that runs. Make the Debian 11
    // node's facts claim a glibc new enough for this (debug) hapair; only the staged check on
    // the node can catch it now.
    lab.exec_ok(
        "node1",
        &[
            "sh",
            "-c",
            "printf '#!/bin/sh\\necho glibc 2.99\\n' > /usr/local/bin/getconf && chmod 755 /usr/local/bin/getconf",
        ],
    );
    let before = daemon_state(&lab, "node1");
    let o = run(&["apply", "-i", &inv, "--yes", "--limit", "node1"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(err.contains("`node1`: step `check the new hapair binary` failed"), "{err}");
    assert!(err.contains("the new binary does not run on this node"), "{err}");
    assert!(err.contains("GLIBC_2.3"), "the loader's own words name the missing glibc: {err}");
    assert!(
        err.contains(
            "cannot serve as the daemon on `node1`; the old binary and the running daemon were left as they were"
        ),
        "{err}"
    );
    assert_eq!(daemon_state(&lab, "node1"), before, "the failed upload changed the node");
    assert!(before.contains("ActiveState=active"), "{before}");
    lab.exec_ok("node1", &["rm", "-f", "/usr/local/bin/getconf"]);
    let o = run(&["verify", "-i", &inv]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    lab.down();
}
