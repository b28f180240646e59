//! `hapair import keepalived`: the keepalived.conf subset used for nginx HA (global_defs,
//! vrrp_script, vrrp_instance), two nodes' files paired into one inventory pair. Pure but for
//! reading the files.

pub mod syntax;

use std::collections::BTreeMap;
use std::fmt::Write;
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

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Script {
    pub name: String,
    pub command: String,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub weight: Option<i64>,
    pub fall: Option<String>,
    pub rise: Option<String>,
    pub at: (PathBuf, usize),
}

#[derive(Debug, Clone, Default)]
pub struct Instance {
    pub name: String,
    pub state: Option<String>,
    pub interface: Option<String>,
    pub vrid: Option<u8>,
    pub priority: Option<u8>,
    pub advert_int: Option<String>,
    pub version: Option<u8>,
    pub auth_pass: Option<String>,
    pub vips: Vec<String>,
    pub track: Vec<(String, Option<i64>)>,
    pub nopreempt: bool,
    pub preempt_delay: Option<String>,
    pub unicast_src_ip: Option<Ipv4Addr>,
    pub unicast_peers: Vec<String>,
    pub at: (PathBuf, usize),
}

/// One node's configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub file: PathBuf,
    pub router_id: Option<String>,
    pub version: Option<u8>,
    pub scripts: Vec<Script>,
    pub instances: Vec<Instance>,
    /// What was read but has no place in an inventory, with where it stood.
    pub not_mapped: Vec<String>,
}

fn at(i: &Item) -> String {
    format!("{}:{}", i.file.display(), i.line)
}

fn first(i: &Item) -> Option<String> {
    i.args.first().cloned()
}

pub fn read(path: &Path) -> Result<Config, ImportError> {
    let items = syntax::parse_file(path).map_err(|e| ImportError {
        file: e.file,
        line: e.line,
        message: e.message,
        fix: e.fix,
    })?;
    let mut c = Config { file: path.to_path_buf(), ..Default::default() };
    let num = |i: &Item, what: &str| -> Result<Option<u8>, ImportError> {
        match first(i) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| ImportError {
                file: i.file.clone(),
                line: i.line,
                message: format!("`{what}` is `{v}`, not a number from 0 to 255"),
                fix: format!("fix `{what}` in keepalived.conf"),
            }),
        }
    };
    for item in &items {
        let block = item.block.as_deref().unwrap_or(&[]);
        match item.key.as_str() {
            "global_defs" => {
                for g in block {
                    match g.key.as_str() {
                        "router_id" => c.router_id = first(g),
                        "vrrp_version" => c.version = num(g, "vrrp_version")?,
                        "script_user"
                        | "enable_script_security"
                        | "notification_email"
                        | "notification_email_from"
                        | "smtp_server"
                        | "smtp_connect_timeout" => {}
                        k => c.not_mapped.push(format!("{}: global_defs `{k}`", at(g))),
                    }
                }
            }
            "vrrp_script" => {
                let mut s = Script {
                    name: first(item).unwrap_or_default(),
                    at: (item.file.clone(), item.line),
                    ..Default::default()
                };
                for k in block {
                    let v = || k.args.join(" ");
                    match k.key.as_str() {
                        "script" => s.command = v(),
                        "interval" => s.interval = first(k),
                        "timeout" => s.timeout = first(k),
                        "weight" => s.weight = first(k).and_then(|w| w.parse().ok()),
                        "fall" => s.fall = first(k),
                        "rise" => s.rise = first(k),
                        other => c.not_mapped.push(format!("{}: vrrp_script `{}` `{other}`", at(k), s.name)),
                    }
                }
                c.scripts.push(s);
            }
            "vrrp_instance" => {
                let mut inst = Instance {
                    name: first(item).unwrap_or_default(),
                    at: (item.file.clone(), item.line),
                    ..Default::default()
                };
                for k in block {
                    let sub = k.block.as_deref().unwrap_or(&[]);
                    match k.key.as_str() {
                        "state" => inst.state = first(k),
                        "interface" => inst.interface = first(k),
                        "virtual_router_id" => inst.vrid = num(k, "virtual_router_id")?,
                        "priority" => inst.priority = num(k, "priority")?,
                        "advert_int" => inst.advert_int = first(k),
                        "version" => inst.version = num(k, "version")?,
                        "nopreempt" => inst.nopreempt = true,
                        "preempt_delay" => inst.preempt_delay = first(k),
                        "unicast_src_ip" => inst.unicast_src_ip = first(k).and_then(|a| a.parse().ok()),
                        "unicast_peer" => inst.unicast_peers = sub.iter().map(|p| p.key.clone()).collect(),
                        "authentication" => {
                            for a in sub {
                                match a.key.as_str() {
                                    "auth_pass" => inst.auth_pass = first(a),
                                    "auth_type" if first(a).as_deref() == Some("PASS") => {}
                                    other => c.not_mapped.push(format!(
                                        "{}: authentication `{other} {}` (only PASS is supported)",
                                        at(a),
                                        a.args.join(" ")
                                    )),
                                }
                            }
                        }
                        "virtual_ipaddress" => {
                            for v in sub {
                                inst.vips.push(v.key.clone());
                                if !v.args.is_empty() {
                                    c.not_mapped.push(format!(
                                        "{}: VIP options `{}` (hapair labels its VIPs itself)",
                                        at(v),
                                        v.args.join(" ")
                                    ));
                                }
                            }
                        }
                        "track_script" => {
                            for t in sub {
                                let weight = t
                                    .args
                                    .iter()
                                    .position(|a| a == "weight")
                                    .and_then(|i| t.args.get(i + 1))
                                    .and_then(|w| w.parse().ok());
                                inst.track.push((t.key.clone(), weight));
                            }
                        }
                        k2 if k2.starts_with("notify") => c.not_mapped.push(format!(
                            "{}: `{k2} {}` (hapair's daemon has `notify`; set it by hand if you need it)",
                            at(k),
                            k.args.join(" ")
                        )),
                        "garp_master_delay" | "garp_master_repeat" | "garp_master_refresh" => c
                            .not_mapped
                            .push(format!("{}: `{}` (hapair sends gratuitous ARP per `vrrp.garp`)", at(k), k.key)),
                        other => c.not_mapped.push(format!("{}: vrrp_instance `{}` `{other}`", at(k), inst.name)),
                    }
                }
                c.instances.push(inst);
            }
            "" => {}
            other => c.not_mapped.push(format!("{}: `{other}` block", at(item))),
        }
    }
    Ok(c)
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
    pub notes: Vec<String>,
}

