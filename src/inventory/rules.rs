//! The semantic rules `check` enforces on a structurally valid inventory. Each finding names
//! its rule code (documented in docs/rules.md), the place, what is wrong and the fix.

use super::finding::{Finding, Location};
use super::model::*;
use super::places::PairPlaces;
use crate::values;
use std::collections::HashMap;
use std::time::Duration;

pub fn check(inv: &Inventory, places: &[PairPlaces]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut node_names: HashMap<&str, &Location> = HashMap::new();
    let mut node_addrs: HashMap<std::net::Ipv4Addr, (&str, &Location)> = HashMap::new();
    let mut vip_seen: HashMap<std::net::Ipv4Addr, (&str, &Location)> = HashMap::new();
    // (network, vrid) -> pair name: VRIDs must be unique on one L2 segment.
    let mut vrids: HashMap<(u32, u8), (&str, &Location)> = HashMap::new();

    for (pair, pl) in inv.pairs.iter().zip(places) {
        for (i, n) in pair.nodes.iter().enumerate() {
            let at = &pl.node_name[i];
            if let Some(first) = node_names.insert(&n.name, at) {
                out.push(Finding::error(
                    "HA011",
                    at.clone(),
                    format!("node name `{}` is used twice (first at line {})", n.name, first.line),
                    "give every node its own name",
                ));
            }
            let at = &pl.node_address[i];
            if let Some((other, _)) = node_addrs.insert(n.address, (&n.name, at)) {
                out.push(Finding::error(
                    "HA012",
                    at.clone(),
                    format!("address {} of `{}` is also `{other}`'s", n.address, n.name),
                    "give every node its own address",
                ));
            }
        }
        pair_rules(pair, pl, &mut out);
        for (v, vip) in pair.vips.iter().enumerate() {
            let count = 1 + vip.also.len();
            if count as i64 > values::VIP_ADDRESSES.max {
                out.push(Finding::error(
                    "HA026",
                    pl.vip_address[v].clone(),
                    format!(
                        "vrid {} has {count} addresses; one VRID carries at most {}",
                        vip.vrid,
                        values::VIP_ADDRESSES.max
                    ),
                    "put the other addresses on another VIP with its own vrid",
                ));
            }
            // Every address of the VRID: its first (`address`) and the others, each at its place.
            let also_at = pl.vip_also.get(v).map(Vec::as_slice).unwrap_or(&[]);
            for (k, cidr) in vip.addresses().enumerate() {
                let at = if k == 0 { &pl.vip_address[v] } else { also_at.get(k - 1).unwrap_or(&pl.vip_address[v]) };
                let a = cidr.addr();
                if let Some((other, first)) = vip_seen.insert(a, (&pair.name, at)) {
                    let whose = if *other == pair.name {
                        format!("is listed twice in pair `{other}` (first at line {})", first.line)
                    } else {
                        format!("is also used by pair `{other}`")
                    };
                    out.push(Finding::error(
                        "HA023",
                        at.clone(),
                        format!("VIP {a} {whose}"),
                        "give every VIP its own address",
                    ));
                }
                if let Some((owner, _)) = node_addrs.get(&a) {
                    out.push(Finding::error(
                        "HA024",
                        at.clone(),
                        format!("VIP {a} is the address of node `{owner}`"),
                        "pick an unused address in the nodes' subnet for the VIP",
                    ));
                }
            }
            let net = network(vip.address.addr(), vip.address.prefix());
            // A VIP `outside_subnet` is on the nodes' segment too: their network under its prefix.
            let nodes_net = network(pair.nodes[0].address, vip.address.prefix());
            // So is a VIP living (some of its addresses) on another interface: its adverts travel
            // on the nodes' segment.
            let elsewhere = pair.nodes.iter().any(|n| vip.any_elsewhere_on(n));
            let also_on = ((vip.outside_subnet || elsewhere) && vip.address.prefix() < 32 && nodes_net != net)
                .then_some(nodes_net);
            let mut twin = None;
            for n in std::iter::once(net).chain(also_on) {
                twin = twin.or(vrids.insert((n, vip.vrid.get()), (&pair.name, &pl.vip_vrid[v])));
            }
            let twin = twin.or_else(|| {
                // A pair's VIPs share its interface, one segment whatever their subnets.
                let w = pair.vips[..v].iter().position(|o| o.vrid == vip.vrid)?;
                Some((&pair.name, &pl.vip_vrid[w]))
            });
            if let Some((other, first)) = twin {
                let same = if *other == pair.name { "this pair".to_string() } else { format!("pair `{other}`") };
                out.push(Finding::error(
                    "HA022",
                    pl.vip_vrid[v].clone(),
                    format!("vrid {} is also used by {same} on the same segment (line {})", vip.vrid, first.line),
                    "give every VIP on a segment its own vrid (1 to 255)",
                ));
            }
        }
    }
    out
}

