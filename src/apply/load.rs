//! Stop-gap inventory reader for the engine until `inventory::load_or_error` lands on branch
//! `inventory`; then `load` delegates to it and this parser goes. It reads the documented
//! format (docs/inventory-format.md) with layering defaults < pair < node < `-e key=value`,
//! and only the validation the engine relies on.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use crate::error::Error;
use crate::inventory::*;

fn err(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::new(format!("inventory `{}`: {msg}", path.display()))
        .with_fix("fix the inventory (format: docs/inventory-format.md) and run again")
}

fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Mapping(a), Value::Mapping(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(x) if x.is_mapping() && v.is_mapping() => merge(x, v),
                    _ => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (a, b) => *a = b.clone(),
    }
}

fn set_path(v: &mut Value, keys: &[&str], val: Value) {
    let Some((first, rest)) = keys.split_first() else {
        *v = val;
        return;
    };
    if !v.is_mapping() {
        *v = Value::Mapping(Mapping::new());
    }
    if let Value::Mapping(m) = v {
        let e = m.entry(Value::String(first.to_string())).or_insert(Value::Null);
        set_path(e, rest, val);
    }
}

pub fn duration(s: &Value) -> Option<Duration> {
    let s = match s {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => format!("{}s", n),
        _ => return None,
    };
    let (num, unit) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        return None;
    };
    let f: f64 = num.trim().parse().ok()?;
    (f >= 0.0 && f.is_finite()).then(|| Duration::from_secs_f64(f * unit))
}

