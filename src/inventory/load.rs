//! From the inventory file (and `-e key=value` overrides) to the resolved model: structure,
//! layering defaults < pair < node < command line, typed values, then the rules.

use super::finding::{self, Finding, Location};
use super::model::*;
use super::places::PairPlaces;
use super::rules;
use super::settings::{self, collect, loc, typed, unknown_key, Layer, Leaves, Raw, SecretSource, Ty, Value, SETTINGS};
use super::tree::{self, Kind, Node, Pos, TreeError};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// A loaded inventory: the model, its warnings, and where each node's settings came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub inventory: Inventory,
    pub warnings: Vec<Finding>,
    /// Per node: (setting, shown value, layer, where).
    pub provenance: BTreeMap<String, Vec<(String, String, Layer, Location)>>,
}

impl Default for Location {
    fn default() -> Self {
        Location { file: PathBuf::new(), line: 0, column: 0 }
    }
}

/// The largest inventory file `load` reads (docs/limits.md).
pub const INVENTORY_CAP: u64 = 256 << 10;

/// The largest `{file: PATH}` secret `load` reads (docs/limits.md; TLS keys and the like).
pub const SECRET_FILE_CAP: u64 = 1 << 20;

pub fn load(path: &Path, overrides: &[String]) -> Result<Loaded, Vec<Finding>> {
    let at = |line, column| Location { file: path.to_path_buf(), line, column };
    let bytes = crate::input::read_capped(path, INVENTORY_CAP).map_err(|e| {
        vec![Finding::error(
            "HA000",
            at(0, 0),
            format!("cannot read the inventory: {}", e.reason()),
            match e {
                crate::input::ReadError::TooLarge { .. } => "split the pairs over several inventories",
                _ => "check the path given with `-i`",
            },
        )]
    })?;
    load_bytes(path, bytes, overrides)
}

/// `load` of an inventory already in memory (e.g. one `hapair import` just built, so it never
/// goes to disk with its secrets); `path` names it in findings and anchors relative paths.
pub fn load_bytes(path: &Path, bytes: Vec<u8>, overrides: &[String]) -> Result<Loaded, Vec<Finding>> {
    let at = |line, column| Location { file: path.to_path_buf(), line, column };
    let text = String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
        let column = upto.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        vec![Finding::error(
            "HA001",
            at(line, column),
            "the file is not UTF-8 text",
            "save the inventory as UTF-8 YAML",
        )]
    })?;
    let mut findings = Vec::new();
    let root = match tree::parse(&text) {
        Err(TreeError::Syntax { pos, message }) => {
            return Err(vec![Finding::error(
                "HA001",
                loc(path, pos),
                format!("YAML syntax error: {message}"),
                "fix the YAML syntax at this place (indentation, quotes, brackets)",
            )]);
        }
        Err(TreeError::Limit { pos, message }) => {
            return Err(vec![Finding::error(
                "HA001",
                loc(path, pos),
                message,
                "an inventory is a few kilobytes of plain YAML; write it out without deep nesting or aliases that repeat large parts (docs/limits.md)",
            )]);
        }
        Err(TreeError::BadChar { pos, message }) => {
            return Err(vec![Finding::error(
                "HA001",
                loc(path, pos),
                message,
                "remove the character; is this the inventory file you meant?",
            )]);
        }
        Err(_) => return Err(vec![]),
        Ok((root, errors)) => {
            for e in errors {
                match e {
                    TreeError::DuplicateKey { key, pos, first } => findings.push(Finding::error(
                        "HA002",
                        loc(path, pos),
                        format!("duplicate key `{key}` (first at line {})", first.line),
                        "remove one of them; YAML keeps only one value per key",
                    )),
                    TreeError::ComplexKey { pos } => findings.push(Finding::error(
                        "HA004",
                        loc(path, pos),
                        "a key must be a plain name",
                        "write `name: value`",
                    )),
                    TreeError::Syntax { .. } | TreeError::Limit { .. } | TreeError::BadChar { .. } => {}
                }
            }
            root
        }
    };
    let Some(root) = root.filter(|r| matches!(r.kind, Kind::Map(_))) else {
        let fix = "start from an example in `inventories/` (a `pairs:` mapping, optionally `defaults:`)";
        return Err(vec![Finding::error("HA005", at(1, 1), "the inventory is empty or not a mapping", fix)]);
    };
    for e in root.entries() {
        if e.key != "defaults" && e.key != "pairs" {
            findings.push(unknown_key(path, &e.key, e.key_pos, &["defaults", "pairs"], "the top level"));
        }
    }
    let mut defaults = Leaves::new();
    if let Some(d) = root.get("defaults") {
        if matches!(d.kind, Kind::Map(_) | Kind::Null) {
            collect(path, d, Layer::Defaults, &[], "`defaults`", &mut defaults, &mut findings);
        } else {
            findings.push(not_a(path, "defaults", d, "a mapping"));
        }
    }
    let (global_cli, node_cli) = parse_overrides(overrides, &mut findings);
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();

    let mut pairs = Vec::new();
    let mut places = Vec::new();
    let mut provenance = BTreeMap::new();
    match root.get("pairs") {
        None => findings.push(Finding::error(
            "HA005",
            at(1, 1),
            "the inventory has no `pairs`",
            "add `pairs:` with at least one pair (see `inventories/master-backup.yml`)",
        )),
        Some(p) if !matches!(p.kind, Kind::Map(_)) => {
            findings.push(not_a(path, "pairs", p, "a mapping of pair names to pairs"))
        }
        Some(p) => {
            if p.entries().is_empty() {
                findings.push(Finding::error("HA005", loc(path, p.pos), "`pairs` is empty", "add at least one pair"));
            }
            for e in p.entries() {
                let ctx = Ctx { path, base: &base, defaults: &defaults, global_cli: &global_cli, node_cli: &node_cli };
                if let Some((pair, pl, prov)) = pair_of(&ctx, &e.key, e.key_pos, &e.value, &mut findings) {
                    pairs.push(pair);
                    places.push(pl);
                    provenance.extend(prov);
                }
            }
        }
    }
    // `-e NODE.…` naming no node is a mistake worth saying.
    for (node, (_, _)) in node_cli.iter().flat_map(|(n, m)| m.iter().map(move |(k, v)| (n, (k, v)))) {
        if !pairs.iter().any(|p: &Pair| p.nodes.iter().any(|n| &n.name == node)) {
            findings.push(Finding::error(
                "HA003",
                Location { file: PathBuf::from("command line"), line: 0, column: 0 },
                format!("`-e {node}.…` names no node of the inventory"),
                "use `-e NODE.section.key=value` with a node's name, or `-e section.key=value` for all",
            ));
        }
    }
    let inventory = Inventory { source: path.to_path_buf(), pairs };
    // The rules run on every pair that could be built, whatever else is wrong: `check` reports
    // every finding at once. A value that was refused is not judged again by the rules.
    findings.extend(rules::check(&inventory, &places));
    finding::sort(&mut findings);
    findings.dedup();
    if findings.iter().any(Finding::is_error) {
        return Err(findings);
    }
    Ok(Loaded { inventory, warnings: findings, provenance })
}

