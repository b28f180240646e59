//! The layered settings (connection, vrrp, nginx, check, firewall): what keys exist, what type
//! each has, the built-in defaults, and how a layer's mapping becomes flat `section.key` leaves
//! that remember where they were written.

use super::finding::{Finding, Location};
use super::tree::{Kind, Node, Pos};
use crate::values::{self, IntRange};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    Builtin,
    Defaults,
    Pair,
    Node,
    CommandLine,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Builtin => "built-in default",
            Layer::Defaults => "defaults",
            Layer::Pair => "pair",
            Layer::Node => "node",
            Layer::CommandLine => "command line",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int(IntRange),
    Bool,
    Duration,
    Secret,
    StrList,
    /// A list of strings or one string (a script's argv).
    Argv,
    OneOf(&'static [&'static str]),
}

/// Every layered setting: dotted key, type, built-in default (YAML text; None = unset).
pub const SETTINGS: &[(&str, Ty, Option<&str>)] = &[
    ("connection.host", Ty::Str, None),
    ("connection.user", Ty::Str, Some("root")),
    ("connection.port", Ty::Int(IntRange::new(1, 65535)), Some("22")),
    ("connection.identity_file", Ty::Str, None),
    ("connection.known_hosts", Ty::Str, None),
    ("connection.jump_host", Ty::Str, None),
    ("connection.become", Ty::Bool, Some("false")),
    ("connection.timeout", Ty::Duration, Some("300s")),
    ("vrrp.version", Ty::Int(values::VERSION), Some("3")),
    ("vrrp.advert_interval", Ty::Duration, Some("1s")),
    ("vrrp.auth_pass", Ty::Secret, None),
    ("vrrp.auth_type", Ty::OneOf(values::AuthType::NAMES), Some("pass")),
    ("vrrp.preempt", Ty::Bool, Some("true")),
    ("vrrp.preempt_delay", Ty::Duration, Some("0s")),
    ("vrrp.transport", Ty::OneOf(&["multicast", "unicast"]), Some("multicast")),
    ("vrrp.garp.count", Ty::Int(values::GARP_COUNT), Some("5")),
    ("vrrp.garp.interval", Ty::Duration, Some("1s")),
    ("vrrp.v3_checksum_pseudo_header", Ty::Bool, Some("true")),
    ("nginx.listen", Ty::Int(IntRange::new(1, 65535)), Some("80")),
    ("nginx.server_name", Ty::Str, Some("_")),
    ("nginx.upstreams", Ty::StrList, Some("[]")),
    ("nginx.adopt", Ty::Bool, Some("false")),
    ("check.type", Ty::OneOf(&["http", "script", "none"]), Some("http")),
    ("check.path", Ty::Str, Some("/")),
    ("check.interval", Ty::Duration, Some("1s")),
    ("check.timeout", Ty::Duration, Some("1s")),
    ("check.fall", Ty::Int(values::CHECK_COUNT), Some("2")),
    ("check.rise", Ty::Int(values::CHECK_COUNT), Some("2")),
    ("check.weight", Ty::Int(values::CHECK_WEIGHT_ON_FAILURE), Some("-60")),
    ("check.script", Ty::Argv, None),
    ("firewall.manage", Ty::Bool, Some("true")),
    ("firewall.restrict_to_peer", Ty::Bool, Some("true")),
    ("monitoring.listen", Ty::Str, None),
    ("monitoring.scraper", Ty::Str, None),
    ("monitoring.nginx_status", Ty::Bool, Some("true")),
    ("monitoring.notify", Ty::Argv, None),
    ("monitoring.webhook", Ty::Str, None),
    ("roles", Ty::StrList, Some("[]")),
];

pub const SECTIONS: &[&str] = &["connection", "vrrp", "nginx", "check", "firewall", "monitoring", "roles", "vars"];

/// Role variables: free-form keys under `vars:` (docs/roles.md).
pub const VARS: &str = "vars";

pub fn ty_of(key: &str) -> Option<Ty> {
    SETTINGS.iter().find(|(k, _, _)| *k == key).map(|(_, t, _)| *t)
}

/// One written value of a setting.
#[derive(Debug, Clone)]
pub struct Raw {
    pub node: Node,
    pub layer: Layer,
    pub location: Location,
}

pub type Leaves = BTreeMap<String, Raw>;

pub fn loc(file: &Path, p: Pos) -> Location {
    Location { file: file.to_path_buf(), line: p.line, column: p.col }
}