/// Load and resolve an inventory; `overrides` are `key=value` (`vrrp.x=..` or `NODE.vrrp.x=..`).
pub fn load(path: &Path, overrides: &[String]) -> Result<Inventory, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| err(path, format!("cannot read it: {e}")))?;
    let doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| err(path, e))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let mut builtin: Value = serde_yaml_ng::from_str(
        "connection: {user: root, port: 22, become: false}\n\
         vrrp: {version: 3, advert_interval: 1s, preempt: true, preempt_delay: 0s, transport: multicast, garp: {count: 5, interval: 1s}, v3_checksum_pseudo_header: true}\n\
         nginx: {listen: 80, server_name: _, upstreams: []}\n\
         check: {type: http, path: /, interval: 1s, timeout: 1s, fall: 2, rise: 2, weight: -60}\n\
         firewall: {manage: true, restrict_to_peer: true}\n",
    )
    .map_err(|e| err(path, e))?;
    if let Some(d) = doc.get("defaults") {
        merge(&mut builtin, d);
    }
    let mut global_ov = Vec::new();
    let mut node_ov = Vec::new();
    for o in overrides {
        let (k, v) = o.split_once('=').ok_or_else(|| err(path, format!("`-e {o}` is not `key=value`")))?;
        let v: Value = serde_yaml_ng::from_str(v).unwrap_or(Value::String(v.to_string()));
        let keys: Vec<&str> = k.split('.').collect();
        if matches!(keys.first(), Some(&("connection" | "vrrp" | "nginx" | "check" | "firewall"))) {
            global_ov.push((keys.iter().map(|s| s.to_string()).collect::<Vec<_>>(), v));
        } else {
            node_ov.push((keys.iter().map(|s| s.to_string()).collect::<Vec<_>>(), v));
        }
    }
    let pairs_v = doc.get("pairs").and_then(Value::as_mapping).ok_or_else(|| err(path, "no `pairs`"))?;
    let mut pairs = Vec::new();
    for (pname, pv) in pairs_v {
        let pname = pname.as_str().ok_or_else(|| err(path, "a pair name is not a string"))?.to_string();
        let mut layered = builtin.clone();
        for sec in ["connection", "vrrp", "nginx", "check", "firewall"] {
            if let Some(s) = pv.get(sec) {
                merge(&mut layered, &Value::Mapping(Mapping::from_iter([(Value::String(sec.into()), s.clone())])));
            }
        }
        let mode = match pv.get("mode").and_then(Value::as_str).unwrap_or("master-backup") {
            "master-backup" => Mode::MasterBackup,
            "dual-master" => Mode::DualMaster,
            m => return Err(err(path, format!("pair `{pname}`: unknown mode `{m}`"))),
        };
        let iface = pv.get("interface").and_then(Value::as_str).unwrap_or("eth0").to_string();
        let nodes_v = pv.get("nodes").and_then(Value::as_sequence).ok_or_else(|| err(path, format!("pair `{pname}` has no `nodes`")))?;
        if nodes_v.len() != 2 {
            return Err(err(path, format!("pair `{pname}` must have exactly two nodes")));
        }
        let mut nodes = Vec::new();
        for nv in nodes_v {
            let name = nv.get("name").and_then(Value::as_str).ok_or_else(|| err(path, "a node has no `name`"))?.to_string();
            let mut s = layered.clone();
            for sec in ["connection", "vrrp", "nginx", "check", "firewall"] {
                if let Some(x) = nv.get(sec) {
                    merge(&mut s, &Value::Mapping(Mapping::from_iter([(Value::String(sec.into()), x.clone())])));
                }
            }
            for (k, v) in &global_ov {
                set_path(&mut s, &k.iter().map(String::as_str).collect::<Vec<_>>(), v.clone());
            }
            for (k, v) in &node_ov {
                if k.first() == Some(&name) {
                    set_path(&mut s, &k[1..].iter().map(String::as_str).collect::<Vec<_>>(), v.clone());
                }
            }
            let address: Ipv4Addr = nv
                .get("address")
                .and_then(Value::as_str)
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| err(path, format!("node `{name}`: `address` is not an IPv4 address")))?;
            nodes.push(node(path, &base, &name, address, iface.clone(), &s)?);
        }
        let [a, b]: [Node; 2] = nodes.try_into().map_err(|_| err(path, "two nodes"))?;
        let mut vips = Vec::new();
        for vv in pv.get("vips").and_then(Value::as_sequence).cloned().unwrap_or_default() {
            let address: VipCidr = vv
                .get("address")
                .and_then(Value::as_str)
                .ok_or_else(|| err(path, "a vip has no `address`"))?
                .parse()
                .map_err(|e| err(path, e))?;
            let vrid = vv
                .get("vrid")
                .and_then(Value::as_u64)
                .and_then(|v| u8::try_from(v).ok())
                .and_then(Vrid::new)
                .ok_or_else(|| err(path, "`vrid` must be 1 to 255"))?;
            let master = vv.get("master").and_then(Value::as_str).unwrap_or(&a.name).to_string();
            let prio = |n: &str| {
                let def = if n == master { 150 } else { 100 };
                vv.get("priorities")
                    .and_then(|p| p.get(n))
                    .and_then(Value::as_u64)
                    .and_then(|v| u8::try_from(v).ok())
                    .unwrap_or(def)
            };
            let priorities = [Priority::new(prio(&a.name)), Priority::new(prio(&b.name))];
            let [Some(p0), Some(p1)] = priorities else {
                return Err(err(path, "priorities must be 1 to 255"));
            };
            vips.push(Vip { address, vrid, master, priorities: [p0, p1] });
        }
        pairs.push(Pair { name: pname, mode, nodes: [a, b], vips });
    }
    Ok(Inventory { source: path.to_path_buf(), pairs })
}

