//! Render the files a node needs from the resolved inventory. Pure: templates are embedded at
//! build time (`templates/*.tera`), so one binary is self-contained.

use serde::Serialize;

use crate::inventory::{CheckKind, Node, Pair, Transport};

pub const VRRPD_TEMPLATE: &str = "vrrpd.yml.tera";
pub const UNIT_TEMPLATE: &str = "hapair-vrrpd.service.tera";
pub const NGINX_TEMPLATE: &str = "nginx-site.conf.tera";

const TEMPLATES: [(&str, &str); 3] = [
    (VRRPD_TEMPLATE, include_str!("../../templates/vrrpd.yml.tera")),
    (UNIT_TEMPLATE, include_str!("../../templates/hapair-vrrpd.service.tera")),
    (NGINX_TEMPLATE, include_str!("../../templates/nginx-site.conf.tera")),
];

/// A template failed to parse or render; the message carries tera's report (name, line, caret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub template: String,
    pub message: String,
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot render template `{}`: {}", self.template, self.message)
    }
}

impl From<RenderError> for crate::error::Error {
    fn from(e: RenderError) -> Self {
        crate::error::Error::new(e.to_string()).with_fix("fix the template (or the `--roles` override) and run again")
    }
}

/// The template set: embedded ones, optionally overridden by files of the same name in a folder.
pub struct Renderer {
    tera: tera::Tera,
}

fn tera_err(template: &str, e: tera::Error) -> RenderError {
    // tera's Display is the short form; the source chain has the caret report.
    let mut message = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    RenderError { template: template.to_string(), message }
}

impl Renderer {
    /// The embedded templates.
    pub fn embedded() -> Result<Renderer, RenderError> {
        Self::with_overrides(&[])
    }

    /// Embedded templates, each replaced by `(name, text)` from `overrides` when given.
    pub fn with_overrides(overrides: &[(String, String)]) -> Result<Renderer, RenderError> {
        let mut tera = tera::Tera::new();
        // Nothing here is HTML; escaping would corrupt configs.
        tera.autoescape_on(Vec::<&str>::new());
        // `q`: a double-quoted scalar, valid in YAML (JSON is YAML) and safe for any string.
        tera.register_filter("q", |s: &str, _: tera::Kwargs, _: &tera::State| {
            serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
        });
        for (name, text) in TEMPLATES {
            let text = overrides.iter().find(|(n, _)| n == name).map(|(_, t)| t.as_str()).unwrap_or(text);
            tera.add_raw_template(name, text).map_err(|e| tera_err(name, e))?;
        }
        Ok(Renderer { tera })
    }

    /// Load overrides for the known template names from `dir` (`--roles DIR`).
    pub fn from_dir(dir: &std::path::Path) -> Result<Renderer, RenderError> {
        let mut overrides = Vec::new();
        for (name, _) in TEMPLATES {
            let p = dir.join(name);
            match std::fs::read_to_string(&p) {
                Ok(t) => overrides.push((name.to_string(), t)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(RenderError {
                        template: name.to_string(),
                        message: format!("cannot read `{}`: {e}", p.display()),
                    })
                }
            }
        }
        Self::with_overrides(&overrides)
    }

    fn render<T: Serialize>(&self, name: &str, ctx: &T) -> Result<String, RenderError> {
        let ctx = tera::Context::from_serialize(ctx).map_err(|e| tera_err(name, e))?;
        self.tera.render(name, &ctx).map_err(|e| tera_err(name, e))
    }

    /// `/etc/hapair/vrrpd.yml` for `node` of `pair` (docs/vrrpd-config.md).
    pub fn vrrpd_config(&self, pair: &Pair, node: &Node) -> Result<String, RenderError> {
        self.render(VRRPD_TEMPLATE, &VrrpdCtx::new(pair, node))
    }

