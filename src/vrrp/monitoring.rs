//! What the daemon adds for monitoring beyond its own VRRP numbers (which `status` renders):
//! nginx's `stub_status` numbers, the node's basics (each VIP present on the interface or not,
//! the interface's state), the last failover drill; and the transition hooks (`notify`
//! command, webhook). Configured by the optional `monitoring:` mapping of the daemon config
//! (docs/vrrpd-config.md), which `hapair apply` renders from the inventory's `monitoring:`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::config::{Config, InstanceConfig};
use super::fsm::State;

/// Where `hapair verify --failover` records its last drill on each node.
pub const DRILL_FILE: &str = "/var/lib/hapair/last-drill.json";

/// The `monitoring:` mapping of the daemon config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// The pair's name, for hooks (and logs).
    #[serde(default)]
    pub pair: Option<String>,
    /// nginx's `stub_status`, e.g. `http://127.0.0.1:80/hapair-nginx-status`; null = not read.
    #[serde(default)]
    pub nginx_status: Option<String>,
    /// `http://HOST:PORT/PATH`: a JSON POST on each transition; null = none.
    #[serde(default)]
    pub webhook: Option<String>,
    /// The last drill's record (default [`DRILL_FILE`]).
    #[serde(default)]
    pub drill_file: Option<PathBuf>,
}

/// A plain `http://HOST:PORT/PATH` URL (no TLS: the daemon carries no TLS stack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl std::str::FromStr for HttpUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<HttpUrl, String> {
        let rest = s.strip_prefix("http://").ok_or_else(|| format!("`{s}` is not an `http://` URL"))?;
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("`{p}` is not a port"))?),
            None => (hostport, 80),
        };
        let host_ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
        let path_ok = path.chars().all(|c| c.is_ascii_graphic());
        if !host_ok || !path_ok || port == 0 {
            return Err(format!("`{s}` is not `http://HOST:PORT/PATH`"));
        }
        Ok(HttpUrl { host: host.to_string(), port, path: path.to_string() })
    }
}

impl Monitoring {
    /// Each problem as (field, message, fix), for the config validator.
    pub fn problems(&self) -> Vec<(&'static str, String, &'static str)> {
        let mut v = Vec::new();
        for (field, url) in [("nginx_status", &self.nginx_status), ("webhook", &self.webhook)] {
            if let Some(u) = url {
                if let Err(e) = u.parse::<HttpUrl>() {
                    v.push((field, e, "write a plain URL like `http://127.0.0.1:80/path` (https is not supported)"));
                }
            }
        }
        v
    }
}

// ---- metrics ----------------------------------------------------------------------------

/// What one scrape needs, copied out of the daemon so the scrape runs on its own task.
#[derive(Debug, Clone)]
pub struct Scrape {
    interface: String,
    /// (vrrp instance name, vrid, VIP address, its interface when not `interface`)
    vips: Vec<(String, u8, Ipv4Addr, Option<String>)>,
    nginx_status: Option<HttpUrl>,
    drill_file: PathBuf,
    node: String,
    pair: String,
}

impl Scrape {
    pub fn new(cfg: &Config) -> Scrape {
        let m = &cfg.monitoring;
        Scrape {
            interface: cfg.interface.clone(),
            vips: cfg
                .instances
                .iter()
                .flat_map(|i| {
                    i.vips
                        .iter()
                        .zip(&i.vip_interfaces)
                        .map(move |(v, on)| (i.name.clone(), i.vrid.get(), v.addr(), on.clone()))
                })
                .collect(),
            nginx_status: m.nginx_status.as_deref().and_then(|u| u.parse().ok()),
            drill_file: m.drill_file.clone().unwrap_or_else(|| PathBuf::from(DRILL_FILE)),
            node: cfg.node.clone(),
            pair: m.pair.clone().unwrap_or_default(),
        }
    }

    /// The extra metrics (Prometheus text format), bounded by 1 s for nginx.
    pub async fn collect(&self) -> String {
        let link = link_state(&self.interface);
        // The interfaces VIPs live on besides the VRRP one (`vip_interface`).
        let elsewhere: BTreeMap<String, Link> =
            self.vips.iter().filter_map(|v| v.3.clone()).map(|i| (i.clone(), link_state(&i))).collect();
        let nginx = match &self.nginx_status {
            Some(u) => {
                Some(tokio::time::timeout(Duration::from_secs(1), http_get(u)).await.unwrap_or(Err("timed out".into())))
            }
            None => None,
        };
        // Capped like every file hapair reads (docs/limits.md): a drill record is a few hundred bytes.
        let drill = crate::input::read_capped(&self.drill_file, crate::input::STATUS_FILE_CAP)
            .ok()
            .and_then(|b| serde_json::from_slice::<Drill>(&b).ok());
        render(self, &link, &elsewhere, nginx.as_ref().map(|r| r.as_deref().map_err(String::as_str)), drill.as_ref())
    }
}

