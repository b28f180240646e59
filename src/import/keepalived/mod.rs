//! `hapair import keepalived`: the keepalived.conf subset used for nginx HA (global_defs,
//! vrrp_script, vrrp_instance), two nodes' files paired into one inventory pair. Pure but for
//! reading the files.
//!
//! Nothing is dropped or changed silently. Every statement ends up in the inventory, or in a
//! note that says, with its file:line, one of three things:
//! - *translated*: carried over written differently, with the same behaviour (a positive
//!   keepalived weight, a VIP without prefix given the nodes' prefix, a password keepalived cuts
//!   to 8 bytes, ...);
//! - *not carried over*: no place in an inventory (notify scripts, LVS, e-mail alerts, ...);
//! - *decision needed*: the files cannot become a working pair without a human choice (the two
//!   files disagree, a placeholder address, a VIP hapair cannot carry, ...). The inventory is
//!   still written, but the import fails until the decision is made.
//!
//! The inventory is YAML whose every value from the files is a double-quoted, escaped scalar:
//! whatever the files hold, it stays one value, never a key or a structure.

pub mod syntax;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use syntax::Item;

/// A problem with the files themselves: where, what, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", At { file: self.file.clone(), line: self.line }, self.message)
    }
}

/// Where something was written (line 0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct At {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}", self.file.display(), self.line)
        } else {
            write!(f, "{}", self.file.display())
        }
    }
}

/// A value as written, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Val {
    pub text: String,
    pub at: At,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoteKind {
    /// Carried over written differently, same behaviour.
    Translated,
    /// No place in an inventory.
    NotCarried,
    /// The import cannot be used until a human decides.
    Decision,
}

/// What the import says about one thing in the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub kind: NoteKind,
    /// One place, or both files' places for a difference.
    pub at: Vec<At>,
    pub message: String,
    pub fix: Option<String>,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at: Vec<String> = self.at.iter().map(|a| a.to_string()).collect();
        write!(f, "{}: {}", at.join(" and "), self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n    fix: {fix}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
pub struct Script {
    pub name: String,
    pub at: Option<At>,
    pub command: Option<Val>,
    pub interval: Option<Val>,
    pub timeout: Option<Val>,
    pub weight: Option<Val>,
    pub fall: Option<Val>,
    pub rise: Option<Val>,
}

#[derive(Debug, Clone)]
pub struct Track {
    pub name: Val,
    pub weight: Option<Val>,
    pub reverse: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Instance {
    pub name: String,
    pub at: Option<At>,
    pub state: Option<Val>,
    pub interface: Option<Val>,
    pub vrid: Option<Val>,
    pub priority: Option<Val>,
    pub advert_int: Option<Val>,
    pub version: Option<Val>,
    pub auth_type: Option<Val>,
    pub auth_pass: Option<Val>,
    /// Each VIP with the options written after it (`dev eth0 label eth0:1`).
    pub vips: Vec<(Val, Vec<String>)>,
    pub track: Vec<Track>,
    pub nopreempt: Option<At>,
    /// `strict_mode` (the instance's `vrrp_strict`).
    pub strict: Option<At>,
    pub preempt_delay: Option<Val>,
    pub unicast_src_ip: Option<Val>,
    /// keepalived's other name for the advert source address (the node's address), used with
    /// multicast: an address, not a transport.
    pub mcast_src_ip: Option<Val>,
    pub unicast_peers: Vec<Val>,
}

impl Instance {
    fn at(&self) -> At {
        self.at.clone().unwrap_or(At { file: PathBuf::new(), line: 0 })
    }
}

/// One node's configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub file: PathBuf,
    pub router_id: Option<Val>,
    pub version: Option<Val>,
    pub default_interface: Option<Val>,
    /// global_defs `vrrp_strict`: keepalived then runs every instance without authentication.
    pub strict: Option<At>,
    pub scripts: Vec<Script>,
    pub instances: Vec<Instance>,
    /// What was read but has no place in an inventory.
    pub not_mapped: Vec<Note>,
}

fn at(i: &Item) -> At {
    At { file: i.file.clone(), line: i.line }
}

fn first(i: &Item) -> Option<Val> {
    i.args.first().map(|a| Val { text: a.clone(), at: at(i) })
}

fn words(i: &Item) -> Option<Val> {
    (!i.args.is_empty()).then(|| Val { text: i.args.join(" "), at: at(i) })
}

/// The first word, as keepalived reads a one-value keyword (`interface eth4 // note` is `eth4`:
/// keepalived ignores the rest, and the import says so).
/// A secret's words are never shown.
fn first_word(i: &Item, not_mapped: &mut Vec<Note>, secret: bool) -> Option<Val> {
    if i.args.len() > 1 {
        let message = if secret {
            format!(
                "`{}` has {} words: keepalived reads the first only and ignores the rest, as does the import",
                i.key.escape_debug(),
                i.args.len()
            )
        } else {
            format!(
                "`{}` is followed by `{}` after its value `{}`: keepalived reads the first word only and ignores the rest, as does the import",
                i.key.escape_debug(),
                i.args[1..].join(" ").escape_debug(),
                i.args[0].escape_debug()
            )
        };
        not_mapped.push(not_carried(at(i), message));
    }
    first(i)
}

fn not_carried(at: At, message: String) -> Note {
    Note { kind: NoteKind::NotCarried, at: vec![at], message, fix: None }
}

/// Read one node's keepalived.conf (and what it includes).
pub fn read(path: &Path) -> Result<Config, ImportError> {
    let items = syntax::parse_file(path).map_err(|e| ImportError {
        file: e.file,
        line: e.line,
        message: e.message,
        fix: e.fix,
    })?;
    let mut c = Config { file: path.to_path_buf(), ..Default::default() };
    for item in &items {
        let block = item.block.as_deref().unwrap_or(&[]);
        match item.key.as_str() {
            "global_defs" => {
                let mut unmapped = Vec::new();
                for g in block {
                    match g.key.as_str() {
                        "router_id" => c.router_id = first_word(g, &mut c.not_mapped, false),
                        "vrrp_version" => c.version = first_word(g, &mut c.not_mapped, false),
                        "default_interface" => c.default_interface = first_word(g, &mut c.not_mapped, false),
                        "vrrp_strict" => c.strict = Some(at(g)),
                        k => unmapped.push(format!("`{}`", k.escape_debug())),
                    }
                }
                if !unmapped.is_empty() {
                    c.not_mapped.push(not_carried(
                        at(item),
                        format!(
                            "global_defs {}: not carried over (hapair's daemon has no e-mail alerts, script security or global VRRP tuning)",
                            unmapped.join(", ")
                        ),
                    ));
                }
            }
            "vrrp_script" => {
                let mut s = Script {
                    name: item.args.first().cloned().unwrap_or_default(),
                    at: Some(at(item)),
                    ..Default::default()
                };
                for k in block {
                    match k.key.as_str() {
                        "script" => s.command = words(k),
                        "interval" => s.interval = first_word(k, &mut c.not_mapped, false),
                        "timeout" => s.timeout = first_word(k, &mut c.not_mapped, false),
                        "weight" => s.weight = words(k),
                        "fall" => s.fall = first_word(k, &mut c.not_mapped, false),
                        "rise" => s.rise = first_word(k, &mut c.not_mapped, false),
                        other => c.not_mapped.push(not_carried(
                            at(k),
                            format!(
                                "vrrp_script `{}` `{}`: not carried over",
                                s.name.escape_debug(),
                                other.escape_debug()
                            ),
                        )),
                    }
                }
                c.scripts.push(s);
            }
            "vrrp_instance" => c.instances.push(instance(item, block, &mut c.not_mapped)),
            "" => c.not_mapped.push(not_carried(at(item), "a block without a name: not carried over".into())),
            "vrrp_sync_group" => c.not_mapped.push(not_carried(
                at(item),
                "`vrrp_sync_group`: not carried over (the VIPs of an hapair pair fail over independently)".into(),
            )),
            "virtual_server" | "virtual_server_group" => c.not_mapped.push(not_carried(
                at(item),
                format!("`{}` (LVS load balancing): not carried over; nginx balances in hapair", item.key),
            )),
            other => c.not_mapped.push(not_carried(at(item), format!("`{}`: not carried over", other.escape_debug()))),
        }
    }
    Ok(c)
}

fn instance(item: &Item, block: &[Item], not_mapped: &mut Vec<Note>) -> Instance {
    let mut inst =
        Instance { name: item.args.first().cloned().unwrap_or_default(), at: Some(at(item)), ..Default::default() };
    let name = inst.name.escape_debug().to_string();
    // `{{ NAME }}` (a template placeholder) reads as braces, as keepalived reads it: a block
    // where a value belongs is a decision, never a value silently missing.
    let placeholder = |k: &Item, not_mapped: &mut Vec<Note>| {
        not_mapped.push(Note {
            kind: NoteKind::Decision,
            at: vec![at(k)],
            message: if k.key.is_empty() {
                "a `{ … }` block stands where an address belongs (a template placeholder like `{{ NAME }}` left in the file?)".into()
            } else {
                format!(
                    "`{}` is followed by a `{{ … }}` block where its value belongs (a template placeholder like `{{{{ NAME }}}}` left in the file?)",
                    k.key
                )
            },
            fix: Some("write the value".into()),
        })
    };
    for k in block {
        let sub = k.block.as_deref().unwrap_or(&[]);
        let valued = [
            "state",
            "interface",
            "virtual_router_id",
            "priority",
            "advert_int",
            "version",
            "preempt_delay",
            "unicast_src_ip",
            "mcast_src_ip",
        ];
        if k.block.is_some() && valued.contains(&k.key.as_str()) {
            // Braces on the value's own line after the value (a remark like `80 // MAC
            // …-{VRID}`): keepalived reads the first word and ignores the rest of the line.
            let same_line = k.block.as_deref().is_some_and(|b| b.iter().all(|i| i.line == k.line && i.block.is_none()));
            if !k.args.is_empty() && same_line {
                not_mapped.push(not_carried(
                    at(k),
                    format!(
                        "`{}` is followed by a `{{ … }}` group on its line after its value `{}`: keepalived reads the first word only and ignores the rest, as does the import",
                        k.key,
                        k.args[0].escape_debug()
                    ),
                ));
            } else {
                placeholder(k, not_mapped);
            }
        }
        for p in
            sub.iter().filter(|p| p.key.is_empty() && matches!(k.key.as_str(), "unicast_peer" | "virtual_ipaddress"))
        {
            placeholder(p, not_mapped);
        }
        match k.key.as_str() {
            "state" => {
                inst.state = first_word(k, not_mapped, false);
                if let Some(v) = inst.state.as_ref().filter(|v| v.text != "MASTER" && v.text != "BACKUP") {
                    not_mapped.push(not_carried(
                        at(k),
                        format!(
                            "state `{}` is neither MASTER nor BACKUP (keepalived starts such an instance as BACKUP); hapair elects by priority",
                            v.text.escape_debug()
                        ),
                    ));
                }
            }
            "interface" => inst.interface = first_word(k, not_mapped, false),
            "virtual_router_id" => inst.vrid = first_word(k, not_mapped, false),
            "priority" => inst.priority = first_word(k, not_mapped, false),
            "advert_int" => inst.advert_int = first_word(k, not_mapped, false),
            "version" => inst.version = first_word(k, not_mapped, false),
            "nopreempt" => {
                if !k.args.is_empty() {
                    not_mapped.push(not_carried(
                        at(k),
                        format!(
                            "`nopreempt` is followed by `{}`: keepalived ignores words after it, as does the import",
                            k.args.join(" ").escape_debug()
                        ),
                    ));
                }
                inst.nopreempt = Some(at(k))
            }
            // keepalived's older keyword for its default; the later of the two wins.
            "preempt" => {
                inst.nopreempt = None;
                not_mapped.push(Note {
                    kind: NoteKind::Translated,
                    at: vec![at(k)],
                    message:
                        "`preempt` is keepalived's default (a backup preempts a lower priority), and the inventory's"
                            .into(),
                    fix: None,
                });
            }
            "strict_mode" if !matches!(k.args.first().map(String::as_str), Some("false" | "off" | "no" | "0")) => {
                inst.strict = Some(at(k))
            }
            "preempt_delay" => inst.preempt_delay = first_word(k, not_mapped, false),
            "unicast_src_ip" => inst.unicast_src_ip = first_word(k, not_mapped, false),
            "mcast_src_ip" => inst.mcast_src_ip = first_word(k, not_mapped, false),
            "unicast_peer" => {
                inst.unicast_peers =
                    sub.iter().filter(|p| !p.key.is_empty()).map(|p| Val { text: p.key.clone(), at: at(p) }).collect();
                for p in sub.iter().filter(|p| !p.args.is_empty()) {
                    not_mapped.push(not_carried(
                        at(p),
                        format!("unicast_peer options `{}`: not carried over", p.args.join(" ")),
                    ));
                }
            }
            "authentication" => {
                for a in sub {
                    match a.key.as_str() {
                        "auth_pass" => inst.auth_pass = first_word(a, not_mapped, true),
                        "auth_type" => inst.auth_type = first_word(a, not_mapped, false),
                        other => not_mapped.push(not_carried(
                            at(a),
                            format!("authentication `{}`: not carried over", other.escape_debug()),
                        )),
                    }
                }
            }
            "virtual_ipaddress" => {
                for v in sub.iter().filter(|v| !v.key.is_empty()) {
                    inst.vips.push((Val { text: v.key.clone(), at: at(v) }, v.args.clone()));
                }
            }
            "track_script" => {
                for t in sub {
                    let weight = t
                        .args
                        .iter()
                        .position(|a| a == "weight")
                        .and_then(|i| t.args.get(i + 1))
                        .map(|w| Val { text: w.clone(), at: at(t) });
                    let reverse = t.args.iter().any(|a| a == "reverse");
                    inst.track.push(Track { name: Val { text: t.key.clone(), at: at(t) }, weight, reverse });
                }
            }
            k2 if k2.starts_with("notify") => not_mapped.push(not_carried(
                at(k),
                format!(
                    "`{} {}`: not carried over (set the daemon's `notify` by hand if you need it)",
                    k2.escape_debug(),
                    k.args.join(" ").escape_debug()
                ),
            )),
            "garp_master_delay" | "garp_master_repeat" | "garp_master_refresh" => not_mapped.push(not_carried(
                at(k),
                format!("`{}`: not carried over (hapair sends gratuitous ARP per `vrrp.garp`)", k.key),
            )),
            "track_interface" | "track_process" | "track_file" | "track_bfd" => not_mapped
                .push(not_carried(at(k), format!("`{}`: not carried over (hapair tracks one check per node)", k.key))),
            other => not_mapped.push(not_carried(
                at(k),
                format!("vrrp_instance `{name}` `{}`: not carried over", other.escape_debug()),
            )),
        }
    }
    inst
}

/// Whether a check script is the usual "is nginx running/answering" test, which hapair's
/// built-in HTTP check replaces.
pub fn is_nginx_check(cmd: &str) -> bool {
    let c = cmd.to_ascii_lowercase();
    let probes =
        ["killall -0 nginx", "pidof nginx", "pgrep nginx", "systemctl is-active nginx", "service nginx status"];
    probes.iter().any(|p| c.contains(p))
        || (c.contains("curl") && (c.contains("127.0.0.1") || c.contains("localhost")))
        || (c.contains("wget") && (c.contains("127.0.0.1") || c.contains("localhost")))
        || (c.ends_with(".sh") && c.contains("nginx"))
}

/// The result of pairing two configurations.
#[derive(Debug, Clone)]
pub struct Imported {
    pub yaml: String,
    pub notes: Vec<Note>,
    /// Per line of `yaml` (from 1), the places in the keepalived files it was written from.
    pub origins: BTreeMap<usize, Vec<At>>,
}

impl Imported {
    pub fn decisions(&self) -> usize {
        self.notes.iter().filter(|n| n.kind == NoteKind::Decision).count()
    }
}

/// A node's address as `--node NAME=ADDRESS[/PREFIX]` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeAddr {
    pub addr: Ipv4Addr,
    pub prefix: Option<u8>,
}