fn node(path: &Path, base: &Path, name: &str, address: Ipv4Addr, interface: String, s: &Value) -> Result<Node, Error> {
    let g = |sec: &str, k: &str| s.get(sec).and_then(|x| x.get(k)).cloned().unwrap_or(Value::Null);
    let dur = |sec: &str, k: &str| {
        duration(&g(sec, k)).ok_or_else(|| err(path, format!("node `{name}`: `{sec}.{k}` is not a duration")))
    };
    let u = |sec: &str, k: &str| g(sec, k).as_u64().ok_or_else(|| err(path, format!("node `{name}`: `{sec}.{k}` is not a number")));
    let b = |sec: &str, k: &str| g(sec, k).as_bool().unwrap_or(false);
    let str_ = |sec: &str, k: &str| g(sec, k).as_str().map(str::to_string);
    let file = |sec: &str, k: &str| str_(sec, k).map(|p| base.join(p));
    let auth_pass = match g("vrrp", "auth_pass") {
        Value::String(s) => Some(Secret::new(s)),
        Value::Mapping(m) => {
            if let Some(var) = m.get("env").and_then(Value::as_str) {
                Some(Secret::new(std::env::var(var).map_err(|_| err(path, format!("`vrrp.auth_pass`: environment variable `{var}` is not set")))?))
            } else if let Some(f) = m.get("file").and_then(Value::as_str) {
                let t = std::fs::read_to_string(base.join(f)).map_err(|e| err(path, format!("`vrrp.auth_pass`: cannot read `{f}`: {e}")))?;
                Some(Secret::new(t.trim_end().to_string()))
            } else {
                None
            }
        }
        _ => None,
    };
    let garp = g("vrrp", "garp");
    Ok(Node {
        name: name.to_string(),
        address,
        interface,
        connection: Connection {
            host: str_("connection", "host").unwrap_or_else(|| address.to_string()),
            port: u16::try_from(u("connection", "port")?).map_err(|_| err(path, "port"))?,
            user: str_("connection", "user").unwrap_or_else(|| "root".into()),
            identity_file: file("connection", "identity_file"),
            known_hosts: file("connection", "known_hosts"),
            jump_host: str_("connection", "jump_host"),
            become_root: b("connection", "become"),
        },
        vrrp: VrrpSettings {
            version: u8::try_from(u("vrrp", "version")?).ok().filter(|v| *v == 2 || *v == 3).ok_or_else(|| err(path, "`vrrp.version` must be 2 or 3"))?,
            advert_interval: dur("vrrp", "advert_interval")?,
            auth_pass,
            preempt: b("vrrp", "preempt"),
            preempt_delay: dur("vrrp", "preempt_delay")?,
            transport: if str_("vrrp", "transport").as_deref() == Some("unicast") { Transport::Unicast } else { Transport::Multicast },
            garp_count: garp.get("count").and_then(Value::as_u64).unwrap_or(5) as u32,
            garp_interval: garp.get("interval").and_then(duration).unwrap_or(Duration::from_secs(1)),
            v3_checksum_pseudo_header: g("vrrp", "v3_checksum_pseudo_header").as_bool().unwrap_or(true),
        },
        nginx: NginxSettings {
            listen: u16::try_from(u("nginx", "listen")?).map_err(|_| err(path, "`nginx.listen` is not a port"))?,
            server_name: str_("nginx", "server_name").unwrap_or_else(|| "_".into()),
            upstreams: g("nginx", "upstreams")
                .as_sequence()
                .map(|s| s.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        },
        check: CheckSettings {
            kind: match str_("check", "type").as_deref() {
                Some("script") => CheckKind::Script {
                    argv: g("check", "script")
                        .as_sequence()
                        .map(|s| s.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                        .unwrap_or_default(),
                },
                Some("none") => CheckKind::None,
                _ => CheckKind::Http { path: str_("check", "path").unwrap_or_else(|| "/".into()) },
            },
            interval: dur("check", "interval")?,
            timeout: dur("check", "timeout")?,
            fall: u("check", "fall")? as u32,
            rise: u("check", "rise")? as u32,
            weight: g("check", "weight").as_i64().unwrap_or(-60) as i32,
        },
        firewall: FirewallSettings {
            manage: g("firewall", "manage").as_bool().unwrap_or(true),
            restrict_to_peer: g("firewall", "restrict_to_peer").as_bool().unwrap_or(true),
        },
    })
}