fn not_a(path: &Path, key: &str, node: &Node, want: &str) -> Finding {
    Finding::error(
        "HA004",
        loc(path, node.pos),
        format!("`{key}` must be {want}, not {}", settings::describe(node)),
        format!("see docs/inventory-format.md for the shape of `{key}`"),
    )
}

struct Ctx<'a> {
    path: &'a Path,
    base: &'a Path,
    defaults: &'a Leaves,
    global_cli: &'a Leaves,
    node_cli: &'a BTreeMap<String, Leaves>,
}

const PAIR_KEYS: &[&str] = &["mode", "interface", "nodes", "vips"];
const NODE_KEYS: &[&str] = &["name", "address", "interface"];
const VIP_KEYS: &[&str] = &["address", "vrid", "master", "priorities", "outside_subnet", "interface"];
/// An entry of a VIP's `address` list written as a mapping.
const ADDRESS_KEYS: &[&str] = &["address", "interface"];

/// Names of nodes, pairs and interfaces: they end up in file names, unit descriptions and
/// command arguments, so only a safe alphabet.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.')
}

pub fn valid_interface(s: &str) -> bool {
    crate::values::interface_problem(s).is_none()
}

/// Why an interface setting is refused (HA013): the reason of the one rule, or for a value that
/// is not a string at all, that it is no name.
fn interface_refused(i: &Node) -> &'static str {
    match &i.kind {
        Kind::Scalar(s, _) => crate::values::interface_problem(s).unwrap_or(crate::values::NOT_AN_INTERFACE_NAME),
        _ => crate::values::NOT_AN_INTERFACE_NAME,
    }
}

/// The longest value (bytes) of each string setting hapair carries to a node or to ssh; for
/// lists, of each item (docs/limits.md).
pub const STRING_LIMITS: &[(&str, usize)] = &[
    ("connection.host", 253),
    ("connection.user", 32),
    ("connection.jump_host", 300),
    ("connection.identity_file", 4096),
    ("connection.known_hosts", 4096),
    ("nginx.server_name", 1024),
    ("nginx.upstreams", 261),
    ("check.path", 1024),
    ("check.script", 4096),
];

/// The most items of each list setting (docs/limits.md).
pub const LIST_LIMITS: &[(&str, usize)] = &[("nginx.upstreams", 256), ("check.script", 64)];

/// A login name: letters, digits, `_`, `.`, `-`, not starting with `-` (ssh would read it as an
/// option) or `.`; at most 32 characters (useradd's limit).
pub fn valid_user(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// A DNS name or an IP address (IPv6 in brackets or bare), never starting with `-`.
pub fn valid_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && !s.starts_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:[]".contains(c))
}

/// `[user@]host[:port]` for `connection.jump_host`.
pub fn valid_jump_host(s: &str) -> bool {
    let (user, rest) = match s.split_once('@') {
        Some((u, r)) => (Some(u), r),
        None => (None, s),
    };
    if user.is_some_and(|u| !valid_user(u)) {
        return false;
    }
    // `[v6]:port`, `host:port`, or a bare host (which may be a bare IPv6 address).
    let host = if let Some(r) = rest.strip_prefix('[') {
        match r.split_once(']') {
            Some((h, "")) => h,
            Some((h, p)) => match p.strip_prefix(':') {
                Some(p) if p.parse::<u16>().is_ok_and(|p| p > 0) => h,
                _ => return false,
            },
            None => return false,
        }
    } else {
        match rest.split_once(':') {
            Some((h, p)) if !p.contains(':') => {
                if !p.parse::<u16>().is_ok_and(|p| p > 0) {
                    return false;
                }
                h
            }
            _ => rest,
        }
    };
    valid_host(host)
}

type Prov = BTreeMap<String, Vec<(String, String, Layer, Location)>>;

