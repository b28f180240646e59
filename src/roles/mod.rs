//! Roles as data (docs/roles.md): hapair's own roles live in `roles/` (embedded at build time),
//! users' roles in a folder beside the inventory or `--roles DIR`. This module turns the roles
//! of one node and its variables into its desired state: files, directories, packages,
//! services, firewall entries, with their validators and handlers. Pure; it knows no role by
//! name.

pub mod format;

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::Error;
use crate::inventory::{Node, Pair};
use crate::render::{self, Rendered, Renderer, Shown, Vars};
pub use format::{Role, RoleDef, TaskDef};

/// Written next to every binary upload: `SHA256 SIZE MTIME`, so facts need not hash the binary.
pub const BINARY_SIDECAR: &str = "/var/lib/hapair/binary.sha256";
/// The firewall entries hapair added on a node, one `KIND<TAB>ZONE<TAB>VALUE` a line: only
/// those are ever removed.
pub const FIREWALL_OWNED: &str = "/var/lib/hapair/firewall.owned";

/// The binary this run would install, as the controller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinarySpec {
    pub sha256: String,
    pub size: u64,
    pub version: String,
    /// What the build needs of a node, e.g. `x86_64, glibc >= 2.17` (shown in plans).
    pub needs: String,
}

/// What a `file`, `template` or `directory` task wants at its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// A regular file with this content; `shown` is what plans may print of it.
    Content {
        bytes: Vec<u8>,
        shown: Shown,
    },
    /// The running hapair binary.
    Hapair(BinarySpec),
    Directory,
    Absent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validator {
    pub name: String,
    /// argv; `{staged}` is replaced by the staged file's path.
    pub command: Vec<String>,
    pub in_place: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum HandlerAction {
    DaemonReload,
    Reload(String),
    Restart(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub role: String,
    /// The task's name: why the file is there (or why it must go), for plans and handlers.
    pub name: String,
    pub path: String,
    pub want: Want,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    pub secret: bool,
    pub validate: Option<Validator>,
    pub notify: Vec<HandlerAction>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSpec {
    pub role: String,
    /// What to install when none of `satisfied_by` is installed.
    pub install: String,
    pub satisfied_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub role: String,
    pub unit: String,
    pub enabled: bool,
    pub started: bool,
    /// A URL that must answer after a converge.
    pub probe: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallSpec {
    pub role: String,
    pub interface: String,
    /// Rich rules exactly as firewalld prints them.
    pub rich_rules: Vec<String>,
    /// `PORT/tcp`
    pub ports: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub pair: String,
    pub node: String,
    pub packages: Vec<PackageSpec>,
    pub files: Vec<FileSpec>,
    pub services: Vec<ServiceSpec>,
    /// `None` when no firewall task applies (e.g. `firewall.manage: false`).
    pub firewall: Option<FirewallSpec>,
    /// Secret values of this node, to scrub from command output.
    pub secrets: Vec<String>,
}

impl Desired {
    /// Install `spec` wherever the roles install the hapair binary (the daemon build chosen for
    /// this node from its facts).
    pub fn use_binary(&mut self, spec: &BinarySpec) {
        for f in &mut self.files {
            if let Want::Hapair(b) = &mut f.want {
                *b = spec.clone();
            }
        }
    }

    /// Every path whose facts a plan needs.
    pub fn managed_paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.files.iter().map(|f| f.path.as_str())
    }

    /// Every unit a plan needs facts of.
    pub fn units(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.services.iter().map(|s| s.unit.as_str()).collect();
        for f in &self.files {
            for h in &f.notify {
                if let HandlerAction::Reload(u) | HandlerAction::Restart(u) = h {
                    v.push(u);
                }
            }
        }
        v.sort();
        v.dedup();
        v
    }
}

/// The loaded roles and their compiled templates (`ROLE/TEMPLATE`).
pub struct RoleSet {
    pub roles: Vec<Role>,
    renderer: Renderer,
}

fn template_key(role: &str, src: &str) -> String {
    format!("{role}/{src}")
}

impl RoleSet {
    /// Built-in roles, then each users' folder in order (a later one overrides).
    pub fn load(dirs: &[&Path]) -> Result<RoleSet, Error> {
        let mut roles = format::builtin_roles()?;
        for d in dirs {
            format::load_dir(d, &mut roles)?;
        }
        Self::new(roles)
    }

    pub fn builtin() -> Result<RoleSet, Error> {
        Self::load(&[])
    }

    pub fn new(roles: Vec<Role>) -> Result<RoleSet, Error> {
        let keyed: Vec<(String, &str, String)> = roles
            .iter()
            .flat_map(|r| {
                r.templates.iter().map(move |(k, v)| {
                    let file = r.template_paths.get(k).cloned().unwrap_or_else(|| format!("{}/templates/{k}", r.name));
                    (template_key(&r.name, k), v.as_str(), file)
                })
            })
            .collect();
        let mut tera = Vec::new();
        for (k, v, file) in &keyed {
            tera.push((k.as_str(), *v));
            // Compile one by one first, so a syntax error names the template file and line.
            Renderer::new([(k.as_str(), *v)]).map_err(|e| {
                Error::new(template_error(file, &e.message))
                    .with_fix("fix the template syntax (tera: https://keats.github.io/tera/)")
            })?;
        }
        let renderer = Renderer::new(tera)?;
        Ok(RoleSet { roles, renderer })
    }

    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// The roles that apply to a node: every built-in role, then the users' roles it lists.
    pub fn for_node<'a>(&'a self, listed: &[String]) -> Result<Vec<&'a Role>, Error> {
        let mut v: Vec<&Role> = self.roles.iter().filter(|r| r.builtin).collect();
        for name in listed {
            match self.roles.iter().find(|r| &r.name == name) {
                Some(r) if !r.builtin => v.push(r),
                Some(_) => {}
                None => {
                    let known: Vec<&str> = self.roles.iter().map(|r| r.name.as_str()).collect();
                    return Err(Error::new(format!(
                        "role `{name}` is not in any roles folder (known: {})",
                        known.join(", ")
                    ))
                    .with_fix("create `roles/NAME/role.yml` beside the inventory, or pass `--roles DIR`"));
                }
            }
        }
        Ok(v)
    }
}

/// Where a task is, for messages: `roles/nginx/role.yml:12: task `site``.
fn at(role: &Role, i: usize, t: &TaskDef) -> String {
    let line = role.task_lines.get(i).map(|l| format!(":{l}")).unwrap_or_default();
    match &t.name {
        Some(n) => format!("{}{line}: task `{n}`", role.def_path),
        None => format!("{}{line}", role.def_path),
    }
}

/// A tera error located in its template file: `FILE:LINE:COL: what` (tera's `--> name:L:C`).
fn template_error(file: &str, message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    let first = first.rsplit(": error: ").next().unwrap_or(first).trim_start_matches("error: ");
    let pos = message
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("--> "))
        .and_then(|p| {
            let mut it = p.rsplitn(3, ':');
            let col = it.next()?.trim().parse::<usize>().ok()?;
            let line = it.next()?.trim().parse::<usize>().ok()?;
            Some(format!(":{line}:{col}"))
        })
        .unwrap_or_default();
    format!("{file}{pos}: {first}")
}