/// The network of `addr` under `prefix`, as a number.
fn network(addr: std::net::Ipv4Addr, prefix: u8) -> u32 {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    u32::from(addr) & mask
}

fn pair_rules(pair: &Pair, pl: &PairPlaces, out: &mut Vec<Finding>) {
    let name = &pair.name;
    let count_known = !pl.mode_refused && !pl.vips_incomplete;
    match (pair.mode, pair.vips.len()) {
        _ if !count_known => {}
        (Mode::MasterBackup, 1) => {}
        (Mode::MasterBackup, n) => out.push(Finding::error(
            "HA020",
            pl.vips.clone(),
            format!("pair `{name}` is `master-backup` but has {n} VIPs; it has exactly one"),
            "keep one VIP, or make the pair `dual-master` with two",
        )),
        (Mode::DualMaster, 2) => {
            if pair.vips[0].master == pair.vips[1].master {
                out.push(Finding::error(
                    "HA020",
                    pl.vip_master[1].clone(),
                    format!("both VIPs of dual-master pair `{name}` prefer `{}`", pair.vips[0].master),
                    "make each node the master of one VIP",
                ));
            }
        }
        (Mode::DualMaster, n) => out.push(Finding::error(
            "HA020",
            pl.vips.clone(),
            format!(
                "pair `{name}` is `dual-master` but has {n} VIP{}; it has exactly two",
                if n == 1 { "" } else { "s" }
            ),
            "give it two VIPs with different masters, or make it `master-backup`",
        )),
    }
    let [a, b] = &pair.nodes;
    // Settings both nodes must agree on, or they will not hear each other.
    for (key, same) in [
        ("vrrp.version", a.vrrp.version == b.vrrp.version),
        ("vrrp.advert_interval", a.vrrp.advert_interval == b.vrrp.advert_interval),
        ("vrrp.auth_pass", a.vrrp.auth_pass == b.vrrp.auth_pass),
        ("vrrp.auth_type", a.vrrp.auth_type == b.vrrp.auth_type),
        ("vrrp.transport", a.vrrp.transport == b.vrrp.transport),
        ("vrrp.v3_checksum_pseudo_header", a.vrrp.v3_checksum_pseudo_header == b.vrrp.v3_checksum_pseudo_header),
    ] {
        if !same && pl.accepted(0, &[key]) && pl.accepted(1, &[key]) {
            out.push(Finding::error(
                "HA046",
                at(pl, 1, key),
                format!(
                    "`{}` and `{}` disagree on `{key}`; they would not accept each other's adverts",
                    a.name, b.name
                ),
                format!("set `{key}` on the pair, not per node"),
            ));
        }
    }
    if a.name == b.name {
        return; // HA011 says it; rules comparing the two nodes would only confuse
    }
    // Node rules name the node as `{node}`; a finding both nodes share (same rule, same place,
    // e.g. a setting in `defaults`) is said once, naming both.
    let mut per_node: [Vec<Finding>; 2] = [Vec::new(), Vec::new()];
    for (i, n) in pair.nodes.iter().enumerate() {
        node_rules(n, i, pl, &mut per_node[i]);
    }
    let [first, second] = per_node;
    let mut second: Vec<Option<Finding>> = second.into_iter().map(Some).collect();
    for mut f in first {
        let twin = second.iter_mut().find(|g| {
            g.as_ref().is_some_and(|g| g.code == f.code && g.location == f.location && g.message == f.message)
        });
        let who = match twin {
            Some(t) => {
                *t = None;
                format!("`{}` and `{}`", a.name, b.name)
            }
            None => format!("`{}`", a.name),
        };
        f.message = f.message.replace("{node}", &who);
        out.push(f);
    }
    for mut f in second.into_iter().flatten() {
        f.message = f.message.replace("{node}", &format!("`{}`", b.name));
        out.push(f);
    }
    for n in &pair.nodes {
        // The first address (of every VRID not declared `outside_subnet`) outside this node's
        // subnet, at its place.
        // An address living on another interface than the node's VRRP one is judged against
        // that interface's addresses by `plan` and `apply`, which know them (`survey`).
        let judged = |vip: &&Vip| !vip.outside_subnet;
        let outside = pair.vips.iter().enumerate().filter(|(_, vip)| judged(vip)).find_map(|(v, vip)| {
            vip.placed_on(n).enumerate().find(|(_, (c, on))| *on == n.interface && !c.contains(n.address)).map(
                |(k, (c, _))| {
                    let at = if k == 0 { pl.vip_address.get(v) } else { pl.vip_also.get(v).and_then(|l| l.get(k - 1)) };
                    (at.or(pl.vip_address.get(v)).cloned().unwrap_or_default(), c)
                },
            )
        });
        if let Some((at, c)) = outside {
            out.push(Finding::error(
                "HA025",
                at,
                format!("VIP {c} is not in the subnet of `{}` ({})", n.name, n.address),
                format!(
                    "fix the VIP or its prefix length; if it is meant to be off {}'s subnet (another subnet on the segment, a routed address), add `outside_subnet: true` to the VIP",
                    n.name
                ),
            ));
        }
    }
    // `outside_subnet: true` on a VIP whose every address is in both nodes' subnet says nothing.
    for (v, vip) in pair.vips.iter().enumerate() {
        let Some(Some(at)) = pl.vip_outside_subnet.get(v) else { continue };
        let judged = pair.nodes.iter().all(|n| !vip.any_elsewhere_on(n));
        if judged && vip.outside_subnet && vip.addresses().all(|c| pair.nodes.iter().all(|n| c.contains(n.address))) {
            out.push(Finding::warning(
                "HA025",
                at.clone(),
                format!(
                    "`outside_subnet: true` but every address of vrid {} ({}) is in the nodes' subnet",
                    vip.vrid,
                    vip.addresses_text()
                ),
                "remove `outside_subnet`, or fix the address if it was meant to be off the subnet",
            ));
        }
    }
    for (v, vip) in pair.vips.iter().enumerate() {
        let Some(m) = pair.index_of(&vip.master) else { continue };
        if pl.vip_priorities_refused.get(v).copied().unwrap_or(false) {
            continue; // a refused priority was reported; the defaults in its place prove nothing
        }
        let (pm, pb) = (vip.priorities[m].get(), vip.priorities[1 - m].get());
        let (master, peer) = (&pair.nodes[m], &pair.nodes[1 - m]);
        if pm == pb && pm == 255 {
            // Two owners: HA031 below says it.
        } else if pm == pb {
            // Equal priorities are an RFC election with no preferred node: the holder keeps the
            // VIP (a backup preempts only a lower priority, RFC 3768 §6.4.2, RFC 5798 §6.4.2)
            // until it fails or its check lowers its priority, and it never moves back. When
            // both take it at once the higher address wins (§6.4.3). keepalived pairs with equal
            // priorities and a check weight elect just so.
            let hi = if u32::from(master.address) >= u32::from(peer.address) { master } else { peer };
            out.push(Finding::warning(
                "HA030",
                pl.vip_priorities[v].clone(),
                format!(
                    "`{}` and `{}` have the same priority {pm} for {}: neither is preferred; the node holding it keeps it until it fails{}, and it does not move back{}",
                    master.name,
                    peer.name,
                    vip.address.addr(),
                    if pair.nodes.iter().any(|n| n.check.kind != CheckKind::None && n.check.weight < 0) {
                        " or its check lowers its priority"
                    } else {
                        ""
                    },
                    if master.address == peer.address {
                        String::new()
                    } else {
                        format!(
                            "; when both take it at once (a joint start, a healed partition), `{}`, the higher address, keeps it",
                            hi.name
                        )
                    }
                ),
                format!("give `{}` a higher priority if the VIP should come back to it", master.name),
            ));
        } else if pm < pb {
            out.push(Finding::error(
                "HA030",
                pl.vip_priorities[v].clone(),
                format!(
                    "`{}` is the preferred master of {} but its priority {pm} is below `{}`'s {pb}",
                    master.name,
                    vip.address.addr(),
                    peer.name
                ),
                format!("give `{}` the higher priority, e.g. {}", master.name, pb.saturating_add(50).min(254)),
            ));
        }
        for (i, p) in vip.priorities.iter().enumerate() {
            if p.get() == 255 {
                out.push(Finding::error(
                    "HA031",
                    pl.vip_priorities[v].clone(),
                    format!(
                        "priority 255 for `{}` is reserved for the owner of {} (a node whose own address is the VIP)",
                        pair.nodes[i].name,
                        vip.address.addr()
                    ),
                    "use 254 or lower",
                ));
            }
        }
        // The headline rule: a failing check must be able to move the VIP.
        let w = master.check.weight;
        if master.check.kind != CheckKind::None && w != 0 && pl.accepted(m, &["check.weight", "check.type"]) {
            let lowered = pm as i32 + w;
            if lowered >= pb as i32 {
                let need = pb as i32 - pm as i32 - 1;
                out.push(Finding::error(
                    "HA032",
                    at(pl, m, "check.weight"),
                    format!(
                        "an nginx failure on `{}` never moves {}: {pm} {} {} = {lowered} is still {} `{}`'s {pb}",
                        master.name,
                        vip.address.addr(),
                        if w < 0 { "-" } else { "+" },
                        w.abs(),
                        if lowered == pb as i32 { "equal to" } else { "above" },
                        peer.name
                    ),
                    format!("set `check.weight` to {need} or lower (or 0 to release the VIP on failure)"),
                ));
            }
        }
    }
}