impl std::str::FromStr for NodeAddr {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok().filter(|p| *p <= 32).ok_or(())?)),
            None => (s, None),
        };
        Ok(NodeAddr { addr: a.parse().map_err(|_| ())?, prefix: p })
    }
}

fn err(file: &Path, line: usize, message: String, fix: impl Into<String>) -> ImportError {
    ImportError { file: file.to_path_buf(), line, message, fix: fix.into() }
}

fn sanitize(raw: &str) -> String {
    raw.to_ascii_lowercase()
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() || "-_.".contains(ch) { ch } else { '-' })
        .take(63)
        .collect()
}

fn usable(s: &str) -> bool {
    crate::inventory::valid_name(s)
}

fn file_stem(c: &Config) -> String {
    c.file.file_stem().map(|s| sanitize(&s.to_string_lossy())).unwrap_or_default()
}

/// keepalived writes seconds, possibly fractional; None when it is not such a number.
fn seconds(v: &str) -> Option<std::time::Duration> {
    let f: f64 = v.parse().ok()?;
    (f.is_finite() && (0.0..=86_400.0).contains(&f)).then(|| std::time::Duration::from_micros((f * 1e6).round() as u64))
}

fn show(d: std::time::Duration) -> String {
    crate::inventory::show_duration(d)
}

/// A double-quoted YAML scalar: whatever `s` holds, it stays one string value.
pub fn yaml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{feff}' || ('\u{2028}'..='\u{2029}').contains(&c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The inventory being written, and for each of its lines the places in the keepalived files
/// it was written from (so `check`'s findings on it can name them).
#[derive(Default)]
struct Yaml {
    text: String,
    lines: usize,
    origins: BTreeMap<usize, Vec<At>>,
}

impl Yaml {
    /// Write `s` (one or more lines), each line from `from`.
    fn w(&mut self, s: &str, from: &[At]) {
        for l in s.split('\n') {
            self.text.push_str(l);
            self.text.push('\n');
            self.lines += 1;
            if !from.is_empty() {
                self.origins.insert(self.lines, from.to_vec());
            }
        }
    }
    /// `other` with every line indented by `indent` (a pair-level block moved under a node).
    fn append_indented(&mut self, other: Yaml, indent: &str) {
        let text: String = other.text.lines().map(|l| format!("{indent}{l}\n")).collect();
        self.append(Yaml { text, ..other });
    }
    fn append(&mut self, other: Yaml) {
        for (l, from) in other.origins {
            self.origins.insert(self.lines + l, from);
        }
        self.text.push_str(&other.text);
        self.lines += other.lines;
    }
}

/// The notes being gathered.
#[derive(Default)]
struct Notes(Vec<Note>);

impl Notes {
    fn push(&mut self, kind: NoteKind, at: Vec<At>, message: String, fix: Option<String>) {
        self.0.push(Note { kind, at, message, fix });
    }
    fn decide(&mut self, at: Vec<At>, message: String, fix: impl Into<String>) {
        self.push(NoteKind::Decision, at, message, Some(fix.into()));
    }
    fn translated(&mut self, at: Vec<At>, message: String) {
        self.push(NoteKind::Translated, at, message, None);
    }
    fn dropped(&mut self, at: Vec<At>, message: String) {
        self.push(NoteKind::NotCarried, at, message, None);
    }

    /// Values that must be the same on every instance of both nodes (they are one setting of
    /// the pair): the first, and a decision naming each differing value's place if not.
    fn agree(&mut self, what: &str, vals: &[(String, At)], secret: bool, fix: &str) -> Option<String> {
        let first = vals.first()?.0.clone();
        let mut distinct: Vec<&(String, At)> = Vec::new();
        for v in vals {
            if !distinct.iter().any(|d| d.0 == v.0) {
                distinct.push(v);
            }
        }
        if distinct.len() > 1 {
            let shown: Vec<String> = distinct
                .iter()
                .map(|(v, a)| if secret { a.to_string() } else { format!("`{}` at {a}", v.escape_debug()) })
                .collect();
            let msg = if secret {
                format!("{what} differs between {}", shown.join(", "))
            } else {
                format!("{what} differs: {}", shown.join(", "))
            };
            self.decide(distinct.iter().map(|d| d.1.clone()).collect(), msg, fix);
        }
        Some(first)
    }
}

/// The node names: router_id when the two differ and are usable, else the file names.
fn names(a: &Config, b: &Config, notes: &mut Notes) -> [String; 2] {
    let rid = |c: &Config| c.router_id.as_ref().map(|r| sanitize(&r.text)).filter(|r| usable(r));
    let stems = [file_stem(a), file_stem(b)];
    let mut n = match (rid(a), rid(b)) {
        (Some(x), Some(y)) if x != y => [x, y],
        (Some(x), Some(_)) => {
            let at: Vec<At> = [a, b].iter().filter_map(|c| c.router_id.as_ref().map(|r| r.at.clone())).collect();
            notes.translated(
                at,
                format!("both files name router_id `{x}`: the nodes are named after the files instead"),
            );
            stems.clone()
        }
        _ => stems.clone(),
    };
    for (i, fallback) in ["node1", "node2"].iter().enumerate() {
        if !usable(&n[i]) {
            n[i] = fallback.to_string();
        }
    }
    if n[0] == n[1] {
        n = [format!("{}-a", n[0]), format!("{}-b", n[1])];
    }
    n
}

/// One VIP as written: address and prefix (None: no prefix), or why it is not one.
fn vip_parts(text: &str) -> Result<(Ipv4Addr, Option<u8>), String> {
    let (a, p) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: Ipv4Addr = a.parse().map_err(|_| {
        if a.contains(':') {
            "is IPv6; hapair manages IPv4 VRRP".to_string()
        } else {
            "is not an IPv4 address (a placeholder left in the file?)".to_string()
        }
    })?;
    let prefix = match p {
        None => None,
        Some(p) => Some(p.parse::<u8>().ok().filter(|p| *p <= 32).ok_or("has a prefix length outside 0 to 32")?),
    };
    Ok((addr, prefix))
}