fn parse_mode(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8).ok().filter(|m| *m <= 0o7777)
}

/// The desired state of `node` in `pair`: the built-in roles and the users' roles it lists.
pub fn desired(
    set: &RoleSet,
    pair: &Pair,
    node: &Node,
    listed: &[String],
    binary: &BinarySpec,
) -> Result<Desired, Error> {
    let vars = render::vars(pair, node);
    let roles = set.for_node(listed)?;
    instantiate(set, &roles, &vars, pair, node, binary)
}

fn instantiate(
    set: &RoleSet,
    roles: &[&Role],
    vars: &Vars,
    pair: &Pair,
    node: &Node,
    binary: &BinarySpec,
) -> Result<Desired, Error> {
    let r = set.renderer();
    // Handlers and validators are shared by the roles of a node (a site role uses nginx's).
    let mut handlers: BTreeMap<&str, Vec<HandlerAction>> = BTreeMap::new();
    let mut validators: BTreeMap<&str, Validator> = BTreeMap::new();
    for role in roles {
        for (name, h) in &role.def.handlers {
            let action = match (h.action.as_str(), &h.service) {
                ("daemon-reload", _) => HandlerAction::DaemonReload,
                ("reload", Some(u)) => HandlerAction::Reload(u.clone()),
                ("restart", Some(u)) => HandlerAction::Restart(u.clone()),
                (a, _) => {
                    return Err(Error::new(format!(
                        "{}: handler `{name}`: action `{a}` needs a `service`, or is not one of reload, restart, daemon-reload",
                        role.def_path
                    ))
                    .with_fix("write e.g. `reload nginx: {service: nginx.service, action: reload}`"))
                }
            };
            handlers.insert(name, vec![action]);
        }
        for (name, v) in &role.def.validators {
            if v.command.is_empty() {
                return Err(Error::new(format!("{}: validator `{name}` has an empty command", role.def_path))
                    .with_fix("give the command as a list, e.g. `command: [nginx, -t]`"));
            }
            validators.insert(name, Validator { name: name.clone(), command: v.command.clone(), in_place: v.in_place });
        }
    }
    let mut d = Desired {
        pair: pair.name.clone(),
        node: node.name.clone(),
        packages: vec![],
        files: vec![],
        services: vec![],
        firewall: None,
        secrets: vars.secrets.clone(),
    };
    for role in roles {
        for (i, t) in role.def.tasks.iter().enumerate() {
            let here = || at(role, i, t);
            let rs = |what: &str, s: &str| {
                r.render_str(what, s, &vars.real).map_err(|e| {
                    Error::new(format!("{}: {what}: {}", here(), e.message)).with_fix("fix the expression in role.yml")
                })
            };
            if let Some(w) = &t.when {
                match rs("when", w)?.trim() {
                    "true" => {}
                    "false" | "" => continue,
                    other => {
                        return Err(Error::new(format!("{}: `when` rendered `{other}`, not true or false", here()))
                            .with_fix("make `when` a boolean expression, e.g. \"{{ firewall.manage }}\""))
                    }
                }
            }
            let kinds = t.kinds();
            if kinds.len() != 1 {
                return Err(Error::new(format!(
                    "{}: a task names exactly one kind; this one names {}",
                    here(),
                    if kinds.is_empty() { "none".to_string() } else { kinds.join(" and ") }
                ))
                .with_fix(format!("use one of {} per task (docs/roles.md)", format::TASK_KINDS.join(", "))));
            }
            let name = t.name.clone().unwrap_or_else(|| kinds[0].to_string());
            match kinds[0] {
                "file" | "template" | "directory" => {
                    let path = rs(
                        "path",
                        t.file.as_deref().or(t.template.as_deref()).or(t.directory.as_deref()).unwrap_or(""),
                    )?;
                    if !path.starts_with('/') || path.contains("/../") || path.contains('\n') {
                        return Err(Error::new(format!("{}: `{path}` is not an absolute path", here()))
                            .with_fix("write the destination as an absolute path"));
                    }
                    let absent = match t.state.as_deref() {
                        None | Some("present") => false,
                        Some("absent") => true,
                        Some(s) => {
                            return Err(Error::new(format!("{}: state `{s}` is not present or absent", here()))
                                .with_fix("write `state: absent` to remove the file, or leave it out"))
                        }
                    };
                    let want = if absent {
                        Want::Absent
                    } else if kinds[0] == "directory" {
                        Want::Directory
                    } else if kinds[0] == "template" {
                        let src = t.src.as_deref().ok_or_else(|| {
                            Error::new(format!("{}: a template task needs `src`", here()))
                                .with_fix(format!("name a file of `{}/templates/`", role.name))
                        })?;
                        let key = template_key(&role.name, src);
                        if !role.templates.contains_key(src) {
                            return Err(Error::new(format!(
                                "{}: template `{src}` is not in `{}/templates/`",
                                here(),
                                role.name
                            ))
                            .with_fix(format!("add `templates/{src}` to the role, or fix `src`")));
                        }
                        let out = r.render(&key, vars).map_err(|e| {
                            let file = role.template_paths.get(src).cloned().unwrap_or_else(|| key.clone());
                            Error::new(format!("{} (used by {})", template_error(&file, &e.message), here()))
                                .with_fix("define the variable in the inventory's `vars:`, or fix the template")
                        })?;
                        content(out, t.secret)
                    } else if t.source.as_deref() == Some("hapair") {
                        Want::Hapair(binary.clone())
                    } else if let Some(s) = &t.source {
                        return Err(Error::new(format!("{}: source `{s}` is unknown", here()))
                            .with_fix("`source: hapair` is the only source; use `src` for a file of the role"));
                    } else if let Some(c) = &t.content {
                        let real = r
                            .render_str("content", c, &vars.real)
                            .map_err(|e| Error::new(format!("{}: {}", here(), e.message)))?;
                        let masked = r
                            .render_str("content", c, &vars.masked)
                            .map_err(|e| Error::new(format!("{}: {}", here(), e.message)))?;
                        content(Rendered::from_pair(real, masked), t.secret)
                    } else if let Some(src) = &t.src {
                        let bytes = role.files.get(src).ok_or_else(|| {
                            Error::new(format!("{}: file `{src}` is not in `{}/files/`", here(), role.name))
                                .with_fix(format!("add `files/{src}` to the role, or fix `src`"))
                        })?;
                        let shown = if t.secret { Shown::Hidden } else { Shown::Plain };
                        Want::Content { bytes: bytes.clone(), shown }
                    } else {
                        return Err(Error::new(format!(
                            "{}: a file task needs `src`, `content` or `state: absent`",
                            here()
                        ))
                        .with_fix("name a file of the role's `files/` with `src`"));
                    };
                    let default_mode = if matches!(want, Want::Directory) {
                        0o755
                    } else if t.secret {
                        0o600
                    } else {
                        0o644
                    };
                    let mode = match &t.mode {
                        Some(m) => parse_mode(m).ok_or_else(|| {
                            Error::new(format!("{}: mode `{m}` is not an octal mode", here()))
                                .with_fix("write it quoted, e.g. mode: \"0640\"")
                        })?,
                        None => default_mode,
                    };
                    if t.secret && mode & 0o007 != 0 {
                        return Err(Error::new(format!(
                            "{}: a secret file readable by others (mode {mode:04o})",
                            here()
                        ))
                        .with_fix("give secret files mode 0600 or 0640"));
                    }
                    let validate = match &t.validate {
                        Some(v) => Some(validators.get(v.as_str()).cloned().ok_or_else(|| {
                            Error::new(format!("{}: validator `{v}` is not defined by any role of this node", here()))
                                .with_fix(format!(
                                    "use one of: {}",
                                    validators.keys().cloned().collect::<Vec<_>>().join(", ")
                                ))
                        })?),
                        None => None,
                    };
                    let mut notify = Vec::new();
                    for h in &t.notify {
                        let a = handlers.get(h.as_str()).ok_or_else(|| {
                            Error::new(format!("{}: handler `{h}` is not defined by any role of this node", here()))
                                .with_fix(format!(
                                    "use one of: {}",
                                    handlers.keys().cloned().collect::<Vec<_>>().join(", ")
                                ))
                        })?;
                        notify.extend(a.iter().cloned());
                    }
                    if d.files.iter().any(|f| f.path == path) {
                        return Err(Error::new(format!("{}: `{path}` is already managed by another task", here()))
                            .with_fix("manage each path in one task of one role"));
                    }
                    d.files.push(FileSpec {
                        role: role.name.clone(),
                        name,
                        path,
                        want,
                        mode,
                        owner: t.owner.clone().unwrap_or_else(|| "root".into()),
                        group: t.group.clone().unwrap_or_else(|| "root".into()),
                        secret: t.secret,
                        validate,
                        notify,
                    });
                }
                "package" => d.packages.push(PackageSpec {
                    role: role.name.clone(),
                    install: rs("package", t.package.as_deref().unwrap_or(""))?,
                    satisfied_by: if t.satisfied_by.is_empty() {
                        vec![rs("package", t.package.as_deref().unwrap_or(""))?]
                    } else {
                        t.satisfied_by.clone()
                    },
                }),
                "service" => d.services.push(ServiceSpec {
                    role: role.name.clone(),
                    unit: rs("service", t.service.as_deref().unwrap_or(""))?,
                    enabled: t.enabled.unwrap_or(true),
                    started: t.started.unwrap_or(true),
                    probe: t.probe.as_deref().map(|p| rs("probe", p)).transpose()?,
                }),
                _ => {
                    let fw = t.firewall.clone().unwrap_or_default();
                    let interface = rs("interface", &fw.interface)?;
                    let mut rules = Vec::new();
                    for x in &fw.rich_rules {
                        let r = rs("rich rule", x)?.split_whitespace().collect::<Vec<_>>().join(" ");
                        if !r.is_empty() {
                            rules.push(r);
                        }
                    }
                    let mut ports = Vec::new();
                    for p in &fw.ports {
                        ports.push(rs("port", p)?);
                    }
                    match &mut d.firewall {
                        Some(f) if f.interface != interface => {
                            return Err(Error::new(format!(
                                "{}: firewall entries for interface `{interface}`, but another role's are for `{}`",
                                here(),
                                f.interface
                            ))
                            .with_fix("keep every firewall task of a node on its VRRP interface"))
                        }
                        Some(f) => {
                            f.rich_rules.extend(rules);
                            f.ports.extend(ports);
                        }
                        None => {
                            d.firewall =
                                Some(FirewallSpec { role: role.name.clone(), interface, rich_rules: rules, ports })
                        }
                    }
                }
            }
        }
    }
    Ok(d)
}