fn at(pl: &PairPlaces, node: usize, key: &str) -> Location {
    pl.settings[node.min(1)]
        .get(key)
        .filter(|l| l.line > 0 || !l.file.as_os_str().is_empty())
        .cloned()
        .unwrap_or_else(|| pl.name.clone())
}

fn node_rules(n: &Node, i: usize, pl: &PairPlaces, out: &mut Vec<Finding>) {
    let v = &n.vrrp;
    let name = "{node}";
    let ok = |keys: &[&str]| pl.accepted(i, keys);
    if v.version == 3 && v.auth_pass.is_some() && ok(&["vrrp.version", "vrrp.auth_pass"]) {
        out.push(Finding::error(
            "HA040",
            at(pl, i, "vrrp.auth_pass"),
            format!("VRRPv3 has no authentication, but `vrrp.auth_pass` is set on {name}"),
            "remove `auth_pass`, or use `vrrp.version: 2`",
        ));
    }
    if v.auth_type == values::AuthType::Ah && ok(&["vrrp.auth_type"]) {
        if v.version == 3 && ok(&["vrrp.version"]) {
            out.push(Finding::error(
                "HA040",
                at(pl, i, "vrrp.auth_type"),
                format!("`vrrp.auth_type: ah` is VRRPv2 authentication, but `vrrp.version` is 3 (no authentication) on {name}"),
                "use `vrrp.version: 2` (keepalived's `auth_type AH` is VRRPv2), or remove `auth_type` and `auth_pass`",
            ));
        } else if v.auth_pass.is_none() && ok(&["vrrp.auth_pass"]) {
            out.push(Finding::error(
                "HA043",
                at(pl, i, "vrrp.auth_type"),
                format!("`vrrp.auth_type: ah` on {name} needs `vrrp.auth_pass`, the key of its HMAC-MD5"),
                "set `auth_pass` (1 to 8 bytes, the same on both nodes)",
            ));
        }
    }
    let advert_problem = values::advert_interval_problem(v.version, v.advert_interval)
        .filter(|_| ok(&["vrrp.version", "vrrp.advert_interval"]));
    if v.version == 2 && advert_problem.is_some() {
        out.push(Finding::error(
            "HA041",
            at(pl, i, "vrrp.advert_interval"),
            format!(
                "VRRPv2 carries whole seconds (1 to 255), but the advert interval on {name} is {}",
                super::settings::show_duration(v.advert_interval)
            ),
            "use whole seconds, or `vrrp.version: 3` for sub-second intervals",
        ));
    }
    if v.version == 3 && advert_problem.is_some() {
        out.push(Finding::error(
            "HA042",
            at(pl, i, "vrrp.advert_interval"),
            format!(
                "VRRPv3 carries 10 ms steps from 10 ms to 40.95 s, but the advert interval on {name} is {}",
                super::settings::show_duration(v.advert_interval)
            ),
            "use a multiple of 10 ms between 10ms and 40950ms",
        ));
    }
    if let Some(p) = v.auth_pass.as_ref().filter(|_| ok(&["vrrp.version", "vrrp.auth_pass"])) {
        if v.version == 2 && p.expose().len() as i64 > values::AUTH_PASS_BYTES.max {
            out.push(Finding::error(
                "HA043",
                at(pl, i, "vrrp.auth_pass"),
                format!(
                    "the VRRPv2 password on {name} is {} bytes; {} {} and keepalived silently cuts the rest",
                    p.expose().len(),
                    // What the 8 bytes are to the auth type (AH: the HMAC key, zero-padded to 8).
                    if v.auth_type == values::AuthType::Ah && ok(&["vrrp.auth_type"]) {
                        "AH keys its HMAC with"
                    } else {
                        "PASS carries"
                    },
                    values::AUTH_PASS_BYTES.max
                ),
                format!("use at most {} bytes", values::AUTH_PASS_BYTES.max),
            ));
        }
        if p.expose().is_empty() {
            out.push(Finding::error(
                "HA043",
                at(pl, i, "vrrp.auth_pass"),
                format!("the VRRPv2 password on {name} is empty"),
                "set a password of 1 to 8 bytes, or remove `auth_pass`",
            ));
        }
    }
    if v.preempt_delay > values::PREEMPT_DELAY_MAX && ok(&["vrrp.preempt_delay"]) {
        out.push(Finding::error(
            "HA044",
            at(pl, i, "vrrp.preempt_delay"),
            format!(
                "`preempt_delay` on {name} is {}, longer than the daemon accepts ({})",
                super::settings::show_duration(v.preempt_delay),
                super::settings::show_duration(values::PREEMPT_DELAY_MAX)
            ),
            format!("use at most {}", super::settings::show_duration(values::PREEMPT_DELAY_MAX)),
        ));
    }
    if !v.preempt && v.preempt_delay > Duration::ZERO && ok(&["vrrp.preempt", "vrrp.preempt_delay"]) {
        out.push(Finding::warning(
            "HA044",
            at(pl, i, "vrrp.preempt_delay"),
            format!("`preempt` is false on {name}, so `preempt_delay` has no effect"),
            "remove `preempt_delay`, or set `preempt: true`",
        ));
    }
    if v.garp_interval > values::GARP_INTERVAL_MAX && ok(&["vrrp.garp.interval"]) {
        out.push(Finding::error(
            "HA045",
            at(pl, i, "vrrp.garp.interval"),
            format!(
                "`vrrp.garp.interval` on {name} is {}, longer than the daemon accepts ({})",
                super::settings::show_duration(v.garp_interval),
                super::settings::show_duration(values::GARP_INTERVAL_MAX)
            ),
            "1s is usual",
        ));
    }
    if v.transport == Transport::Unicast && v.garp_count == 0 && ok(&["vrrp.transport", "vrrp.garp.count"]) {
        out.push(Finding::warning("HA045", at(pl, i, "vrrp.garp.count"), format!("no gratuitous ARP is sent on takeover on {name}: clients keep the old MAC until their ARP cache expires"), "keep `vrrp.garp.count` at 1 or more"));
    }
    let c = &n.check;
    let check_ok = ok(&["check.type", "check.interval", "check.timeout"]);
    if c.kind == CheckKind::None && pl.check_keys_written[i.min(1)] && ok(&["check.type"]) {
        out.push(Finding::warning(
            "HA033",
            at(pl, i, "check.type"),
            format!("`check` options are set on {name}, but `check.type` is `none`: the check tracks nothing"),
            "set `check.type: http` (or `script`), or remove the other `check` keys",
        ));
    }
    if c.kind != CheckKind::None && c.timeout > c.interval && check_ok {
        // The daemon refuses a check whose runs could overlap: an error, as it is there.
        out.push(Finding::error(
            "HA047",
            at(pl, i, "check.timeout"),
            format!(
                "the check timeout on {name} ({}) is longer than the check interval ({})",
                super::settings::show_duration(c.timeout),
                super::settings::show_duration(c.interval)
            ),
            "keep `check.timeout` at or below `check.interval`",
        ));
    }
    if c.kind != CheckKind::None && c.timeout.is_zero() && check_ok {
        out.push(Finding::error(
            "HA047",
            at(pl, i, "check.timeout"),
            format!("the check timeout on {name} is 0"),
            "use a timeout like `1s`, at most `check.interval`",
        ));
    }
    if c.kind != CheckKind::None && c.interval < values::CHECK_INTERVAL_MIN && check_ok {
        out.push(Finding::error(
            "HA047",
            at(pl, i, "check.interval"),
            format!(
                "the check interval on {name} is {}, below the daemon's {}",
                super::settings::show_duration(c.interval),
                super::settings::show_duration(values::CHECK_INTERVAL_MIN)
            ),
            "use an interval like `1s`",
        ));
    }
    for (key, file) in [
        ("connection.identity_file", &n.connection.identity_file),
        ("connection.known_hosts", &n.connection.known_hosts),
    ] {
        if let Some(f) = file {
            if !f.exists() {
                out.push(Finding::warning(
                    "HA051",
                    at(pl, i, key),
                    format!("`{key}` is `{}`, which does not exist on this machine", f.display()),
                    "fix the path (`~/` is your home; other relative paths start at the inventory's folder)",
                ));
            }
        }
    }
}
