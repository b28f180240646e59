//! Survey: connect to every selected node at once (one multiplexed SSH connection each), gather
//! its facts (one round trip each) and plan it. What `plan`, `apply` and `status` share; it
//! knows nothing of how changes are carried out or shown.

use std::path::PathBuf;

use crate::binary::Builds;
use crate::error::Error;
use crate::inventory::{Inventory, Node, Pair};
use crate::observe::{self, Facts};
use crate::plan::{self, HostPlan};
use crate::roles::{self, BinarySpec, Desired, RoleSet};
use crate::transport::{Host, SshHost, SshOptions};

/// Reads a file the caller cares about from each node's facts and says whether the node is
/// serving now (the node serving goes last in a pair).
#[derive(Clone)]
pub struct ServingProbe {
    pub path: String,
    pub is_serving: fn(&[u8]) -> Option<bool>,
}

impl std::fmt::Debug for ServingProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServingProbe({})", self.path)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A node or pair name.
    pub limit: Option<String>,
    pub forks: usize,
    pub fail_fast: bool,
    pub accept_new_host_keys: bool,
    /// Users' roles folders, in order (`roles/` beside the inventory, `--roles DIR`).
    pub roles_dirs: Vec<PathBuf>,
    pub serving: Option<ServingProbe>,
}

/// One selected node: where it sits in the inventory, its connection, desired state and facts.
pub struct Target {
    pub pair: usize,
    pub node: usize,
    pub host: Box<dyn Host>,
    pub desired: Desired,
    pub facts: Facts,
    pub plan: HostPlan,
    /// From the serving probe: whether the node serves now (`None`: unknown).
    pub serving: Option<bool>,
    /// Index into the run's `Builds`: the daemon build this node gets.
    pub build: usize,
    /// Why no daemon build of this run can run on the node (plan and apply refuse the run).
    pub refusal: Option<Error>,
    /// The node's VRRP interface (facts are gathered for it again after package installs).
    pub interface: String,
}

/// Connections and facts for every selected node, and the plan of each.
pub struct Survey {
    pub targets: Vec<Target>,
}

impl Survey {
    pub fn plans(&self) -> Vec<HostPlan> {
        self.targets.iter().map(|t| t.plan.clone()).collect()
    }

    /// Every node no daemon build of this run can run on, as one error naming each (checked
    /// before anything is uploaded anywhere).
    pub fn refusal(&self) -> Option<Error> {
        let r: Vec<&Error> = self.targets.iter().filter_map(|t| t.refusal.as_ref()).collect();
        let first = r.first()?;
        let message = r.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("\n       ");
        let mut fixes: Vec<&str> = r.iter().filter_map(|e| e.fix.as_deref()).collect();
        fixes.dedup();
        Some(Error::new(message).with_fix(fixes.join("; ")).with_exit_code(first.exit_code))
    }

    /// Close every connection (each removes its own private directory).
    pub async fn close(self) {
        futures::future::join_all(self.targets.into_iter().map(|t| t.host.close())).await;
    }
}

pub fn selected<'a>(inv: &'a Inventory, limit: Option<&str>) -> Result<Vec<(usize, usize, &'a Pair, &'a Node)>, Error> {
    let mut v = Vec::new();
    for (pi, p) in inv.pairs.iter().enumerate() {
        for (ni, n) in p.nodes.iter().enumerate() {
            if limit.is_none_or(|l| l == p.name || l == n.name) {
                v.push((pi, ni, p, n));
            }
        }
    }
    if v.is_empty() {
        let l = limit.unwrap_or_default();
        return Err(Error::new(format!("`--limit {l}` matches no node or pair of the inventory"))
            .with_fix("name a node or a pair from the inventory"));
    }
    Ok(v)
}

/// The roles folders of a run: `roles/` beside the inventory when it exists, then `--roles`.
pub fn roles_dirs(inventory: &std::path::Path, flag: Option<PathBuf>) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let beside = inventory.parent().map(|p| p.join("roles"));
    if let Some(b) = beside.filter(|b| b.is_dir()) {
        v.push(b);
    }
    v.extend(flag);
    v
}

