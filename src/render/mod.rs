//! Render role templates and templated strings from the variables of one node. Pure.
//!
//! Secrets are handled structurally: every secret value is known before rendering, so each
//! template is rendered twice — once with the secrets, once with each secret replaced by
//! `<redacted>`. The lines that differ are the lines that carry a secret, whatever a template
//! does with it (quoting, filters, base64): plans show the second rendering there, nodes get the
//! first. A file whose line structure depends on a secret is not shown at all.

use serde::Serialize;
use serde_json::{json, Value};

use crate::inventory::{CheckKind, Node, Pair, Transport, Var};

/// What a secret shows as in plans and logs.
pub const REDACTED: &str = "<redacted>";

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

pub(crate) fn tera_err(template: &str, e: tera::Error) -> RenderError {
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

/// A fresh tera instance with hapair's settings: no HTML escaping, the `q` filter.
pub fn new_tera() -> tera::Tera {
    let mut tera = tera::Tera::new();
    // Nothing here is HTML; escaping would corrupt configs.
    tera.autoescape_on(Vec::<&str>::new());
    // `q`: a double-quoted scalar, valid in YAML (JSON is YAML) and safe for any string.
    tera.register_filter("q", |s: &str, _: tera::Kwargs, _: &tera::State| {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
    });
    tera
}

/// The variables of one node, twice: with the secrets (what nodes get) and with every secret
/// replaced by `<redacted>` (what plans show).
#[derive(Debug, Clone)]
pub struct Vars {
    pub real: Value,
    pub masked: Value,
    /// The secret values themselves (never printed; used to scrub command output).
    pub secrets: Vec<String>,
}

/// A rendered text with what plans may show of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub shown: Shown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// No secret in it: show `text`.
    Plain,
    /// Secret-bearing lines replaced: show this instead (same number of lines as `text`).
    Masked(String),
    /// Never show the content (a secret file, or secrets change its line structure).
    Hidden,
}

impl Rendered {
    pub fn plain(text: String) -> Rendered {
        Rendered { text, shown: Shown::Plain }
    }

    /// From the two renderings of the same template.
    pub fn from_pair(real: String, masked: String) -> Rendered {
        if real == masked {
            return Rendered::plain(real);
        }
        let (r, m): (Vec<&str>, Vec<&str>) = (real.split('\n').collect(), masked.split('\n').collect());
        if r.len() != m.len() {
            return Rendered { text: real, shown: Shown::Hidden };
        }
        Rendered { text: real, shown: Shown::Masked(masked) }
    }

    /// Indices of the lines that carry a secret.
    pub fn secret_lines(&self) -> Vec<usize> {
        match &self.shown {
            Shown::Masked(m) => self
                .text
                .split('\n')
                .zip(m.split('\n'))
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, _)| i)
                .collect(),
            _ => vec![],
        }
    }
}

/// Replace each known secret value in `text` (command output, errors) with `<redacted>`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), REDACTED);
    }
    out
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
    /// nginx's pid file (Debian's), watched by the daemon when the check tracks nginx.
    pid_file: Option<&'static str>,
}

#[derive(Serialize)]
struct InstanceCtx {
    name: String,
    vrid: u8,
    version: u8,
    priority: u8,
    advert_interval_ms: u128,
    vips: Vec<String>,
    /// The interface the VIPs live on, when not the node's VRRP interface.
    vip_interface: Option<String>,
    preempt: bool,
    preempt_delay_ms: u128,
    auth_pass: Option<String>,
    /// `ah` when the password keys an IP Authentication Header; None for PASS (the default).
    auth_type: Option<&'static str>,
    transport: &'static str,
    v3_checksum_pseudo_header: bool,
    check_weight: i32,
    garp_count: u32,
    garp_interval_ms: u128,
}

/// The variables templates and templated strings of `node` in `pair` see (docs/roles.md).
pub fn vars(pair: &Pair, node: &Node) -> Vars {
    let mut secrets = Vec::new();
    if node.vrrp.version == 2 {
        if let Some(s) = &node.vrrp.auth_pass {
            secrets.push(s.expose().to_string());
        }
    }
    for v in node.vars.values() {
        if let Var::Secret(s) = v {
            secrets.push(s.expose().to_string());
        }
    }
    // A webhook URL may carry a token.
    secrets.extend(node.monitoring.webhook.clone());
    let real = vars_value(pair, node, true);
    let masked = vars_value(pair, node, false);
    Vars { real, masked, secrets }
}