fn pair_of(
    ctx: &Ctx,
    name: &str,
    name_pos: Pos,
    node: &Node,
    findings: &mut Vec<Finding>,
) -> Option<(Pair, PairPlaces, Prov)> {
    let path = ctx.path;
    let mut pl = PairPlaces {
        name: loc(path, name_pos),
        nodes: loc(path, node.pos),
        vips: loc(path, node.pos),
        ..Default::default()
    };
    if !valid_name(name) {
        findings.push(Finding::error(
            "HA013",
            loc(path, name_pos),
            format!("pair name `{}` has characters hapair does not allow", name.escape_debug()),
            "use lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit",
        ));
    }
    if !matches!(node.kind, Kind::Map(_)) {
        findings.push(not_a(path, name, node, "a mapping (mode, interface, nodes, vips)"));
        return None;
    }
    let before = findings.len();
    let mut pair_leaves = Leaves::new();
    collect(path, node, Layer::Pair, PAIR_KEYS, &format!("pair `{name}`"), &mut pair_leaves, findings);
    let mode = match node.get("mode") {
        None => {
            findings.push(Finding::error(
                "HA005",
                loc(path, name_pos),
                format!("pair `{name}` has no `mode`"),
                "add `mode: master-backup` or `mode: dual-master`",
            ));
            pl.mode_refused = true;
            Mode::MasterBackup
        }
        Some(m) => match typed("mode", Ty::OneOf(&["master-backup", "dual-master"]), m) {
            Ok(Value::Str(s)) if s == "dual-master" => Mode::DualMaster,
            Ok(_) => Mode::MasterBackup,
            Err((msg, fix)) => {
                findings.push(Finding::error("HA004", loc(path, m.pos), msg, fix));
                pl.mode_refused = true;
                Mode::MasterBackup
            }
        },
    };
    let pair_iface = match node.get("interface") {
        Some(i) => match &i.kind {
            Kind::Scalar(s, _) if valid_interface(s) => Some(s.clone()),
            _ => {
                findings.push(Finding::error(
                    "HA013",
                    loc(path, i.pos),
                    format!("interface {} {}", settings::describe(i), interface_refused(i)),
                    crate::values::INTERFACE_FIX,
                ));
                // Reported once here, not again as a missing interface on each node.
                Some(String::from("invalid"))
            }
        },
        None => None,
    };

    // Nodes.
    let mut nodes_raw = Vec::new();
    match node.get("nodes") {
        None => findings.push(Finding::error(
            "HA010",
            loc(path, name_pos),
            format!("pair `{name}` has no `nodes`"),
            "list exactly two nodes, each with `name` and `address`",
        )),
        Some(n) => {
            pl.nodes = loc(path, n.pos);
            match &n.kind {
                Kind::Seq(items) => {
                    if items.len() != 2 {
                        findings.push(Finding::error(
                            "HA010",
                            loc(path, n.pos),
                            format!(
                                "pair `{name}` has {} node{}; a pair has exactly two",
                                items.len(),
                                if items.len() == 1 { "" } else { "s" }
                            ),
                            "list exactly two nodes; put more nodes in more pairs",
                        ));
                    }
                    nodes_raw.extend(items.iter().take(2));
                }
                _ => findings.push(not_a(path, "nodes", n, "a list of two nodes")),
            }
        }
    }
    let mut built = Vec::new();
    for n in &nodes_raw {
        if !matches!(n.kind, Kind::Map(_)) {
            findings.push(not_a(path, "nodes", n, "a list of mappings with `name` and `address`"));
            continue;
        }
        let mut leaves = Leaves::new();
        collect(path, n, Layer::Node, NODE_KEYS, "a node", &mut leaves, findings);
        let nname = match n.get("name") {
            Some(Node { kind: Kind::Scalar(s, _), pos }) => {
                if !valid_name(s) {
                    findings.push(Finding::error(
                        "HA013",
                        loc(path, *pos),
                        format!("node name `{}` has characters hapair does not allow", s.escape_debug()),
                        "use lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit",
                    ));
                }
                (s.clone(), loc(path, *pos))
            }
            Some(other) => {
                findings.push(not_a(path, "name", other, "text"));
                continue;
            }
            None => {
                findings.push(Finding::error("HA005", loc(path, n.pos), "a node has no `name`", "add `name: web1`"));
                continue;
            }
        };
        let addr = match n.get("address") {
            Some(a @ Node { kind: Kind::Scalar(s, _), pos }) => match s.parse::<Ipv4Addr>() {
                Ok(ip) => (ip, loc(path, *pos)),
                Err(_) => {
                    let hint = if s.contains(':') {
                        "hapair manages IPv4 VRRP; give the node's IPv4 address"
                    } else {
                        "write an IPv4 address like `10.0.0.11` (no prefix length)"
                    };
                    findings.push(Finding::error(
                        "HA004",
                        loc(path, a.pos),
                        format!("`address` of `{}` is {}, not an IPv4 address", nname.0, settings::describe(a)),
                        hint,
                    ));
                    continue;
                }
            },
            Some(other) => {
                findings.push(not_a(path, "address", other, "an IPv4 address"));
                continue;
            }
            None => {
                findings.push(Finding::error(
                    "HA005",
                    loc(path, n.pos),
                    format!("node `{}` has no `address`", nname.0),
                    "add `address: 10.0.0.11`, its address on the VRRP interface",
                ));
                continue;
            }
        };
        let iface = match n.get("interface") {
            Some(i) => match &i.kind {
                Kind::Scalar(s, _) if valid_interface(s) => Some(s.clone()),
                _ => {
                    findings.push(Finding::error(
                        "HA013",
                        loc(path, i.pos),
                        format!("interface {} {}", settings::describe(i), interface_refused(i)),
                        crate::values::INTERFACE_FIX,
                    ));
                    Some(String::from("invalid"))
                }
            },
            None => pair_iface.clone(),
        };
        built.push((nname, addr, iface, leaves, n.pos));
    }
    if findings.len() > before && built.len() < 2 {
        return None;
    }
    if built.len() != 2 {
        return None;
    }

    // Settings, layered.
    let mut prov = Prov::new();
    let mut resolved: Vec<Node_> = Vec::new();
    for (i, (nname, addr, iface, leaves, npos)) in built.iter().enumerate() {
        pl.node_name.push(nname.1.clone());
        pl.node_address.push(addr.1.clone());
        let slot = i.min(1);
        let iface = match iface {
            Some(i) => i.clone(),
            None => {
                findings.push(Finding::error(
                    "HA005",
                    loc(path, *npos),
                    format!("node `{}` has no `interface` (nor has pair `{name}`)", nname.0),
                    "add `interface: eth0` to the pair, or to the node",
                ));
                pl.refused[slot].insert("interface".into());
                String::new()
            }
        };
        let empty = Leaves::new();
        let layers: [&Leaves; 5] =
            [ctx.defaults, &pair_leaves, leaves, ctx.global_cli, ctx.node_cli.get(&nname.0).unwrap_or(&empty)];
        let mut values: BTreeMap<&str, Value> = BTreeMap::new();
        let mut rows = Vec::new();
        pl.check_keys_written[slot] =
            layers.iter().any(|l| l.keys().any(|k| k.starts_with("check.") && k != "check.type"));
        for (key, ty, builtin) in SETTINGS {
            let winner: Option<&Raw> = layers.iter().rev().find_map(|l| l.get(*key));
            // Parsed once per run, not once per node (`check` on a large inventory).
            let builtin_value = || builtin.and_then(|_| builtin_value(key));
            let (value, layer, location) = match winner {
                Some(raw) => match typed(key, *ty, &raw.node) {
                    Ok(v) => (Some(v), raw.layer, raw.location.clone()),
                    Err((msg, fix)) => {
                        // Said here; the node is still built (with the built-in value in its
                        // place) so the rules can judge everything else, but not this value.
                        findings.push(Finding::error("HA004", raw.location.clone(), msg, fix));
                        pl.refused[slot].insert(key.to_string());
                        pl.settings[slot].insert(key.to_string(), raw.location.clone());
                        if let Some(v) = builtin_value() {
                            values.insert(key, v);
                        }
                        continue;
                    }
                },
                None => (builtin_value(), Layer::Builtin, Location::default()),
            };
            if let Some(v) = value {
                pl.settings[slot].insert(key.to_string(), location.clone());
                rows.push((key.to_string(), show(key, &v), layer, location));
                values.insert(key, v);
            }
        }
        // Role variables: every `vars.*` key any layer wrote, the last layer winning.
        let mut var_keys: Vec<&String> =
            layers.iter().flat_map(|l| l.keys()).filter(|k| k.starts_with("vars.")).collect();
        var_keys.sort();
        var_keys.dedup();
        let mut vars: BTreeMap<String, (Value, Location)> = BTreeMap::new();
        for key in var_keys {
            let Some(raw) = layers.iter().rev().find_map(|l| l.get(key)) else { continue };
            match settings::typed_var(key, &raw.node) {
                Ok(v) => {
                    rows.push((key.clone(), show(key, &v), raw.layer, raw.location.clone()));
                    vars.insert(key.clone(), (v, raw.location.clone()));
                }
                Err((msg, fix)) => {
                    findings.push(Finding::error("HA004", raw.location.clone(), msg, fix));
                    pl.refused[slot].insert(key.clone());
                }
            }
        }
        let node = node_settings(
            ctx,
            (&nname.0, addr.0, &iface),
            &values,
            &vars,
            &pl.settings[slot],
            &mut pl.refused[slot],
            findings,
        );
        resolved.push(node);
        prov.insert(nname.0.clone(), rows);
    }
    if resolved.len() != 2 {
        return None;
    }
    let nodes: [Node_; 2] = match <[Node_; 2]>::try_from(resolved) {
        Ok(n) => n,
        Err(_) => return None,
    };

    // VIPs.
    let mut vips = Vec::new();
    match node.get("vips") {
        None => findings.push(Finding::error(
            "HA020",
            loc(path, name_pos),
            format!("pair `{name}` has no `vips`"),
            "add `vips:` with an address, a `vrid` and the preferred `master`",
        )),
        Some(v) => {
            pl.vips = loc(path, v.pos);
            match &v.kind {
                Kind::Seq(items) => {
                    for item in items {
                        match vip_of(path, &nodes, item, &mut pl, findings) {
                            Some(vip) => vips.push(vip),
                            None => pl.vips_incomplete = true,
                        }
                    }
                }
                _ => findings.push(not_a(path, "vips", v, "a list of VIPs")),
            }
        }
    }
    Some((Pair { name: name.to_string(), mode, nodes, vips }, pl, prov))
}