/// The desired state of every selected node (no connection needed).
pub fn desired_states(
    inv: &Inventory,
    opts: &Options,
    binary: &BinarySpec,
) -> Result<Vec<(usize, usize, Desired)>, Error> {
    let dirs: Vec<&std::path::Path> = opts.roles_dirs.iter().map(PathBuf::as_path).collect();
    let set = RoleSet::load(&dirs)?;
    let mut out = Vec::new();
    for (pi, ni, p, n) in selected(inv, opts.limit.as_deref())? {
        out.push((pi, ni, roles::desired(&set, p, n, &n.roles, binary)?));
    }
    Ok(out)
}

/// Check the roles of every node offline (what `check` runs): load the roles folders, render
/// every node's desired state. Each error names file:line and a fix; one per distinct problem.
/// Returns each error with the first node it concerns.
pub fn check_roles(inv: &Inventory, dirs: &[PathBuf]) -> Vec<(Error, Option<String>)> {
    let dirs: Vec<&std::path::Path> = dirs.iter().map(PathBuf::as_path).collect();
    let set = match RoleSet::load(&dirs) {
        Ok(s) => s,
        Err(e) => return vec![(e, None)],
    };
    let bin = BinarySpec { sha256: String::new(), size: 0, version: String::new(), needs: String::new() };
    let mut errors: Vec<(Error, Option<String>)> = Vec::new();
    for p in &inv.pairs {
        for n in &p.nodes {
            if let Err(e) = roles::desired(&set, p, n, &n.roles, &bin) {
                if !errors.iter().any(|(x, _)| *x == e) {
                    errors.push((e, Some(n.name.clone())));
                }
            }
        }
    }
    errors
}

/// Connect to the selected nodes and gather their facts, all at once. `step(host, what)`
/// reports progress.
pub async fn survey(
    inv: &Inventory,
    opts: &Options,
    builds: &Builds,
    step: &(dyn Fn(&str, &str) + Sync),
) -> Result<Survey, Error> {
    let desired = desired_states(inv, opts, &builds.running().spec)?;
    // Each connection makes its own private directory (`transport::private_dir`).
    let ssh = SshOptions { accept_new_host_keys: opts.accept_new_host_keys };
    let extra: Vec<String> = opts.serving.iter().map(|s| s.path.clone()).collect();
    let futs = desired.into_iter().map(|(pi, ni, d)| {
        let ssh = ssh.clone();
        let n = &inv.pairs[pi].nodes[ni];
        let extra = &extra;
        async move {
            step(&n.name, "connect");
            let host = SshHost::connect(n, &ssh).await?;
            step(&n.name, "facts");
            let facts = observe::gather(&host, &d, &n.interface, extra).await?;
            // The daemon build this node can run (facts: architecture, C library).
            let (build, refusal, caveat) = match builds.choose(&n.name, &facts) {
                Ok(c) => (c.index, None, c.caveat),
                Err(e) => (builds.list.len() - 1, Some(e), None),
            };
            // And what its facts say against VIPs living on another interface.
            let refusal = match (refusal, vip_interface_refusal(&inv.pairs[pi], n, &facts)) {
                (Some(a), Some(b)) => Some(Error::new(format!("{}\n       {}", a.message, b.message)).with_fix(
                    [a.fix, b.fix].into_iter().flatten().collect::<Vec<_>>().join("; "),
                )),
                (a, b) => a.or(b),
            };
            let mut d = d;
            d.use_binary(&builds.list[build].spec);
            let mut plan = plan::plan(&d, &facts);
            if let Some(c) = caveat {
                plan.findings.push(plan::Finding {
                    role: "vrrp".into(),
                    message: format!("daemon build for `{}`: {c}", n.name),
                    fix: "nothing to do unless the upload fails: the new binary is run on the node before it replaces the old one".into(),
                });
            }
            let serving = opts
                .serving
                .as_ref()
                .and_then(|s| facts.files.get(&s.path).and_then(|f| (s.is_serving)(&f.content)));
            Ok::<_, Error>(Target {
                pair: pi,
                node: ni,
                host: Box::new(host),
                desired: d,
                facts,
                plan,
                serving,
                build,
                refusal,
                interface: n.interface.clone(),
            })
        }
    });
    // `--forks` pairs at a time (two nodes each), in inventory order.
    let results: Vec<_> = {
        use futures::StreamExt;
        futures::stream::iter(futs).buffered(opts.forks.max(1) * 2).collect().await
    };
    let mut targets = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(t) => targets.push(t),
            Err(e) => errors.push(e),
        }
    }
    if let Some(first) = errors.first().cloned() {
        if errors.len() == 1 {
            return Err(first);
        }
        let msg = errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("\n       ");
        return Err(Error::new(msg).with_fix(first.fix.unwrap_or_default()));
    }
    // Drift between peers: both nodes of a pair selected.
    for i in 0..targets.len() {
        for j in i + 1..targets.len() {
            if targets[i].pair == targets[j].pair {
                let [a, b] = plan::peer_drift(
                    (&targets[i].desired, &targets[i].facts),
                    (&targets[j].desired, &targets[j].facts),
                );
                targets[i].plan.findings.extend(a);
                targets[j].plan.findings.extend(b);
            }
        }
    }
    Ok(Survey { targets })
}