fn err(file: &Path, line: usize, message: String, fix: impl Into<String>) -> ImportError {
    ImportError { file: file.to_path_buf(), line, message, fix: fix.into() }
}

fn node_name(c: &Config, fallback: &str) -> String {
    let raw = c.router_id.clone().unwrap_or_else(|| {
        c.file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| fallback.to_string())
    });
    let s: String = raw
        .to_ascii_lowercase()
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() || "-_.".contains(ch) { ch } else { '-' })
        .collect();
    if s.is_empty() || !s.starts_with(|ch: char| ch.is_ascii_alphanumeric()) {
        fallback.to_string()
    } else {
        s
    }
}

fn duration(v: &str) -> String {
    // keepalived writes seconds, possibly fractional.
    match v.parse::<f64>() {
        Ok(f) if f.fract() == 0.0 => format!("{}s", f as u64),
        Ok(f) => format!("{}ms", (f * 1000.0).round() as u64),
        Err(_) => v.to_string(),
    }
}

fn yaml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Pair two nodes' configurations. `nodes` gives addresses by node name (`--node NAME=ADDR`)
/// where `unicast_src_ip` does not.
pub fn pair(a: &Config, b: &Config, nodes: &BTreeMap<String, Ipv4Addr>) -> Result<Imported, ImportError> {
    let mut notes = Vec::new();
    let names = [node_name(a, "node1"), node_name(b, "node2")];
    let names = if names[0] == names[1] { [format!("{}-a", names[0]), format!("{}-b", names[1])] } else { names };
    let cfgs = [a, b];
    if a.instances.is_empty() {
        return Err(err(
            &a.file,
            0,
            "no `vrrp_instance` found".into(),
            "give the keepalived.conf of a node that runs VRRP",
        ));
    }
    // Instances by VRID, on both sides.
    let mut vrids: Vec<u8> = Vec::new();
    for c in cfgs {
        for i in &c.instances {
            let Some(v) = i.vrid else {
                return Err(err(
                    &i.at.0,
                    i.at.1,
                    format!("vrrp_instance `{}` has no `virtual_router_id`", i.name),
                    "add it; it is what pairs the two files' instances",
                ));
            };
            if !vrids.contains(&v) {
                vrids.push(v);
            }
        }
    }
    vrids.sort();
    let mut per_vrid = Vec::new();
    for v in &vrids {
        let ia = a.instances.iter().find(|i| i.vrid == Some(*v));
        let ib = b.instances.iter().find(|i| i.vrid == Some(*v));
        match (ia, ib) {
            (Some(x), Some(y)) => per_vrid.push((*v, x, y)),
            (Some(x), None) | (None, Some(x)) => {
                let other = if ia.is_some() { &b.file } else { &a.file };
                return Err(err(
                    &x.at.0,
                    x.at.1,
                    format!("vrrp_instance `{}` (vrid {v}) has no counterpart in `{}`", x.name, other.display()),
                    "give both nodes' files; each VRID must appear in both",
                ));
            }
            (None, None) => {}
        }
    }
    if per_vrid.len() > 2 {
        notes.push(format!("{} VRIDs found; an hapair pair holds one (master-backup) or two (dual-master): only the first two were imported", per_vrid.len()));
        per_vrid.truncate(2);
    }
    // Addresses.
    let mut addrs = [None, None];
    for (n, c) in cfgs.iter().enumerate() {
        addrs[n] = nodes.get(&names[n]).copied().or_else(|| c.instances.iter().find_map(|i| i.unicast_src_ip));
    }
    for n in 0..2 {
        if addrs[n].is_none() {
            return Err(err(
                &cfgs[n].file,
                0,
                format!("the address of node `{}` is not in its keepalived.conf", names[n]),
                format!("give it: `--node {}=ADDRESS` (its address on the VRRP interface)", names[n]),
            ));
        }
    }
    let first_inst = per_vrid[0].1;
    let interface = first_inst.interface.clone().unwrap_or_else(|| "eth0".into());
    let version = first_inst.version.or(a.version).unwrap_or(2);
    let advert = first_inst.advert_int.clone().map(|v| duration(&v)).unwrap_or_else(|| "1s".into());
    let mode = if per_vrid.len() == 2 { "dual-master" } else { "master-backup" };

    // The check: the scripts the instances track.
    let tracked: Vec<(&Script, Option<i64>)> = per_vrid
        .iter()
        .flat_map(|(_, x, _)| x.track.iter())
        .filter_map(|(name, w)| a.scripts.iter().find(|s| &s.name == name).map(|s| (s, *w)))
        .collect();
    let mut check = String::new();
    match tracked.first() {
        Some((s, w)) => {
            if tracked.iter().any(|(t, _)| t.name != s.name) {
                notes.push("instances track more than one script: only the first was imported".into());
            }
            let weight = w.or(s.weight).unwrap_or(0);
            if is_nginx_check(&s.command) {
                let _ = writeln!(
                    check,
                    "    check:                         # was vrrp_script `{}`: {}",
                    s.name,
                    s.command.replace('\n', " ")
                );
                let _ = writeln!(check, "      type: http");
                notes.push(format!(
                    "{}:{}: vrrp_script `{}` (`{}`) became the built-in HTTP check of local nginx",
                    s.at.0.display(),
                    s.at.1,
                    s.name,
                    s.command
                ));
            } else {
                let _ = writeln!(check, "    check:");
                let _ = writeln!(check, "      type: script");
                let _ = writeln!(check, "      script: [{}]", yaml_str(&s.command));
                notes.push(format!(
                    "{}:{}: vrrp_script `{}` kept as a script check; it must exist on both nodes",
                    s.at.0.display(),
                    s.at.1,
                    s.name
                ));
            }
            for (k, v) in [("interval", &s.interval), ("timeout", &s.timeout)] {
                if let Some(v) = v {
                    let _ = writeln!(check, "      {k}: {}", duration(v));
                }
            }
            for (k, v) in [("fall", &s.fall), ("rise", &s.rise)] {
                if let Some(v) = v {
                    let _ = writeln!(check, "      {k}: {v}");
                }
            }
            let _ = writeln!(check, "      weight: {weight}");
        }
        None => {
            if let Some(s) = a.scripts.first() {
                notes.push(format!("{}:{}: vrrp_script `{}` is defined but no vrrp_instance tracks it: nginx failing never moves the VIP", s.at.0.display(), s.at.1, s.name));
                let _ = writeln!(
                    check,
                    "    check:                         # vrrp_script `{}` was tracked by no instance",
                    s.name
                );
                let _ = writeln!(check, "      type: none");
                if let Some(v) = &s.interval {
                    let _ = writeln!(check, "      interval: {}", duration(v));
                }
                if let Some(w) = s.weight {
                    let _ = writeln!(check, "      weight: {w}");
                }
            } else {
                let _ = writeln!(check, "    check:\n      type: none");
            }
        }
    }

    let mut y = String::new();
    let _ = writeln!(y, "# Imported by `hapair import keepalived` from {} and {}.", a.file.display(), b.file.display());
    let _ = writeln!(y, "# Check it with `hapair check -i FILE`; set `defaults.connection` for SSH before `plan`.");
    // The pair is named after what the two node names share: lb1 + lb2 → lb.
    let common: String = names[0].chars().zip(names[1].chars()).take_while(|(x, z)| x == z).map(|(x, _)| x).collect();
    let common = common.trim_end_matches(|c: char| c.is_ascii_digit() || "-_.".contains(c));
    let _ = writeln!(y, "pairs:\n  {}:", if common.is_empty() { "pair" } else { common });
    let _ = writeln!(y, "    mode: {mode}\n    interface: {interface}\n    nodes:");
    for n in 0..2 {
        let _ = writeln!(
            y,
            "      - name: {}\n        address: {}",
            names[n],
            addrs[n].map(|a| a.to_string()).unwrap_or_default()
        );
    }
    let _ = writeln!(y, "    vips:");
    for (v, x, z) in &per_vrid {
        let (pa, pb) = (x.priority.unwrap_or(100), z.priority.unwrap_or(100));
        let master = if pa > pb || (pa == pb && x.state.as_deref() == Some("MASTER")) { &names[0] } else { &names[1] };
        let Some(vip) = x.vips.first() else {
            return Err(err(
                &x.at.0,
                x.at.1,
                format!("vrrp_instance `{}` has no `virtual_ipaddress`", x.name),
                "add the VIP",
            ));
        };
        let vip = if vip.contains('/') {
            vip.clone()
        } else {
            notes.push(format!("{}:{}: VIP {vip} has no prefix length; keepalived uses /32, which is not the nodes' subnet: give the real prefix", x.at.0.display(), x.at.1));
            format!("{vip}/32")
        };
        if x.vips.len() > 1 {
            notes.push(format!(
                "{}:{}: vrrp_instance `{}` has {} VIPs; hapair has one per VRID: only {} was imported",
                x.at.0.display(),
                x.at.1,
                x.name,
                x.vips.len(),
                vip
            ));
        }
        let _ = writeln!(y, "      - address: {vip}\n        vrid: {v}\n        master: {master}\n        priorities: {{{}: {pa}, {}: {pb}}}", names[0], names[1]);
    }
    let _ = writeln!(y, "    vrrp:\n      version: {version}\n      advert_interval: {advert}");
    if let Some(p) = &first_inst.auth_pass {
        let _ = writeln!(y, "      auth_pass: {}            # move it to {{env: VAR}} or {{file: PATH}}", yaml_str(p));
    }
    if per_vrid.iter().any(|(_, x, _)| x.nopreempt) {
        let _ = writeln!(y, "      preempt: false");
    }
    if let Some(d) = &first_inst.preempt_delay {
        let _ = writeln!(y, "      preempt_delay: {}", duration(d));
    }
    if first_inst.unicast_src_ip.is_some() || !first_inst.unicast_peers.is_empty() {
        let _ = writeln!(y, "      transport: unicast");
        for (n, c) in cfgs.iter().enumerate() {
            let peer = addrs[1 - n].map(|a| a.to_string()).unwrap_or_default();
            if let Some(i) =
                c.instances.iter().find(|i| !i.unicast_peers.is_empty() && !i.unicast_peers.contains(&peer))
            {
                notes.push(format!("{}:{}: `unicast_peer` {} is not the other node ({peer}); hapair's unicast peer is always the other node", i.at.0.display(), i.at.1, i.unicast_peers.join(", ")));
            }
        }
    }
    y.push_str(&check);
    for c in cfgs {
        notes.extend(c.not_mapped.iter().map(|n| format!("{n}: not mapped")));
    }
    Ok(Imported { yaml: y, notes })
}