/// The interface's flags and IPv4 addresses, from `getifaddrs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    pub exists: bool,
    pub up: bool,
    pub running: bool,
    pub addrs: Vec<Ipv4Addr>,
}

pub fn link_state(interface: &str) -> Link {
    let mut link = Link::default();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return link;
    }
    let mut p = head;
    while !p.is_null() {
        // SAFETY: p is a node of the list returned by getifaddrs, valid until freeifaddrs.
        let ifa = unsafe { &*p };
        p = ifa.ifa_next;
        if ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        // Labelled addresses (the VIPs carry `<interface>:hapair`) come under their label.
        let name = name.to_bytes();
        let ours = name == interface.as_bytes()
            || name.strip_prefix(interface.as_bytes()).is_some_and(|rest| rest.first() == Some(&b':'));
        if !ours {
            continue;
        }
        link.exists = true;
        link.up = ifa.ifa_flags & libc::IFF_UP as u32 != 0;
        link.running = ifa.ifa_flags & libc::IFF_RUNNING as u32 != 0;
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr whose family says its real type.
            let family = unsafe { (*ifa.ifa_addr).sa_family };
            if i32::from(family) == libc::AF_INET {
                // SAFETY: AF_INET: the sockaddr is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                link.addrs.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
        }
    }
    // SAFETY: head came from a successful getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    link
}

/// `stub_status`'s numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StubStatus {
    pub active: u64,
    pub accepts: u64,
    pub handled: u64,
    pub requests: u64,
    pub reading: u64,
    pub writing: u64,
    pub waiting: u64,
}

/// Parse nginx's `stub_status` page.
pub fn parse_stub_status(body: &str) -> Option<StubStatus> {
    let mut s = StubStatus::default();
    let mut lines = body.lines();
    s.active = lines.next()?.strip_prefix("Active connections:")?.trim().parse().ok()?;
    lines.next()?.starts_with("server accepts handled requests").then_some(())?;
    let n: Vec<u64> = lines.next()?.split_whitespace().map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [accepts, handled, requests] = n[..] else { return None };
    (s.accepts, s.handled, s.requests) = (accepts, handled, requests);
    let w: Vec<&str> = lines.next()?.split_whitespace().collect();
    let [_, r, _, wr, _, wa] = w[..] else { return None };
    (s.reading, s.writing, s.waiting) = (r.parse().ok()?, wr.parse().ok()?, wa.parse().ok()?);
    Some(s)
}

/// A minimal HTTP/1.0 GET: the body of a 200 answer, at most 64 KiB.
async fn http_get(u: &HttpUrl) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect((u.host.as_str(), u.port)).await.map_err(|e| e.to_string())?;
    let req = format!("GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: hapair-vrrpd\r\n\r\n", u.path, u.host);
    s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.take(64 * 1024).read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(head.lines().next().unwrap_or("").to_string());
    }
    Ok(body.to_string())
}

/// The record `verify --failover` leaves on each node of a drilled pair.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Drill {
    pub unix: u64,
    pub ok: bool,
}

