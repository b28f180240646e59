//! Monitoring with a real Prometheus (Debian's `prometheus` package) on this machine, scraping a
//! lab pair that `hapair apply` alone deployed from an inventory with `monitoring:` settings.
//! The test breaks the pair three ways — VRRP blocked by the firewall (split brain), nginx
//! stopped, a daemon stopped — and asserts through Prometheus's HTTP API that the shipped alert
//! goes pending, then firing, then resolves after the repair. The shipped rules file is loaded
//! with one documented rewrite (monitoring/README.md): every `for:` becomes `for: 5s`.
//! Transition hooks (a command and a webhook) are checked on the way.

mod common;

use common::{on_a_terminal, run, show, text};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Prometheus as a plain child process on 127.0.0.1, stopped by its PID when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, config: &str) -> Prometheus {
        std::fs::create_dir_all(dir.join("data")).expect("mkdir");
        std::fs::write(dir.join("prometheus.yml"), config).expect("write prometheus.yml");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start prometheus (Debian package `prometheus`, installed by scripts/deps.sh)");
        let p = Prometheus { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while p.get("/-/ready").is_none_or(|b| !b.contains("Ready")) {
            assert!(Instant::now() < deadline, "prometheus not ready in 30 s:\n{}", p.log_text());
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> Option<String> {
        let o = Command::new("curl")
            .args(["-sf", "--max-time", "5", "-G", &format!("http://127.0.0.1:{}{}", self.port, path)])
            .output()
            .ok()?;
        o.status.success().then(|| text(&o.stdout))
    }

    fn query(&self, expr: &str) -> Value {
        let o = Command::new("curl")
            .args(["-s", "--max-time", "5", "-G", &format!("http://127.0.0.1:{}/api/v1/query", self.port)])
            .arg("--data-urlencode")
            .arg(format!("query={expr}"))
            .output()
            .expect("run curl");
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("query `{expr}`: not JSON ({e}): {}", text(&o.stdout)))
    }

    /// The alerts now: (alertname, labels, state).
    fn alerts(&self) -> Vec<(String, Value, String)> {
        let body = self.get("/api/v1/alerts").unwrap_or_default();
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        v["data"]["alerts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        (
                            x["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                            x["labels"].clone(),
                            x["state"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn state_of(&self, name: &str, labels: &[(&str, &str)]) -> Option<String> {
        self.alerts()
            .into_iter()
            .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l[*k] == *v))
            .map(|(_, _, s)| s)
    }

    /// Wait until the alert fires, having seen it pending first; bounded.
    fn pending_then_firing(&self, name: &str, labels: &[(&str, &str)], within: Duration) {
        self.all_pending_then_firing(&[(name, labels)], within);
    }

    /// Wait until every one of `alerts` fires, each seen pending first; watched together, since
    /// alerts raised by one breakage go pending at the same moment. Bounded.
    fn all_pending_then_firing(&self, alerts: &[(&str, &[(&str, &str)])], within: Duration) {
        let deadline = Instant::now() + within;
        let mut seen = vec![Vec::<String>::new(); alerts.len()];
        loop {
            for ((name, labels), seen) in alerts.iter().zip(seen.iter_mut()) {
                let s = self.state_of(name, labels).unwrap_or_else(|| "inactive".into());
                if seen.last() != Some(&s) {
                    seen.push(s);
                }
            }
            if seen.iter().all(|s| s.last().map(String::as_str) == Some("firing")) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{alerts:?} did not all fire within {within:?}; states seen: {seen:?}; alerts now: {:?}",
                self.alerts()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        for ((name, labels), seen) in alerts.iter().zip(&seen) {
            assert!(
                seen.iter().any(|s| s == "pending"),
                "{name} {labels:?} fired without being pending first: {seen:?}"
            );
        }
    }

    fn resolves(&self, name: &str, labels: &[(&str, &str)], within: Duration) {
        let deadline = Instant::now() + within;
        while let Some(s) = self.state_of(name, labels) {
            assert!(Instant::now() < deadline, "{name} {labels:?} still {s} {within:?} after the repair");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Wait until `expr` has `n` series, each with value `want`.
    fn wait_value(&self, expr: &str, n: usize, want: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let v = self.query(expr);
            let r = v["data"]["result"].as_array().cloned().unwrap_or_default();
            if r.len() == n && r.iter().all(|s| s["value"][1] == want) {
                return;
            }
            assert!(Instant::now() < deadline, "`{expr}` is not {n} × {want} after {within:?}: {v}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // Only the process this test started, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped rules with the test's one rewrite: every `for:` duration becomes 5 s.
fn rules_for_the_test() -> String {
    let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("monitoring/hapair-rules.yml"))
        .expect("read monitoring/hapair-rules.yml");
    let mut n = 0;
    let out: Vec<String> = shipped
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => {
                n += 1;
                format!("{}for: 5s", &l[..l.len() - l.trim_start().len()])
            }
            None => l.to_string(),
        })
        .collect();
    assert!(n >= 6, "expected a `for:` per alert, found {n}");
    out.join("\n") + "\n"
}

/// A webhook receiver on the lab's bridge address: each POST body, answered 200.
fn webhook(addr: &str) -> (u16, mpsc::Receiver<Value>) {
    let l = TcpListener::bind(format!("{addr}:0")).expect("bind the webhook receiver");
    let port = l.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut r = BufReader::new(&s);
            let mut len = 0usize;
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0u8; len.min(65536)];
            if r.read_exact(&mut body).is_ok() {
                let _ = (&s).write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
                if let Ok(v) = serde_json::from_slice(&body) {
                    let _ = tx.send(v);
                }
            }
        }
    });
    (port, rx)
}

/// Whether `s` holds an ANSI colour/style sequence (`ESC [ digits;… m`).
fn has_sgr(s: &str) -> bool {
    s.split("\x1b[").skip(1).any(|rest| {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == ';')).unwrap_or(rest.len());
        rest[end..].starts_with('m')
    })
}