fn vars_value(pair: &Pair, node: &Node, reveal: bool) -> Value {
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
    let instances: Vec<InstanceCtx> = pair
        .vips
        .iter()
        .map(|vip| InstanceCtx {
            name: format!("{}-{}", pair.name, vip.vrid),
            vrid: vip.vrid.get(),
            version: v.version,
            priority: vip.priorities[idx].get(),
            advert_interval_ms: v.advert_interval.as_millis(),
            // An address on another interface than the VIP's others names it (`{address, interface}`).
            vips: vip
                .placed_on(node)
                .map(|(a, on)| match on == vip.interface_on(node) {
                    true => a.to_string(),
                    false => format!("{{address: {a}, interface: {}}}", serde_json::Value::from(on)),
                })
                .collect(),
            vip_interface: (vip.interface_on(node) != node.interface).then(|| vip.interface_on(node).to_string()),
            preempt: v.preempt,
            preempt_delay_ms: v.preempt_delay.as_millis(),
            // PASS auth exists only in VRRPv2 (RFC 3768 §5.3.6); v3 removed it.
            auth_pass: (v.version == 2)
                .then(|| v.auth_pass.as_ref().map(|s| if reveal { s.expose().to_string() } else { REDACTED.into() }))
                .flatten(),
            auth_type: auth_type(v),
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
    json!({
        "node": node.name,
        "pair": pair.name,
        "mode": pair.mode.as_str(),
        "interface": node.interface,
        "address": node.address.to_string(),
        // Both nodes run hapair's daemon (always, in an inventory): the pair's fast paths.
        "peer_hapair": !peer.is_empty(),
        // Multicast restricted to the peer by the inventory: the daemon drops other sources too.
        "peer_only": !peer.is_empty() && node.firewall.restrict_to_peer && v.transport == Transport::Multicast,
        "peer": peer,
        // `none`, `pass` or `ah` (the firewall admits IP protocol 51 from the peer for AH).
        "vrrp_auth_type": auth_type(v).unwrap_or(if v.version == 2 && v.auth_pass.is_some() { "pass" } else { "none" }),
        "prefers_master": prefers_master(pair, &node.name),
        "check": CheckCtx {
            kind,
            url,
            script,
            interval_ms: c.interval.as_millis(),
            timeout_ms: c.timeout.as_millis(),
            fall: c.fall,
            rise: c.rise,
            pid_file: (c.kind != CheckKind::None).then_some("/run/nginx.pid"),
        },
        "instances": instances,
        "listen": node.nginx.listen,
        "server_name": node.nginx.server_name,
        "upstreams": node.nginx.upstreams,
        "adopt_nginx": node.nginx.adopt,
        "firewall": {"manage": node.firewall.manage, "restrict_to_peer": node.firewall.restrict_to_peer},
        "vars": role_vars(node, reveal),
        "monitoring": crate::monitoring::vars(pair, node, reveal),
    })
}

/// `ah` when the adverts travel in an IP Authentication Header (VRRPv2 with a password).
fn auth_type(v: &crate::inventory::VrrpSettings) -> Option<&'static str> {
    v.uses_ah().then_some("ah")
}

/// `vars:` of the inventory as nested objects (`site.name` is `vars.site.name`).
fn role_vars(node: &Node, reveal: bool) -> Value {
    let mut root = serde_json::Map::new();
    for (k, v) in &node.vars {
        let value = match v {
            Var::Text(s) => json!(s),
            Var::Int(i) => json!(i),
            Var::Bool(b) => json!(b),
            Var::List(l) => json!(l),
            Var::Secret(s) => json!(if reveal { s.expose() } else { REDACTED }),
        };
        let parts: Vec<&str> = k.split('.').collect();
        insert_at(&mut root, &parts, value);
    }
    Value::Object(root)
}

fn insert_at(map: &mut serde_json::Map<String, Value>, parts: &[&str], value: Value) {
    match parts {
        [] => {}
        [last] => {
            map.insert(last.to_string(), value);
        }
        [first, rest @ ..] => {
            let e = map.entry(first.to_string()).or_insert_with(|| json!({}));
            if !e.is_object() {
                *e = json!({});
            }
            if let Some(m) = e.as_object_mut() {
                insert_at(m, rest, value);
            }
        }
    }
}

/// Whether a node is the preferred master of any VIP (dual-master: both are).
pub fn prefers_master(pair: &Pair, node: &str) -> bool {
    pair.vips.iter().any(|v| v.master == node)
}

/// The templates of a role set, compiled once; renders them and templated strings.
pub struct Renderer {
    tera: tera::Tera,
}

impl Renderer {
    /// Compile `(name, text)` templates.
    pub fn new<'a>(templates: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Renderer, RenderError> {
        let mut tera = new_tera();
        for (name, text) in templates {
            tera.add_raw_template(name, text).map_err(|e| tera_err(name, e))?;
        }
        Ok(Renderer { tera })
    }

    /// Render template `name` with the real and the masked variables.
    pub fn render(&self, name: &str, vars: &Vars) -> Result<Rendered, RenderError> {
        let real = self.render_value(name, &vars.real)?;
        let masked = self.render_value(name, &vars.masked)?;
        Ok(Rendered::from_pair(real, masked))
    }

    fn render_value(&self, name: &str, v: &Value) -> Result<String, RenderError> {
        let ctx = tera::Context::from_serialize(v).map_err(|e| tera_err(name, e))?;
        self.tera.render(name, &ctx).map_err(|e| tera_err(name, e))
    }

    /// Render a templated string from a role file (`what` names it in errors). Strings without
    /// `{{` or `{%` are returned as they are.
    pub fn render_str(&self, what: &str, text: &str, v: &Value) -> Result<String, RenderError> {
        if !text.contains("{{") && !text.contains("{%") {
            return Ok(text.to_string());
        }
        let ctx = tera::Context::from_serialize(v).map_err(|e| tera_err(what, e))?;
        self.tera.render_str(text, &ctx, false).map_err(|e| tera_err(what, e))
    }

    /// Top-level variables template `name` uses (for offline checks).
    pub fn variables_of(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .tera
            .get_template_variables(name)
            .map(|s| s.into_iter().map(str::to_string).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
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
                auth_type: crate::values::AuthType::Pass,
                preempt: true,
                preempt_delay: Duration::ZERO,
                transport: Transport::Multicast,
                garp_count: 5,
                garp_interval: Duration::from_secs(1),
                v3_checksum_pseudo_header: true,
            },
            nginx: NginxSettings { listen: 80, server_name: "_".into(), upstreams: vec![], adopt: false },
            check: CheckSettings {
                kind: CheckKind::Http { path: "/".into() },
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                fall: 2,
                rise: 2,
                weight: -60,
            },
            firewall: FirewallSettings { manage: true, restrict_to_peer: true },
            roles: vec![],
            vars: Default::default(),
            monitoring: Default::default(),
        }
    }

    pub fn pair(mode: Mode) -> Pair {
        let p = |v| Priority::new(v).expect("nonzero");
        let mut vips = vec![Vip {
            address: "10.77.1.200/24".parse().expect("valid"),
            also: vec![],
            vrid: Vrid::new(51).expect("nonzero"),
            master: "web1".into(),
            priorities: [p(150), p(100)],
            outside_subnet: false,
            interface: None,
            own_interfaces: Vec::new(),
        }];
        if mode == Mode::DualMaster {
            vips.push(Vip {
                address: "10.77.1.201/24".parse().expect("valid"),
                also: vec![],
                vrid: Vrid::new(52).expect("nonzero"),
                master: "web2".into(),
                priorities: [p(100), p(150)],
                outside_subnet: false,
                interface: None,
                own_interfaces: Vec::new(),
            });
        }
        Pair { name: "web".into(), mode, nodes: [node("web1", 11), node("web2", 12)], vips }
    }

    #[test]
    fn secret_lines_are_found_whatever_the_template_does_with_the_secret() {
        let t = "a: 1\npass: {{ instances[0].auth_pass | q }}\nshout: {{ instances[0].auth_pass | upper }}\nb: 2\n";
        let r = Renderer::new([("t", t)]).expect("parses");
        let p = pair(Mode::MasterBackup);
        let out = r.render("t", &vars(&p, &p.nodes[0])).expect("renders");
        assert_eq!(out.text, "a: 1\npass: \"s3cr3t\"\nshout: S3CR3T\nb: 2\n");
        assert_eq!(out.shown, Shown::Masked("a: 1\npass: \"<redacted>\"\nshout: <REDACTED>\nb: 2\n".into()));
        assert_eq!(out.secret_lines(), [1, 2]);
        // A secret that changes the line structure hides the whole file.
        let r = Renderer::new([("t", "{% for c in instances[0].auth_pass %}{{ c }}\n{% endfor %}")]).expect("parses");
        assert_eq!(r.render("t", &vars(&p, &p.nodes[0])).expect("renders").shown, Shown::Hidden);
    }

    #[test]
    fn strings_render_and_plain_strings_pass_through() {
        let r = Renderer::new([]).expect("empty");
        let p = pair(Mode::MasterBackup);
        let v = vars(&p, &p.nodes[0]);
        assert_eq!(r.render_str("x", "port {{ listen }}/tcp", &v.real).expect("renders"), "port 80/tcp");
        assert_eq!(r.render_str("x", "no braces", &v.real).expect("renders"), "no braces");
        let e = r.render_str("x", "{{ nope }}", &v.real).expect_err("undefined");
        assert_eq!(e.template, "x");
        assert_eq!(scrub("pass s3cr3t!", &v.secrets), "pass <redacted>!");
    }

    #[test]
    fn a_broken_template_is_an_error_not_a_panic() {
        let e = Renderer::new([("site", "{% if %}")]).err().expect("must fail");
        assert_eq!(e.template, "site");
    }
}