/// The closest known name, for "did you mean".
pub fn suggest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Far longer than any known name: no suggestion, and no quadratic distance on a huge key.
    if word.len() > 64 {
        return None;
    }
    known
        .into_iter()
        .map(|k| (distance(word, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

pub fn unknown_key(file: &Path, key: &str, pos: Pos, known: &[&str], what: &str) -> Finding {
    let fix = match suggest(key, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("{what} takes: {}", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")),
    };
    Finding::error("HA003", loc(file, pos), format!("unknown key `{key}`"), fix)
}

/// Flatten the settings sections of a mapping (`defaults`, a pair, a node) into leaves.
/// `allowed_other` are the mapping's own keys that are not settings (e.g. `name`).
pub fn collect(
    file: &Path,
    map: &Node,
    layer: Layer,
    allowed_other: &[&str],
    what: &str,
    out: &mut Leaves,
    findings: &mut Vec<Finding>,
) {
    for e in map.entries() {
        if allowed_other.contains(&e.key.as_str()) {
            continue;
        }
        if !SECTIONS.contains(&e.key.as_str()) {
            let mut known: Vec<&str> = allowed_other.to_vec();
            known.extend(SECTIONS);
            findings.push(unknown_key(file, &e.key, e.key_pos, &known, what));
            continue;
        }
        if ty_of(&e.key).is_some() {
            out.insert(e.key.clone(), Raw { node: e.value.clone(), layer, location: loc(file, e.value.pos) });
            continue;
        }
        if e.key == VARS {
            collect_vars(file, VARS, &e.value, layer, out, findings);
            continue;
        }
        collect_section(file, &e.key, &e.value, layer, out, findings);
    }
}

/// `vars:`: any key; a mapping nests (`vars.site.name`) unless it is `{env: …}` / `{file: …}`.
fn collect_vars(file: &Path, prefix: &str, node: &Node, layer: Layer, out: &mut Leaves, findings: &mut Vec<Finding>) {
    match &node.kind {
        Kind::Map(entries) if !is_secret_source(node) => {
            for e in entries {
                let key = format!("{prefix}.{}", e.key);
                let ok = !e.key.is_empty() && e.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ok {
                    findings.push(Finding::error(
                        "HA003",
                        loc(file, e.key_pos),
                        format!("variable name `{}` is not a template name", e.key.escape_debug()),
                        "use letters, digits and `_` (templates read it as `vars.NAME`)",
                    ));
                    continue;
                }
                collect_vars(file, &key, &e.value, layer, out, findings);
            }
        }
        Kind::Null if prefix == VARS => {}
        _ => {
            out.insert(prefix.to_string(), Raw { node: node.clone(), layer, location: loc(file, node.pos) });
        }
    }
}

fn is_secret_source(node: &Node) -> bool {
    matches!(&node.kind, Kind::Map(entries) if entries.len() == 1 && (entries[0].key == "env" || entries[0].key == "file"))
}

/// A role variable's value: a scalar (text, number, boolean), a list of scalars, or a secret.
pub fn typed_var(key: &str, node: &Node) -> Result<Value, (String, String)> {
    match &node.kind {
        Kind::Scalar(s, quoted) => Ok(match (s.as_str(), quoted) {
            ("true", false) => Value::Bool(true),
            ("false", false) => Value::Bool(false),
            (s, false) if s.parse::<i64>().is_ok() => Value::Int(s.parse().unwrap_or(0)),
            _ => Value::Str(s.clone()),
        }),
        Kind::Seq(_) => typed(key, Ty::StrList, node),
        Kind::Map(_) if is_secret_source(node) => typed(key, Ty::Secret, node),
        _ => Err((
            format!(
                "`{key}` must be text, a number, a boolean, a list, `{{env: VAR}}` or `{{file: PATH}}`, not {}",
                describe(node)
            ),
            format!("write it like `{}: value`", key.rsplit('.').next().unwrap_or(key)),
        )),
    }
}

fn collect_section(
    file: &Path,
    prefix: &str,
    node: &Node,
    layer: Layer,
    out: &mut Leaves,
    findings: &mut Vec<Finding>,
) {
    match &node.kind {
        Kind::Map(entries) => {
            for e in entries {
                let key = format!("{prefix}.{}", e.key);
                if ty_of(&key).is_some() {
                    out.insert(key, Raw { node: e.value.clone(), layer, location: loc(file, e.value.pos) });
                } else if SETTINGS.iter().any(|(k, _, _)| k.starts_with(&format!("{key}."))) {
                    collect_section(file, &key, &e.value, layer, out, findings);
                } else {
                    let known: Vec<&str> = SETTINGS
                        .iter()
                        .filter_map(|(k, _, _)| k.strip_prefix(&format!("{prefix}.")))
                        .map(|rest| rest.split('.').next().unwrap_or(rest))
                        .collect();
                    findings.push(unknown_key(file, &e.key, e.key_pos, &known, &format!("`{prefix}`")));
                }
            }
        }
        Kind::Null => {}
        _ => findings.push(Finding::error(
            "HA004",
            loc(file, node.pos),
            format!("`{prefix}` must be a mapping, not {}", node.type_name()),
            format!("write `{prefix}:` followed by indented `key: value` lines"),
        )),
    }
}

/// A typed value of a setting.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Duration(std::time::Duration),
    Secret(SecretSource),
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    Inline(String),
    Env(String),
    File(String),
}

/// Check a raw value against its type. The error is (message, fix).
pub fn typed(key: &str, ty: Ty, node: &Node) -> Result<Value, (String, String)> {
    let scalar = |n: &Node| match &n.kind {
        Kind::Scalar(s, q) => Some((s.clone(), *q)),
        _ => None,
    };
    let wrong = |want: &str, example: &str| {
        (
            format!("`{key}` must be {want}, not {}", describe(node)),
            format!("write it like `{}: {example}`", key.rsplit('.').next().unwrap_or(key)),
        )
    };
    match ty {
        Ty::Str => match scalar(node) {
            Some((s, _)) => Ok(Value::Str(s)),
            None => Err(wrong("text", "value")),
        },
        Ty::Int(IntRange { min, max }) => match scalar(node) {
            Some((s, false)) => match s.parse::<i64>() {
                Ok(v) if (min..=max).contains(&v) => Ok(Value::Int(v)),
                Ok(_) | Err(_) if s.trim_start_matches('-').chars().all(|c| c.is_ascii_digit()) && !s.is_empty() => {
                    Err((
                        format!("`{key}` is {s}, outside {min} to {max}"),
                        format!("use a whole number from {min} to {max}"),
                    ))
                }
                _ => Err(wrong(&format!("a whole number from {min} to {max}"), &min.max(0).to_string())),
            },
            _ => Err(wrong(&format!("a whole number from {min} to {max}"), &min.max(0).to_string())),
        },
        Ty::Bool => match scalar(node) {
            Some((s, false)) if s == "true" => Ok(Value::Bool(true)),
            Some((s, false)) if s == "false" => Ok(Value::Bool(false)),
            _ => Err(wrong("`true` or `false`", "true")),
        },
        Ty::Duration => match scalar(node) {
            Some((s, _)) => parse_duration(&s).map(Value::Duration).ok_or_else(|| {
                (
                    format!("`{key}` is `{s}`, not a duration"),
                    "write a number with a unit: `100ms`, `1s`, `1.5s`".to_string(),
                )
            }),
            None => Err(wrong("a duration", "1s")),
        },
        Ty::Secret => match &node.kind {
            Kind::Scalar(s, _) => Ok(Value::Secret(SecretSource::Inline(s.clone()))),
            Kind::Map(entries) if entries.len() == 1 => {
                let e = &entries[0];
                match (e.key.as_str(), &e.value.kind) {
                    ("env", Kind::Scalar(v, _)) => Ok(Value::Secret(SecretSource::Env(v.clone()))),
                    ("file", Kind::Scalar(v, _)) => Ok(Value::Secret(SecretSource::File(v.clone()))),
                    _ => Err((
                        format!("`{key}` takes a string, `{{env: VAR}}` or `{{file: PATH}}`"),
                        "write `auth_pass: {env: VRRP_PASS}`".into(),
                    )),
                }
            }
            _ => Err((
                format!("`{key}` takes a string, `{{env: VAR}}` or `{{file: PATH}}`"),
                "write `auth_pass: {env: VRRP_PASS}`".into(),
            )),
        },
        Ty::StrList | Ty::Argv => match &node.kind {
            Kind::Seq(items) => {
                let mut v = Vec::new();
                for i in items {
                    match &i.kind {
                        Kind::Scalar(s, _) => v.push(s.clone()),
                        _ => return Err(wrong("a list of strings", "[\"a\", \"b\"]")),
                    }
                }
                Ok(Value::List(v))
            }
            Kind::Scalar(s, _) if ty == Ty::Argv => Ok(Value::List(vec![s.clone()])),
            _ => Err(wrong("a list of strings", "[\"a\", \"b\"]")),
        },
        Ty::OneOf(options) => match scalar(node) {
            Some((s, _)) if options.contains(&s.as_str()) => Ok(Value::Str(s)),
            _ => Err((
                format!(
                    "`{key}` must be one of {}, not {}",
                    options.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", "),
                    describe(node)
                ),
                match scalar(node).and_then(|(s, _)| suggest(&s, options.iter().copied())) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("use one of {}", options.join(", ")),
                },
            )),
        },
    }
}

pub fn describe(node: &Node) -> String {
    match &node.kind {
        Kind::Scalar(s, _) => {
            let short: String = s.chars().take(40).collect();
            format!("`{}`", short.escape_debug())
        }
        other => Node { kind: other.clone(), pos: node.pos }.type_name().to_string(),
    }
}

pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        return None;
    };
    let f: f64 = num.trim().parse().ok()?;
    if !(f.is_finite() && f >= 0.0 && f * scale <= 86_400.0) {
        return None;
    }
    Some(std::time::Duration::from_micros((f * scale * 1_000_000.0).round() as u64))
}

/// Show a duration the way a user writes it.
pub fn show_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("100ms"), Some(std::time::Duration::from_millis(100)));
        assert_eq!(parse_duration("1.5s"), Some(std::time::Duration::from_millis(1500)));
        assert_eq!(parse_duration("1"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("1e400s"), None);
        assert_eq!(show_duration(std::time::Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn did_you_mean() {
        assert_eq!(suggest("advert_intervall", ["advert_interval", "version"]), Some("advert_interval"));
        assert_eq!(suggest("zzz", ["advert_interval", "version"]), None);
    }
}
