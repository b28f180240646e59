//! The plan: desired state (roles) diffed against facts, as a list of changes per host.
//! Pure: no I/O. Each change carries what `apply` needs to carry it out (the file content,
//! its validator), so `apply` works from the plan alone; `plan` only shows them.
//!
//! Secrets: a diff shows each file as `render` masked it (secret-bearing lines replaced); lines
//! of the node's current file that pair with such lines are masked the same way, and known
//! secret values are scrubbed from everything else. A secret file is never shown.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::observe::{Facts, FileKind};
use crate::render::{scrub, Shown};
use crate::roles::{Desired, FileSpec, FirewallSpec, HandlerAction, Validator, Want, FIREWALL_OWNED};

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

/// What `apply` needs to carry out a file change. Not serialised: it may hold secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileOp {
    /// The new content (`None` for a deletion or a directory).
    pub content: Option<Arc<Vec<u8>>>,
    pub directory: bool,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    pub validate: Option<Validator>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    Package {
        role: String,
        name: String,
        manager: String,
    },
    Binary {
        role: String,
        path: String,
        from: Option<String>,
        to: String,
        size: u64,
        /// What the build needs of the node, e.g. `x86_64, glibc >= 2.17`.
        needs: String,
    },
    File {
        role: String,
        path: String,
        action: FileAction,
        /// Unified diff, secrets masked.
        diff: String,
        mode: u32,
        owner: String,
        #[serde(skip)]
        op: FileOp,
    },
    FileMeta {
        role: String,
        path: String,
        mode: Option<(u32, u32)>,
        owner: Option<(String, String)>,
    },
    /// SELinux is on: what was just written gets its policy's labels (a file renamed into
    /// place keeps the label of the temp file it was written as).
    Relabel {
        role: String,
        paths: Vec<String>,
    },
    DaemonReload {
        role: String,
    },
    Firewall {
        role: String,
        zone: String,
        add: bool,
        /// `rich-rule` or `port`
        item: &'static str,
        value: String,
        runtime: bool,
        permanent: bool,
    },
    Service {
        role: String,
        unit: String,
        action: ServiceAction,
        reason: String,
    },
}