fn render(
    s: &Scrape,
    link: &Link,
    elsewhere: &BTreeMap<String, Link>,
    nginx: Option<Result<&str, &str>>,
    drill: Option<&Drill>,
) -> String {
    let mut o = String::new();
    let head = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    head(&mut o, "hapair_node_info", "gauge", "Always 1; labels name the node, its pair and the daemon's version.");
    let _ = writeln!(
        o,
        "hapair_node_info{{node=\"{}\",pair=\"{}\",version=\"{}\"}} 1",
        esc(&s.node),
        esc(&s.pair),
        env!("CARGO_PKG_VERSION")
    );
    head(&mut o, "hapair_vip_present", "gauge", "1 while the VIP is bound on this node's interface (its own).");
    for (inst, vrid, vip, on) in &s.vips {
        let bound = match on {
            None => link.addrs.contains(vip),
            Some(i) => elsewhere.get(i).is_some_and(|l| l.addrs.contains(vip)),
        };
        let _ = writeln!(
            o,
            "hapair_vip_present{{vrrp_instance=\"{}\",vrid=\"{vrid}\",vip=\"{vip}\"}} {}",
            esc(inst),
            u8::from(bound)
        );
    }
    let iface = esc(&s.interface);
    head(&mut o, "hapair_interface_up", "gauge", "1 while the VRRP interface is administratively up.");
    let _ = writeln!(o, "hapair_interface_up{{interface=\"{iface}\"}} {}", u8::from(link.up));
    head(&mut o, "hapair_interface_running", "gauge", "1 while the VRRP interface has a carrier (IFF_RUNNING).");
    let _ = writeln!(o, "hapair_interface_running{{interface=\"{iface}\"}} {}", u8::from(link.running));
    if let Some(r) = nginx {
        head(&mut o, "hapair_nginx_up", "gauge", "1 when nginx's stub_status answered this scrape.");
        let st = r.ok().and_then(parse_stub_status);
        let _ = writeln!(o, "hapair_nginx_up {}", u8::from(st.is_some()));
        if let Some(st) = st {
            for (name, kind, help, v) in [
                ("hapair_nginx_connections_active", "gauge", "Open client connections.", st.active),
                ("hapair_nginx_connections_reading", "gauge", "Connections reading the request.", st.reading),
                ("hapair_nginx_connections_writing", "gauge", "Connections writing the answer.", st.writing),
                ("hapair_nginx_connections_waiting", "gauge", "Idle keep-alive connections.", st.waiting),
                ("hapair_nginx_connections_accepted_total", "counter", "Accepted connections.", st.accepts),
                ("hapair_nginx_connections_handled_total", "counter", "Handled connections.", st.handled),
                ("hapair_nginx_requests_total", "counter", "Client requests.", st.requests),
            ] {
                head(&mut o, name, kind, help);
                let _ = writeln!(o, "{name} {v}");
            }
        }
    }
    head(
        &mut o,
        "hapair_last_drill_timestamp_seconds",
        "gauge",
        "When `hapair verify --failover` last drilled this node (0: never).",
    );
    let _ = writeln!(o, "hapair_last_drill_timestamp_seconds {}", drill.map_or(0, |d| d.unix));
    head(&mut o, "hapair_last_drill_ok", "gauge", "1 when the last drill passed.");
    let _ = writeln!(o, "hapair_last_drill_ok {}", u8::from(drill.is_some_and(|d| d.ok)));
    o
}

// ---- transition hooks --------------------------------------------------------------------

/// One state change, as hooks receive it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    pub pair: String,
    pub node: String,
    pub vrrp_instance: String,
    pub vrid: u8,
    pub vips: Vec<String>,
    pub old_state: &'static str,
    pub new_state: &'static str,
    pub reason: String,
    pub unix_ms: u64,
}

impl Event {
    pub fn new(cfg: &Config, ic: &InstanceConfig, from: State, to: State, reason: String) -> Event {
        Event {
            pair: cfg.monitoring.pair.clone().unwrap_or_default(),
            node: cfg.node.clone(),
            vrrp_instance: ic.name.clone(),
            vrid: ic.vrid.get(),
            vips: ic.vips.iter().map(|v| v.addr().to_string()).collect(),
            old_state: from.as_str(),
            new_state: to.as_str(),
            reason,
            unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }
    }

    /// The environment a `notify` command gets (its arguments stay `VRID STATE`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HAPAIR_PAIR", self.pair.clone()),
            ("HAPAIR_NODE", self.node.clone()),
            ("HAPAIR_INSTANCE", self.vrrp_instance.clone()),
            ("HAPAIR_VRID", self.vrid.to_string()),
            ("HAPAIR_VIPS", self.vips.join(" ")),
            ("HAPAIR_OLD_STATE", self.old_state.to_string()),
            ("HAPAIR_NEW_STATE", self.new_state.to_string()),
            ("HAPAIR_REASON", self.reason.clone()),
        ]
    }
}

/// Run the hooks for one transition, each on its own task (a slow hook never delays VRRP):
/// `notify` as `ARGV... VRID STATE` with the event in its environment, the webhook as a JSON
/// POST bounded by 5 s. Failures are logged through `log`.
pub fn run_hooks(cfg: &Config, event: Event, log: fn(&str)) {
    if let Some((prog, args)) = cfg.notify.as_deref().and_then(|a| a.split_first()) {
        let r = tokio::process::Command::new(prog)
            .args(args)
            .arg(event.vrid.to_string())
            .arg(event.new_state)
            .envs(event.env())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(false)
            .spawn();
        match r {
            Ok(mut child) => {
                let prog = prog.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
                        Ok(Ok(s)) if !s.success() => log(&format!("notify `{prog}` exited with {s}")),
                        Err(_) => log(&format!("notify `{prog}` still runs after 60 s; not waiting for it")),
                        _ => {}
                    }
                });
            }
            Err(e) => log(&format!("cannot run notify `{prog}`: {e}")),
        }
    }
    if let Some(url) = cfg.monitoring.webhook.as_deref().and_then(|u| u.parse::<HttpUrl>().ok()) {
        tokio::spawn(async move {
            let body = serde_json::to_string(&event).unwrap_or_default();
            match tokio::time::timeout(Duration::from_secs(5), post(&url, &body)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log(&format!("webhook to {}:{} failed: {e}", url.host, url.port)),
                Err(_) => log(&format!("webhook to {}:{} timed out after 5 s", url.host, url.port)),
            }
        });
    }
}