/// What `node`'s facts say against the VIPs of `pair` that live on another interface than its
/// VRRP one (a VIP's `interface`), which `check` cannot judge offline: the interface must exist
/// on the node (the daemon refuses to start without it), and unless the VIP says
/// `outside_subnet: true` each of its addresses must be in the subnet of one of the node's
/// addresses on that interface (HA025's rule). An interface without any IPv4 address judges no
/// subnet: the VIP is then its only address, reached by routes the node does not show.
pub fn vip_interface_refusal(pair: &Pair, node: &Node, facts: &Facts) -> Option<Error> {
    let mut why = Vec::new();
    let mut fixes = Vec::new();
    // Per VIP, per interface its addresses live on besides the VRRP one (a VIP's `interface`,
    // or an address's own), in the order written.
    for vip in &pair.vips {
        let away: Vec<_> = vip.elsewhere_on(node).collect();
        let mut devs: Vec<&str> = Vec::new();
        for (_, on) in &away {
            if !devs.contains(on) {
                devs.push(on);
            }
        }
        for dev in devs {
            let there = || away.iter().filter(move |(_, on)| *on == dev).map(|(c, _)| *c);
            if !facts.links.is_empty() && !facts.links.iter().any(|l| l == dev) {
                why.push(format!(
                    "`{}` has no interface `{dev}` for VIP {} (it has {})",
                    node.name,
                    there().next().unwrap_or(vip.address),
                    facts.links.join(", ")
                ));
                fixes.push(format!("set the VIP's `interface` to one `ip link` shows on `{}`", node.name));
                continue;
            }
            if vip.outside_subnet {
                continue;
            }
            let nets: Vec<crate::values::VipCidr> =
                facts.addresses.iter().filter(|(d, _)| d == dev).filter_map(|(_, c)| c.parse().ok()).collect();
            if nets.is_empty() {
                continue;
            }
            if let Some(c) = there().find(|c| !nets.iter().any(|n| n.contains(c.addr()))) {
                let shown: Vec<String> = nets.iter().map(ToString::to_string).collect();
                why.push(format!(
                    "VIP {c} is not in the subnet of `{}`'s addresses on `{dev}` ({}) (HA025)",
                    node.name,
                    shown.join(", ")
                ));
                fixes.push(
                "fix the VIP or its prefix length; if it is meant to be off that subnet, add `outside_subnet: true` to the VIP"
                    .to_string(),
            );
            }
        }
    }
    if why.is_empty() {
        return None;
    }
    fixes.dedup();
    Some(Error::new(format!("{}; nothing was changed", why.join("; "))).with_fix(fixes.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Mode;
    use crate::render::tests::pair;

    /// A VIP on another interface: refused where the node has no such interface, or where the
    /// VIP is off the subnet of the node's addresses there (unless `outside_subnet`); accepted
    /// in that subnet, on an interface without IPv4 address, and on the VRRP interface as ever.
    #[test]
    fn a_vip_on_another_interface_is_judged_by_the_nodes_facts() {
        let mut p = pair(Mode::MasterBackup);
        p.vips[0].address = "192.168.100.129/24".parse().expect("cidr");
        let facts = |links: &[&str], addrs: &[(&str, &str)]| Facts {
            links: links.iter().map(ToString::to_string).collect(),
            addresses: addrs.iter().map(|(d, c)| (d.to_string(), c.to_string())).collect(),
            ..Facts::default()
        };
        let n = p.nodes[0].clone();
        // On the VRRP interface: `check`'s business, not this.
        assert_eq!(vip_interface_refusal(&p, &n, &facts(&["lo", "eth0"], &[])), None);
        p.vips[0].interface = Some("eth1".into());
        let e = vip_interface_refusal(&p, &n, &facts(&["lo", "eth0"], &[("eth0", "10.77.1.11/24")])).expect("no eth1");
        assert_eq!(
            e.message,
            "`web1` has no interface `eth1` for VIP 192.168.100.129/24 (it has lo, eth0); nothing was changed"
        );
        assert_eq!(e.fix.as_deref(), Some("set the VIP's `interface` to one `ip link` shows on `web1`"));
        let on_eth1 = |cidr: &str| facts(&["lo", "eth0", "eth1"], &[("eth0", "10.77.1.11/24"), ("eth1", cidr)]);
        assert_eq!(vip_interface_refusal(&p, &n, &on_eth1("192.168.100.11/24")), None);
        assert_eq!(vip_interface_refusal(&p, &n, &facts(&["lo", "eth0", "eth1"], &[])), None, "no address there");
        let e = vip_interface_refusal(&p, &n, &on_eth1("192.168.200.11/24")).expect("off the subnet");
        assert_eq!(
            e.message,
            "VIP 192.168.100.129/24 is not in the subnet of `web1`'s addresses on `eth1` (192.168.200.11/24) (HA025); nothing was changed"
        );
        p.vips[0].outside_subnet = true;
        assert_eq!(vip_interface_refusal(&p, &n, &on_eth1("192.168.200.11/24")), None);
    }

    /// One VRID's addresses on two interfaces: only the address on the other interface is
    /// judged here, against that interface (its existence, its subnet); the one on the VRRP
    /// interface is `check`'s.
    #[test]
    fn an_address_on_its_own_interface_is_judged_there() {
        let mut p = pair(Mode::MasterBackup);
        p.vips[0].also = vec!["192.168.100.129/24".parse().expect("cidr")];
        p.vips[0].own_interfaces = vec![None, Some("eth1".into())];
        let n = p.nodes[0].clone();
        let facts = |links: &[&str], addrs: &[(&str, &str)]| Facts {
            links: links.iter().map(ToString::to_string).collect(),
            addresses: addrs.iter().map(|(d, c)| (d.to_string(), c.to_string())).collect(),
            ..Facts::default()
        };
        let e = vip_interface_refusal(&p, &n, &facts(&["lo", "eth0"], &[("eth0", "10.77.1.11/24")])).expect("no eth1");
        assert_eq!(
            e.message,
            "`web1` has no interface `eth1` for VIP 192.168.100.129/24 (it has lo, eth0); nothing was changed"
        );
        let both = |eth1: &str| facts(&["lo", "eth0", "eth1"], &[("eth0", "10.77.1.11/24"), ("eth1", eth1)]);
        assert_eq!(vip_interface_refusal(&p, &n, &both("192.168.100.11/24")), None);
        let e = vip_interface_refusal(&p, &n, &both("192.168.200.11/24")).expect("off the subnet");
        assert_eq!(
            e.message,
            "VIP 192.168.100.129/24 is not in the subnet of `web1`'s addresses on `eth1` (192.168.200.11/24) (HA025); nothing was changed"
        );
        // The eth0 address is not judged against eth1's subnet.
        p.vips[0].address = "10.77.1.200/24".parse().expect("cidr");
        assert_eq!(vip_interface_refusal(&p, &n, &both("192.168.100.11/24")), None);
    }

    #[test]
    fn limit_selects_a_node_or_a_pair() {
        let inv = Inventory { source: "/tmp/x.yml".into(), pairs: vec![pair(Mode::MasterBackup)] };
        assert_eq!(selected(&inv, Some("web2")).expect("found").len(), 1);
        assert_eq!(selected(&inv, Some("web")).expect("found").len(), 2);
        assert_eq!(selected(&inv, None).expect("found").len(), 2);
        let e = selected(&inv, Some("nope")).expect_err("no match");
        assert_eq!(e.message, "`--limit nope` matches no node or pair of the inventory");
    }
}
