//! A two-node VRRP wire for integration tests: two network namespaces this test creates,
//! joined by a veth pair, addresses 10.77.250.11 and .12 on `eth0`, VIP 10.77.250.200/24.
//! Processes are started inside them with `ip netns exec`, stopped by their own PID, and
//! everything is removed on drop (also when the test fails).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const VIP: &str = "10.77.250.200";
static NEXT: AtomicU32 = AtomicU32::new(0);

pub fn hapair_bin() -> &'static str {
    env!("CARGO_BIN_EXE_hapair")
}

fn run(cmd: &[&str]) -> Output {
    Command::new(cmd[0]).args(&cmd[1..]).output().unwrap_or_else(|e| panic!("cannot run `{}`: {e}", cmd.join(" ")))
}

fn must(cmd: &[&str]) {
    let out = run(cmd);
    assert!(out.status.success(), "`{}` failed: {}", cmd.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// Fail (never skip) when a prerequisite is missing.
pub fn require(tool: &str, package: &str) {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file())).unwrap_or(false);
    assert!(found, "`{tool}` is not installed: run `apt-get install -y {package}` (it is listed in .ci/packages)");
}

pub struct Proc {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }
    pub fn signal(&mut self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: plain kill(2) on the PID of a child we spawned and have not reaped.
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }
    /// SIGTERM and wait up to 5 s for the exit.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        self.signal(libc::SIGTERM);
        self.wait(Duration::from_secs(5))
    }
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(c) = &mut self.child {
                if let Ok(Some(s)) = c.try_wait() {
                    self.child = None;
                    return Some(s);
                }
            } else {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Wire {
    pub ns: [String; 2],
    pub dir: PathBuf,
}

pub const ADDR: [&str; 2] = ["10.77.250.11", "10.77.250.12"];
/// The nodes' addresses on the second link ([`Wire::second_link`]).
pub const ADDR1: [&str; 2] = ["10.77.251.11", "10.77.251.12"];

impl Wire {
    pub fn new() -> Wire {
        require("ip", "iproute2");
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{}", std::process::id() % 100_000, n);
        let ns = [format!("hpv{tag}a"), format!("hpv{tag}b")];
        let dir = std::env::temp_dir().join(format!("hapair-vrrp-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let w = Wire { ns: ns.clone(), dir };
        let (va, vb) = (format!("hv{tag}a"), format!("hv{tag}b"));
        must(&["ip", "netns", "add", &ns[0]]);
        must(&["ip", "netns", "add", &ns[1]]);
        must(&["ip", "link", "add", &va, "type", "veth", "peer", "name", &vb]);
        for (i, v) in [&va, &vb].into_iter().enumerate() {
            must(&["ip", "link", "set", v, "netns", &ns[i]]);
            must(&["ip", "-n", &ns[i], "link", "set", v, "name", "eth0"]);
            must(&["ip", "-n", &ns[i], "addr", "add", &format!("{}/24", ADDR[i]), "dev", "eth0"]);
            must(&["ip", "-n", &ns[i], "link", "set", "eth0", "up"]);
            must(&["ip", "-n", &ns[i], "link", "set", "lo", "up"]);
        }
        w
    }

    /// A second veth pair between the two nodes, `eth1`, with [`ADDR1`]: another segment, for
    /// VIPs that live elsewhere than the adverts (`vip_interface`).
    pub fn second_link(&self) {
        let tag = &self.ns[0][3..self.ns[0].len() - 1];
        let (va, vb) = (format!("hv{tag}c"), format!("hv{tag}d"));
        must(&["ip", "link", "add", &va, "type", "veth", "peer", "name", &vb]);
        for (i, v) in [&va, &vb].into_iter().enumerate() {
            must(&["ip", "link", "set", v, "netns", &self.ns[i]]);
            must(&["ip", "-n", &self.ns[i], "link", "set", v, "name", "eth1"]);
            must(&["ip", "-n", &self.ns[i], "addr", "add", &format!("{}/24", ADDR1[i]), "dev", "eth1"]);
            must(&["ip", "-n", &self.ns[i], "link", "set", "eth1", "up"]);
        }
    }

    /// Whether node `i` has `addr` on `dev`, and the `ip -o` lines of `dev`.
    pub fn addrs_on(&self, i: usize, dev: &str) -> String {
        let out = run(&["ip", "-n", &self.ns[i], "-o", "-4", "addr", "show", "dev", dev]);
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Start `argv` inside node `i`'s namespace, stderr+stdout to a log file.
    pub fn spawn(&self, i: usize, name: &str, argv: &[&str]) -> Proc {
        let log = self.dir.join(format!("{name}.log"));
        let f = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns[i]])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("log file"))
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name: name.into(), child: Some(child), log }
    }

    /// Write a hapair config for node `i` and start `hapair vrrpd` with it.
    pub fn hapair(&self, i: usize, name: &str, instance: &str) -> Proc {
        self.hapair_with(i, name, "", instance)
    }

    /// As `hapair`, with extra top-level settings (`check:`, `metrics:`...).
    pub fn hapair_with(&self, i: usize, name: &str, top: &str, instance: &str) -> Proc {
        let cfg = self.write_hapair_config(i, name, top, instance);
        let p = self.spawn(i, name, &[hapair_bin(), "vrrpd", "--config", cfg.to_str().expect("utf-8 path")]);
        let status = self.status_path(name);
        wait_for(&format!("{name} to write its status file"), Duration::from_secs(5), || status.exists());
        p
    }

    pub fn write_hapair_config(&self, i: usize, name: &str, top: &str, instance: &str) -> PathBuf {
        let cfg = self.dir.join(format!("{name}.yml"));
        let text = format!(
            "node: {name}\ninterface: eth0\naddress: {}\npeer: {}\nstatus_file: {}\n{top}instances:\n{instance}",
            ADDR[i],
            ADDR[1 - i],
            self.status_path(name).display()
        );
        std::fs::write(&cfg, text).expect("write config");
        cfg
    }

    pub fn status_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.status.json"))
    }

    pub fn status(&self, name: &str) -> serde_json::Value {
        let t = std::fs::read_to_string(self.status_path(name)).expect("status file");
        serde_json::from_str(&t).expect("status JSON")
    }

    /// Start Debian's keepalived (VRRP only, foreground) on node `i` with one instance.
    pub fn keepalived(&self, i: usize, name: &str, instance_body: &str) -> Proc {
        require("keepalived", "keepalived");
        let conf = self.dir.join(format!("{name}.conf"));
        let text = format!(
            "global_defs {{\n  router_id {name}\n}}\nvrrp_instance V51 {{\n  interface eth0\n  virtual_router_id 51\n{instance_body}\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
        );
        std::fs::write(&conf, text).expect("write keepalived.conf");
        let pid = self.dir.join(format!("{name}.pid"));
        let vpid = self.dir.join(format!("{name}.vrrp.pid"));
        self.spawn(
            i,
            name,
            &["keepalived", "-n", "-l", "-D", "-P", "-f", path(&conf), "-p", path(&pid), "-r", path(&vpid)],
        )
    }

    /// Capture VRRP on node `i`'s eth0 with dumpcap.
    pub fn capture(&self, i: usize, name: &str) -> (Proc, PathBuf) {
        require("dumpcap", "tshark");
        let file = self.dir.join(format!("{name}.pcapng"));
        let p = self.spawn(i, name, &["dumpcap", "-q", "-i", "eth0", "-f", "vrrp", "-w", path(&file)]);
        wait_for("dumpcap to start", Duration::from_secs(5), || file.exists());
        (p, file)
    }

    /// A web server (python's `http.server`, named `web`) on 127.0.0.1:8080 in node `i`'s
    /// namespace, answering when this returns: under load it takes a while to listen, and a
    /// check failing from the start would rightly hand an election to the other node.
    pub fn web_server(&self, i: usize) -> Proc {
        require("python3", "python3");
        let web = self.spawn(i, "web", &["python3", "-m", "http.server", "--bind", "127.0.0.1", "8080"]);
        wait_for("the web server to answer", Duration::from_secs(15), || {
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.ns[i],
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-m",
                    "1",
                    "http://127.0.0.1:8080/",
                ])
                .status()
                .is_ok_and(|s| s.success())
        });
        web
    }

    /// Every status file and the last lines of every log in this wire's directory (the
    /// daemons' output), for a failure message: CI keeps no files.
    pub fn logs(&self) -> String {
        let mut names: Vec<PathBuf> =
            std::fs::read_dir(&self.dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        names.sort();
        let mut s = String::new();
        for n in names {
            let file = n.file_name().and_then(|f| f.to_str()).unwrap_or_default();
            if !(file.ends_with(".log") || file.ends_with(".status.json")) {
                continue;
            }
            let text = std::fs::read_to_string(&n).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            s.push_str(&format!("--- {file} (last 40 of {} lines)\n", lines.len()));
            for l in &lines[lines.len().saturating_sub(40)..] {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    /// `wait_for`, with the daemons' logs and status files in the failure message.
    pub fn wait_for(&self, what: &str, limit: Duration, cond: impl FnMut() -> bool) {
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wait_for(what, limit, cond))) {
            let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
            panic!("{msg}\n{}", self.logs());
        }
    }

    pub fn has_vip(&self, i: usize) -> bool {
        let out = run(&["ip", "-n", &self.ns[i], "-o", "-4", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&out.stdout).contains(&format!("{VIP}/"))
    }

    /// Which nodes hold the VIP.
    pub fn holders(&self) -> (bool, bool) {
        (self.has_vip(0), self.has_vip(1))
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it (and so the pair).
        for ns in &self.ns {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        // Logs and captures stay for a failed test (the panic message names them).
        if std::thread::panicking() {
            eprintln!("logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Poll `cond` every 10 ms until it holds; fail with `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// Hold for `d` and check `cond` all along (e.g. "never both hold the VIP"). A single failed
/// poll is tolerated: a takeover is "new master adds, old master removes on its advert", a
/// window well under one poll; two failed polls in a row (> 10 ms) are a real violation.
pub fn always_for(what: &str, d: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + d;
    let mut misses = 0;
    while Instant::now() < end {
        misses = if cond() { 0 } else { misses + 1 };
        assert!(misses < 2, "{what} stopped holding");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `tshark` over a capture: one line per VRRP packet with the given fields, tab-separated.
pub fn tshark_fields(file: &Path, fields: &[&str]) -> Vec<String> {
    require("tshark", "tshark");
    let mut cmd = Command::new("tshark");
    cmd.args(["-r", path(file), "-Y", "vrrp", "-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

pub fn instance(version: u8, priority: u8, interval_ms: u32, extra: &str) -> String {
    format!(
        "  - name: web-51\n    vrid: 51\n    version: {version}\n    priority: {priority}\n    advert_interval_ms: {interval_ms}\n    vips: [{VIP}/24]\n    garp_count: 1\n{extra}"
    )
}