fn content(out: Rendered, secret: bool) -> Want {
    let shown = if secret { Shown::Hidden } else { out.shown };
    Want::Content { bytes: out.text.into_bytes(), shown }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Mode;
    use crate::render::tests::pair;

    fn bin() -> BinarySpec {
        BinarySpec {
            sha256: "ab".repeat(32),
            size: 10,
            version: "hapair 0.1.0".into(),
            needs: "x86_64, glibc >= 2.17".into(),
        }
    }

    pub(crate) fn want_of(p: &Pair, i: usize) -> Desired {
        desired(&RoleSet::builtin().expect("built-in roles"), p, &p.nodes[i], &[], &bin()).expect("renders")
    }

    fn text(d: &Desired, path: &str) -> String {
        match &d.files.iter().find(|f| f.path == path).expect("managed").want {
            Want::Content { bytes, .. } => String::from_utf8_lossy(bytes).to_string(),
            w => panic!("{w:?}"),
        }
    }

    #[test]
    fn firewall_accepts_vrrp_from_the_peer_only() {
        let p = pair(Mode::MasterBackup);
        let fw = want_of(&p, 0).firewall.expect("managed");
        assert_eq!(
            fw.rich_rules,
            ["rule family=\"ipv4\" source address=\"10.77.1.12/32\" protocol value=\"vrrp\" accept"]
        );
        assert_eq!(fw.ports, ["80/tcp"]);
        assert_eq!(fw.interface, "eth0");
    }

    #[test]
    fn with_ah_the_firewall_accepts_ip_protocol_51_from_the_peer_too() {
        let mut p = pair(Mode::MasterBackup);
        for n in p.nodes.iter_mut() {
            n.vrrp.auth_type = crate::values::AuthType::Ah;
        }
        let fw = want_of(&p, 0).firewall.expect("managed");
        assert_eq!(
            fw.rich_rules,
            [
                "rule family=\"ipv4\" source address=\"10.77.1.12/32\" protocol value=\"vrrp\" accept",
                "rule family=\"ipv4\" source address=\"10.77.1.12/32\" protocol value=\"ah\" accept"
            ]
        );
        let d = want_of(&p, 0);
        let cfg = text(&d, "/etc/hapair/vrrpd.yml");
        assert!(cfg.contains("    auth_pass: \"s3cr3t\"\n    auth_type: ah\n"), "{cfg}");
    }

    #[test]
    fn unmanaged_firewall_and_open_vrrp() {
        let mut p = pair(Mode::MasterBackup);
        p.nodes[1].firewall.restrict_to_peer = false;
        p.nodes[0].firewall.manage = false;
        assert_eq!(want_of(&p, 0).firewall, None);
        let fw = want_of(&p, 1).firewall.expect("managed");
        assert_eq!(fw.rich_rules, ["rule family=\"ipv4\" protocol value=\"vrrp\" accept"]);
    }

    #[test]
    fn the_daemon_config_is_private_validated_and_masked() {
        let p = pair(Mode::MasterBackup);
        let d = want_of(&p, 0);
        let cfg = d.files.iter().find(|f| f.path == "/etc/hapair/vrrpd.yml").expect("present");
        assert_eq!(cfg.mode, 0o600);
        assert_eq!(cfg.validate.as_ref().map(|v| v.name.as_str()), Some("hapair-config"));
        assert_eq!(cfg.notify, [HandlerAction::Reload("hapair-vrrpd.service".into())]);
        let Want::Content { bytes, shown: Shown::Masked(m) } = &cfg.want else { panic!("{:?}", cfg.want) };
        assert!(String::from_utf8_lossy(bytes).contains("auth_pass: \"s3cr3t\""));
        assert!(m.contains("auth_pass: \"<redacted>\"") && !m.contains("s3cr3t"), "{m}");
        assert_eq!(d.secrets, ["s3cr3t"]);
    }

    #[test]
    fn vrrpd_config_follows_the_contract() {
        let pair = pair(Mode::DualMaster);
        let text = text(&want_of(&pair, 1), "/etc/hapair/vrrpd.yml");
        let expected = r#"# Managed by hapair (role `vrrp`); local changes are overwritten by `hapair apply`.
# Contract: docs/vrrpd-config.md. Holds the VRRP password: mode 0600, owner root.
node: "web2"
interface: "eth0"
address: 10.77.1.12
peer: 10.77.1.11
peer_hapair: true
peer_only: true
status_file: /run/hapair/status.json
control_socket: /run/hapair/control.sock
metrics: null
check:
  type: http
  url: "http://127.0.0.1:80/"
  script: null
  interval_ms: 1000
  timeout_ms: 1000
  fall: 2
  rise: 2
  pid_file: /run/nginx.pid
notify: null
instances:
  - name: "web-51"
    vrid: 51
    version: 2
    priority: 100
    advert_interval_ms: 1000
    vips: [10.77.1.200/24]
    preempt: true
    preempt_delay_ms: 0
    auth_pass: "s3cr3t"
    transport: multicast
    v3_checksum_pseudo_header: true
    check_weight: -60
    garp_count: 5
    garp_interval_ms: 1000
  - name: "web-52"
    vrid: 52
    version: 2
    priority: 150
    advert_interval_ms: 1000
    vips: [10.77.1.201/24]
    preempt: true
    preempt_delay_ms: 0
    auth_pass: "s3cr3t"
    transport: multicast
    v3_checksum_pseudo_header: true
    check_weight: -60
    garp_count: 5
    garp_interval_ms: 1000
"#;
        assert_eq!(text, expected);
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("valid yaml");
        assert_eq!(v["instances"][1]["priority"].as_u64(), Some(150));
    }

    /// A VIP with several addresses: the daemon's instance lists them all, and the daemon's
    /// own parser accepts the file.
    #[test]
    fn every_address_of_a_vip_goes_to_its_instance() {
        let mut pair = pair(Mode::MasterBackup);
        pair.vips[0].also = vec!["10.77.1.210/24".parse().expect("valid"), "10.77.1.211/24".parse().expect("valid")];
        let text = text(&want_of(&pair, 0), "/etc/hapair/vrrpd.yml");
        assert!(text.contains("    vips: [10.77.1.200/24, 10.77.1.210/24, 10.77.1.211/24]\n"), "{text}");
        let c = crate::vrrp::config::parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(c.instances[0].vips.len(), 3);
    }

    #[test]
    fn v3_never_carries_a_password_and_script_checks_are_argv() {
        let mut pair = pair(Mode::MasterBackup);
        pair.nodes[0].vrrp.version = 3;
        pair.nodes[0].check.kind =
            crate::inventory::CheckKind::Script { argv: vec!["/bin/check".into(), "a \"b\"".into()] };
        let d = want_of(&pair, 0);
        let text = text(&d, "/etc/hapair/vrrpd.yml");
        assert!(text.contains("    auth_pass: null\n"), "{text}");
        assert!(text.contains("  script: [\"/bin/check\", \"a \\\"b\\\"\"]\n"), "{text}");
        assert!(d.secrets.is_empty());
    }

    #[test]
    fn unit_is_hardened() {
        let p = pair(Mode::MasterBackup);
        let text = text(&want_of(&p, 0), "/etc/systemd/system/hapair-vrrpd.service");
        for line in [
            "ExecStart=/usr/local/sbin/hapair vrrpd --config /etc/hapair/vrrpd.yml",
            "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "Restart=always",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
        }
    }

    #[test]
    fn nginx_default_page_names_the_node_and_upstreams_proxy() {
        let mut p = pair(Mode::MasterBackup);
        let text0 = text(&want_of(&p, 0), "/etc/nginx/conf.d/hapair.conf");
        assert!(text0.contains("    listen 80 default_server;\n"), "{text0}");
        assert!(text0.contains("return 200 \"served by web1\\n\";"), "{text0}");
        p.nodes[0].nginx.listen = 8080;
        p.nodes[0].nginx.upstreams = vec!["10.0.0.5:8080".into(), "10.0.0.6:8080".into()];
        let d = want_of(&p, 0);
        let t = text(&d, "/etc/nginx/conf.d/hapair.conf");
        assert!(
            t.contains("upstream hapair_backends {\n    server 10.0.0.5:8080;\n    server 10.0.0.6:8080;\n}\n"),
            "{t}"
        );
        let svc = d.services.iter().find(|s| s.probe.is_some()).expect("a probed service");
        assert_eq!(svc.probe.as_deref(), Some("http://127.0.0.1:8080/"));
    }

    fn role(yml: &str, templates: &[(&str, &str)]) -> Role {
        Role {
            name: "site".into(),
            origin: "test".into(),
            def: format::parse_role_def("site/role.yml", yml).expect("parses"),
            def_path: "site/role.yml".into(),
            task_lines: vec![2, 5, 8],
            templates: templates.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            template_paths: BTreeMap::new(),
            files: BTreeMap::new(),
            builtin: false,
        }
    }

    fn user(yml: &str, templates: &[(&str, &str)]) -> Result<Desired, Error> {
        let mut roles = format::builtin_roles().expect("built-in");
        roles.push(role(yml, templates));
        let set = RoleSet::new(roles)?;
        let p = pair(Mode::MasterBackup);
        desired(&set, &p, &p.nodes[0], &["site".into()], &bin())
    }

    #[test]
    fn each_task_kind_and_its_mistakes() {
        let d = user(
            "tasks:\n  - directory: /etc/site\n    mode: \"0750\"\n  - name: key\n    file: /etc/site/key.pem\n    content: \"k{{ node }}\"\n    secret: true\n  - template: /etc/nginx/conf.d/site.conf\n    src: site.tera\n    validate: nginx\n    notify: [reload nginx]\n",
            &[("site.tera", "server_name {{ server_name }};\n")],
        )
        .expect("valid role");
        let dir = d.files.iter().find(|f| f.path == "/etc/site").expect("dir");
        assert_eq!((dir.want.clone(), dir.mode), (Want::Directory, 0o750));
        let key = d.files.iter().find(|f| f.path == "/etc/site/key.pem").expect("key");
        assert_eq!(key.want, Want::Content { bytes: b"kweb1".to_vec(), shown: Shown::Hidden });
        assert_eq!(key.mode, 0o600);
        let site = d.files.iter().find(|f| f.path == "/etc/nginx/conf.d/site.conf").expect("site");
        assert_eq!(site.validate.as_ref().map(|v| v.in_place), Some(true));

        let e = user("tasks:\n  - template: /x\n    src: nope.tera\n", &[]).expect_err("missing");
        assert!(e.message.starts_with("site/role.yml:2: template `nope.tera` is not in `site/templates/`"), "{e}");
        let e =
            user("tasks:\n  - template: /x\n    src: t\n", &[("t", "a\n{{ nothing_here }}")]).expect_err("undefined");
        assert!(e.message.starts_with("site/t:2:4: ") && e.message.contains("nothing_here"), "{e}");
        assert!(e.message.ends_with("(used by site/role.yml:2)"), "{e}");
        let e = user("tasks:\n  - file: /x\n    content: a\n    notify: [bounce]\n", &[]).expect_err("handler");
        assert!(e.message.contains("handler `bounce` is not defined"), "{e}");
        let e = user("tasks:\n  - file: /x\n    service: y\n", &[]).expect_err("two kinds");
        assert!(e.message.contains("names file and service"), "{e}");
        let e = user("tasks:\n  - file: /x\n    content: a\n    secret: true\n    mode: \"0644\"\n", &[])
            .expect_err("mode");
        assert!(e.message.contains("secret file readable by others"), "{e}");
        let e = user("tasks:\n  - file: /etc/nginx/conf.d/hapair.conf\n    content: a\n", &[]).expect_err("dup");
        assert!(e.message.contains("already managed"), "{e}");
        let e = RoleSet::new(vec![role("tasks: []\n", &[("t", "{% if %}")])]).err().expect("syntax");
        assert!(e.message.starts_with("site/templates/t:1:7: "), "{e}");
    }

    #[test]
    fn the_engine_knows_no_role_by_name() {
        for dir in ["src/plan", "src/observe", "src/apply"] {
            for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)).expect("dir") {
                let p = e.expect("entry").path();
                // Test-only modules (`*_tests.rs`) may use the built-in roles too.
                if p.to_string_lossy().ends_with("_tests.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&p).expect("read");
                // Tests may use the built-in roles; the engine's code may not.
                let text = text.split("#[cfg(test)]").next().unwrap_or_default();
                // (`firewalld` is the firewall task's backend, named by its executor; no role is.)
                for name in ["nginx", "vrrp", "role `firewalld`", "\"firewalld\""] {
                    assert!(!text.to_lowercase().contains(name), "`{}` names the role `{name}`", p.display());
                }
            }
        }
    }
}