impl Change {
    pub fn role(&self) -> &str {
        match self {
            Change::Package { role, .. }
            | Change::Binary { role, .. }
            | Change::File { role, .. }
            | Change::FileMeta { role, .. }
            | Change::Relabel { role, .. }
            | Change::DaemonReload { role }
            | Change::Firewall { role, .. }
            | Change::Service { role, .. } => role,
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
            Change::File { path, action, mode, owner, op, .. } => match action {
                FileAction::Create if op.directory => {
                    format!("create directory `{path}` (mode {mode:04o}, owner {owner})")
                }
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
            Change::Relabel { paths, .. } => format!(
                "restorecon {} (SELinux is on: written files get their policy's labels)",
                paths.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(" ")
            ),
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
    pub role: String,
    pub message: String,
    pub fix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPlan {
    pub pair: String,
    pub node: String,
    pub changes: Vec<Change>,
    pub findings: Vec<Finding>,
    /// Secret values (never serialised): apply scrubs them from command output.
    #[serde(skip)]
    pub secrets: Vec<String>,
}

impl HostPlan {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }
}

pub use crate::observe::sha256_hex;

/// The unified diff a plan shows for a file going from `old` to `new`, secrets masked.
fn file_diff(path: &str, old: &[u8], new: &[u8], shown: &Shown, secrets: &[String]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let (old_shown, new_shown) = match shown {
        Shown::Hidden => {
            return format!("# secret content not shown ({} bytes)\n", new.len());
        }
        Shown::Plain => (scrub(&old, secrets), scrub(&new, secrets)),
        Shown::Masked(masked) => {
            let d = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
            let masked: Vec<&str> = masked.split_inclusive('\n').collect();
            let real: Vec<&str> = new.split_inclusive('\n').collect();
            let secret_line = |j: usize| real.get(j) != masked.get(j);
            let mut old_shown = String::new();
            for op in d.ops() {
                let (_, o, n) = op.as_tag_tuple();
                for (k, i) in o.clone().enumerate() {
                    let j = n.start + k;
                    let line = d.old_slices()[i];
                    // Equal lines, and lines replaced by a secret-bearing one, show as masked.
                    if j < n.end && (line == real[j] || secret_line(j)) {
                        old_shown.push_str(masked[j]);
                    } else {
                        old_shown.push_str(&scrub(line, secrets));
                    }
                }
            }
            (old_shown, scrub(&masked.concat(), secrets))
        }
    };
    let d = similar::TextDiff::from_lines(&old_shown, &new_shown);
    let mut out =
        d.unified_diff().context_radius(3).header(&format!("{path} (now)"), &format!("{path} (planned)")).to_string();
    if out.is_empty() {
        // Called only for files whose bytes differ: what differs was redacted.
        out = "(only redacted values differ)\n".to_string();
    }
    out
}

fn op_of(spec: &FileSpec) -> FileOp {
    FileOp {
        content: match &spec.want {
            Want::Content { bytes, .. } => Some(Arc::new(bytes.clone())),
            _ => None,
        },
        directory: spec.want == Want::Directory,
        mode: spec.mode,
        owner: spec.owner.clone(),
        group: spec.group.clone(),
        validate: spec.validate.clone(),
    }
}

/// Handlers notified by the changes so far: each action once, with the first reason.
#[derive(Default)]
struct Notified(Vec<(HandlerAction, String)>);

impl Notified {
    fn add(&mut self, spec: &FileSpec) {
        for a in &spec.notify {
            if !self.0.iter().any(|(x, _)| x == a) {
                self.0.push((a.clone(), format!("{} changed", spec.name)));
            }
        }
    }
    fn get(&self, a: &HandlerAction) -> Option<&str> {
        self.0.iter().find(|(x, _)| x == a).map(|(_, r)| r.as_str())
    }
}

/// Compare the desired state of a node with its facts.
pub fn plan(d: &Desired, f: &Facts) -> HostPlan {
    let mut changes = Vec::new();
    let mut findings = Vec::new();
    let mut notified = Notified::default();

    // Packages first: later changes depend on them.
    for p in &d.packages {
        if !p.satisfied_by.iter().any(|n| f.packages.contains_key(n)) {
            if f.pkg_manager == "none" || f.pkg_manager.is_empty() {
                findings.push(Finding {
                    role: p.role.clone(),
                    message: format!(
                        "package `{}` is missing and `{}` has neither apt, dnf nor yum",
                        p.install, d.node
                    ),
                    fix: format!("install `{}` on `{}` by hand", p.install, d.node),
                });
            } else {
                changes.push(Change::Package {
                    role: p.role.clone(),
                    name: p.install.clone(),
                    manager: f.pkg_manager.clone(),
                });
            }
        }
    }

    for spec in &d.files {
        let owner = format!("{}:{}", spec.owner, spec.group);
        let file = |action, diff: String| Change::File {
            role: spec.role.clone(),
            path: spec.path.clone(),
            action,
            diff,
            mode: spec.mode,
            owner: owner.clone(),
            op: op_of(spec),
        };
        let fact = f.files.get(&spec.path);
        let meta = |changes: &mut Vec<Change>, mode: u32, have_owner: String| {
            let m = (mode != spec.mode).then_some((mode, spec.mode));
            let o = (have_owner != owner).then(|| (have_owner, owner.clone()));
            if m.is_some() || o.is_some() {
                changes.push(Change::FileMeta { role: spec.role.clone(), path: spec.path.clone(), mode: m, owner: o });
            }
        };
        match (&spec.want, fact) {
            (Want::Hapair(bin), _) => {
                if f.binary.as_ref().map(|b| b.sha256.as_str()) != Some(bin.sha256.as_str()) {
                    changes.push(Change::Binary {
                        role: spec.role.clone(),
                        path: spec.path.clone(),
                        from: f.binary.as_ref().map(|b| b.sha256.clone()),
                        to: bin.sha256.clone(),
                        size: bin.size,
                        needs: bin.needs.clone(),
                    });
                    notified.add(spec);
                }
            }
            (Want::Absent, None) => {}
            (Want::Absent, Some(ff)) => {
                // The whole old file would drown the plan; say why it goes.
                let lines = String::from_utf8_lossy(&ff.content).lines().count();
                changes.push(file(FileAction::Delete, format!("# {} ({lines} lines removed)\n", spec.name)));
                notified.add(spec);
            }
            (Want::Directory, Some(ff)) if ff.kind == FileKind::Dir => {
                meta(&mut changes, ff.mode, format!("{}:{}", ff.owner, ff.group))
            }
            (Want::Directory, _) => {
                changes.push(file(FileAction::Create, String::new()));
                notified.add(spec);
            }
            (Want::Content { bytes, shown }, None) => {
                changes.push(file(FileAction::Create, file_diff(&spec.path, b"", bytes, shown, &d.secrets)));
                notified.add(spec);
            }
            (Want::Content { bytes, shown }, Some(ff)) => {
                if !matches!(ff.kind, FileKind::File) || ff.sha256 != sha256_hex(bytes) {
                    changes
                        .push(file(FileAction::Update, file_diff(&spec.path, &ff.content, bytes, shown, &d.secrets)));
                    notified.add(spec);
                } else {
                    meta(&mut changes, ff.mode, format!("{}:{}", ff.owner, ff.group));
                }
            }
        }
    }

    if !f.selinux.is_empty() {
        let written: Vec<String> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Binary { path, .. } => Some(path.clone()),
                Change::File { path, action: FileAction::Create | FileAction::Update, .. } => Some(path.clone()),
                _ => None,
            })
            .collect();
        if !written.is_empty() {
            changes.push(Change::Relabel { role: "selinux".into(), paths: written });
        }
    }

    if let Some(r) = notified.get(&HandlerAction::DaemonReload) {
        let role = d.files.iter().find(|s| s.notify.contains(&HandlerAction::DaemonReload)).map(|s| s.role.clone());
        let _ = r;
        changes.push(Change::DaemonReload { role: role.unwrap_or_default() });
    }

    if let Some(fw) = &d.firewall {
        let before = changes.len();
        firewall(d, f, fw, &mut changes, &mut findings);
        if changes.len() > before && f.firewall.via == "firewall-cmd" {
            // The one mechanism that differs between firewalld generations and hosts: say it.
            findings.push(Finding {
                role: fw.role.clone(),
                message: format!(
                    "firewalld {} on `{}` is changed with `firewall-cmd`: its busctl has no JSON output (systemd older than 240)",
                    f.firewall.version, d.node
                ),
                fix: "nothing to do; each firewall step costs a firewall-cmd start (~0.5 s) instead of a D-Bus call".into(),
            });
        }
    }

    let mut handled: BTreeSet<&str> = BTreeSet::new();
    for s in &d.services {
        handled.insert(&s.unit);
        let fact = f.services.get(&s.unit).cloned().unwrap_or_default();
        let svc = |action, reason: &str| Change::Service {
            role: s.role.clone(),
            unit: s.unit.clone(),
            action,
            reason: reason.to_string(),
        };
        if s.enabled && !fact.is_enabled() {
            changes.push(svc(ServiceAction::Enable, "not enabled"));
        }
        if s.started && !fact.is_active() {
            // Starting it loads the new files anyway: no reload or restart on top. (A package
            // install that starts it is seen by apply, which plans again after installs.)
            changes.push(svc(ServiceAction::Start, "not running"));
            continue;
        }
        if let Some((a, r)) = handler_action(&notified, &s.unit) {
            changes.push(svc(a, r));
        }
    }
    // Handlers of units no service task declares.
    for (a, _) in &notified.0 {
        if let HandlerAction::Reload(u) | HandlerAction::Restart(u) = a {
            if handled.insert(u) {
                if let Some((act, r)) = handler_action(&notified, u) {
                    let role =
                        d.files.iter().find(|s| s.notify.contains(a)).map(|s| s.role.clone()).unwrap_or_default();
                    changes.push(Change::Service { role, unit: u.clone(), action: act, reason: r.to_string() });
                }
            }
        }
    }

    HostPlan { pair: d.pair.clone(), node: d.node.clone(), changes, findings, secrets: d.secrets.clone() }
}

/// Drift between the two nodes of a pair: files both should have the same content of, which
/// differ between the nodes now (not only from the desired state). One finding per node.
pub fn peer_drift(a: (&Desired, &Facts), b: (&Desired, &Facts)) -> [Vec<Finding>; 2] {
    let mut out = [Vec::new(), Vec::new()];
    for fa in &a.0.files {
        let Some(fb) = b.0.files.iter().find(|f| f.path == fa.path) else { continue };
        let same_wanted = match (&fa.want, &fb.want) {
            (Want::Content { bytes: x, .. }, Want::Content { bytes: y, .. }) => x == y,
            _ => false,
        };
        let (ha, hb) = (a.1.files.get(&fa.path).map(|f| &f.sha256), b.1.files.get(&fa.path).map(|f| &f.sha256));
        if same_wanted && ha != hb {
            for (i, (me, other)) in [(&a.0.node, &b.0.node), (&b.0.node, &a.0.node)].into_iter().enumerate() {
                out[i].push(Finding {
                    role: fa.role.clone(),
                    message: format!("`{}` differs between `{me}` and `{other}` (drift between peers)", fa.path),
                    fix: "apply to both nodes of the pair; both get the same file".into(),
                });
            }
        }
    }
    out
}

/// A restart wins over a reload of the same unit.
fn handler_action<'a>(n: &'a Notified, unit: &str) -> Option<(ServiceAction, &'a str)> {
    if let Some(r) = n.get(&HandlerAction::Restart(unit.to_string())) {
        return Some((ServiceAction::Restart, r));
    }
    n.get(&HandlerAction::Reload(unit.to_string())).map(|r| (ServiceAction::Reload, r))
}