    /// The hardened systemd unit `hapair-vrrpd.service`.
    pub fn vrrpd_unit(&self, node: &Node) -> Result<String, RenderError> {
        self.render(UNIT_TEMPLATE, &UnitCtx { node: &node.name })
    }

    /// The nginx site: listen port, upstreams or a default page naming the node.
    pub fn nginx_site(&self, node: &Node) -> Result<String, RenderError> {
        self.render(
            NGINX_TEMPLATE,
            &NginxCtx {
                node: &node.name,
                listen: node.nginx.listen,
                server_name: &node.nginx.server_name,
                upstreams: &node.nginx.upstreams,
            },
        )
    }
}

#[derive(Serialize)]
struct UnitCtx<'a> {
    node: &'a str,
}

#[derive(Serialize)]
struct NginxCtx<'a> {
    node: &'a str,
    listen: u16,
    server_name: &'a str,
    upstreams: &'a [String],
}

#[derive(Serialize)]
struct VrrpdCtx {
    node: String,
    interface: String,
    address: String,
    peer: String,
    check: CheckCtx,
    instances: Vec<InstanceCtx>,
}

#[derive(Serialize)]
struct CheckCtx {
    #[serde(rename = "type")]
    kind: &'static str,
    url: Option<String>,
    script: Option<Vec<String>>,
    interval_ms: u128,
    timeout_ms: u128,
    fall: u32,
    rise: u32,
}

#[derive(Serialize)]
struct InstanceCtx {
    name: String,
    vrid: u8,
    version: u8,
    priority: u8,
    advert_interval_ms: u128,
    vips: Vec<String>,
    preempt: bool,
    preempt_delay_ms: u128,
    auth_pass: Option<String>,
    transport: &'static str,
    v3_checksum_pseudo_header: bool,
    check_weight: i32,
    garp_count: u32,
    garp_interval_ms: u128,
}

impl VrrpdCtx {
    fn new(pair: &Pair, node: &Node) -> VrrpdCtx {
        let idx = pair.index_of(&node.name).unwrap_or(0);
        let peer = pair.peer_of(&node.name).map(|p| p.address.to_string()).unwrap_or_default();
        let c = &node.check;
        let (kind, url, script) = match &c.kind {
            CheckKind::Http { path } => {
                let path = if path.starts_with('/') { path.clone() } else { format!("/{path}") };
                ("http", Some(format!("http://127.0.0.1:{}{}", node.nginx.listen, path)), None)
            }
            CheckKind::Script { argv } => ("script", None, Some(argv.clone())),
            CheckKind::None => ("none", None, None),
        };
        let v = &node.vrrp;
        let instances = pair
            .vips
            .iter()
            .map(|vip| InstanceCtx {
                name: format!("{}-{}", pair.name, vip.vrid),
                vrid: vip.vrid.get(),
                version: v.version,
                priority: vip.priorities[idx].get(),
                advert_interval_ms: v.advert_interval.as_millis(),
                vips: vec![vip.address.to_string()],
                preempt: v.preempt,
                preempt_delay_ms: v.preempt_delay.as_millis(),
                // PASS auth exists only in VRRPv2 (RFC 3768 §5.3.6); v3 removed it.
                auth_pass: (v.version == 2).then(|| v.auth_pass.as_ref().map(|s| s.expose().to_string())).flatten(),
                transport: match v.transport {
                    Transport::Multicast => "multicast",
                    Transport::Unicast => "unicast",
                },
                v3_checksum_pseudo_header: v.v3_checksum_pseudo_header,
                check_weight: c.weight,
                garp_count: v.garp_count,
                garp_interval_ms: v.garp_interval.as_millis(),
            })
            .collect();
        VrrpdCtx {
            node: node.name.clone(),
            interface: node.interface.clone(),
            address: node.address.to_string(),
            peer,
            check: CheckCtx {
                kind,
                url,
                script,
                interval_ms: c.interval.as_millis(),
                timeout_ms: c.timeout.as_millis(),
                fall: c.fall,
                rise: c.rise,
            },
            instances,
        }
    }
}