/// Pair two nodes' configurations. `nodes` gives addresses by node name
/// (`--node NAME=ADDRESS[/PREFIX]`) where `unicast_src_ip` does not.
pub fn pair(a: &Config, b: &Config, nodes: &BTreeMap<String, NodeAddr>) -> Result<Imported, ImportError> {
    let mut notes = Notes::default();
    let names = names(a, b, &mut notes);
    for n in nodes.keys() {
        if !names.contains(n) {
            return Err(err(
                Path::new("--node"),
                0,
                format!("`--node {n}=…` names no node; the nodes are `{}` and `{}`", names[0], names[1]),
                format!("write `--node {}=ADDRESS/PREFIX --node {}=ADDRESS/PREFIX`", names[0], names[1]),
            ));
        }
    }
    let cfgs = [a, b];
    for c in cfgs {
        if c.instances.is_empty() {
            return Err(err(
                &c.file,
                0,
                "no `vrrp_instance` found".into(),
                "give the keepalived.conf of a node that runs VRRP",
            ));
        }
    }

    // Instances by VRID, on both sides.
    let mut by_vrid: [BTreeMap<u8, &Instance>; 2] = [BTreeMap::new(), BTreeMap::new()];
    for (n, c) in cfgs.iter().enumerate() {
        for i in &c.instances {
            let Some(v) = &i.vrid else {
                let at = i.at();
                return Err(err(
                    &at.file,
                    at.line,
                    format!("vrrp_instance `{}` has no `virtual_router_id`", i.name.escape_debug()),
                    "add it; it is what pairs the two files' instances",
                ));
            };
            let Some(vrid) = v.text.parse::<u8>().ok().filter(|x| *x >= 1) else {
                return Err(err(
                    &v.at.file,
                    v.at.line,
                    format!("`virtual_router_id` is `{}`, not a number from 1 to 255", v.text.escape_debug()),
                    "fill in the VRID (a template placeholder?)",
                ));
            };
            match by_vrid[n].get(&vrid) {
                Some(other) => notes.decide(
                    vec![other.at(), i.at()],
                    format!(
                        "vrid {vrid} is used by two instances of this file (`{}` on {}, `{}` on {}): hapair pairs one instance per VRID; the first was imported",
                        other.name.escape_debug(),
                        other.interface.as_ref().map_or("no interface", |v| v.text.as_str()),
                        i.name.escape_debug(),
                        i.interface.as_ref().map_or("no interface", |v| v.text.as_str()),
                    ),
                    "keep one instance per VRID, or give the other its own VRID in another pair",
                ),
                None => {
                    by_vrid[n].insert(vrid, i);
                }
            }
        }
    }
    let mut paired: Vec<(u8, [&Instance; 2])> = Vec::new();
    let all: BTreeSet<u8> = by_vrid[0].keys().chain(by_vrid[1].keys()).copied().collect();
    for v in all {
        match (by_vrid[0].get(&v), by_vrid[1].get(&v)) {
            (Some(x), Some(z)) => paired.push((v, [x, z])),
            (Some(x), None) | (None, Some(x)) => {
                let other = if by_vrid[0].contains_key(&v) { &b.file } else { &a.file };
                notes.decide(
                    vec![x.at()],
                    format!(
                        "vrrp_instance `{}` (vrid {v}) has no counterpart in `{}`: not imported",
                        x.name.escape_debug(),
                        other.display()
                    ),
                    "give both nodes' files; each VRID must appear in both",
                );
            }
            (None, None) => {}
        }
    }
    if paired.is_empty() {
        // Each file's VRIDs, with the line of each, so the two sides can be compared.
        let list = |n: usize| -> String {
            by_vrid[n]
                .iter()
                .map(|(v, i)| format!("{v} (line {})", i.vrid.as_ref().map_or(i.at().line, |x| x.at.line)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let line = by_vrid[0].values().next().and_then(|i| i.vrid.as_ref()).map_or(0, |v| v.at.line);
        return Err(err(
            &a.file,
            line,
            format!(
                "no virtual_router_id appears in both files: `{}` has {}, `{}` has {}",
                a.file.display(),
                list(0),
                b.file.display(),
                list(1)
            ),
            "give the two files of one pair of nodes, with the same virtual_router_id on both",
        ));
    }
    if paired.len() > 2 {
        let rest: Vec<At> = paired[2..].iter().map(|(_, [x, _])| x.at()).collect();
        notes.decide(
            rest,
            format!(
                "{} VRIDs are paired; an hapair pair holds one (master-backup) or two (dual-master): only vrid {} and {} were imported",
                paired.len(),
                paired[0].0,
                paired[1].0
            ),
            "put the other VRIDs in another pair of the inventory",
        );
        paired.truncate(2);
    }
    let insts = |n: usize| paired.iter().map(move |(_, p)| p[n]);

    // Addresses.
    let mut addrs: [Option<(NodeAddr, String)>; 2] = [None, None];
    for n in 0..2 {
        let given = nodes.get(&names[n]);
        if let Some(g) = given {
            addrs[n] = Some((*g, "`--node`".into()));
        }
        // The advert source address keepalived is given (either name) is the node's address.
        let srcs = insts(n).flat_map(|i| {
            [("unicast_src_ip", &i.unicast_src_ip), ("mcast_src_ip", &i.mcast_src_ip)]
                .into_iter()
                .filter_map(|(key, v)| v.as_ref().map(|v| (key, v)))
        });
        for (key, src) in srcs {
            match src.text.parse::<NodeAddr>() {
                Ok(found) => {
                    if found.prefix.is_some() && addrs[n].is_none() {
                        notes.translated(
                            vec![src.at.clone()],
                            format!(
                                "{key} `{}` has a prefix length: the node's address is {}, its subnet /{} (given to VIPs written without prefix)",
                                src.text,
                                found.addr,
                                found.prefix.unwrap_or(32)
                            ),
                        );
                    }
                    match &addrs[n] {
                        None => addrs[n] = Some((found, format!("{key} at {}", src.at))),
                        Some((had, _)) if had.addr == found.addr => {}
                        Some(_) if given.is_some() => notes.dropped(
                            vec![src.at.clone()],
                            format!("{key} {} is not the address `--node` gives `{}`: ignored", found.addr, names[n]),
                        ),
                        Some((had, from)) => notes.decide(
                            vec![src.at.clone()],
                            format!(
                                "{key} {} is not the address of `{}` found first ({}, {from})",
                                found.addr, names[n], had.addr
                            ),
                            format!("give the node's address: `--node {}=ADDRESS/PREFIX`", names[n]),
                        ),
                    }
                }
                Err(()) if given.is_some() => notes.dropped(
                    vec![src.at.clone()],
                    format!("{key} `{}` ignored: `--node` gives the address", src.text.escape_debug()),
                ),
                Err(()) => notes.decide(
                    vec![src.at.clone()],
                    format!(
                        "{key} `{}` is not an IPv4 address (a placeholder left in the file?)",
                        src.text.escape_debug()
                    ),
                    format!("give the node's address: `--node {}=ADDRESS/PREFIX`", names[n]),
                ),
            }
        }
        if addrs[n].is_none() {
            notes.decide(
                vec![At { file: cfgs[n].file.clone(), line: 0 }],
                format!(
                    "the address of node `{}` is not in its keepalived.conf (no unicast_src_ip or mcast_src_ip)",
                    names[n]
                ),
                format!("give it: `--node {}=ADDRESS/PREFIX` (its address on the VRRP interface)", names[n]),
            );
        }
    }

    // Interfaces: one per node.
    let mut ifaces: [Option<Val>; 2] = [None, None];
    for n in 0..2 {
        for i in insts(n) {
            let v = match &i.interface {
                Some(v) => v.clone(),
                None => {
                    let (text, from) = match &cfgs[n].default_interface {
                        Some(d) => (d.text.clone(), format!("global_defs `default_interface` at {}", d.at)),
                        None => ("eth0".to_string(), "keepalived's default `default_interface`".to_string()),
                    };
                    notes.translated(
                        vec![i.at()],
                        format!(
                            "vrrp_instance `{}` has no `interface`: keepalived runs it on {text} ({from}), and so does the import; check it is the right one",
                            i.name.escape_debug()
                        ),
                    );
                    Val { text, at: i.at() }
                }
            };
            if let Some(why) = crate::values::interface_problem(&v.text) {
                let placeholder =
                    if why == crate::values::NOT_AN_INTERFACE_NAME { " (a placeholder left in the file?)" } else { "" };
                notes.decide(
                    vec![v.at.clone()],
                    format!("interface `{}` {why}{placeholder}", v.text.escape_debug()),
                    crate::values::INTERFACE_FIX,
                );
            }
            match &ifaces[n] {
                None => ifaces[n] = Some(v),
                Some(had) if had.text == v.text => {}
                Some(had) => notes.decide(
                    vec![had.at.clone(), v.at.clone()],
                    format!(
                        "`{}` runs its instances on two interfaces (`{}` and `{}`); an hapair node has one VRRP interface",
                        names[n],
                        had.text.escape_debug(),
                        v.text.escape_debug()
                    ),
                    "make a pair per interface",
                ),
            }
        }
    }
    let iface_text = |n: usize| ifaces[n].as_ref().map(|v| v.text.clone()).unwrap_or_default();
    let per_node_iface = iface_text(0) != iface_text(1);
    if per_node_iface {
        let at: Vec<At> = ifaces.iter().flatten().map(|v| v.at.clone()).collect();
        notes.translated(
            at,
            format!(
                "the nodes run VRRP on different interfaces (`{}` on `{}`, `{}` on `{}`): each node's `interface` is set",
                iface_text(0).escape_debug(),
                names[0],
                iface_text(1).escape_debug(),
                names[1]
            ),
        );
    }

    // VRRP settings the two nodes (and both VRIDs) must share.
    let all_insts: Vec<(usize, &Instance)> = (0..2).flat_map(|n| insts(n).map(move |i| (n, i))).collect();
    let version_of = |n: usize, i: &Instance| -> (String, At) {
        match (&i.version, &cfgs[n].version) {
            (Some(v), _) | (None, Some(v)) => (v.text.clone(), v.at.clone()),
            (None, None) => ("2".into(), i.at()),
        }
    };
    let versions: Vec<(String, At)> = all_insts.iter().map(|(n, i)| version_of(*n, i)).collect();
    let version_text =
        notes.agree("the VRRP version", &versions, false, "use the same version on both nodes").unwrap_or_default();
    let version: u8 = match version_text.as_str() {
        "2" => 2,
        "3" => 3,
        other => {
            notes.decide(
                vec![versions[0].1.clone()],
                format!("VRRP version `{}` is neither 2 nor 3", other.escape_debug()),
                "use `vrrp_version 2` or `3`",
            );
            2
        }
    };
    let adverts: Vec<(String, At)> = all_insts
        .iter()
        .map(|(_, i)| i.advert_int.as_ref().map_or(("1".into(), i.at()), |v| (v.text.clone(), v.at.clone())))
        .collect();
    let advert_text = notes
        .agree("`advert_int`", &adverts, false, "use the same advert_int on both nodes and every instance")
        .unwrap_or_else(|| "1".into());
    let advert = match seconds(&advert_text) {
        Some(d) if !d.is_zero() => d,
        _ => {
            notes.decide(
                vec![adverts[0].1.clone()],
                format!("advert_int `{}` is not a number of seconds", advert_text.escape_debug()),
                "write it like `advert_int 1`",
            );
            std::time::Duration::from_secs(1)
        }
    };

    // Authentication, as keepalived reads it (vrrp_parser.c, vrrp.c): `auth_type` exactly `PASS`
    // or `AH`, with an `auth_pass`. Any other type (keepalived logs "unknown authentication
    // type"), a type without a password or a password without a type, VRRPv3, or strict mode
    // leave the instance without authentication: it sends and accepts adverts without any.
    let strict_of = |n: usize, i: &Instance| i.strict.clone().or_else(|| cfgs[n].strict.clone());
    let mut ignored: BTreeMap<String, Vec<At>> = BTreeMap::new();
    let auths: Vec<(String, At)> = all_insts
        .iter()
        .map(|(n, i)| {
            let at = i.auth_type.as_ref().or(i.auth_pass.as_ref()).map_or(i.at(), |v| v.at.clone());
            let typ = i.auth_type.as_ref().map(|t| t.text.as_str());
            let why = match typ {
                None if i.auth_pass.is_some() => Some(
                    "`auth_pass` without `auth_type`: keepalived authenticates only with `auth_type PASS` or `AH`, so it runs this instance without authentication".to_string(),
                ),
                None => None,
                Some("PASS" | "AH") if version == 3 => Some(
                    "authentication with VRRPv3: keepalived ignores it (RFC 5798 has none)".to_string(),
                ),
                Some("PASS" | "AH") if strict_of(*n, i).is_some() => Some(format!(
                    "authentication with `vrrp_strict` (at {}): keepalived ignores it (\"Strict mode does not support authentication\")",
                    strict_of(*n, i).map(|a| a.to_string()).unwrap_or_default()
                )),
                Some("PASS" | "AH") if i.auth_pass.as_ref().is_none_or(|p| p.text.is_empty()) => Some(
                    "`auth_type` without `auth_pass`: keepalived ignores it (\"no password given\")".to_string(),
                ),
                Some(t @ ("PASS" | "AH")) => return (t.to_string(), at),
                Some(other) => Some(format!(
                    "auth_type `{}` is neither `PASS` nor `AH` (keepalived compares them exactly): keepalived reports an unknown authentication type and runs the instance without authentication",
                    other.escape_debug()
                )),
            };
            if let Some(why) = why {
                ignored.entry(why).or_default().push(at.clone());
            }
            ("none".to_string(), at)
        })
        .collect();
    for (why, at) in ignored {
        notes.translated(at, format!("{why}, and so does the inventory"));
    }
    let auth_type = notes
        .agree("the authentication keepalived uses", &auths, false, "use the same authentication on both nodes")
        .unwrap_or_else(|| "none".into());
    // The passwords of the instances that authenticate.
    let passes: Vec<(String, At)> = all_insts
        .iter()
        .zip(&auths)
        .filter(|(_, (t, _))| t != "none")
        .map(|((_, i), _)| i.auth_pass.as_ref().map_or((String::new(), i.at()), |v| (v.text.clone(), v.at.clone())))
        .collect();
    let pass = notes.agree("`auth_pass`", &passes, true, "use the same password on both nodes").unwrap_or_default();
    let mut auth_pass: Option<String> = None;
    let ah = auth_type == "AH";
    match auth_type.as_str() {
        "none" => {}
        // keepalived keeps the password of both types in one 8-byte buffer (AH's key is that
        // buffer): a longer one is cut alike.
        "PASS" | "AH" => {
            if ah {
                // The first instance of each node says where.
                let mut nodes = Vec::new();
                let at: Vec<At> = all_insts
                    .iter()
                    .zip(&auths)
                    .filter(|((n, _), _)| {
                        !nodes.contains(n) && {
                            nodes.push(*n);
                            true
                        }
                    })
                    .map(|(_, a)| a.1.clone())
                    .collect();
                notes.translated(
                    at,
                    "auth_type AH becomes `auth_type: ah`: hapair's daemon sends and checks the IPsec Authentication Header (HMAC-MD5-96 keyed with auth_pass, IP protocol 51) as keepalived does, and the firewall admits protocol 51 from the peer".to_string(),
                );
            }
            if pass.len() > crate::values::AUTH_PASS_BYTES.max as usize {
                let max = crate::values::AUTH_PASS_BYTES.max as usize;
                if pass.is_char_boundary(max) {
                    notes.translated(
                        vec![passes[0].1.clone()],
                        format!(
                            "auth_pass is {} bytes; keepalived sends only the first {max}, so the inventory holds those {max}",
                            pass.len()
                        ),
                    );
                    auth_pass = Some(pass[..max].to_string());
                } else {
                    notes.decide(
                        vec![passes[0].1.clone()],
                        format!("auth_pass is {} bytes and its 8th byte is inside a character", pass.len()),
                        "choose a password of at most 8 bytes on both nodes",
                    );
                    auth_pass = Some(pass.clone());
                }
            } else if !pass.is_empty() {
                auth_pass = Some(pass.clone());
            }
        }
        other => notes.decide(
            vec![auths[0].1.clone()],
            format!("auth_type `{}`: hapair's VRRPv2 authenticates with PASS, AH or not at all", other.escape_debug()),
            "use `auth_type PASS` or `AH` on the keepalived nodes too, or no authentication",
        ),
    }

    // Preemption.
    let preempts: Vec<(String, At)> = all_insts
        .iter()
        .map(|(_, i)| match &i.nopreempt {
            Some(at) => ("nopreempt".to_string(), at.clone()),
            None => ("preempt".to_string(), i.at()),
        })
        .collect();
    let preempt =
        notes.agree("preemption", &preempts, false, "write `nopreempt` on every instance of both nodes, or on none")
            != Some("nopreempt".into());
    // What else strict mode does that an inventory cannot carry.
    let mut stricts: Vec<At> = Vec::new();
    for a in cfgs.iter().filter_map(|c| c.strict.clone()).chain(all_insts.iter().filter_map(|(_, i)| i.strict.clone()))
    {
        if !stricts.contains(&a) {
            stricts.push(a);
        }
    }
    if !stricts.is_empty() {
        notes.dropped(
            stricts,
            "`vrrp_strict`: keepalived's strict mode also installs a firewall rule that drops traffic to the VIPs (`no_accept`); hapair's VIPs accept it, as nginx on the VIP needs: not carried over".into(),
        );
    }
    // Strict mode resets `preempt_delay` ("preempt_delay is incompatible with strict mode").
    let delays: Vec<(String, At)> = all_insts
        .iter()
        .map(|(n, i)| match (&i.preempt_delay, strict_of(*n, i)) {
            (Some(v), Some(strict)) => {
                notes.translated(
                    vec![v.at.clone()],
                    format!("`preempt_delay` with `vrrp_strict` (at {strict}): keepalived resets it to 0 (\"incompatible with strict mode\"), and so does the inventory"),
                );
                ("0".into(), v.at.clone())
            }
            (Some(v), None) => (v.text.clone(), v.at.clone()),
            (None, _) => ("0".into(), i.at()),
        })
        .collect();
    let delay_text = notes.agree("`preempt_delay`", &delays, false, "use the same preempt_delay on both nodes");
    let preempt_delay = match delay_text.as_deref() {
        None | Some("0") => None,
        Some(t) => match seconds(t) {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None => {
                notes.decide(
                    vec![delays[0].1.clone()],
                    format!("preempt_delay `{}` is not a number of seconds", t.escape_debug()),
                    "write it like `preempt_delay 30`",
                );
                None
            }
        },
    };

    // Transport.
    let unicast_of = |i: &Instance| i.unicast_src_ip.is_some() || !i.unicast_peers.is_empty();
    let transports: Vec<(String, At)> = all_insts
        .iter()
        .map(|(_, i)| {
            let at = i
                .unicast_src_ip
                .as_ref()
                .map(|v| v.at.clone())
                .or_else(|| i.unicast_peers.first().map(|p| p.at.clone()))
                .unwrap_or_else(|| i.at());
            (if unicast_of(i) { "unicast" } else { "multicast" }.to_string(), at)
        })
        .collect();
    let unicast = notes.agree(
        "the transport (unicast or multicast)",
        &transports,
        false,
        "use unicast on both nodes, or on neither",
    ) == Some("unicast".into());
    if unicast {
        for n in 0..2 {
            let Some((other, _)) = &addrs[1 - n] else { continue };
            for i in insts(n) {
                for p in &i.unicast_peers {
                    let own = addrs[n].as_ref().map(|(a, _)| a.addr);
                    match p.text.parse::<NodeAddr>() {
                        Ok(x) if x.addr == other.addr => {}
                        Ok(x) if Some(x.addr) == own => notes.decide(
                            vec![p.at.clone()],
                            format!(
                                "unicast_peer {} is `{}`'s own address: its adverts would go to itself, not to `{}` ({})",
                                x.addr,
                                names[n],
                                names[1 - n],
                                other.addr
                            ),
                            "swap `unicast_src_ip` and `unicast_peer` in this instance",
                        ),
                        // A third address the other node does not send to: no third router of
                        // this VRID (it would hear one node only), so the two nodes' election
                        // is theirs alone; keepalived's extra adverts to it are not carried over.
                        Ok(x) if !insts(1 - n)
                            .flat_map(|i| &i.unicast_peers)
                            .any(|q| q.text.parse::<NodeAddr>().is_ok_and(|q| q.addr == x.addr)) =>
                        {
                            notes.dropped(
                                vec![p.at.clone()],
                                format!(
                                    "unicast_peer {} is neither node: keepalived also sends `{}`'s adverts there, but `{}` does not: no third router of this VRID (it would hear one node only); an hapair node sends its adverts to its peer only: not carried over",
                                    x.addr,
                                    names[n],
                                    names[1 - n]
                                ),
                            )
                        }
                        Ok(x) => notes.decide(
                            vec![p.at.clone()],
                            format!(
                                "unicast_peer {} is not `{}` ({}), and both nodes send their adverts to it: a third router of this VRID; an hapair pair has two nodes",
                                x.addr,
                                names[1 - n],
                                other.addr
                            ),
                            "remove the third peer (an hapair pair has two nodes), or correct the node's address with `--node`",
                        ),
                        Err(()) => notes.decide(
                            vec![p.at.clone()],
                            format!("unicast_peer `{}` is not an IPv4 address (a placeholder left in the file?)", p.text.escape_debug()),
                            "fill in the other node's address",
                        ),
                    }
                }
            }
        }
    }

    // The check: the script(s) the instances track.
    let mut check = check_of(&cfgs, &paired, &names, &mut notes);

    // Priorities, with keepalived's positive weights folded in.
    let mut vips_out = Vec::new();
    // Where an equal-priority election was translated (with `preempt: false`).
    let mut tie_translated: Vec<At> = Vec::new();
    for (vrid, pair_insts) in &paired {
        let mut prio = [100i64; 2];
        let mut prio_at = [pair_insts[0].at(), pair_insts[1].at()];
        for n in 0..2 {
            if let Some(p) = &pair_insts[n].priority {
                prio_at[n] = p.at.clone();
                match p.text.parse::<u8>().ok().filter(|p| *p >= 1) {
                    Some(v) => prio[n] = i64::from(v),
                    None => notes.decide(
                        vec![p.at.clone()],
                        format!(
                            "priority `{}` is not a number from 1 to 255 (a placeholder left in the file?): keepalived reports it and runs with its default, 100",
                            p.text.escape_debug()
                        ),
                        "fill in the priority",
                    ),
                }
            }
        }
        // Priority 255 is keepalived's address owner: it ignores the weights of the owner's
        // tracked scripts ("ignoring tracked script ... with weights due to address_owner"),
        // and two owners are a configuration error it resolves by lowering whichever hears the
        // other first ("both configured as address owner, please fix").
        let owners = [0, 1].map(|n| prio[n] == 255);
        let owner_conflict = owners == [true, true];
        if owner_conflict {
            notes.decide(
                vec![prio_at[0].clone(), prio_at[1].clone()],
                format!(
                    "vrid {vrid}: both nodes have priority 255, the address owner's: keepalived reports a configuration error when they meet (\"both configured as address owner, please fix\") and lowers whichever hears the other first to 254; it also ignores the weights of an owner's tracked scripts"
                ),
                "give the preferred master 254 (or lower) and the other node a lower priority in its keepalived.conf",
            );
        }
        for n in 0..2 {
            let weighted = check.checked
                && check.only.is_none_or(|c| c == n)
                && (check.weight[n] != 0 || check.positive[n].is_some());
            if owners[n] && !owner_conflict && weighted {
                notes.decide(
                    vec![prio_at[n].clone()],
                    format!(
                        "vrid {vrid}: `{}` has priority 255 (the address owner's), and keepalived ignores the weight of an owner's tracked script: a failing check never moves the VIP there, but hapair's check would",
                        names[n]
                    ),
                    "give it 254 or lower in its keepalived.conf so that the check counts, or remove the track",
                );
            }
        }
        for n in 0..2 {
            if prio[n] == 255 && prio[1 - n] < 254 {
                notes.translated(
                    vec![prio_at[n].clone()],
                    format!(
                        "vrid {vrid}: priority 255 is reserved for the owner of the VIP address (RFC 3768 §5.3.4), which `{}` is not: imported as 254, the same election against `{}`'s {}",
                        names[n],
                        names[1 - n],
                        prio[1 - n]
                    ),
                );
                prio[n] = 254;
            }
        }
        for (p, w) in prio.iter_mut().zip(check.positive) {
            if let Some(w) = w {
                *p = (*p + w).min(254).max(*p);
            }
        }
        // The VIP.
        let x = pair_insts[0];
        let Some((vip0, _)) = x.vips.first() else {
            return Err(err(
                &x.at().file,
                x.at().line,
                format!("vrrp_instance `{}` has no `virtual_ipaddress`", x.name.escape_debug()),
                "add the VIP",
            ));
        };
        let list = |i: &Instance| -> Vec<String> { i.vips.iter().map(|(v, _)| v.text.clone()).collect() };
        let (la, lb) = (list(pair_insts[0]), list(pair_insts[1]));
        let norm = |l: &[String]| -> BTreeSet<String> {
            l.iter().map(|v| v.strip_suffix("/32").unwrap_or(v).to_string()).collect()
        };
        if norm(&la) != norm(&lb) {
            let at_of = |i: &Instance| i.vips.first().map_or(i.at(), |(v, _)| v.at.clone());
            notes.decide(
                vec![at_of(pair_insts[0]), at_of(pair_insts[1])],
                format!(
                    "the VIPs of vrid {vrid} differ: {} lists {}, {} lists {}",
                    names[0],
                    la.join(", "),
                    names[1],
                    lb.join(", ")
                ),
                "list the same VIPs on both nodes",
            );
        }
        if x.vips.len() > 1 {
            let all: Vec<&str> = x.vips.iter().map(|(v, _)| v.text.as_str()).collect();
            notes.translated(
                vec![vip0.at.clone()],
                format!(
                    "vrid {vrid} carries {} addresses ({}): the inventory's VIP lists them all (`address: [...]`), held by one node and moved together",
                    x.vips.len(),
                    all.join(", ")
                ),
            );
        }
        // Where each file puts each address (`dev IFACE`): None on its node's VRRP interface.
        let place = |n: usize, opts: &[String]| -> Option<String> {
            let d = opts.iter().position(|o| o == "dev").and_then(|k| opts.get(k + 1))?;
            (Some(d) != ifaces[n].as_ref().map(|i| &i.text)).then(|| d.clone())
        };
        let shown = |p: &Option<String>, n: usize| match p {
            Some(d) => format!("`{}`", d.escape_debug()),
            None => format!("`{}` (its VRRP interface)", iface_text(n).escape_debug()),
        };
        let places: Vec<Option<String>> = x.vips.iter().map(|(_, o)| place(0, o)).collect();
        let mut vip_iface: Option<(String, Vec<At>)> = None;
        // Per address, its own interface when the VRID's addresses are spread over several
        // (`{address, interface}` in the inventory's list), with both files' lines.
        let mut own: Vec<Option<(String, Vec<At>)>> = vec![None; x.vips.len()];
        let bare = |t: &str| t.strip_suffix("/32").unwrap_or(t).to_string();
        let mut agree = true;
        for (w, o) in &pair_insts[1].vips {
            let Some(((v, _), p)) = x.vips.iter().zip(&places).find(|((v, _), _)| bare(&v.text) == bare(&w.text))
            else {
                continue; // a VIP only one file lists: a decision above
            };
            let q = place(1, o);
            if q != *p {
                notes.decide(
                    vec![v.at.clone(), w.at.clone()],
                    format!(
                        "the two files put VIP {} on different interfaces: {} on {}, {} on {}",
                        v.text,
                        names[0],
                        shown(p, 0),
                        names[1],
                        shown(&q, 1)
                    ),
                    "put it on the same interface on both nodes",
                );
                agree = false;
                break;
            }
        }
        // Both files' lines of the addresses `pick` selects.
        let lines_of = |pick: &dyn Fn(usize) -> bool| -> Vec<At> {
            let mut at: Vec<At> =
                x.vips.iter().enumerate().filter(|(k, _)| pick(*k)).map(|(_, (v, _))| v.at.clone()).collect();
            for (k, (v, _)) in x.vips.iter().enumerate().filter(|(k, _)| pick(*k)) {
                at.extend(
                    pair_insts[1]
                        .vips
                        .iter()
                        .filter(|(w, o)| bare(&w.text) == bare(&v.text) && place(1, o) == places[k])
                        .map(|(w, _)| w.at.clone()),
                );
            }
            at
        };
        if agree && places.iter().any(|p| *p != places[0]) {
            // One VRID's addresses on several interfaces (LVS directors): each address that
            // lives elsewhere than the VRRP interface names its own.
            for (k, p) in places.iter().enumerate() {
                let Some(d) = p else { continue };
                let at = lines_of(&|j| j == k);
                notes.translated(
                    at.clone(),
                    format!(
                        "vrid {vrid} puts {} on `{}` (`dev`) while its adverts run on `{}`: the inventory's address list says `{{address: ..., interface: {}}}` for it (the daemon adds it there with the VRID's other addresses; connections open at a hand-over are not carried over for it)",
                        x.vips[k].0.text,
                        d.escape_debug(),
                        iface_text(0).escape_debug(),
                        d.escape_debug()
                    ),
                );
                own[k] = Some((d.clone(), at));
            }
        } else if let (true, Some(d)) = (agree, &places[0]) {
            let at = lines_of(&|_| true);
            let all: Vec<&str> = x.vips.iter().map(|(v, _)| v.text.as_str()).collect();
            notes.translated(
                at.clone(),
                format!(
                    "vrid {vrid} puts {} on `{}` (`dev`) while its adverts run on `{}`: the inventory's VIP says `interface: {}` (the daemon adds it there; connections open at a hand-over are not carried over for it)",
                    all.join(", "),
                    d.escape_debug(),
                    iface_text(0).escape_debug(),
                    d.escape_debug()
                ),
            );
            vip_iface = Some((d.clone(), at));
        }
        for (v, opts) in &x.vips {
            let mut rest = Vec::new();
            let mut k = 0;
            while k < opts.len() {
                if opts[k] == "dev" {
                    k += 2;
                } else {
                    rest.push(opts[k].clone());
                    k += 1;
                }
            }
            if !rest.is_empty() {
                notes.dropped(
                    vec![v.at.clone()],
                    format!("VIP options `{}`: not carried over (hapair adds its VIPs itself, without keepalived's `label`, `brd` or `scope`; other words keepalived ignores)", rest.join(" ")),
                );
            }
        }
        let mut vip: Vec<String> = Vec::new();
        // VIPs whose prefix is a decision: whether they are off the subnet is not known either.
        let mut undecided: Vec<bool> = Vec::new();
        for (k, (vip0, _)) in x.vips.iter().enumerate() {
            undecided.push(false);
            // The interface it lives on when not the VRRP one.
            let elsewhere = own[k].as_ref().or(vip_iface.as_ref()).map(|(d, _)| d.escape_debug().to_string());
            let one = match vip_parts(&vip0.text) {
                Err(why) => {
                    notes.decide(
                        vec![vip0.at.clone()],
                        format!("VIP `{}` {why}", vip0.text.escape_debug()),
                        "fill in the VIP",
                    );
                    vip0.text.clone()
                }
                Ok((addr, Some(p))) if p < 32 => format!("{addr}/{p}"),
                // On another interface than the nodes' addresses: their prefix says nothing of
                // it, and keepalived adds it as written (/32 without a prefix).
                Ok((addr, written)) if elsewhere.is_some() => {
                    if written.is_none() {
                        notes.translated(
                            vec![vip0.at.clone()],
                            format!(
                                "VIP {addr} has no prefix length: keepalived adds it on `{}` as a /32 host address, and the nodes' prefix (of their VRRP interface) says nothing of that interface; written `{addr}/32`",
                                elsewhere.unwrap_or_default()
                            ),
                        );
                    }
                    format!("{addr}/32")
                }
                Ok((addr, written)) => {
                    let known: Vec<(u8, &str)> =
                        addrs.iter().flatten().filter_map(|(a, from)| a.prefix.map(|p| (p, from.as_str()))).collect();
                    let how = if written.is_some() {
                        "is written /32 (a host address)"
                    } else {
                        "has no prefix length (keepalived adds it as a /32 host address)"
                    };
                    // Given the nodes' prefix, it is in their subnet; one off it stays the /32
                    // keepalived adds (said with `outside_subnet` below).
                    let off = |p: u8| {
                        format!("{addr}/{p}")
                            .parse::<crate::values::VipCidr>()
                            .is_ok_and(|c| addrs.iter().flatten().any(|(a, _)| !c.contains(a.addr)))
                    };
                    match known.first() {
                        Some((p, _)) if known.iter().all(|(q, _)| q == p) && *p < 32 && off(*p) => {
                            format!("{addr}/32")
                        }
                        Some((p, from)) if known.iter().all(|(q, _)| q == p) && *p < 32 => {
                            notes.translated(
                                vec![vip0.at.clone()],
                                format!(
                                    "VIP {addr} {how}: given /{p}, the prefix of the nodes' addresses (from {from})"
                                ),
                            );
                            format!("{addr}/{p}")
                        }
                        _ => {
                            notes.decide(
                            vec![vip0.at.clone()],
                            format!(
                                "VIP {addr} {how} and the nodes' prefix length is unknown; an hapair VIP lies in the nodes' subnet, unless it says `outside_subnet: true`"
                            ),
                            format!(
                                "give the nodes' addresses with their prefix: `--node {}=ADDRESS/PREFIX --node {}=ADDRESS/PREFIX`",
                                names[0], names[1]
                            ),
                        );
                            if let Some(u) = undecided.last_mut() {
                                *u = true;
                            }
                            format!("{addr}/32")
                        }
                    }
                }
            };
            vip.push(one);
        }
        // The master: who keepalived elects.
        let states: Vec<Option<&str>> = pair_insts.iter().map(|i| i.state.as_ref().map(|s| s.text.as_str())).collect();
        let master = if owner_conflict {
            usize::from(states[1] == Some("MASTER") && states[0] != Some("MASTER"))
        } else if prio[0] != prio[1] {
            let m = usize::from(prio[1] > prio[0]);
            if states[m] == Some("BACKUP") && states[1 - m] == Some("MASTER") {
                notes.translated(
                    vec![prio_at[m].clone(), prio_at[1 - m].clone()],
                    format!(
                        "vrid {vrid}: `{}` says `state MASTER` but `{}` has the higher priority ({} > {}), and keepalived elects by priority: `{}` is its master",
                        names[1 - m], names[m], prio[m], prio[1 - m], names[m]
                    ),
                );
            }
            m
        } else if !preempt {
            let m = usize::from(states[1] == Some("MASTER") && states[0] != Some("MASTER"));
            notes.translated(
                vec![prio_at[0].clone(), prio_at[1].clone()],
                format!(
                    "vrid {vrid}: both nodes have priority {} with nopreempt (whoever is master stays); `{}` (state {}) is made the preferred master with priority {}",
                    prio[m],
                    names[m],
                    states[m].unwrap_or("unset"),
                    prio[m] + 1
                ),
            );
            prio[m] = (prio[m] + 1).min(255);
            m
        } else if check.checked && check.weight.iter().any(|w| *w < 0) {
            // Equal priorities, preemption on, and a check that lowers a priority: keepalived's
            // backup preempts the master whose check fails, and the recovered node does not take
            // the VIP back (a backup preempts only a lower priority, RFC 3768 §6.4.2). That is
            // the RFC election hapair's daemon runs: the inventory keeps the equal priorities
            // and preemption (check's HA030 warning says what they mean).
            let says_master = |n: usize| states[n] == Some("MASTER") && strict_of(n, pair_insts[n]).is_none();
            let higher = match (&addrs[0], &addrs[1]) {
                (Some((a, _)), Some((b, _))) if a.addr != b.addr => Some(usize::from(b.addr > a.addr)),
                _ => None,
            };
            let (m, start) = if says_master(0) != says_master(1) {
                let m = usize::from(says_master(1));
                let joint = match higher {
                    Some(h) if h != m => format!(
                        "; hapair's nodes wait alike, so when both start within that window the first started takes it, and `{}`, the higher address, when both take it at once",
                        names[h]
                    ),
                    _ => String::new(),
                };
                (
                    m,
                    format!(
                        "when both start, keepalived prefers `{}` (with `state MASTER` it waits one advert interval before it takes the VIP, with `state BACKUP` three){joint}",
                        names[m]
                    ),
                )
            } else {
                let m = higher.unwrap_or(0);
                (m, "when both start, the first started takes it, and the higher address when both take it at once, in keepalived as in hapair".to_string())
            };
            let failing: Vec<String> = (0..2)
                .filter(|n| check.weight[*n] < 0)
                .map(|n| format!("{} on `{}`", check.weight[n], names[n]))
                .collect();
            notes.translated(
                vec![prio_at[0].clone(), prio_at[1].clone()],
                format!(
                    "vrid {vrid}: both nodes have priority {p} and a failing check lowers it ({}): keepalived's backup takes the VIP when the master's check fails, and the recovered node does not take it back (a backup preempts only a lower priority, RFC 3768 §6.4.2); the inventory keeps the equal priorities with preemption, which hapair's daemon elects the same way; {start}",
                    failing.join(", "),
                    p = prio[m],
                ),
            );
            m
        } else {
            // Equal priorities, preemption on: keepalived's backup never preempts an equal
            // priority, so whoever is master keeps the VIP until it fails.
            match equal_priority_election(&states, &addrs, &check, &names) {
                Ok((m, how)) => {
                    let base = prio[m];
                    // One step apart: the winner one up, or (at the 254 cap) the other one down.
                    let moved = if base < 254 { m } else { 1 - m };
                    prio[moved] += if moved == m { 1 } else { -1 };
                    let written = format!("priority {} for `{}`", prio[moved], names[moved]);
                    notes.translated(
                        vec![prio_at[0].clone(), prio_at[1].clone()],
                        format!(
                            "vrid {vrid}: both nodes have priority {p} and keepalived's backup never preempts an equal priority (RFC 3768 §6.4.2): the master keeps the VIP until it fails, and when both start, {how}; the inventory says the same with {written} and `preempt: false`: the same holder after a start, a failure and a recovery",
                            p = base,
                        ),
                    );
                    tie_translated.push(prio_at[0].clone());
                    m
                }
                Err(why) => {
                    notes.decide(
                        vec![prio_at[0].clone(), prio_at[1].clone()],
                        format!("vrid {vrid}: both nodes have priority {}; {why}", prio[0]),
                        "give the preferred master the higher priority in its keepalived.conf (or `nopreempt` on both)",
                    );
                    usize::from(states[1] == Some("MASTER") && states[0] != Some("MASTER"))
                }
            }
        };
        let vip_at: Vec<At> = x.vips.iter().map(|(v, _)| v.at.clone()).collect();
        // A VIP off the nodes' subnet (a second subnet on the segment, a routed address):
        // keepalived adds it as written; the inventory says it is meant (`check` HA025).
        let mut known: Vec<String> = addrs
            .iter()
            .flatten()
            .map(|(a, _)| a.prefix.map_or(a.addr.to_string(), |p| format!("{}/{p}", a.addr)))
            .collect();
        known.dedup();
        let mut outside_at = Vec::new();
        for (((text, (v, _)), undecided), own) in vip.iter().zip(&x.vips).zip(&undecided).zip(&own) {
            let Ok(c) = text.parse::<crate::values::VipCidr>() else { continue };
            if *undecided || vip_iface.is_some() || own.is_some() {
                continue; // on another interface: `plan` judges it against the node's addresses there
            }
            if addrs.iter().flatten().any(|(a, _)| !c.contains(a.addr)) {
                let nodes = known.join(", ");
                let message = if matches!(vip_parts(&v.text), Ok((_, None))) {
                    format!(
                        "VIP {} has no prefix length and lies outside the nodes' subnet ({nodes}): keepalived adds it on the interface as a /32 host address; written `{c}` with `outside_subnet: true`",
                        c.addr()
                    )
                } else {
                    format!(
                        "VIP {c} lies outside the nodes' subnet ({nodes}): keepalived adds it on the interface as given; written with `outside_subnet: true`"
                    )
                };
                notes.translated(vec![v.at.clone()], message);
                outside_at.push(v.at.clone());
            }
        }
        let vrid_at: Vec<At> = pair_insts.iter().filter_map(|i| i.vrid.as_ref().map(|v| v.at.clone())).collect();
        vips_out.push((vip, *vrid, master, prio, vip_at, vrid_at, prio_at, outside_at, vip_iface, own));
    }

    // `preempt: false` holds for the whole pair: a second VRID with unequal priorities would
    // lose its preemption.
    if !tie_translated.is_empty() && tie_translated.len() < vips_out.len() {
        notes.decide(
            tie_translated.clone(),
            "one VRID has equal priorities (the master keeps the VIP until it fails) and the other does not (the preferred master takes it back): hapair's `preempt` is one setting for the pair".into(),
            "give the preferred master of each VRID the higher priority",
        );
    }
    let preempt = preempt && tie_translated.is_empty();

    // The YAML: every value from the files quoted.
    let mut y = Yaml::default();
    y.w("# Imported by `hapair import keepalived` from two keepalived.conf files.", &[]);
    y.w("# Check it with `hapair check -i FILE`; set `defaults.connection` for SSH before `plan`.", &[]);
    // The pair is named after what the two node names share: lb1 + lb2 → lb.
    let common: String = names[0].chars().zip(names[1].chars()).take_while(|(x, z)| x == z).map(|(x, _)| x).collect();
    let common = common.trim_end_matches(|c: char| c.is_ascii_digit() || "-_.".contains(c));
    let pair_name = if usable(common) { common } else { "pair" };
    y.w(&format!("pairs:\n  {}:", yaml_str(pair_name)), &[]);
    let mode = if vips_out.len() == 2 { "dual-master" } else { "master-backup" };
    let inst_ats: Vec<At> = paired.iter().flat_map(|(_, p)| p.iter().map(|i| i.at())).collect();
    y.w(&format!("    mode: {mode}"), &inst_ats);
    let iface_at = |n: usize| -> Vec<At> { ifaces[n].iter().map(|v| v.at.clone()).collect() };
    if !per_node_iface {
        y.w(&format!("    interface: {}", yaml_str(&iface_text(0))), &[iface_at(0), iface_at(1)].concat());
    }
    y.w("    nodes:", &[]);
    for n in 0..2 {
        y.w(&format!("      - name: {}", yaml_str(&names[n])), &[]);
        match &addrs[n] {
            Some((a, _)) => y.w(&format!("        address: {}", yaml_str(&a.addr.to_string())), &[]),
            None => y.w("        address: \"\"   # unknown: give it with --node", &[]),
        }
        if per_node_iface {
            y.w(&format!("        interface: {}", yaml_str(&iface_text(n))), &iface_at(n));
        }
        if check.only == Some(n) {
            y.append_indented(std::mem::take(&mut check.yaml), "    ");
        }
        if check.per_node_weight {
            y.w("        check:", &[]);
            y.w(&format!("          weight: {}", check.weight[n]), &check.weight_at[n]);
        }
    }
    y.w("    vips:", &[]);
    for (vip, vrid, m, prio, vip_at, vrid_at, prio_at, outside_at, vip_iface, own) in &vips_out {
        match vip.as_slice() {
            [one] => y.w(&format!("      - address: {}", yaml_str(one)), vip_at),
            all => {
                // An address on its own interface is `{address: A, interface: NAME}`.
                let mut from = vip_at.clone();
                let list: Vec<String> = all
                    .iter()
                    .zip(own)
                    .map(|(v, o)| match o {
                        Some((d, at)) => {
                            for a in at {
                                if !from.contains(a) {
                                    from.push(a.clone());
                                }
                            }
                            format!("{{address: {}, interface: {}}}", yaml_str(v), yaml_str(d))
                        }
                        None => yaml_str(v),
                    })
                    .collect();
                y.w(&format!("      - address: [{}]", list.join(", ")), &from)
            }
        }
        y.w(&format!("        vrid: {vrid}"), vrid_at);
        y.w(&format!("        master: {}", yaml_str(&names[*m])), prio_at);
        y.w("        priorities:", prio_at);
        for n in 0..2 {
            let mut from = vec![prio_at[n].clone()];
            from.extend(check.weight_at[n].iter().filter(|_| check.positive[n].is_some()).cloned());
            y.w(&format!("          {}: {}", yaml_str(&names[n]), prio[n]), &from);
        }
        if !outside_at.is_empty() {
            y.w("        outside_subnet: true", outside_at);
        }
        if let Some((d, at)) = vip_iface {
            y.w(&format!("        interface: {}", yaml_str(d)), at);
        }
    }
    let first_at = |v: &[(String, At)]| -> Vec<At> { v.first().map(|x| x.1.clone()).into_iter().collect() };
    y.w("    vrrp:", &[]);
    y.w(&format!("      version: {version}"), &first_at(&versions));
    y.w(&format!("      advert_interval: {}", show(advert)), &first_at(&adverts));
    if let Some(p) = auth_pass.as_ref().filter(|_| version == 2) {
        y.w(
            &format!("      auth_pass: {}   # better: {{env: VAR}} or {{file: PATH}}", yaml_str(p)),
            &first_at(&passes),
        );
        if ah {
            y.w("      auth_type: \"ah\"", &first_at(&auths));
        }
    }
    if !preempt {
        let from = if tie_translated.is_empty() { first_at(&preempts) } else { tie_translated.clone() };
        y.w("      preempt: false", &from);
    }
    if let Some(d) = preempt_delay {
        y.w(&format!("      preempt_delay: {}", show(d)), &first_at(&delays));
    }
    if unicast {
        y.w("      transport: unicast", &first_at(&transports));
    }
    if check.only.is_some() {
        y.w("    check:\n      type: none", &[]);
    } else {
        y.append(check.yaml);
    }
    let mut all = notes.0;
    for c in cfgs {
        all.extend(c.not_mapped.iter().cloned());
    }
    // File A's notes before file B's (then included files), each in line order.
    let order = |n: &Note| -> (NoteKind, Vec<(usize, usize)>) {
        let rank = |at: &At| cfgs.iter().position(|c| c.file == at.file).unwrap_or(2);
        (n.kind, n.at.iter().map(|at| (rank(at), at.line)).collect())
    };
    all.sort_by_key(order);
    all.dedup();
    Ok(Imported { yaml: y.text, notes: all, origins: y.origins })
}

/// The node keepalived makes master of a VRID whose two priorities are equal (both preempting),
/// and how, when an inventory can give the same holder in every case: `Err` says why not.
///
/// At equal priorities keepalived's backup never preempts (RFC 3768 §6.4.2: an advert of equal
/// priority resets its timer), so the master keeps the VIP until it fails; which node that is
/// after a start of both is decided by keepalived's start (a `state MASTER` instance waits one
/// advert interval, a `state BACKUP` one three, vrrp_scheduler.c `vrrp_init_state`) and, when
/// both wait alike and become master together, by the higher primary address (§6.4.3). The
/// inventory says this with the winner one priority higher and `preempt: false` — the same
/// holder after any sequence of starts, failures and recoveries, as long as no check lowers a
/// priority (a check failure that is FAULT, weight 0, is a failure like any other; a check that
/// lowers a priority is elected with the equal priorities and preemption, by the caller).
fn equal_priority_election(
    states: &[Option<&str>],
    addrs: &[Option<(NodeAddr, String)>; 2],
    check: &CheckOut,
    names: &[String; 2],
) -> Result<(usize, String), String> {
    if check.tracked_any && !check.checked {
        return Err(
            "the tracked script could not be imported (see the decision about it), so keepalived's election cannot be compared"
                .into(),
        );
    }
    let says_master = |n: usize| states.get(n).copied().flatten() == Some("MASTER");
    if says_master(0) != says_master(1) {
        let m = usize::from(says_master(1));
        return Ok((
            m,
            format!(
                "`{}` is elected (with `state MASTER` keepalived waits one advert interval before it takes the VIP, with `state BACKUP` three)",
                names[m]
            ),
        ));
    }
    match (&addrs[0], &addrs[1]) {
        (Some((a, _)), Some((b, _))) if a.addr != b.addr => {
            let m = usize::from(b.addr > a.addr);
            let (hi, lo) = if m == 1 { (b.addr, a.addr) } else { (a.addr, b.addr) };
            Ok((
                m,
                format!(
                    "both wait alike and the higher address wins (RFC 3768 §6.4.3): `{}` ({hi} above {lo})",
                    names[m]
                ),
            ))
        }
        _ => {
            Err("keepalived then elects the node with the higher address, and the nodes' addresses are not known"
                .into())
        }
    }
}

/// The inventory's `check` from the tracked scripts.
struct CheckOut {
    yaml: Yaml,
    /// Per node, where its weight was written.
    weight_at: [Vec<At>; 2],
    /// Per node, keepalived's positive weight (added to the priorities).
    positive: [Option<i64>; 2],
    /// Per node, the inventory's `check.weight`.
    weight: [i64; 2],
    per_node_weight: bool,
    /// A check is written (not `type: none`).
    checked: bool,
    /// Only this node tracks a script: `yaml` belongs under that node, the pair has none.
    only: Option<usize>,
    /// Some instance tracks a script (whether or not a check could be made of it).
    tracked_any: bool,
}

fn check_of(cfgs: &[&Config; 2], paired: &[(u8, [&Instance; 2])], names: &[String; 2], notes: &mut Notes) -> CheckOut {
    let mut out = CheckOut {
        yaml: Yaml::default(),
        weight_at: [Vec::new(), Vec::new()],
        positive: [None, None],
        weight: [0, 0],
        per_node_weight: false,
        checked: false,
        only: None,
        tracked_any: false,
    };
    // Per node: the tracked scripts, in order, with the place of each track line.
    let mut tracked: [Vec<&Track>; 2] = [Vec::new(), Vec::new()];
    for (_, pi) in paired {
        for n in 0..2 {
            for t in &pi[n].track {
                if !tracked[n].iter().any(|u| u.name.text == t.name.text) {
                    tracked[n].push(t);
                }
            }
        }
    }
    // One node tracks scripts and the other none (a check on the master only): hapair's check is
    // per node, so the other node runs none — the same election. Otherwise every instance of both
    // nodes must track the same scripts (one check per node in hapair).
    let tracks = [0, 1].map(|n| paired.iter().any(|(_, pi)| !pi[n].track.is_empty()));
    out.tracked_any = tracks.contains(&true);
    let one_sided = match tracks {
        [true, false] => Some(0),
        [false, true] => Some(1),
        _ => None,
    };
    let sets: Vec<(String, At)> = paired
        .iter()
        .flat_map(|(_, pi)| pi.iter().enumerate())
        .filter(|(n, _)| one_sided.is_none_or(|c| c == *n))
        .map(|(_, i)| {
            let names: Vec<&str> = i.track.iter().map(|t| t.name.text.as_str()).collect();
            let at = i.track.first().map_or(i.at(), |t| t.name.at.clone());
            (if names.is_empty() { "(none)".to_string() } else { names.join(", ") }, at)
        })
        .collect();
    notes.agree(
        "the list of tracked scripts",
        &sets,
        false,
        "track the same script in every instance of both nodes: an hapair node runs one check for all its VIPs",
    );
    let script_of = |n: usize, t: &Track| cfgs[n].scripts.iter().find(|s| s.name == t.name.text);
    for n in 0..2 {
        for t in &tracked[n] {
            if script_of(n, t).is_none() {
                notes.decide(
                    vec![t.name.at.clone()],
                    format!("track_script `{}` names no vrrp_script of this file", t.name.text.escape_debug()),
                    "define the vrrp_script, or remove the track",
                );
            }
        }
        if tracked[n].len() > 1 {
            let rest: Vec<String> =
                tracked[n][1..].iter().map(|t| format!("`{}`", t.name.text.escape_debug())).collect();
            notes.decide(
                vec![tracked[n][1].name.at.clone()],
                format!(
                    "`{}` tracks {} scripts; an hapair node runs one check: only `{}` was imported, not {}",
                    names[n],
                    tracked[n].len(),
                    tracked[n][0].name.text.escape_debug(),
                    rest.join(", ")
                ),
                "combine the scripts into one, or choose the one that matters",
            );
        }
        for s in &cfgs[n].scripts {
            if !tracked[n].iter().any(|t| t.name.text == s.name) {
                notes.dropped(
                    s.at.iter().cloned().collect(),
                    format!(
                        "vrrp_script `{}` is defined but no imported instance tracks it: not carried over",
                        s.name.escape_debug()
                    ),
                );
            }
        }
    }
    let chosen: [Option<(&Track, &Script)>; 2] =
        [0, 1].map(|n| tracked[n].first().and_then(|t| script_of(n, t).map(|s| (*t, s))));
    // One-sided: the checked node's script stands for both in the comparisons below.
    let chosen = match one_sided {
        Some(c) => [chosen[c]; 2],
        None => chosen,
    };
    let (Some((ta, sa)), Some((tb, sb))) = (chosen[0], chosen[1]) else {
        out.yaml.w("    check:\n      type: none", &[]);
        return out;
    };
    out.checked = true;
    // The script's definition must agree between the nodes.
    let field = |s: &Script, f: fn(&Script) -> &Option<Val>, default: &str| -> (String, At) {
        f(s).as_ref().map_or((default.to_string(), s.at.clone().unwrap_or(At { file: PathBuf::new(), line: 0 })), |v| {
            (v.text.clone(), v.at.clone())
        })
    };
    let fix = "make the vrrp_script the same on both nodes";
    let command =
        notes.agree("the check script", &[field(sa, |s| &s.command, ""), field(sb, |s| &s.command, "")], false, fix);
    let interval = notes.agree(
        "the script `interval`",
        &[field(sa, |s| &s.interval, "1"), field(sb, |s| &s.interval, "1")],
        false,
        fix,
    );
    let interval_text = interval.unwrap_or_else(|| "1".into());
    let timeout = notes.agree(
        "the script `timeout`",
        &[field(sa, |s| &s.timeout, &interval_text), field(sb, |s| &s.timeout, &interval_text)],
        false,
        fix,
    );
    let fall =
        notes.agree("the script `fall`", &[field(sa, |s| &s.fall, "1"), field(sb, |s| &s.fall, "1")], false, fix);
    let rise =
        notes.agree("the script `rise`", &[field(sa, |s| &s.rise, "1"), field(sb, |s| &s.rise, "1")], false, fix);
    let command = command.unwrap_or_default();

    // Weights: the track line's, else the script's, else 0 (FAULT while failing).
    for (n, (t, s)) in [(ta, sa), (tb, sb)].into_iter().enumerate() {
        if one_sided.is_some_and(|c| c != n) {
            continue; // the node without a check has no weight
        }
        if t.reverse {
            notes.decide(
                vec![t.name.at.clone()],
                "`reverse` weight: hapair's check lowers the priority while it fails, never while it succeeds".into(),
                "invert the script's exit code instead",
            );
        }
        let written = t.weight.as_ref().or(s.weight.as_ref());
        out.weight_at[n] = written.map(|v| v.at.clone()).into_iter().collect();
        let w = match written {
            None => 0,
            Some(v) => {
                let num = v.text.split_whitespace().next().unwrap_or("");
                if v.text.split_whitespace().nth(1) == Some("reverse") {
                    notes.decide(
                        vec![v.at.clone()],
                        "`reverse` weight: hapair's check lowers the priority while it fails, never while it succeeds"
                            .into(),
                        "invert the script's exit code instead",
                    );
                }
                match num.parse::<i64>().ok().filter(|w| crate::values::CHECK_WEIGHT.contains(*w)) {
                    Some(w) => w,
                    None => {
                        notes.decide(
                            vec![v.at.clone()],
                            format!(
                                "weight `{}` is not a number from {}",
                                v.text.escape_debug(),
                                crate::values::CHECK_WEIGHT
                            ),
                            "fix the weight",
                        );
                        0
                    }
                }
            }
        };
        if w > 0 {
            let at = written.map(|v| v.at.clone()).into_iter().collect();
            // The same election: base + W while the script succeeds is (base + W) - W while it fails.
            let mut added = BTreeSet::new();
            for (_, pi) in paired {
                // An invalid priority is keepalived's default 100, as below.
                let p = pi[n].priority.as_ref().and_then(|p| p.text.parse::<u8>().ok()).filter(|p| *p >= 1);
                let p = p.map_or(100, i64::from);
                added.insert((p + w).min(254) - p.min(254));
            }
            let eff = added.iter().next().copied().unwrap_or(w).max(0);
            let owner = paired.iter().any(|(_, pi)| pi[n].priority.as_ref().is_some_and(|p| p.text == "255"));
            if eff == 0 && owner {
                // The priorities' decision about an owner's weight says it.
            } else if eff == 0 {
                notes.decide(
                    at,
                    format!(
                        "weight +{w} on `{}`: keepalived caps priority + weight at 254, so this check never changes its priority; hapair's `check.weight` 0 would release the VIP on a failure instead",
                        names[n]
                    ),
                    "lower the priority so that the weight counts, or remove the track",
                );
            } else if added.len() > 1 {
                notes.decide(
                    at,
                    format!("weight +{w} on `{}` is capped at priority 254 differently for its two VIPs", names[n]),
                    "lower the priorities so that priority + weight stays at or below 254",
                );
            } else {
                notes.translated(
                    at,
                    format!(
                        "weight +{w} on `{}`: keepalived adds it while the script succeeds; the inventory gives `{}` priorities {} higher and `check.weight` -{eff} (subtracted while the check fails): the same election",
                        names[n], names[n], eff
                    ),
                );
            }
            out.positive[n] = Some(eff);
            out.weight[n] = -eff;
        } else {
            out.weight[n] = w;
        }
    }
    if let Some(c) = one_sided {
        out.weight[1 - c] = out.weight[c];
        out.only = Some(c);
        notes.translated(
            vec![ta.name.at.clone()],
            format!(
                "only `{}` tracks a script (`{}`); `{}` tracks none: the inventory runs the check on `{}` alone (`check` under that node, `type: none` for the pair), as keepalived does",
                names[c],
                ta.name.text.escape_debug(),
                names[1 - c],
                names[c]
            ),
        );
    }
    out.per_node_weight = out.weight[0] != out.weight[1];
    if out.per_node_weight {
        let at: Vec<At> = [ta, tb]
            .iter()
            .zip([sa, sb])
            .filter_map(|(t, s)| t.weight.as_ref().or(s.weight.as_ref()).map(|v| v.at.clone()))
            .collect();
        notes.translated(
            at,
            format!(
                "the nodes' weights differ: `check.weight` is set per node ({} on `{}`, {} on `{}`)",
                out.weight[0], names[0], out.weight[1], names[1]
            ),
        );
    }
    let mut y = Yaml::default();
    let script_at = sa.at.clone().unwrap_or(At { file: PathBuf::new(), line: 0 });
    let sat = [sa.at.clone(), sb.at.clone()].into_iter().flatten().collect::<Vec<_>>();
    if is_nginx_check(&command) {
        y.w("    check:\n      type: http", &sat);
        notes.translated(
            vec![script_at],
            format!(
                "vrrp_script `{}` (`{}`) became the built-in HTTP check of local nginx",
                sa.name.escape_debug(),
                command.escape_debug()
            ),
        );
    } else {
        let argv: Vec<String> = command.split_whitespace().map(yaml_str).collect();
        y.w("    check:\n      type: script", &sat);
        y.w(&format!("      script: [{}]", argv.join(", ")), &sat);
        notes.translated(
            vec![script_at],
            format!(
                "vrrp_script `{}` kept as a script check: `{}` must exist on {}",
                sa.name.escape_debug(),
                command.escape_debug(),
                one_sided.map_or("both nodes".to_string(), |c| format!("`{}`", names[c]))
            ),
        );
    }
    let secs = |what: &str, v: Option<String>, notes: &mut Notes| -> Option<String> {
        let v = v?;
        match seconds(&v) {
            Some(d) if !d.is_zero() => Some(show(d)),
            _ => {
                notes.decide(
                    sa.at.iter().cloned().collect(),
                    format!("the script `{what}` `{}` is not a number of seconds", v.escape_debug()),
                    format!("write it like `{what} 2`"),
                );
                None
            }
        }
    };
    if let Some(i) = secs("interval", Some(interval_text.clone()), notes) {
        y.w(&format!("      interval: {i}"), &sat);
    }
    if let Some(t) = secs("timeout", timeout, notes) {
        y.w(&format!("      timeout: {t}"), &sat);
    }
    for (k, v) in [("fall", fall), ("rise", rise)] {
        let v = v.unwrap_or_else(|| "1".into());
        match v.parse::<u8>().ok().filter(|c| *c >= 1) {
            Some(c) => {
                y.w(&format!("      {k}: {c}"), &sat);
            }
            None => notes.decide(
                sa.at.iter().cloned().collect(),
                format!("the script `{k}` `{}` is not a number from 1 to 255", v.escape_debug()),
                format!("write it like `{k} 2`"),
            ),
        }
    }
    if !out.per_node_weight {
        let from = [out.weight_at[0].clone(), out.weight_at[1].clone()].concat();
        y.w(&format!("      weight: {}", out.weight[0]), &from);
    }
    out.yaml = y;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEED_A: &str = "global_defs {\n    router_id lb1\n}\nvrrp_script chk {\n    script \"/usr/local/bin/check\"\n    interval 2\n    weight 2\n}\nvrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    virtual_router_id 51\n    priority 101\n    advert_int 1\n    unicast_src_ip 10.0.0.11/24\n    unicast_peer {\n        10.0.0.12\n    }\n    authentication {\n        auth_type PASS\n        auth_pass secret\n    }\n    virtual_ipaddress {\n        10.0.0.200\n    }\n    track_script {\n        chk\n    }\n}\n";

    fn seed_b() -> String {
        SEED_A
            .replace("lb1", "lb2")
            .replace("MASTER", "BACKUP")
            .replace("priority 101", "priority 100")
            .replace("10.0.0.11/24", "10.0.0.1X/24")
            .replace("        10.0.0.12\n", "        10.0.0.11\n")
            .replace("10.0.0.1X/24", "10.0.0.12/24")
    }

    /// Import two texts; the YAML (when there is one) is returned.
    fn import(a: &str, b: &str) -> Option<Imported> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!("hapair-import-prop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (pa, pb) = (dir.join(format!("{n}-a.conf")), dir.join(format!("{n}-b.conf")));
        std::fs::write(&pa, a).unwrap();
        std::fs::write(&pb, b).unwrap();
        let r = match (read(&pa), read(&pb)) {
            (Ok(ca), Ok(cb)) => pair(&ca, &cb, &BTreeMap::new()).ok(),
            _ => None,
        };
        let _ = std::fs::remove_file(pa);
        let _ = std::fs::remove_file(pb);
        r
    }

    /// The YAML parses, and its keys are only those the import writes.
    fn assert_shape(yaml: &str) {
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let keys = |v: &serde_yaml_ng::Value| -> Vec<String> {
            v.as_mapping().map(|m| m.keys().map(|k| format!("{k:?}")).collect()).unwrap_or_default()
        };
        assert_eq!(keys(&v), ["String(\"pairs\")"], "{yaml}");
        let pair = v["pairs"].as_mapping().unwrap().values().next().unwrap().clone();
        for k in keys(&pair) {
            let ok =
                ["mode", "interface", "nodes", "vips", "vrrp", "check"].iter().any(|w| k == format!("String(\"{w}\")"));
            assert!(ok, "{k}\n{yaml}");
        }
        let _ = crate::inventory::load_bytes(Path::new("<imported>"), yaml.as_bytes().to_vec(), &[]);
    }

    #[test]
    fn the_seed_imports_clean_with_its_weight_translated() {
        let i = import(SEED_A, &seed_b()).expect("imports");
        assert_eq!(i.decisions(), 0, "{:?}", i.notes);
        assert_shape(&i.yaml);
        assert!(i.yaml.contains("\"lb1\": 103\n"), "{}", i.yaml);
        assert!(i.yaml.contains("weight: -2\n"), "{}", i.yaml);
        assert!(i.yaml.contains("address: \"10.0.0.200/24\""), "{}", i.yaml);
        let loaded = crate::inventory::load_bytes(Path::new("<imported>"), i.yaml.into_bytes(), &[]);
        assert!(loaded.is_ok(), "{loaded:?}");
    }

    /// A check on one node only: that node runs it, the other none, as in keepalived.
    #[test]
    fn a_check_on_one_node_only_stays_on_that_node() {
        let a = SEED_A.replace("weight 2", "weight -20");
        let b = seed_b().replace("    track_script {\n        chk\n    }\n", "");
        let i = import(&a, &b).expect("imports");
        assert_eq!(i.decisions(), 0, "{:?}", i.notes);
        let inv = crate::inventory::load_bytes(Path::new("<imported>"), i.yaml.clone().into_bytes(), &[])
            .unwrap_or_else(|e| panic!("{e:?}\n{}", i.yaml));
        let nodes = &inv.inventory.pairs[0].nodes;
        assert!(matches!(nodes[0].check.kind, crate::inventory::CheckKind::Script { .. }), "{}", i.yaml);
        assert_eq!(nodes[0].check.weight, -20, "{}", i.yaml);
        assert_eq!(nodes[1].check.kind, crate::inventory::CheckKind::None, "{}", i.yaml);
    }

    /// `mcast_src_ip` (keepalived's other name for the advert source) gives the node's address,
    /// with its prefix, and keeps the pair on multicast.
    #[test]
    fn mcast_src_ip_is_the_node_address() {
        let mc = |t: &str| {
            t.replace("unicast_src_ip", "mcast_src_ip")
                .replace("    unicast_peer {\n        10.0.0.12\n    }\n", "")
                .replace("    unicast_peer {\n        10.0.0.11\n    }\n", "")
        };
        let i = import(&mc(SEED_A), &mc(&seed_b())).expect("imports");
        assert_eq!(i.decisions(), 0, "{:?}", i.notes);
        assert!(i.yaml.contains("address: \"10.0.0.12\"\n") && !i.yaml.contains("unicast"), "{}", i.yaml);
        assert!(i.yaml.contains("address: \"10.0.0.200/24\""), "{}", i.yaml);
    }

    /// Who holds the VIP after each event, by RFC 3768's rules, for a pair whose nodes start
    /// down. An event is a node becoming able to hold the VIP (started, check passing) or not
    /// (stopped, crashed, check failing as FAULT); `None` is both starting together, where the
    /// node that times out first (`first`) becomes master. A backup takes the VIP from a live
    /// master only with preemption on and a higher priority (§6.4.2).
    fn holders(events: &[Option<(usize, bool)>], prio: [i64; 2], preempt: bool, first: usize) -> Vec<Option<usize>> {
        let (mut up, mut holder) = ([false; 2], None::<usize>);
        let mut out = Vec::new();
        for e in events {
            match *e {
                None => {
                    if holder.is_none() && !up[0] && !up[1] {
                        holder = Some(first);
                    }
                    up = [true; 2];
                }
                Some((n, able)) => up[n] = able,
            }
            holder = match holder {
                Some(h) if up[h] => {
                    let o = 1 - h;
                    if up[o] && preempt && prio[o] > prio[h] {
                        Some(o)
                    } else {
                        Some(h)
                    }
                }
                _ => (0..2).find(|n| up[*n]),
            };
            out.push(holder);
        }
        out
    }

    /// Every history of `len` events (each history's prefixes are its shorter ones).
    fn histories(len: usize) -> Vec<Vec<Option<(usize, bool)>>> {
        let steps = [None, Some((0, true)), Some((0, false)), Some((1, true)), Some((1, false))];
        let mut layer = vec![Vec::new()];
        for _ in 0..len {
            layer = layer
                .iter()
                .flat_map(|h: &Vec<_>| {
                    steps.iter().map(move |s| {
                        let mut h = h.clone();
                        h.push(*s);
                        h
                    })
                })
                .collect();
        }
        layer
    }

    /// Equal priorities: the imported pair elects the same holder as keepalived after every
    /// history of starts, failures and recoveries (keepalived: the two priorities equal, the
    /// start winner by `state` or address); a translation that kept preemption would not.
    #[test]
    fn equal_priorities_become_the_same_election_in_every_history() {
        let no_weight = |t: &str| t.replace("    weight 2\n", "");
        let cases = [
            // (file A, file B, the node keepalived elects at a start of both)
            (no_weight(SEED_A).replace("priority 101", "priority 100"), no_weight(&seed_b()), 0, "\"lb1\": 101"),
            (
                no_weight(SEED_A).replace("priority 101", "priority 100").replace("MASTER", "BACKUP"),
                no_weight(&seed_b()),
                1,
                "\"lb2\": 101",
            ),
            (
                no_weight(SEED_A).replace("priority 101", "priority 254"),
                no_weight(&seed_b()).replace("priority 100", "priority 254"),
                0,
                "\"lb2\": 253",
            ),
        ];
        let hist = histories(6);
        for (a, b, winner, written) in cases {
            let i = import(&a, &b).expect("imports");
            assert_eq!(i.decisions(), 0, "{:?}", i.notes);
            assert!(i.yaml.contains(written) && i.yaml.contains("preempt: false"), "{}", i.yaml);
            let inv = crate::inventory::load_bytes(Path::new("<imported>"), i.yaml.clone().into_bytes(), &[])
                .unwrap_or_else(|e| panic!("{e:?}"));
            let (pair, vip) = (&inv.inventory.pairs[0], &inv.inventory.pairs[0].vips[0]);
            let prio = vip.priorities.map(|p| i64::from(p.get()));
            let preempt = pair.nodes[0].vrrp.preempt;
            let first = usize::from(prio[1] > prio[0]);
            assert_eq!(first, winner, "{}", i.yaml);
            for h in &hist {
                let kept = holders(h, [5, 5], true, winner);
                assert_eq!(holders(h, prio, preempt, first), kept, "history {h:?}\n{}", i.yaml);
            }
            // The test can fail: with preemption on, a recovered preferred master takes it back.
            assert!(hist.iter().any(|h| holders(h, prio, true, first) != holders(h, [5, 5], true, winner)));
        }
        // A check that lowers a priority hands over but never back: the equal priorities stay,
        // with preemption, the RFC election the daemon runs (src/vrrp/fsm/tests.rs
        // `equal_priorities_with_a_check_weight_elect_as_keepalived_does`).
        let i = import(&SEED_A.replace("priority 101", "priority 100"), &seed_b()).expect("imports");
        assert_eq!(i.decisions(), 0, "{:?}", i.notes);
        assert!(i.yaml.contains("\"lb1\": 102") && i.yaml.contains("\"lb2\": 102"), "{}", i.yaml);
        assert!(!i.yaml.contains("preempt: false") && i.yaml.contains("weight: -2"), "{}", i.yaml);
        assert!(format!("{:?}", i.notes).contains("does not take it back"), "{:?}", i.notes);
        let inv = crate::inventory::load_bytes(Path::new("<imported>"), i.yaml.clone().into_bytes(), &[])
            .unwrap_or_else(|e| panic!("{e:?}"));
        let pair = &inv.inventory.pairs[0];
        assert!(!pair.takes_back(&pair.vips[0], 0) && !pair.takes_back(&pair.vips[0], 1));
    }

    /// Authentication as keepalived 2.2.7 reads it (checked with `keepalived -t` and its
    /// configuration dump): only exactly `PASS`/`AH` with a password authenticate; any other
    /// type, a password without a type, and `vrrp_strict` run without authentication.
    #[test]
    fn authentication_is_what_keepalived_uses() {
        let both = |from: &str, to: &str| import(&SEED_A.replace(from, to), &seed_b().replace(from, to)).unwrap();
        for (what, from, to) in [
            ("no_auth", "auth_type PASS", "auth_type no_auth"),
            ("lower case", "auth_type PASS", "auth_type pass"),
            ("no type", "        auth_type PASS\n", ""),
            ("no password", "        auth_pass secret\n", ""),
            ("strict", "    router_id", "    vrrp_strict\n    router_id"),
        ] {
            let i = both(from, to);
            assert_eq!(i.decisions(), 0, "{what}: {:?}", i.notes);
            assert!(!i.yaml.contains("auth_pass"), "{what}: {}", i.yaml);
            assert!(
                i.notes
                    .iter()
                    .any(|n| n.kind == NoteKind::Translated && n.message.contains("and so does the inventory")),
                "{what}: {:?}",
                i.notes
            );
        }
        // Exactly PASS: authenticated. One node `pass`, the other `PASS`: they disagree.
        assert!(both("", "").yaml.contains("auth_pass: \"secret\""));
        let i = import(&SEED_A.replace("auth_type PASS", "auth_type pass"), &seed_b()).expect("imports");
        assert_eq!(i.decisions(), 1, "{:?}", i.notes);
        // AH on both: translated, with the places; PASS on one and AH on the other: a decision.
        let i = both("auth_type PASS", "auth_type AH");
        assert_eq!(i.decisions(), 0, "{:?}", i.notes);
        assert!(
            i.yaml.contains(
                "      auth_pass: \"secret\"   # better: {env: VAR} or {file: PATH}\n      auth_type: \"ah\"\n"
            ),
            "{}",
            i.yaml
        );
        let n = i.notes.iter().find(|n| n.message.starts_with("auth_type AH becomes")).expect("said");
        assert_eq!(n.kind, NoteKind::Translated);
        assert_eq!(n.at.len(), 2, "{:?}", n.at);
        let i = import(&SEED_A.replace("auth_type PASS", "auth_type AH"), &seed_b()).expect("imports");
        assert_eq!(i.decisions(), 1, "{:?}", i.notes);
        assert!(
            i.notes.iter().any(|n| n.message.contains("`PASS` at") && n.message.contains("`AH` at")),
            "{:?}",
            i.notes
        );
    }

    /// A third unicast peer only one node sends to is not carried over; one both send to is a
    /// third router: a decision.
    #[test]
    fn a_third_peer_is_dropped_unless_both_nodes_send_to_it() {
        let third = |t: &str| t.replace("    unicast_peer {\n", "    unicast_peer {\n        10.0.0.40\n");
        let i = import(&third(SEED_A), &seed_b()).expect("imports");
        assert_eq!(i.decisions(), 0, "{:?}", i.notes);
        assert!(i.notes.iter().any(|n| n.kind == NoteKind::NotCarried && n.message.contains("10.0.0.40")));
        let i = import(&third(SEED_A), &third(&seed_b())).expect("imports");
        assert_eq!(i.decisions(), 2, "{:?}", i.notes);
    }

    /// keepalived ignores the weights of an address owner's (priority 255) tracked scripts.
    #[test]
    fn an_owners_check_weight_is_a_decision() {
        for weight in ["weight 2", "weight -60"] {
            let a = SEED_A.replace("priority 101", "priority 255").replace("weight 2", weight);
            let i = import(&a, &seed_b()).expect("imports");
            assert_eq!(i.decisions(), 1, "{weight}: {:?}", i.notes);
            assert!(format!("{:?}", i.notes).contains("ignores the weight of an owner's tracked script"));
        }
        // At 254 a positive weight is capped away: the check never changes the priority.
        let i = import(&SEED_A.replace("priority 101", "priority 254"), &seed_b()).expect("imports");
        assert_eq!(i.decisions(), 1, "{:?}", i.notes);
        assert!(format!("{:?}", i.notes).contains("caps priority + weight at 254"));
        let no_weight = |t: &str| t.replace("    weight 2\n", "");
        let i = import(&no_weight(SEED_A).replace("priority 101", "priority 255"), &no_weight(&seed_b())).unwrap();
        assert_eq!(i.decisions(), 0, "{:?}", i.notes);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Any value in place of the ones written by users stays one quoted value.
        #[test]
        fn hostile_values_stay_values(v in "[^\"\n!#{}]{0,40}", which in 0usize..5) {
            let target = ["eth0", "secret", "/usr/local/bin/check", "lb1", "10.0.0.200"][which];
            let a = SEED_A.replace(target, &format!("\"{v}\""));
            let b = seed_b().replace(target, &format!("\"{v}\""));
            if let Some(i) = import(&a, &b) {
                assert_shape(&i.yaml);
            }
        }

        /// Byte flips and cuts never panic, and what imports is well-formed.
        #[test]
        fn mutations_never_panic(pos in 0usize..SEED_A.len(), byte in any::<u8>(), cut in 0usize..SEED_A.len()) {
            let mut a = SEED_A.as_bytes().to_vec();
            a[pos] = byte;
            a.truncate(cut.max(pos + 1));
            let a = String::from_utf8_lossy(&a).to_string();
            if let Some(i) = import(&a, &seed_b()) {
                assert_shape(&i.yaml);
            }
        }
    }
}
