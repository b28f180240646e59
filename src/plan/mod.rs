//! The plan: desired state (roles) diffed against facts, as a list of changes per host.
//! Pure: no I/O. `apply` carries the changes out in order; `plan` only shows them.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::observe::{Facts, FileKind};
use crate::render::redact_vrrpd;
use crate::roles::{self, Desired, FileSpec, Handler, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileAction {
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceAction {
    Enable,
    Start,
    Reload,
    Restart,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    Package {
        role: Role,
        name: String,
        manager: String,
    },
    Binary {
        role: Role,
        path: String,
        from: Option<String>,
        to: String,
        size: u64,
        /// What the build needs of the node, e.g. `x86_64, glibc >= 2.17`.
        needs: String,
    },
    File {
        role: Role,
        path: String,
        action: FileAction,
        /// Unified diff, secrets redacted.
        diff: String,
        mode: u32,
        owner: String,
        /// Index into the node's `Desired::files`.
        #[serde(skip)]
        spec: usize,
    },
    FileMeta {
        role: Role,
        path: String,
        mode: Option<(u32, u32)>,
        owner: Option<(String, String)>,
        #[serde(skip)]
        spec: usize,
    },
    DaemonReload {
        role: Role,
    },
    Firewall {
        role: Role,
        zone: String,
        add: bool,
        /// `rich-rule` or `port`
        item: &'static str,
        value: String,
        runtime: bool,
        permanent: bool,
    },
    Service {
        role: Role,
        unit: String,
        action: ServiceAction,
        reason: String,
    },
}

impl Change {
    pub fn role(&self) -> Role {
        match self {
            Change::Package { role, .. }
            | Change::Binary { role, .. }
            | Change::File { role, .. }
            | Change::FileMeta { role, .. }
            | Change::DaemonReload { role }
            | Change::Firewall { role, .. }
            | Change::Service { role, .. } => *role,
        }
    }

    /// One line describing the change.
    pub fn summary(&self) -> String {
        match self {
            Change::Package { name, manager, .. } => format!("install package `{name}` ({manager})"),
            Change::Binary { path, from, to, size, needs, .. } => format!(
                "upload `{path}` ({} -> sha256 {}, {:.1} MB, {needs}; checked on the node before it replaces the old one)",
                from.as_deref().map(|f| format!("sha256 {}", short(f))).unwrap_or_else(|| "absent".into()),
                short(to),
                *size as f64 / 1e6
            ),
            Change::File { path, action, mode, owner, .. } => match action {
                FileAction::Create => format!("create `{path}` (mode {mode:04o}, owner {owner})"),
                FileAction::Update => format!("change `{path}`"),
                FileAction::Delete => format!("remove `{path}`"),
            },
            Change::FileMeta { path, mode, owner, .. } => {
                let mut parts = Vec::new();
                if let Some((a, b)) = mode {
                    parts.push(format!("mode {a:04o} -> {b:04o}"));
                }
                if let Some((a, b)) = owner {
                    parts.push(format!("owner {a} -> {b}"));
                }
                format!("set `{path}` {}", parts.join(", "))
            }
            Change::DaemonReload { .. } => "systemctl daemon-reload (unit file changed)".into(),
            Change::Firewall { zone, add, item, value, runtime, permanent, .. } => {
                let scope = match (runtime, permanent) {
                    (true, true) => "runtime and permanent",
                    (true, false) => "runtime",
                    _ => "permanent",
                };
                format!("{} {item} in zone `{zone}` ({scope}): {value}", if *add { "add" } else { "remove" })
            }
            Change::Service { unit, action, reason, .. } => {
                let a = match action {
                    ServiceAction::Enable => "enable",
                    ServiceAction::Start => "start",
                    ServiceAction::Reload => "reload",
                    ServiceAction::Restart => "restart",
                };
                format!("{a} `{unit}` ({reason})")
            }
        }
    }
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

/// Something the operator should know that is not a change (e.g. firewalld absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub role: Role,
    pub message: String,
    pub fix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPlan {
    pub pair: String,
    pub node: String,
    pub changes: Vec<Change>,
    pub findings: Vec<Finding>,
}

impl HostPlan {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    let mut s = String::with_capacity(64);
    for b in d {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn shown(spec: &FileSpec, text: &str) -> String {
    if spec.secret {
        redact_vrrpd(text)
    } else {
        text.to_string()
    }
}

fn diff(path: &str, old: &str, new: &str) -> String {
    let d = similar::TextDiff::from_lines(old, new);
    let mut out =
        d.unified_diff().context_radius(3).header(&format!("{path} (now)"), &format!("{path} (planned)")).to_string();
    if out.is_empty() {
        // Called only for files whose bytes differ: what differs was redacted.
        out = "(only redacted values differ)\n".to_string();
    }
    out
}

/// Compare the desired state of a node with its facts.
pub fn plan(d: &Desired, f: &Facts) -> HostPlan {
    let mut changes = Vec::new();
    let mut findings = Vec::new();
    let mut handlers: BTreeSet<Handler> = BTreeSet::new();

    // Packages first: later changes (a site for nginx) depend on them.
    let mut installing = false;
    for p in &d.packages {
        if !p.satisfied_by.iter().any(|n| f.packages.contains_key(*n)) {
            if f.pkg_manager == "none" || f.pkg_manager.is_empty() {
                findings.push(Finding {
                    role: p.role,
                    message: format!("package `{}` is missing and `{}` has neither apt nor dnf", p.install, d.node),
                    fix: format!("install `{}` on `{}` by hand", p.install, d.node),
                });
            } else {
                installing = true;
                changes.push(Change::Package {
                    role: p.role,
                    name: p.install.to_string(),
                    manager: f.pkg_manager.clone(),
                });
            }
        }
    }

    let binary_changed = f.binary.as_ref().map(|b| b.sha256.as_str()) != Some(d.binary.sha256.as_str());
    if binary_changed {
        changes.push(Change::Binary {
            role: Role::Vrrp,
            path: roles::BINARY_PATH.to_string(),
            from: f.binary.as_ref().map(|b| b.sha256.clone()),
            to: d.binary.sha256.clone(),
            size: d.binary.size,
            needs: d.binary.needs.clone(),
        });
    }

    for (i, spec) in d.files.iter().enumerate() {
        let fact = f.files.get(spec.path);
        let owner = format!("{}:{}", spec.owner, spec.group);
        match (&spec.content, fact) {
            (None, None) => {}
            (None, Some(ff)) => {
                // The whole old file would drown the plan; say why it goes.
                let lines = String::from_utf8_lossy(&ff.content).lines().count();
                changes.push(Change::File {
                    role: spec.role,
                    path: spec.path.to_string(),
                    action: FileAction::Delete,
                    diff: format!("# {} ({lines} lines removed)\n", spec.why),
                    mode: spec.mode,
                    owner,
                    spec: i,
                });
                handlers.extend(spec.handler);
            }
            (Some(want), None) => {
                changes.push(Change::File {
                    role: spec.role,
                    path: spec.path.to_string(),
                    action: FileAction::Create,
                    diff: diff(spec.path, "", &shown(spec, want)),
                    mode: spec.mode,
                    owner,
                    spec: i,
                });
                handlers.extend(spec.handler);
            }
            (Some(want), Some(ff)) => {
                if ff.kind != FileKind::File || ff.sha256 != sha256_hex(want.as_bytes()) {
                    let old = String::from_utf8_lossy(&ff.content);
                    changes.push(Change::File {
                        role: spec.role,
                        path: spec.path.to_string(),
                        action: FileAction::Update,
                        diff: diff(spec.path, &shown(spec, &old), &shown(spec, want)),
                        mode: spec.mode,
                        owner,
                        spec: i,
                    });
                    handlers.extend(spec.handler);
                } else {
                    let have_owner = format!("{}:{}", ff.owner, ff.group);
                    let mode = (ff.mode != spec.mode).then_some((ff.mode, spec.mode));
                    let own = (have_owner != owner).then(|| (have_owner, owner.clone()));
                    if mode.is_some() || own.is_some() {
                        changes.push(Change::FileMeta {
                            role: spec.role,
                            path: spec.path.to_string(),
                            mode,
                            owner: own,
                            spec: i,
                        });
                    }
                }
            }
        }
    }

    if handlers.contains(&Handler::DaemonReloadRestartVrrpd) {
        changes.push(Change::DaemonReload { role: Role::Vrrp });
    }

    if let Some(fw) = &d.firewall {
        firewall(d, f, fw, &mut changes, &mut findings);
    }

    for s in &d.services {
        let fact = f.services.get(s.unit).cloned().unwrap_or_default();
        // A unit that is being installed now does not exist yet; it will once files land.
        if s.enabled && !fact.is_enabled() {
            changes.push(Change::Service {
                role: s.role,
                unit: s.unit.into(),
                action: ServiceAction::Enable,
                reason: "not enabled".into(),
            });
        }
        if s.active && !fact.is_active() {
            let reason = if installing && s.unit == roles::NGINX_SERVICE { "installed now" } else { "not running" };
            // Debian starts nginx on install; starting it again is harmless and states intent.
            changes.push(Change::Service {
                role: s.role,
                unit: s.unit.into(),
                action: ServiceAction::Start,
                reason: reason.into(),
            });
            continue;
        }
        let (action, reason) = if s.unit == roles::VRRPD_SERVICE {
            if binary_changed {
                (Some(ServiceAction::Restart), "binary changed")
            } else if handlers.contains(&Handler::DaemonReloadRestartVrrpd) || handlers.contains(&Handler::RestartVrrpd)
            {
                (Some(ServiceAction::Restart), "unit changed")
            } else if handlers.contains(&Handler::ReloadVrrpd) {
                (Some(ServiceAction::Reload), "config changed")
            } else {
                (None, "")
            }
        } else if s.unit == roles::NGINX_SERVICE && handlers.contains(&Handler::ReloadNginx) {
            (Some(ServiceAction::Reload), "site changed")
        } else {
            (None, "")
        };
        if let Some(action) = action {
            changes.push(Change::Service { role: s.role, unit: s.unit.into(), action, reason: reason.into() });
        }
    }

    HostPlan { pair: d.pair.clone(), node: d.node.clone(), changes, findings }
}

/// firewalld prints `/32` sources as given; compare without it.
fn norm_rule(r: &str) -> String {
    r.replace("/32\"", "\"").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn firewall(d: &Desired, f: &Facts, fw: &roles::FirewallSpec, changes: &mut Vec<Change>, findings: &mut Vec<Finding>) {
    if !f.firewall.installed {
        findings.push(Finding {
            role: Role::Firewalld,
            message: format!("firewalld is not installed on `{}`: VRRP and port {} are not managed by hapair", d.node, fw.ports.join(", ")),
            fix: "make sure no other firewall drops IP protocol 112 (VRRP) between the nodes, or set `firewall.manage: false`".into(),
        });
        return;
    }
    if !f.firewall.running {
        findings.push(Finding {
            role: Role::Firewalld,
            message: format!("firewalld is installed but not running on `{}`: rules were not planned", d.node),
            fix: "start firewalld (`systemctl enable --now firewalld`) or set `firewall.manage: false`".into(),
        });
        return;
    }
    let before = changes.len();
    firewall_rules(f, fw, changes);
    if changes.len() > before && f.firewall.via == "firewall-cmd" {
        // The one mechanism that differs between firewalld generations and hosts: say it.
        findings.push(Finding {
            role: Role::Firewalld,
            message: format!(
                "firewalld {} on `{}` is changed with `firewall-cmd`: its busctl has no JSON output (systemd older than 240)",
                f.firewall.version, d.node
            ),
            fix: "nothing to do; each firewall step costs a firewall-cmd start (~0.5 s) instead of a D-Bus call".into(),
        });
    }
}

fn firewall_rules(f: &Facts, fw: &roles::FirewallSpec, changes: &mut Vec<Change>) {
    let zone = f.firewall.zone_of(&fw.interface);
    let rt = f.firewall.runtime_zone(&zone).cloned().unwrap_or_default();
    let perm = f.firewall.permanent_zone(&zone).cloned().unwrap_or_default();
    let has = |rules: &[String], r: &str| rules.iter().any(|x| norm_rule(x) == norm_rule(r));
    for r in &fw.rich_rules {
        let (runtime, permanent) = (!has(&rt.rich_rules, r), !has(&perm.rich_rules, r));
        if runtime || permanent {
            changes.push(Change::Firewall {
                role: Role::Firewalld,
                zone: zone.clone(),
                add: true,
                item: "rich-rule",
                value: r.clone(),
                runtime,
                permanent,
            });
        }
    }
    // VRRP rules for another peer are ours from an earlier inventory: remove them.
    let mut stale: Vec<String> = rt
        .rich_rules
        .iter()
        .chain(perm.rich_rules.iter())
        .filter(|r| r.contains("protocol value=\"vrrp\"") && !has(&fw.rich_rules, r))
        .cloned()
        .collect();
    stale.sort();
    stale.dedup();
    for r in stale {
        let (runtime, permanent) = (has(&rt.rich_rules, &r), has(&perm.rich_rules, &r));
        changes.push(Change::Firewall {
            role: Role::Firewalld,
            zone: zone.clone(),
            add: false,
            item: "rich-rule",
            value: r,
            runtime,
            permanent,
        });
    }
    for p in &fw.ports {
        let (runtime, permanent) = (!rt.ports.contains(p), !perm.ports.contains(p));
        if runtime || permanent {
            changes.push(Change::Firewall {
                role: Role::Firewalld,
                zone: zone.clone(),
                add: true,
                item: "port",
                value: p.clone(),
                runtime,
                permanent,
            });
        }
    }
}

/// The plan as text: per host, per role; diffs coloured when `color`.
pub fn render_text(plans: &[HostPlan], color: bool) -> String {
    let (red, green, cyan, bold, reset) =
        if color { ("\x1b[31m", "\x1b[32m", "\x1b[36m", "\x1b[1m", "\x1b[0m") } else { ("", "", "", "", "") };
    let mut out = String::new();
    for p in plans {
        let _ = writeln!(
            out,
            "{bold}{}{reset} (pair `{}`): {}",
            p.node,
            p.pair,
            match p.changes.len() {
                0 => "no changes".to_string(),
                1 => "1 change".to_string(),
                n => format!("{n} changes"),
            }
        );
        for fnd in &p.findings {
            let _ = writeln!(out, "  [{}] warning: {}\n    fix: {}", fnd.role, fnd.message, fnd.fix);
        }
        for c in &p.changes {
            let _ = writeln!(out, "  [{}] {}", c.role(), c.summary());
            if let Change::File { diff, .. } = c {
                for l in diff.lines() {
                    let (pre, post) = if l.starts_with("+++") || l.starts_with("---") {
                        (bold, reset)
                    } else if l.starts_with('+') {
                        (green, reset)
                    } else if l.starts_with('-') {
                        (red, reset)
                    } else if l.starts_with("@@") {
                        (cyan, reset)
                    } else {
                        ("", "")
                    };
                    let _ = writeln!(out, "      {pre}{l}{post}");
                }
            }
        }
    }
    let total: usize = plans.iter().map(|p| p.changes.len()).sum();
    let hosts = plans.iter().filter(|p| p.has_changes()).count();
    if total == 0 {
        let _ = writeln!(out, "nothing to do on {} hosts", plans.len());
    } else {
        let _ = writeln!(out, "{total} changes pending on {hosts} of {} hosts", plans.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Mode;
    use crate::observe::{BinaryFact, FileFact, ServiceFact, Zone};
    use crate::render::{tests::pair, Renderer};
    use crate::roles::{desired, BinarySpec};

    fn bin() -> BinarySpec {
        BinarySpec {
            sha256: "ab".repeat(32),
            size: 1_000_000,
            version: "hapair 0.1.0".into(),
            needs: "x86_64, glibc >= 2.17".into(),
        }
    }

    fn want() -> Desired {
        let r = Renderer::embedded().expect("templates parse");
        let p = pair(Mode::MasterBackup);
        desired(&r, &p, &p.nodes[0], &bin()).expect("renders")
    }

    fn fresh() -> Facts {
        let mut f = Facts { pkg_manager: "apt".into(), init: "systemd".into(), ..Facts::default() };
        f.firewall.installed = true;
        f.firewall.running = true;
        f.firewall.default_zone = "public".into();
        f.firewall.runtime = vec![Zone { name: "public".into(), ..Zone::default() }];
        f.firewall.permanent = f.firewall.runtime.clone();
        f.files.insert(
            roles::NGINX_DEFAULT_SITE.into(),
            FileFact {
                kind: FileKind::Link,
                sha256: "x".into(),
                mode: 0o644,
                owner: "root".into(),
                group: "root".into(),
                content: b"server {}\n".to_vec(),
            },
        );
        f
    }

    /// Facts of a node where `d` has been applied.
    fn converged(d: &Desired) -> Facts {
        let mut f = fresh();
        f.files.clear();
        f.packages.insert("nginx-light".into(), "1".into());
        f.binary = Some(BinaryFact { sha256: d.binary.sha256.clone(), version: d.binary.version.clone() });
        for s in &d.files {
            if let Some(c) = &s.content {
                f.files.insert(
                    s.path.into(),
                    FileFact {
                        kind: FileKind::File,
                        sha256: sha256_hex(c.as_bytes()),
                        mode: s.mode,
                        owner: "root".into(),
                        group: "root".into(),
                        content: c.as_bytes().to_vec(),
                    },
                );
            }
        }
        for u in [roles::NGINX_SERVICE, roles::VRRPD_SERVICE] {
            f.services.insert(
                u.into(),
                ServiceFact {
                    load: "loaded".into(),
                    active: "active".into(),
                    enabled: "enabled".into(),
                    main_pid: 7,
                    n_restarts: 0,
                },
            );
        }
        let fw = d.firewall.as_ref().expect("managed");
        for z in f.firewall.runtime.iter_mut().chain(f.firewall.permanent.iter_mut()) {
            z.rich_rules = fw.rich_rules.clone();
            z.ports = fw.ports.clone();
        }
        f
    }

    #[test]
    fn fresh_node_plans_everything_in_dependency_order() {
        let d = want();
        let p = plan(&d, &fresh());
        let s: Vec<String> = p.changes.iter().map(Change::summary).collect();
        assert_eq!(
            s,
            [
                "install package `nginx` (apt)",
                "upload `/usr/local/sbin/hapair` (absent -> sha256 abababababab, 1.0 MB, x86_64, glibc >= 2.17; checked on the node before it replaces the old one)",
                "create `/etc/hapair/vrrpd.yml` (mode 0600, owner root:root)",
                "create `/etc/systemd/system/hapair-vrrpd.service` (mode 0644, owner root:root)",
                "remove `/etc/nginx/sites-enabled/default`",
                "create `/etc/nginx/conf.d/hapair.conf` (mode 0644, owner root:root)",
                "systemctl daemon-reload (unit file changed)",
                "add rich-rule in zone `public` (runtime and permanent): rule family=\"ipv4\" source address=\"10.77.1.12/32\" protocol value=\"vrrp\" accept",
                "add port in zone `public` (runtime and permanent): 80/tcp",
                "enable `nginx.service` (not enabled)",
                "start `nginx.service` (installed now)",
                "enable `hapair-vrrpd.service` (not enabled)",
                "start `hapair-vrrpd.service` (not running)",
            ]
        );
        let text = render_text(&[p], false);
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("+    auth_pass: <redacted>"), "{text}");
    }

    #[test]
    fn converged_node_has_nothing_to_do() {
        let d = want();
        let p = plan(&d, &converged(&d));
        assert_eq!(p.changes, []);
        assert_eq!(render_text(&[p], false), "web1 (pair `web`): no changes\nnothing to do on 1 hosts\n");
    }

    #[test]
    fn a_changed_setting_is_one_diff_and_one_reload() {
        let d = want();
        let facts = converged(&d);
        let r = Renderer::embedded().expect("templates parse");
        let mut p = pair(Mode::MasterBackup);
        p.nodes[0].check.fall = 3;
        let d2 = desired(&r, &p, &p.nodes[0], &bin()).expect("renders");
        let pl = plan(&d2, &facts);
        assert_eq!(pl.changes.len(), 2, "{:#?}", pl.changes);
        let Change::File { diff, path, .. } = &pl.changes[0] else { panic!("{:?}", pl.changes[0]) };
        assert_eq!(path, roles::VRRPD_CONFIG);
        assert!(diff.contains("-  fall: 2\n+  fall: 3\n"), "{diff}");
        assert_eq!(pl.changes[1].summary(), "reload `hapair-vrrpd.service` (config changed)");
    }

    #[test]
    fn only_the_secret_changed_shows_no_secret() {
        let d = want();
        let facts = converged(&d);
        let r = Renderer::embedded().expect("templates parse");
        let mut p = pair(Mode::MasterBackup);
        p.nodes[0].vrrp.auth_pass = Some(crate::inventory::Secret::new("other"));
        let pl = plan(&desired(&r, &p, &p.nodes[0], &bin()).expect("renders"), &facts);
        let Change::File { diff, .. } = &pl.changes[0] else { panic!() };
        assert_eq!(diff, "(only redacted values differ)\n");
    }

    #[test]
    fn new_binary_restarts_and_unit_change_reloads_systemd() {
        let d = want();
        let mut facts = converged(&d);
        facts.binary = Some(BinaryFact { sha256: "00".into(), version: "old".into() });
        let u = facts.files.get_mut(roles::VRRPD_UNIT).expect("unit");
        u.sha256 = "changed".into();
        let s: Vec<String> = plan(&d, &facts).changes.iter().map(Change::summary).collect();
        assert_eq!(s[2], "systemctl daemon-reload (unit file changed)");
        assert_eq!(s.last().map(String::as_str), Some("restart `hapair-vrrpd.service` (binary changed)"));
    }

    #[test]
    fn stale_vrrp_rule_is_removed_and_mode_fixed_without_handlers() {
        let d = want();
        let mut facts = converged(&d);
        facts.firewall.permanent[0]
            .rich_rules
            .push("rule family=\"ipv4\" source address=\"10.77.1.99/32\" protocol value=\"vrrp\" accept".into());
        facts.files.get_mut(roles::VRRPD_CONFIG).expect("cfg").mode = 0o644;
        let s: Vec<String> = plan(&d, &facts).changes.iter().map(Change::summary).collect();
        assert_eq!(
            s,
            [
                "set `/etc/hapair/vrrpd.yml` mode 0644 -> 0600",
                "remove rich-rule in zone `public` (permanent): rule family=\"ipv4\" source address=\"10.77.1.99/32\" protocol value=\"vrrp\" accept",
            ]
        );
    }

    #[test]
    fn firewalld_absent_is_a_finding() {
        let d = want();
        let mut facts = converged(&d);
        facts.firewall = Default::default();
        let p = plan(&d, &facts);
        assert_eq!(p.changes, []);
        assert_eq!(p.findings.len(), 1);
        assert!(p.findings[0].message.starts_with("firewalld is not installed on `web1`"));
    }
}