/// Replace the value of every non-null `auth_pass:` line with `<redacted>`, so diffs and
/// plans of the daemon config never show the secret.
pub fn redact_vrrpd(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        match body.strip_prefix("auth_pass:") {
            Some(v) if !matches!(v.trim(), "" | "null" | "~") => {
                let indent = &line[..line.len() - body.len()];
                out.push_str(indent);
                out.push_str("auth_pass: <redacted>");
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// Whether a node is the preferred master of any VIP (dual-master: both are).
pub fn prefers_master(pair: &Pair, node: &str) -> bool {
    pair.vips.iter().any(|v| v.master == node)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::inventory::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    pub fn node(name: &str, last: u8) -> Node {
        Node {
            name: name.to_string(),
            address: Ipv4Addr::new(10, 77, 1, last),
            interface: "eth0".into(),
            connection: Connection {
                host: format!("10.77.1.{last}"),
                port: 22,
                user: "root".into(),
                identity_file: None,
                known_hosts: None,
                jump_host: None,
                become_root: false,
                timeout: Duration::from_secs(300),
            },
            vrrp: VrrpSettings {
                version: 2,
                advert_interval: Duration::from_secs(1),
                auth_pass: Some(Secret::new("s3cr3t")),
                preempt: true,
                preempt_delay: Duration::ZERO,
                transport: Transport::Multicast,
                garp_count: 5,
                garp_interval: Duration::from_secs(1),
                v3_checksum_pseudo_header: true,
            },
            nginx: NginxSettings { listen: 80, server_name: "_".into(), upstreams: vec![] },
            check: CheckSettings {
                kind: CheckKind::Http { path: "/".into() },
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                fall: 2,
                rise: 2,
                weight: -60,
            },
            firewall: FirewallSettings { manage: true, restrict_to_peer: true },
        }
    }

    pub fn pair(mode: Mode) -> Pair {
        let p = |v| Priority::new(v).expect("nonzero");
        let mut vips = vec![Vip {
            address: "10.77.1.200/24".parse().expect("valid"),
            vrid: Vrid::new(51).expect("nonzero"),
            master: "web1".into(),
            priorities: [p(150), p(100)],
        }];
        if mode == Mode::DualMaster {
            vips.push(Vip {
                address: "10.77.1.201/24".parse().expect("valid"),
                vrid: Vrid::new(52).expect("nonzero"),
                master: "web2".into(),
                priorities: [p(100), p(150)],
            });
        }
        Pair { name: "web".into(), mode, nodes: [node("web1", 11), node("web2", 12)], vips }
    }

    #[test]
    fn vrrpd_config_follows_the_contract() {
        let r = Renderer::embedded().expect("templates parse");
        let pair = pair(Mode::DualMaster);
        let text = r.vrrpd_config(&pair, &pair.nodes[1]).expect("renders");
        let expected = r#"# Managed by hapair (role `vrrp`); local changes are overwritten by `hapair apply`.
# Contract: docs/vrrpd-config.md. Holds the VRRP password: mode 0600, owner root.
node: "web2"
interface: "eth0"
address: 10.77.1.12
peer: 10.77.1.11
status_file: /run/hapair/status.json
metrics: null
check:
  type: http
  url: "http://127.0.0.1:80/"
  script: null
  interval_ms: 1000
  timeout_ms: 1000
  fall: 2
  rise: 2
notify: null
instances:
  - name: "web-51"
    vrid: 51
    version: 2
    priority: 100
    advert_interval_ms: 1000
    vips: [10.77.1.200/24]
    preempt: true
    preempt_delay_ms: 0
    auth_pass: "s3cr3t"
    transport: multicast
    v3_checksum_pseudo_header: true
    check_weight: -60
    garp_count: 5
    garp_interval_ms: 1000
  - name: "web-52"
    vrid: 52
    version: 2
    priority: 150
    advert_interval_ms: 1000
    vips: [10.77.1.201/24]
    preempt: true
    preempt_delay_ms: 0
    auth_pass: "s3cr3t"
    transport: multicast
    v3_checksum_pseudo_header: true
    check_weight: -60
    garp_count: 5
    garp_interval_ms: 1000
"#;
        assert_eq!(text, expected);
        // It is YAML a parser accepts, with the values where the daemon expects them.
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("valid yaml");
        assert_eq!(v["instances"][1]["priority"].as_u64(), Some(150));
        assert_eq!(v["check"]["url"].as_str(), Some("http://127.0.0.1:80/"));
    }

    #[test]
    fn v3_never_carries_a_password_and_script_checks_are_argv() {
        let r = Renderer::embedded().expect("templates parse");
        let mut pair = pair(Mode::MasterBackup);
        pair.nodes[0].vrrp.version = 3;
        pair.nodes[0].check.kind = CheckKind::Script { argv: vec!["/bin/check".into(), "a \"b\"".into()] };
        let text = r.vrrpd_config(&pair, &pair.nodes[0]).expect("renders");
        assert!(text.contains("    auth_pass: null\n"), "{text}");
        assert!(text.contains("  script: [\"/bin/check\", \"a \\\"b\\\"\"]\n"), "{text}");
        assert!(text.contains("  url: null\n"), "{text}");
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("valid yaml");
        assert_eq!(v["check"]["script"][1].as_str(), Some("a \"b\""));
    }

    #[test]
    fn redaction_hides_every_password() {
        let r = Renderer::embedded().expect("templates parse");
        let pair = pair(Mode::DualMaster);
        let text = redact_vrrpd(&r.vrrpd_config(&pair, &pair.nodes[0]).expect("renders"));
        assert!(!text.contains("s3cr3t"));
        assert_eq!(text.matches("    auth_pass: <redacted>\n").count(), 2);
        assert_eq!(redact_vrrpd("auth_pass: null\n"), "auth_pass: null\n");
        assert_eq!(redact_vrrpd("  - auth_pass: x"), "  - auth_pass: <redacted>");
    }

    #[test]
    fn unit_is_hardened() {
        let r = Renderer::embedded().expect("templates parse");
        let text = r.vrrpd_unit(&node("web1", 11)).expect("renders");
        for line in [
            "ExecStart=/usr/local/sbin/hapair vrrpd --config /etc/hapair/vrrpd.yml",
            "ExecReload=kill -HUP $MAINPID",
            "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "RuntimeDirectory=hapair",
            "Restart=always",
            "RestartSec=1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
        }
    }

    #[test]
    fn nginx_default_page_names_the_node_and_upstreams_proxy() {
        let r = Renderer::embedded().expect("templates parse");
        let mut n = node("web1", 11);
        let text = r.nginx_site(&n).expect("renders");
        assert!(text.contains("    listen 80 default_server;\n"), "{text}");
        assert!(text.contains("return 200 \"served by web1\\n\";"), "{text}");
        assert!(!text.contains("upstream"), "{text}");
        n.nginx.listen = 8080;
        n.nginx.upstreams = vec!["10.0.0.5:8080".into(), "10.0.0.6:8080".into()];
        let text = r.nginx_site(&n).expect("renders");
        assert!(
            text.contains("upstream hapair_backends {\n    server 10.0.0.5:8080;\n    server 10.0.0.6:8080;\n}\n"),
            "{text}"
        );
        assert!(text.contains("    listen 8080 default_server;\n"), "{text}");
        assert!(text.contains("proxy_pass http://hapair_backends;"), "{text}");
    }

    #[test]
    fn a_broken_override_is_an_error_not_a_panic() {
        let e = Renderer::with_overrides(&[(NGINX_TEMPLATE.into(), "{% if %}".into())]).err().expect("must fail");
        assert_eq!(e.template, NGINX_TEMPLATE);
    }
}