#[test]
fn prometheus_alerts_fire_and_resolve_on_a_lab_pair() {
    let lab = common::Lab::up("mon", 2, "master-backup");
    let inv = lab.inventory.to_string_lossy().to_string();
    let gw = lab.addr(1);
    let (hook_port, hooks) = webhook(&gw);
    let monitoring = format!(
        "  monitoring:\n    listen: 0.0.0.0:9489\n    scraper: {gw}\n    webhook: http://{gw}:{hook_port}/hapair\n    \
         notify: [/bin/sh, -c, 'env | grep ^HAPAIR_ | sort >> /run/hapair/hooks.log; echo \"args $1 $2\" >> /run/hapair/hooks.log', hook]\n"
    );
    let body = std::fs::read_to_string(&inv).expect("read the lab inventory");
    std::fs::write(&inv, body.replacen("defaults:\n", &format!("defaults:\n{monitoring}"), 1)).expect("write");

    // `apply` alone deploys everything monitoring needs.
    let o = run(&["apply", "-i", &inv, "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    // The JSON plan of the converged pair: versioned, every resource a no-op.
    let o = run(&["plan", "-i", &inv, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(doc["format_version"], "1.0");
    assert_eq!(doc["changes_pending"], false);
    let rc = doc["resource_changes"].as_array().expect("resource_changes");
    assert!(rc.iter().all(|r| r["actions"] == serde_json::json!(["no-op"])), "{doc}");
    assert!(
        rc.iter().any(|r| r["node"] == "node1"
            && r["address"]
                == format!("firewall-rich-rule:rule family=\"ipv4\" source address=\"{gw}\" port port=\"9489\" protocol=\"tcp\" accept")),
        "the scraper's firewall rule is managed: {doc}"
    );
    // A pending change: an `update` action in JSON; a coloured diff on a terminal, none with NO_COLOR.
    let o = run(&["plan", "-i", &inv, "--format", "json", "-e", "node1.check.fall=3"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert!(
        doc["resource_changes"].as_array().expect("list").iter().any(|r| r["address"] == "file:/etc/hapair/vrrpd.yml"
            && r["node"] == "node1"
            && r["actions"] == serde_json::json!(["update"])),
        "{doc}"
    );
    let tty = on_a_terminal(&format!("plan -i {inv} -e node1.check.fall=3"), false);
    assert!(tty.contains("\x1b[32m+  fall: 3"), "a terminal gets a coloured diff: {tty:?}");
    let tty = on_a_terminal(&format!("plan -i {inv} -e node1.check.fall=3"), true);
    // Progress bars still move the cursor; what NO_COLOR forbids is colour (SGR sequences).
    assert!(tty.contains("+  fall: 3") && !has_sgr(&tty), "NO_COLOR: {tty:?}");

    // The endpoint answers through the firewall from the scraper's address only.
    let metrics = Command::new("curl")
        .args(["-s", "--max-time", "5", &format!("http://{}:9489/metrics", lab.node("node1").address)])
        .output()
        .expect("curl");
    let m = text(&metrics.stdout);
    for line in [
        "hapair_vip_present{vrrp_instance=\"pair1-51\",vrid=\"51\",vip=\"".to_string(),
        "hapair_nginx_up 1\n".to_string(),
        "hapair_interface_running{interface=\"eth0\"} 1\n".to_string(),
        "hapair_node_info{node=\"node1\",pair=\"pair1\",".to_string(),
    ] {
        assert!(m.contains(&line), "no `{line}` in the metrics:\n{m}");
    }
    let peer =
        lab.exec("node2", &["curl", "-s", "--max-time", "2", &format!("http://{}:9489/", lab.node("node1").address)]);
    assert!(!peer.status.success(), "the metrics port must be closed to anyone but the scraper");

    // A real Prometheus scraping every second, with the shipped rules and the printed config.
    let o = run(&["monitoring", "scrape-config", "-i", &inv]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-prometheus", lab.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("rules.yml"), rules_for_the_test()).expect("write rules");
    let check =
        Command::new("promtool").arg("check").arg("rules").arg(dir.join("rules.yml")).output().expect("promtool");
    assert!(check.status.success(), "{}", show(&check));
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\nrule_files:\n  - {}\n{}",
        dir.join("rules.yml").display(),
        text(&o.stdout)
    );
    let prom = Prometheus::start(&dir, &config);
    prom.wait_value("up{job=\"hapair\"}", 2, "1", Duration::from_secs(30));
    prom.wait_value("hapair_nginx_up", 2, "1", Duration::from_secs(15));
    prom.wait_value("sum by (pair, vip) (hapair_vip_present)", 1, "1", Duration::from_secs(15));
    // Never drilled: the drill alert says so.
    prom.pending_then_firing("HapairDrillTooOld", &[("pair", "pair1")], Duration::from_secs(20));
    // Every dashboard query is valid PromQL and finds data.
    let dash: Value = serde_json::from_str(&text(&run(&["monitoring", "dashboard"]).stdout)).expect("dashboard JSON");
    for p in dash["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().expect("targets") {
            let expr = t["expr"].as_str().expect("expr").replace("$pair", ".*");
            let v = prom.query(&expr);
            assert_eq!(v["status"], "success", "panel `{}`: {v}", p["title"]);
            assert!(
                v["data"]["result"].as_array().is_some_and(|r| !r.is_empty()),
                "panel `{}`: no data: {v}",
                p["title"]
            );
        }
    }
    for name in ["HapairVipOnTwoNodes", "HapairVipNoMaster", "HapairCheckFailing", "HapairDaemonDown"] {
        assert_eq!(prom.state_of(name, &[]), None, "{name} on a healthy pair");
    }

    // 1. VRRP blocked by node2's firewall: node2 hears no adverts, takes the VIP too.
    let node1 = lab.node("node1").address;
    let rule = format!("rule family=\"ipv4\" source address=\"{node1}/32\" protocol value=\"vrrp\" accept");
    lab.exec_ok("node2", &["firewall-cmd", "--remove-rich-rule", &rule]);
    prom.pending_then_firing("HapairVipOnTwoNodes", &[("pair", "pair1")], Duration::from_secs(40));
    lab.exec_ok("node2", &["firewall-cmd", "--add-rich-rule", &rule]);
    prom.resolves("HapairVipOnTwoNodes", &[("pair", "pair1")], Duration::from_secs(30));

    // The hooks saw node2 become master with the reason, as a command and as a webhook.
    let log = lab.exec_ok("node2", &["cat", "/run/hapair/hooks.log"]);
    for want in
        ["HAPAIR_PAIR=pair1", "HAPAIR_NODE=node2", "HAPAIR_VRID=51", "HAPAIR_NEW_STATE=master", "args 51 master"]
    {
        assert!(log.contains(want), "no `{want}` in the notify log:\n{log}");
    }
    assert!(log.contains("HAPAIR_OLD_STATE=backup") && log.contains("HAPAIR_REASON="), "{log}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut events = Vec::new();
    while Instant::now() < deadline
        && !events.iter().any(|e: &Value| e["node"] == "node2" && e["new_state"] == "master")
    {
        if let Ok(e) = hooks.recv_timeout(Duration::from_millis(200)) {
            events.push(e);
        }
    }
    let e = events.iter().find(|e| e["node"] == "node2" && e["new_state"] == "master").unwrap_or_else(|| {
        panic!("no webhook for node2 becoming master; got {events:?}");
    });
    assert_eq!(e["pair"], "pair1");
    assert_eq!(e["old_state"], "backup");
    assert_eq!(e["vips"][0], lab.addr(200));
    assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()), "{e}");

    // 2. nginx stopped on node1: the check fails and nginx's numbers stop.
    lab.exec_ok("node1", &["systemctl", "stop", "nginx"]);
    prom.all_pending_then_firing(
        &[("HapairNginxDown", &[("node", "node1")]), ("HapairCheckFailing", &[("node", "node1")])],
        Duration::from_secs(30),
    );
    lab.exec_ok("node1", &["systemctl", "start", "nginx"]);
    prom.resolves("HapairNginxDown", &[("node", "node1")], Duration::from_secs(30));
    prom.resolves("HapairCheckFailing", &[("node", "node1")], Duration::from_secs(30));

    // 3. The daemon stopped on node2: its target goes down; the VIP stays on node1.
    lab.exec_ok("node2", &["systemctl", "stop", "hapair-vrrpd"]);
    prom.pending_then_firing("HapairDaemonDown", &[("node", "node2")], Duration::from_secs(30));
    assert_eq!(prom.state_of("HapairVipNoMaster", &[]), None, "node1 still holds the VIP");
    lab.exec_ok("node2", &["systemctl", "start", "hapair-vrrpd"]);
    prom.resolves("HapairDaemonDown", &[("node", "node2")], Duration::from_secs(30));

    drop(prom);
    lab.down();
}