async fn post(u: &HttpUrl, body: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect((u.host.as_str(), u.port)).await.map_err(|e| e.to_string())?;
    let req = format!(
        "POST {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: hapair-vrrpd\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        u.path,
        u.host,
        body.len()
    );
    s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head).await.map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&head[..n]);
    match line.split_whitespace().nth(1) {
        Some(code) if code.starts_with('2') => Ok(()),
        _ => Err(format!("answered `{}`", line.lines().next().unwrap_or(""))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_status_parses() {
        let body =
            "Active connections: 3 \nserver accepts handled requests\n 10 10 25 \nReading: 0 Writing: 1 Waiting: 2 \n";
        assert_eq!(
            parse_stub_status(body),
            Some(StubStatus { active: 3, accepts: 10, handled: 10, requests: 25, reading: 0, writing: 1, waiting: 2 })
        );
        assert_eq!(parse_stub_status("<html>403</html>"), None);
        assert_eq!(parse_stub_status(""), None);
    }

    #[test]
    fn urls() {
        let u: HttpUrl = "http://127.0.0.1:8080/hapair-nginx-status".parse().unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("127.0.0.1", 8080, "/hapair-nginx-status"));
        let u: HttpUrl = "http://hooks.example.com".parse().unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        assert!("https://x/".parse::<HttpUrl>().is_err());
        assert!("http://a b/".parse::<HttpUrl>().is_err());
        assert!("http://x:0/".parse::<HttpUrl>().is_err());
        assert!("http://x/a\nb".parse::<HttpUrl>().is_err());
    }

    #[test]
    fn metrics_say_vip_interface_nginx_and_drill() {
        let s = Scrape {
            interface: "eth0".into(),
            vips: vec![
                ("web-51".into(), 51, Ipv4Addr::new(10, 0, 0, 200), None),
                ("web-52".into(), 52, Ipv4Addr::new(10, 0, 0, 201), None),
                ("web-53".into(), 53, Ipv4Addr::new(10, 0, 0, 200), Some("eth1".into())),
                ("web-54".into(), 54, Ipv4Addr::new(10, 0, 1, 200), Some("eth1".into())),
            ],
            nginx_status: None,
            drill_file: PathBuf::from("/nonexistent"),
            node: "web1".into(),
            pair: "web".into(),
        };
        let link = Link { exists: true, up: true, running: false, addrs: vec![Ipv4Addr::new(10, 0, 0, 200)] };
        let body =
            "Active connections: 1 \nserver accepts handled requests\n 5 5 7 \nReading: 0 Writing: 1 Waiting: 0 \n";
        // A VIP on another interface is looked for there, not on the VRRP interface.
        let eth1 = Link { exists: true, up: true, running: true, addrs: vec![Ipv4Addr::new(10, 0, 1, 200)] };
        let elsewhere = BTreeMap::from([("eth1".to_string(), eth1)]);
        let m = render(&s, &link, &elsewhere, Some(Ok(body)), Some(&Drill { unix: 1700000000, ok: true }));
        for line in [
            "hapair_node_info{node=\"web1\",pair=\"web\",version=\"0.1.0\"} 1",
            "hapair_vip_present{vrrp_instance=\"web-51\",vrid=\"51\",vip=\"10.0.0.200\"} 1",
            "hapair_vip_present{vrrp_instance=\"web-52\",vrid=\"52\",vip=\"10.0.0.201\"} 0",
            "hapair_vip_present{vrrp_instance=\"web-53\",vrid=\"53\",vip=\"10.0.0.200\"} 0",
            "hapair_vip_present{vrrp_instance=\"web-54\",vrid=\"54\",vip=\"10.0.1.200\"} 1",
            "hapair_interface_up{interface=\"eth0\"} 1",
            "hapair_interface_running{interface=\"eth0\"} 0",
            "hapair_nginx_up 1",
            "hapair_nginx_requests_total 7",
            "hapair_nginx_connections_active 1",
            "hapair_last_drill_timestamp_seconds 1700000000",
            "hapair_last_drill_ok 1",
        ] {
            assert!(m.lines().any(|l| l == line), "missing {line} in\n{m}");
        }
        let m = render(&s, &link, &elsewhere, Some(Err("connection refused")), None);
        assert!(m.contains("hapair_nginx_up 0\n") && !m.contains("hapair_nginx_requests_total"), "{m}");
        assert!(m.contains("hapair_last_drill_timestamp_seconds 0\n"), "{m}");
    }

    #[test]
    fn the_loopback_interface_is_seen() {
        let l = link_state("lo");
        assert!(l.exists && l.up, "{l:?}");
        assert!(l.addrs.contains(&Ipv4Addr::LOCALHOST), "{l:?}");
        assert!(!link_state("nosuch0").exists);
    }
}