type Node_ = super::model::Node;

/// The built-in default of `key`, typed; parsed once per run (not once per node).
fn builtin_value(key: &str) -> Option<Value> {
    static BUILTINS: std::sync::OnceLock<BTreeMap<&'static str, Value>> = std::sync::OnceLock::new();
    BUILTINS
        .get_or_init(|| {
            SETTINGS
                .iter()
                .filter_map(|(key, ty, builtin)| {
                    let (n, _) = tree::parse((*builtin)?).ok()?;
                    Some((*key, typed(key, *ty, &n?).ok()?))
                })
                .collect()
        })
        .get(key)
        .cloned()
}

/// `~/x` is in the home folder; other relative paths start at the inventory's folder.
fn resolve_path(base: &Path, p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    let p = PathBuf::from(p);
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

fn vip_of(
    path: &Path,
    nodes: &[Node_; 2],
    item: &Node,
    pl: &mut PairPlaces,
    findings: &mut Vec<Finding>,
) -> Option<Vip> {
    if !matches!(item.kind, Kind::Map(_)) {
        findings.push(not_a(path, "vips", item, "a list of mappings with `address`, `vrid` and `master`"));
        return None;
    }
    for e in item.entries() {
        if !VIP_KEYS.contains(&e.key.as_str()) {
            findings.push(unknown_key(path, &e.key, e.key_pos, VIP_KEYS, "a VIP"));
        }
    }
    let req = |key: &str, findings: &mut Vec<Finding>| {
        let n = item.get(key);
        if n.is_none() {
            findings.push(Finding::error(
                "HA005",
                loc(path, item.pos),
                format!("a VIP has no `{key}`"),
                "a VIP needs `address` (with prefix), `vrid` and `master`",
            ));
        }
        n
    };
    let (a, r, m) = (req("address", findings), req("vrid", findings), req("master", findings));
    let (a, r, m) = (a?, r?, m?);
    // One address, or a list of the VRID's addresses (the first names the VIP).
    let one = |n: &Node, findings: &mut Vec<Finding>| -> Option<VipCidr> {
        match &n.kind {
            Kind::Scalar(s, _) => match s.parse::<VipCidr>() {
                Ok(v) => Some(v),
                Err(e) => {
                    let fix = if s.contains(':') {
                        "hapair manages IPv4 VRRP; give an IPv4 VIP like `10.0.0.200/24`".to_string()
                    } else {
                        e.clone()
                    };
                    findings.push(Finding::error(
                        "HA004",
                        loc(path, n.pos),
                        format!("VIP address {} is not an IPv4 address with a prefix", settings::describe(n)),
                        fix,
                    ));
                    None
                }
            },
            _ => {
                findings.push(not_a(
                    path,
                    "address",
                    n,
                    "an IPv4 address with a prefix, like `10.0.0.200/24`, or a list of them",
                ));
                None
            }
        }
    };
    let mut own_interfaces: Vec<Option<String>> = Vec::new();
    let (address, also, also_at) = match &a.kind {
        Kind::Seq(items) if items.is_empty() => {
            findings.push(Finding::error(
                "HA004",
                loc(path, a.pos),
                "the VIP's `address` is an empty list".to_string(),
                "give its address, like `10.0.0.200/24`, or a list of the addresses on its vrid",
            ));
            return None;
        }
        Kind::Seq(items) => {
            // Each item an address, or `{address: A/P, interface: NAME}` for one living on its
            // own interface (keepalived's `A/P dev NAME` among the VRID's addresses).
            let mut all = Vec::new();
            let mut at = Vec::new();
            for n in items {
                let Kind::Map(_) = &n.kind else {
                    all.push(one(n, findings));
                    at.push(loc(path, n.pos));
                    own_interfaces.push(None);
                    continue;
                };
                for e in n.entries() {
                    if !ADDRESS_KEYS.contains(&e.key.as_str()) {
                        findings.push(unknown_key(path, &e.key, e.key_pos, ADDRESS_KEYS, "a VIP's address"));
                    }
                }
                match n.get("address") {
                    Some(x) => {
                        all.push(one(x, findings));
                        at.push(loc(path, x.pos));
                    }
                    None => {
                        findings.push(Finding::error(
                            "HA004",
                            loc(path, n.pos),
                            "an entry of the VIP's `address` list has no `address`".to_string(),
                            "write `{address: 10.0.1.200/24, interface: eth1}`, or the address alone",
                        ));
                        all.push(None);
                        at.push(loc(path, n.pos));
                    }
                }
                own_interfaces.push(n.get("interface").map(|i| interface_value(path, i, "the address's", findings)));
            }
            let all: Vec<VipCidr> = all.into_iter().collect::<Option<_>>()?;
            (all[0], all[1..].to_vec(), at)
        }
        _ => {
            own_interfaces.push(None);
            (one(a, findings)?, Vec::new(), vec![loc(path, a.pos)])
        }
    };
    let vrid = match typed("vrid", Ty::Int(crate::values::VRID), r) {
        Ok(Value::Int(v)) => Vrid::new(v as u8)?,
        Err((msg, fix)) => {
            findings.push(Finding::error("HA004", loc(path, r.pos), msg, fix));
            return None;
        }
        _ => return None,
    };
    let master = match &m.kind {
        Kind::Scalar(s, _) if nodes.iter().any(|n| &n.name == s) => s.clone(),
        _ => {
            findings.push(Finding::error(
                "HA021",
                loc(path, m.pos),
                format!("`master` is {}, not a node of this pair", settings::describe(m)),
                format!("use `{}` or `{}`", nodes[0].name, nodes[1].name),
            ));
            return None;
        }
    };
    let mi = usize::from(nodes[1].name == master);
    let mut prio = [0u8; 2];
    prio[mi] = 150;
    prio[1 - mi] = 100;
    let mut prio_loc = loc(path, item.pos);
    let mut prio_refused = false;
    if let Some(p) = item.get("priorities") {
        prio_loc = loc(path, p.pos);
        match &p.kind {
            Kind::Map(entries) => {
                for e in entries {
                    let Some(i) = nodes.iter().position(|n| n.name == e.key) else {
                        prio_refused = true;
                        findings.push(Finding::error(
                            "HA021",
                            loc(path, e.key_pos),
                            format!("`priorities` names `{}`, not a node of this pair", e.key.escape_debug()),
                            format!("use `{}` and `{}`", nodes[0].name, nodes[1].name),
                        ));
                        continue;
                    };
                    match typed("priority", Ty::Int(crate::values::PRIORITY), &e.value) {
                        Ok(Value::Int(v)) => prio[i] = v as u8,
                        Err((msg, fix)) => {
                            prio_refused = true;
                            findings.push(Finding::error("HA004", loc(path, e.value.pos), msg, fix))
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                prio_refused = true;
                findings.push(not_a(path, "priorities", p, "a mapping of node name to priority"))
            }
        }
    }
    let priorities = [Priority::new(prio[0])?, Priority::new(prio[1])?];
    // Whether the addresses are meant to be off the nodes' subnet (HA025), and where it was said.
    let mut outside_subnet = false;
    let mut outside_at = None;
    if let Some(o) = item.get("outside_subnet") {
        match typed("outside_subnet", Ty::Bool, o) {
            Ok(Value::Bool(b)) => {
                outside_subnet = b;
                outside_at = Some(loc(path, o.pos));
            }
            Err((msg, fix)) => {
                // Refused: the subnet rule judges the VIP as if it were not written, so a VIP
                // off the subnet is still said (HA025), besides this.
                findings.push(Finding::error("HA004", loc(path, o.pos), msg, fix));
            }
            _ => {}
        }
    }
    pl.vip_outside_subnet.push(outside_at);
    // The interface its addresses live on, when not the VRRP one.
    let interface = item.get("interface").map(|i| {
        pl.vip_interface.push(Some(loc(path, i.pos)));
        interface_value(path, i, "the VIP's", findings)
    });
    if interface.is_none() {
        pl.vip_interface.push(None);
    }
    pl.vip_address.push(also_at[0].clone());
    pl.vip_also.push(also_at[1..].to_vec());
    pl.vip_vrid.push(loc(path, r.pos));
    pl.vip_master.push(loc(path, m.pos));
    pl.vip_priorities.push(prio_loc);
    pl.vip_priorities_refused.push(prio_refused);
    // Only the addresses that name their own interface make the list worth keeping.
    if own_interfaces.iter().all(Option::is_none) {
        own_interfaces.clear();
    }
    Some(Vip { address, also, vrid, master, priorities, outside_subnet, interface, own_interfaces })
}

/// An interface name a VIP's addresses live on (`whose`: "the VIP's", "the address's"); one
/// that is not a name is reported (HA013) and stands as `invalid`, on no node's VRRP interface,
/// so the subnet rule leaves its addresses alone.
fn interface_value(path: &Path, i: &Node, whose: &str, findings: &mut Vec<Finding>) -> String {
    match &i.kind {
        Kind::Scalar(s, _) if valid_interface(s) => s.clone(),
        _ => {
            findings.push(Finding::error(
                "HA013",
                loc(path, i.pos),
                format!("{whose} interface {} {}", settings::describe(i), interface_refused(i)),
                crate::values::INTERFACE_FIX,
            ));
            String::from("invalid")
        }
    }
}

fn show(key: &str, v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Duration(d) => settings::show_duration(*d),
        Value::Secret(_) => "<redacted>".into(),
        Value::List(l) if key == "check.script" => l.join(" "),
        Value::List(l) => format!("[{}]", l.join(", ")),
    }
}

/// A secret's value from its source; a finding (at `at`, naming `key`) when it cannot be read.
fn resolve_secret(
    base: &Path,
    key: &str,
    src: &SecretSource,
    at: Location,
    findings: &mut Vec<Finding>,
) -> Option<Secret> {
    match src {
        SecretSource::Inline(p) => Some(Secret::new(p.clone())),
        SecretSource::Env(var) => match std::env::var(var) {
            Ok(p) => Some(Secret::new(p)),
            Err(_) => {
                findings.push(Finding::error(
                    "HA050",
                    at,
                    format!("`{key}` comes from `${var}`, which is not set"),
                    format!("export {var}=… before running hapair"),
                ));
                None
            }
        },
        SecretSource::File(f) => {
            let p = resolve_path(base, f);
            match crate::input::read_capped(&p, SECRET_FILE_CAP) {
                Ok(t) if key == "vrrp.auth_pass" => {
                    Some(Secret::new(String::from_utf8_lossy(&t).trim_end_matches(['\n', '\r']).to_string()))
                }
                Ok(t) => Some(Secret::new(String::from_utf8_lossy(&t).to_string())),
                Err(e) => {
                    findings.push(Finding::error(
                        "HA050",
                        at,
                        format!("`{key}` comes from `{}`, which cannot be read: {}", p.display(), e.reason()),
                        "create the file (mode 0600) or point `file:` at it",
                    ));
                    None
                }
            }
        }
    }
}

/// One node's settings from its typed values; `who` is (name, address, interface).
#[allow(clippy::too_many_arguments)]
fn node_settings(
    ctx: &Ctx,
    who: (&str, Ipv4Addr, &str),
    v: &BTreeMap<&str, Value>,
    vars: &BTreeMap<String, (Value, Location)>,
    places: &BTreeMap<String, Location>,
    refused: &mut std::collections::BTreeSet<String>,
    findings: &mut Vec<Finding>,
) -> Node_ {
    let (name, address, iface) = who;
    let s = |k: &str| match v.get(k) {
        Some(Value::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let i = |k: &str| match v.get(k) {
        Some(Value::Int(i)) => *i,
        _ => 0,
    };
    let b = |k: &str| matches!(v.get(k), Some(Value::Bool(true)));
    let d = |k: &str| match v.get(k) {
        Some(Value::Duration(d)) => *d,
        _ => std::time::Duration::ZERO,
    };
    let l = |k: &str| match v.get(k) {
        Some(Value::List(l)) => l.clone(),
        _ => vec![],
    };
    let at = |k: &str| places.get(k).cloned().unwrap_or_default();
    let file = |k: &str| s(k).map(|p| resolve_path(ctx.base, &p));
    let auth_pass = match v.get("vrrp.auth_pass") {
        Some(Value::Secret(src)) => {
            let r = resolve_secret(ctx.base, "vrrp.auth_pass", src, at("vrrp.auth_pass"), findings);
            if r.is_none() {
                refused.insert("vrrp.auth_pass".into());
            }
            r
        }
        _ => None,
    };
    // Lengths first: every string that reaches a node (a file, a command, ssh) has a bound,
    // and a huge value is named by its length, never echoed.
    // A value refused here is not judged (or echoed) again below.
    for (key, max) in STRING_LIMITS {
        let texts = match v.get(key) {
            Some(Value::Str(x)) => vec![x.as_str()],
            Some(Value::List(l)) => l.iter().map(String::as_str).collect(),
            _ => vec![],
        };
        let items = LIST_LIMITS.iter().find(|(k, _)| k == key).map(|(_, n)| *n);
        if let Some(n) = items.filter(|n| texts.len() > *n) {
            findings.push(Finding::error(
                "HA013",
                at(key),
                format!("`{key}` has {} items; hapair allows at most {n}", texts.len()),
                "list fewer",
            ));
            refused.insert(key.to_string());
        }
        if let Some(t) = texts.iter().find(|t| t.len() > *max) {
            findings.push(Finding::error(
                "HA013",
                at(key),
                format!("`{key}` has a value {} bytes long; hapair allows at most {max}", t.len()),
                "shorten it",
            ));
            refused.insert(key.to_string());
        } else if let Some(t) = texts.iter().find(|t| t.chars().any(char::is_control)) {
            findings.push(Finding::error(
                "HA013",
                at(key),
                format!("`{key}` `{}` contains a control character (newline, tab, …)", t.escape_debug()),
                "write it on one line, without control characters",
            ));
            refused.insert(key.to_string());
        }
    }
    let mut roles = l("roles");
    let bad_roles: Vec<String> = roles.iter().filter(|r| !valid_name(r)).cloned().collect();
    for r in &bad_roles {
        findings.push(Finding::error(
            "HA013",
            at("roles"),
            format!("role name `{}` is not a folder name hapair allows", r.escape_debug()),
            "use lowercase letters, digits, `-`, `_` and `.` (the folder `roles/NAME/`)",
        ));
        refused.insert("roles".into());
    }
    roles.retain(|r| !bad_roles.contains(r));
    let mut var_values = BTreeMap::new();
    for (k, (val, at)) in vars {
        let var = match val {
            Value::Str(s) => Var::Text(s.clone()),
            Value::Int(i) => Var::Int(*i),
            Value::Bool(b) => Var::Bool(*b),
            Value::List(l) => Var::List(l.clone()),
            Value::Secret(src) => match resolve_secret(ctx.base, k, src, at.clone(), findings) {
                Some(s) => Var::Secret(s),
                None => {
                    refused.insert(k.clone());
                    continue;
                }
            },
            Value::Duration(_) => continue,
        };
        var_values.insert(k.strip_prefix("vars.").unwrap_or(k).to_string(), var);
    }
    let check_kind = match s("check.type").as_deref() {
        Some("script") => {
            let argv = l("check.script");
            if argv.is_empty() {
                findings.push(Finding::error(
                    "HA034",
                    at("check.type"),
                    "`check.type` is `script` but `check.script` is not set",
                    "set `check.script` to the command, e.g. `[\"/usr/local/bin/check-nginx\"]`",
                ));
                refused.insert("check.type".into());
            }
            CheckKind::Script { argv }
        }
        Some("none") => CheckKind::None,
        _ => {
            let path = s("check.path").unwrap_or_else(|| "/".into());
            if !refused.contains("check.path") && !path.starts_with('/')
                || path.chars().any(|c| c.is_whitespace() || c.is_control() || "\"'`$;\\<>{}".contains(c))
            {
                findings.push(Finding::error(
                    "HA013",
                    at("check.path"),
                    format!("`check.path` `{}` is not a URL path", path.escape_debug()),
                    "write a path like `/healthz`",
                ));
                refused.insert("check.path".into());
            }
            CheckKind::Http { path }
        }
    };
    let server_name = s("nginx.server_name").unwrap_or_else(|| "_".into());
    if !refused.contains("nginx.server_name")
        && (server_name.is_empty() || server_name.chars().any(|c| c.is_control() || "\"'`$;\\{}#".contains(c)))
    {
        findings.push(Finding::error(
            "HA013",
            at("nginx.server_name"),
            format!("`nginx.server_name` `{}` is not a server name", server_name.escape_debug()),
            "write names separated by spaces, like `www.example.com example.com`, or `_`",
        ));
        refused.insert("nginx.server_name".into());
    }
    let upstreams = l("nginx.upstreams");
    for u in upstreams.iter().filter(|_| !refused.contains("nginx.upstreams")) {
        let ok = u.rsplit_once(':').is_some_and(|(h, p)| {
            !h.is_empty()
                && p.parse::<u16>().is_ok_and(|p| p > 0)
                && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-_[]:".contains(c))
        });
        if !ok {
            findings.push(Finding::error(
                "HA013",
                at("nginx.upstreams"),
                format!("upstream `{}` is not `host:port`", u.escape_debug()),
                "write upstreams like `10.0.0.5:8080`",
            ));
            refused.insert("nginx.upstreams".into());
            break;
        }
    }
    let user = s("connection.user").unwrap_or_else(|| "root".into());
    if !refused.contains("connection.user") && !valid_user(&user) {
        findings.push(Finding::error(
            "HA013",
            at("connection.user"),
            format!("`connection.user` `{}` is not a user name", user.escape_debug()),
            "write a login name like `deploy`",
        ));
        refused.insert("connection.user".into());
    }
    let host = s("connection.host").unwrap_or_else(|| address.to_string());
    if !refused.contains("connection.host") && !valid_host(&host) {
        findings.push(Finding::error(
            "HA013",
            at("connection.host"),
            format!("`connection.host` `{}` is not a host name or address", host.escape_debug()),
            "write a DNS name or an IP address",
        ));
        refused.insert("connection.host".into());
    }
    let timeout = d("connection.timeout");
    if timeout.is_zero() {
        findings.push(Finding::error(
            "HA004",
            at("connection.timeout"),
            "`connection.timeout` is 0: every remote step would fail at once",
            "write the longest a step may take, like `300s`",
        ));
        refused.insert("connection.timeout".into());
    }
    let jump_host = s("connection.jump_host");
    if let Some(j) = jump_host.as_deref().filter(|j| !refused.contains("connection.jump_host") && !valid_jump_host(j)) {
        // OpenSSH runs a jump host through a shell (ProxyJump becomes a ProxyCommand): the
        // same alphabet as `connection.host` and `connection.user`, nothing else.
        findings.push(Finding::error(
            "HA013",
            at("connection.jump_host"),
            format!("`connection.jump_host` `{}` is not `[user@]host[:port]`", j.escape_debug()),
            "write it like `deploy@bastion.example.com:22` (letters, digits, `.`, `-`, `_`; no shell characters)",
        ));
        refused.insert("connection.jump_host".into());
    }
    let monitoring = super::monitoring::settings(v, &at, b("firewall.manage"), refused, findings);
    Node_ {
        name: name.to_string(),
        address,
        interface: iface.to_string(),
        connection: Connection {
            host,
            port: i("connection.port") as u16,
            user,
            identity_file: file("connection.identity_file"),
            known_hosts: file("connection.known_hosts"),
            jump_host,
            become_root: b("connection.become"),
            timeout,
        },
        vrrp: VrrpSettings {
            version: i("vrrp.version") as u8,
            advert_interval: d("vrrp.advert_interval"),
            auth_pass,
            auth_type: s("vrrp.auth_type").as_deref().and_then(AuthType::parse).unwrap_or_default(),
            preempt: b("vrrp.preempt"),
            preempt_delay: d("vrrp.preempt_delay"),
            transport: if s("vrrp.transport").as_deref() == Some("unicast") {
                Transport::Unicast
            } else {
                Transport::Multicast
            },
            garp_count: i("vrrp.garp.count") as u32,
            garp_interval: d("vrrp.garp.interval"),
            v3_checksum_pseudo_header: b("vrrp.v3_checksum_pseudo_header"),
        },
        nginx: NginxSettings { listen: i("nginx.listen") as u16, server_name, upstreams, adopt: b("nginx.adopt") },
        check: CheckSettings {
            kind: check_kind,
            interval: d("check.interval"),
            timeout: d("check.timeout"),
            fall: i("check.fall") as u32,
            rise: i("check.rise") as u32,
            weight: i("check.weight") as i32,
        },
        firewall: FirewallSettings { manage: b("firewall.manage"), restrict_to_peer: b("firewall.restrict_to_peer") },
        roles,
        vars: var_values,
        monitoring,
    }
}

/// `-e key=value` into leaves: `section.key=v` for every node, `NODE.section.key=v` for one.
fn parse_overrides(overrides: &[String], findings: &mut Vec<Finding>) -> (Leaves, BTreeMap<String, Leaves>) {
    let mut global = Leaves::new();
    let mut per_node: BTreeMap<String, Leaves> = BTreeMap::new();
    let cli = Location { file: PathBuf::from("command line"), line: 0, column: 0 };
    for o in overrides {
        let Some((k, v)) = o.split_once('=') else {
            findings.push(Finding::error(
                "HA003",
                cli.clone(),
                format!("`-e {}` is not `key=value`", o.escape_debug()),
                "write `-e vrrp.advert_interval=100ms` or `-e web1.check.weight=-80`",
            ));
            continue;
        };
        let is_var = |k: &str| k.strip_prefix("vars.").is_some_and(|v| !v.is_empty());
        let (node, key) = if settings::ty_of(k).is_some() || is_var(k) {
            (None, k.to_string())
        } else {
            match k.split_once('.') {
                Some((n, rest)) if settings::ty_of(rest).is_some() || is_var(rest) => {
                    (Some(n.to_string()), rest.to_string())
                }
                _ => {
                    let known = SETTINGS.iter().map(|(k, _, _)| *k);
                    let last = k.rsplit_once('.').map_or(k, |_| k);
                    let fix = match settings::suggest(last, known) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "see `hapair check --explain NODE` for every setting's name".to_string(),
                    };
                    findings.push(Finding::error(
                        "HA003",
                        cli.clone(),
                        format!("`-e {}` sets no known setting", k.escape_debug()),
                        fix,
                    ));
                    continue;
                }
            }
        };
        let value = match tree::parse(v) {
            Ok((Some(n), _)) => n,
            Ok((None, _)) => Node { kind: Kind::Null, pos: Pos::default() },
            Err(_) => Node { kind: Kind::Scalar(v.to_string(), true), pos: Pos::default() },
        };
        let raw = Raw {
            node: value,
            layer: Layer::CommandLine,
            location: Location { file: PathBuf::from(format!("-e {k}")), line: 0, column: 0 },
        };
        match node {
            None => {
                global.insert(key, raw);
            }
            Some(n) => {
                per_node.entry(n).or_default().insert(key, raw);
            }
        }
    }
    (global, per_node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_hosts_and_users_are_checked_like_hosts() {
        for ok in ["bastion", "deploy@bastion.example.com:2222", "10.0.0.1", "[fe80::1]:22", "fe80::1", "u_1@h"] {
            assert!(valid_jump_host(ok), "{ok}");
        }
        for bad in ["-oProxyCommand=id", "a;b", "a b", "$(id)", "u@-h", "-u@h", "h:0", "h:x", "[h", "a`b`", "u@@h", ""]
        {
            assert!(!valid_jump_host(bad), "{bad}");
        }
        assert!(valid_user("deploy") && valid_user("_svc") && !valid_user("-o") && !valid_user(".x"));
        assert!(!valid_user(&"u".repeat(33)) && valid_user(&"u".repeat(32)));
    }
}