/// firewalld prints `/32` sources as given; compare without it.
fn norm_rule(r: &str) -> String {
    r.replace("/32\"", "\"").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `protocol value="..."` of a rich rule, if any.
fn protocol_of(r: &str) -> Option<&str> {
    let rest = r.split("protocol value=\"").nth(1)?;
    rest.split('"').next()
}

/// The entries hapair owns on a node, from its ownership file: (item, zone, value).
pub fn owned_entries(f: &Facts) -> Vec<(String, String, String)> {
    let Some(ff) = f.files.get(FIREWALL_OWNED) else { return vec![] };
    String::from_utf8_lossy(&ff.content)
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, '\t');
            Some((it.next()?.to_string(), it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

fn firewall(d: &Desired, f: &Facts, fw: &FirewallSpec, changes: &mut Vec<Change>, findings: &mut Vec<Finding>) {
    let role = fw.role.clone();
    if !f.firewall.installed {
        findings.push(Finding {
            role,
            message: format!(
                "firewalld is not installed on `{}`: {} and port {} are not managed by hapair",
                d.node,
                fw.rich_rules.join(", "),
                fw.ports.join(", ")
            ),
            fix: "make sure no other firewall drops these between the nodes, or set `firewall.manage: false`".into(),
        });
        return;
    }
    if !f.firewall.running {
        findings.push(Finding {
            role,
            message: format!("firewalld is installed but not running on `{}`: rules were not planned", d.node),
            fix: "start firewalld (`systemctl enable --now firewalld`) or set `firewall.manage: false`".into(),
        });
        return;
    }
    let zone = f.firewall.zone_of(&fw.interface);
    let rt = f.firewall.runtime_zone(&zone).cloned().unwrap_or_default();
    let perm = f.firewall.permanent_zone(&zone).cloned().unwrap_or_default();
    let has = |rules: &[String], r: &str| rules.iter().any(|x| norm_rule(x) == norm_rule(r));
    let owned = owned_entries(f);
    let is_owned = |item: &str, v: &str| {
        owned.iter().any(|(i, z, x)| {
            i == item && *z == zone && (if item == "rich-rule" { norm_rule(x) == norm_rule(v) } else { x == v })
        })
    };
    let fwc = |add, item, value: String, runtime, permanent| Change::Firewall {
        role: role.clone(),
        zone: zone.clone(),
        add,
        item,
        value,
        runtime,
        permanent,
    };
    for r in &fw.rich_rules {
        let (runtime, permanent) = (!has(&rt.rich_rules, r), !has(&perm.rich_rules, r));
        if runtime || permanent {
            changes.push(fwc(true, "rich-rule", r.clone(), runtime, permanent));
        }
    }
    // Rules hapair owns and no longer wants go; rules of the same protocol it does not own are
    // someone else's (another cluster on these hosts): reported, never removed.
    let mut present: Vec<String> = rt.rich_rules.iter().chain(perm.rich_rules.iter()).cloned().collect();
    present.sort();
    present.dedup_by(|a, b| norm_rule(a) == norm_rule(b));
    let protocols: Vec<&str> = fw.rich_rules.iter().filter_map(|r| protocol_of(r)).collect();
    for r in present.into_iter().filter(|r| !has(&fw.rich_rules, r)) {
        if is_owned("rich-rule", &r) {
            let (runtime, permanent) = (has(&rt.rich_rules, &r), has(&perm.rich_rules, &r));
            changes.push(fwc(false, "rich-rule", r, runtime, permanent));
        } else if protocol_of(&r).is_some_and(|p| protocols.contains(&p)) {
            findings.push(Finding {
                role: role.clone(),
                message: format!("zone `{zone}` on `{}` has a rule hapair did not add, kept as it is: {r}", d.node),
                fix: "if no other cluster on this host needs it, remove it by hand (`firewall-cmd --permanent --remove-rich-rule=...`)".into(),
            });
        }
    }
    for p in &fw.ports {
        let (runtime, permanent) = (!rt.ports.contains(p), !perm.ports.contains(p));
        if runtime || permanent {
            changes.push(fwc(true, "port", p.clone(), runtime, permanent));
        }
    }
    let mut old_ports: Vec<&String> = rt.ports.iter().chain(perm.ports.iter()).collect();
    old_ports.sort();
    old_ports.dedup();
    for p in old_ports {
        if !fw.ports.contains(p) && is_owned("port", p) {
            changes.push(fwc(false, "port", p.clone(), rt.ports.contains(p), perm.ports.contains(p)));
        }
    }
    // The ownership record, written after the rules changed.
    let mut record: Vec<String> = fw
        .rich_rules
        .iter()
        .map(|r| format!("rich-rule\t{zone}\t{r}"))
        .chain(fw.ports.iter().map(|p| format!("port\t{zone}\t{p}")))
        .collect();
    record.sort();
    record.dedup();
    let content = record.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes();
    let now = f.files.get(FIREWALL_OWNED);
    if now.map(|ff| ff.sha256.as_str()) != Some(sha256_hex(&content).as_str()) {
        let diff = file_diff(
            FIREWALL_OWNED,
            now.map(|ff| ff.content.as_slice()).unwrap_or_default(),
            &content,
            &Shown::Plain,
            &[],
        );
        changes.push(Change::File {
            role,
            path: FIREWALL_OWNED.to_string(),
            action: if now.is_some() { FileAction::Update } else { FileAction::Create },
            diff,
            mode: 0o644,
            owner: "root:root".into(),
            op: FileOp {
                content: Some(Arc::new(content)),
                directory: false,
                mode: 0o644,
                owner: "root".into(),
                group: "root".into(),
                validate: None,
            },
        });
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
mod rhel_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Mode;
    use crate::observe::{BinaryFact, FileFact, ServiceFact, Zone};
    use crate::render::tests::pair;
    use crate::roles::{desired, BinarySpec, RoleSet};

    const CONFIG: &str = "/etc/hapair/vrrpd.yml";
    const UNIT: &str = "/etc/systemd/system/hapair-vrrpd.service";

    fn bin() -> BinarySpec {
        BinarySpec {
            sha256: "ab".repeat(32),
            size: 1_000_000,
            version: "hapair 0.1.0".into(),
            needs: "x86_64, glibc >= 2.17".into(),
        }
    }

    fn want_for(p: &crate::inventory::Pair) -> Desired {
        desired(&RoleSet::builtin().expect("roles"), p, &p.nodes[0], &[], &bin()).expect("renders")
    }

    fn want() -> Desired {
        want_for(&pair(Mode::MasterBackup))
    }

    fn fact(content: &[u8], mode: u32, kind: FileKind) -> FileFact {
        FileFact {
            kind,
            sha256: sha256_hex(content),
            mode,
            owner: "root".into(),
            group: "root".into(),
            content: content.to_vec(),
        }
    }

    fn fresh() -> Facts {
        let mut f = Facts { pkg_manager: "apt".into(), init: "systemd".into(), ..Facts::default() };
        f.firewall.installed = true;
        f.firewall.running = true;
        f.firewall.default_zone = "public".into();
        f.firewall.runtime = vec![Zone { name: "public".into(), ..Zone::default() }];
        f.firewall.permanent = f.firewall.runtime.clone();
        f.files.insert("/etc/nginx/sites-enabled/default".into(), fact(b"server {}\n", 0o644, FileKind::Link));
        f
    }

    /// Facts of a node where `d` has been applied.
    fn converged(d: &Desired) -> Facts {
        let mut f = fresh();
        f.files.clear();
        f.packages.insert("nginx-light".into(), "1".into());
        for s in &d.files {
            match &s.want {
                Want::Content { bytes, .. } => {
                    f.files.insert(s.path.clone(), fact(bytes, s.mode, FileKind::File));
                }
                Want::Hapair(b) => f.binary = Some(BinaryFact { sha256: b.sha256.clone(), version: b.version.clone() }),
                Want::Directory => {
                    f.files.insert(s.path.clone(), fact(b"", s.mode, FileKind::Dir));
                }
                Want::Absent => {}
            }
        }
        for u in d.units() {
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
        let mut owned: Vec<String> = fw
            .rich_rules
            .iter()
            .map(|r| format!("rich-rule\tpublic\t{r}\n"))
            .chain(fw.ports.iter().map(|p| format!("port\tpublic\t{p}\n")))
            .collect();
        owned.sort();
        f.files.insert(FIREWALL_OWNED.into(), fact(owned.concat().as_bytes(), 0o644, FileKind::File));
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
                "create `/etc/nginx/conf.d/hapair.conf` (mode 0644, owner root:root)",
                "remove `/etc/nginx/sites-enabled/default`",
                "upload `/usr/local/sbin/hapair` (absent -> sha256 abababababab, 1.0 MB, x86_64, glibc >= 2.17; checked on the node before it replaces the old one)",
                "create `/etc/hapair/vrrpd.yml` (mode 0600, owner root:root)",
                "create `/etc/systemd/system/hapair-vrrpd.service` (mode 0644, owner root:root)",
                "systemctl daemon-reload (unit file changed)",
                "add rich-rule in zone `public` (runtime and permanent): rule family=\"ipv4\" source address=\"10.77.1.12/32\" protocol value=\"vrrp\" accept",
                "add port in zone `public` (runtime and permanent): 80/tcp",
                "create `/var/lib/hapair/firewall.owned` (mode 0644, owner root:root)",
                "enable `nginx.service` (not enabled)",
                "start `nginx.service` (not running)",
                "enable `hapair-vrrpd.service` (not enabled)",
                "start `hapair-vrrpd.service` (not running)",
            ]
        );
        let text = render_text(std::slice::from_ref(&p), false);
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("+    auth_pass: \"<redacted>\""), "{text}");
        let json = serde_json::to_string(&p).expect("serialises");
        assert!(!json.contains("s3cr3t"), "{json}");
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
        let facts = converged(&want());
        let mut p = pair(Mode::MasterBackup);
        p.nodes[0].check.fall = 3;
        let pl = plan(&want_for(&p), &facts);
        assert_eq!(pl.changes.len(), 2, "{:#?}", pl.changes);
        let Change::File { diff, path, .. } = &pl.changes[0] else { panic!("{:?}", pl.changes[0]) };
        assert_eq!(path, CONFIG);
        assert!(diff.contains("-  fall: 2\n+  fall: 3\n"), "{diff}");
        assert_eq!(pl.changes[1].summary(), "reload `hapair-vrrpd.service` (config changed)");
    }

    #[test]
    fn only_the_secret_changed_shows_no_secret() {
        let facts = converged(&want());
        let mut p = pair(Mode::MasterBackup);
        p.nodes[0].vrrp.auth_pass = Some(crate::inventory::Secret::new("other"));
        let pl = plan(&want_for(&p), &facts);
        let Change::File { diff, .. } = &pl.changes[0] else { panic!() };
        assert_eq!(diff, "(only redacted values differ)\n");
    }

    #[test]
    fn an_old_secret_on_the_node_is_not_shown_either() {
        // The node's file has another password and another setting: the setting shows, neither
        // password does.
        let d = want();
        let mut facts = converged(&d);
        let old = String::from_utf8_lossy(&facts.files[CONFIG].content)
            .replace("s3cr3t", "oldpass")
            .replace("fall: 2", "fall: 5");
        facts.files.insert(CONFIG.into(), fact(old.as_bytes(), 0o600, FileKind::File));
        let pl = plan(&d, &facts);
        let Change::File { diff, .. } = &pl.changes[0] else { panic!() };
        assert!(!diff.contains("oldpass") && !diff.contains("s3cr3t"), "{diff}");
        assert!(diff.contains("-  fall: 5\n+  fall: 2\n"), "{diff}");
    }

    #[test]
    fn a_template_override_cannot_leak_the_secret() {
        // An override that transforms the password (a line-pattern redaction would miss both).
        let mut roles = crate::roles::format::builtin_roles().expect("built-in");
        let vrrp = roles.iter_mut().find(|r| r.name == "vrrp").expect("vrrp role");
        let t = vrrp.templates.get_mut("vrrpd.yml.tera").expect("template");
        t.push_str(
            "# {{ instances[0].auth_pass | upper }} {{ instances[0].auth_pass | replace(from=\"3\", to=\"e\") }}\n",
        );
        let set = RoleSet::new(roles).expect("compiles");
        let p = pair(Mode::MasterBackup);
        let d = desired(&set, &p, &p.nodes[0], &[], &bin()).expect("renders");
        for facts in [fresh(), converged(&want())] {
            let pl = plan(&d, &facts);
            let text = render_text(std::slice::from_ref(&pl), false);
            let json = serde_json::to_string(&pl).expect("json");
            for leak in ["s3cr3t", "S3CR3T", "secret"] {
                assert!(!text.contains(leak) && !json.contains(leak), "{leak} leaked:\n{text}");
            }
        }
    }

    #[test]
    fn new_binary_restarts_and_unit_change_reloads_systemd() {
        let d = want();
        let mut facts = converged(&d);
        facts.binary = Some(BinaryFact { sha256: "00".into(), version: "old".into() });
        facts.files.get_mut(UNIT).expect("unit").sha256 = "changed".into();
        let s: Vec<String> = plan(&d, &facts).changes.iter().map(Change::summary).collect();
        assert_eq!(s[2], "systemctl daemon-reload (unit file changed)");
        assert_eq!(s.last().map(String::as_str), Some("restart `hapair-vrrpd.service` (binary changed)"));
    }

    #[test]
    fn only_owned_firewall_rules_are_removed_and_foreign_ones_reported() {
        let d = want();
        let mut facts = converged(&d);
        let ours = "rule family=\"ipv4\" source address=\"10.77.1.98/32\" protocol value=\"vrrp\" accept";
        let theirs = "rule family=\"ipv4\" source address=\"10.77.1.99/32\" protocol value=\"vrrp\" accept";
        facts.firewall.permanent[0].rich_rules.push(ours.into());
        facts.firewall.permanent[0].rich_rules.push(theirs.into());
        let owned =
            format!("{}rich-rule\tpublic\t{ours}\n", String::from_utf8_lossy(&facts.files[FIREWALL_OWNED].content));
        facts.files.insert(FIREWALL_OWNED.into(), fact(owned.as_bytes(), 0o644, FileKind::File));
        facts.files.get_mut(CONFIG).expect("cfg").mode = 0o644;
        let p = plan(&d, &facts);
        let s: Vec<String> = p.changes.iter().map(Change::summary).collect();
        assert_eq!(
            s,
            [
                "set `/etc/hapair/vrrpd.yml` mode 0644 -> 0600",
                format!("remove rich-rule in zone `public` (permanent): {ours}").as_str(),
                "change `/var/lib/hapair/firewall.owned`",
            ]
        );
        assert_eq!(p.findings.len(), 1, "{:?}", p.findings);
        assert!(p.findings[0].message.ends_with(&format!("has a rule hapair did not add, kept as it is: {theirs}")));
    }

    #[test]
    fn peers_that_differ_from_each_other_are_said() {
        let a = want();
        // The peer wants the same files (as with a site role's files).
        let b = Desired { node: "web2".into(), ..a.clone() };
        let (fa, mut fb) = (converged(&a), converged(&b));
        assert_eq!(peer_drift((&a, &fa), (&b, &fb)), [vec![], vec![]]);
        fb.files.get_mut(UNIT).expect("unit").sha256 = "edited".into();
        let [da, db] = peer_drift((&a, &fa), (&b, &fb));
        assert_eq!(da.len(), 1);
        assert_eq!(da[0].message, format!("`{UNIT}` differs between `web1` and `web2` (drift between peers)"));
        assert_eq!(db[0].message, format!("`{UNIT}` differs between `web2` and `web1` (drift between peers)"));
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
