//! The executor: connect to every selected node at once (one multiplexed SSH connection each),
//! gather facts (one round trip each), plan, and carry the plan out. Pairs run in parallel
//! (bounded by `forks`); inside a pair one node at a time, the node that is BACKUP now first,
//! and it must be healthy before the other is touched.

pub mod ui;

use std::sync::Arc;
use std::time::Instant;

use crate::error::Error;
use crate::inventory::{Inventory, Node, Pair};
use crate::observe::{self, Facts};
use crate::plan::{self, Change, FileAction, HostPlan, ServiceAction};
use crate::render::Renderer;
use crate::roles::{self, BinarySpec, Desired, Validate};
use crate::transport::{self, argv, Host, SshHost, SshOptions};

pub use ui::{Format, Ui};

#[derive(Debug, Clone)]
pub struct Options {
    /// A node or pair name.
    pub limit: Option<String>,
    pub forks: usize,
    pub fail_fast: bool,
    pub accept_new_host_keys: bool,
    /// Template overrides (`--roles DIR`).
    pub roles_dir: Option<std::path::PathBuf>,
}

/// The binary this run installs on nodes: the running executable.
pub struct LocalBinary {
    pub spec: BinarySpec,
    pub bytes: Arc<Vec<u8>>,
}

impl LocalBinary {
    pub fn current() -> Result<LocalBinary, Error> {
        let exe =
            std::env::current_exe().map_err(|e| Error::new(format!("cannot find the running `hapair` binary: {e}")))?;
        let bytes = std::fs::read(&exe).map_err(|e| Error::new(format!("cannot read `{}`: {e}", exe.display())))?;
        Ok(LocalBinary {
            spec: BinarySpec {
                sha256: plan::sha256_hex(&bytes),
                size: bytes.len() as u64,
                version: format!("hapair {}", env!("CARGO_PKG_VERSION")),
            },
            bytes: Arc::new(bytes),
        })
    }
}

/// One selected node: where it sits in the inventory, its connection, desired state and facts.
pub struct Target {
    pub pair: usize,
    pub node: usize,
    pub host: Box<dyn Host>,
    pub desired: Desired,
    pub facts: Facts,
    pub plan: HostPlan,
}

/// Connections and facts for every selected node, and the plan of each.
pub struct Survey {
    pub targets: Vec<Target>,
}

impl Survey {
    pub fn plans(&self) -> Vec<HostPlan> {
        self.targets.iter().map(|t| t.plan.clone()).collect()
    }

    /// Close every connection (each removes its own private directory).
    pub async fn close(self) {
        futures::future::join_all(self.targets.into_iter().map(|t| t.host.close())).await;
    }
}

fn selected<'a>(inv: &'a Inventory, limit: Option<&str>) -> Result<Vec<(usize, usize, &'a Pair, &'a Node)>, Error> {
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

/// Connect to the selected nodes and gather their facts, all at once.
pub async fn survey(inv: &Inventory, opts: &Options, binary: &BinarySpec, ui: &Ui) -> Result<Survey, Error> {
    let renderer = match &opts.roles_dir {
        Some(d) => Renderer::from_dir(d)?,
        None => Renderer::embedded()?,
    };
    let sel = selected(inv, opts.limit.as_deref())?;
    let ssh = SshOptions { accept_new_host_keys: opts.accept_new_host_keys };
    let mut desired = Vec::new();
    for (_, _, p, n) in &sel {
        desired.push(roles::desired(&renderer, p, n, binary)?);
    }
    let futs = sel.iter().zip(desired).map(|((pi, ni, _, n), d)| {
        let ssh = ssh.clone();
        async move {
            ui.step(&n.name, "connect");
            let host = SshHost::connect(n, &ssh).await?;
            ui.step(&n.name, "facts");
            let facts = observe::gather(&host, &d, &n.interface).await?;
            let plan = plan::plan(&d, &facts);
            Ok::<_, Error>(Target { pair: *pi, node: *ni, host: Box::new(host), desired: d, facts, plan })
        }
    });
    let results = futures::future::join_all(futs).await;
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
    Ok(Survey { targets })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Changed,
    Failed,
    /// Not touched because the other node of its pair failed (or `--fail-fast`).
    Skipped,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct HostResult {
    pub node: String,
    pub pair: String,
    pub outcome: Outcome,
    pub changed: usize,
    pub elapsed_ms: u128,
    pub error: Option<String>,
}

/// Whether the node is VRRP master of anything now, from its daemon's status file.
fn is_master_now(f: &Facts) -> Option<bool> {
    let st = f.files.get(roles::VRRPD_STATUS)?;
    let v: serde_json::Value = serde_json::from_slice(&st.content).ok()?;
    let inst = v.get("instances")?.as_array()?;
    Some(inst.iter().any(|i| i.get("state").and_then(|s| s.as_str()) == Some("master")))
}

/// Order of a pair's targets: the BACKUP one first, so a bad change hits the node not serving.
fn pair_order(inv: &Inventory, ts: &[&Target]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..ts.len()).collect();
    idx.sort_by_key(|&i| {
        let t = ts[i];
        let pair = &inv.pairs[t.pair];
        // No daemon yet: the preferred master of the first VIP counts as master.
        let master = is_master_now(&t.facts)
            .unwrap_or_else(|| pair.vips.first().is_some_and(|v| v.master == pair.nodes[t.node].name));
        (master, t.node)
    });
    idx
}

/// Carry out every plan. Returns one result per target.
pub async fn execute(
    inv: &Inventory,
    survey: &Survey,
    opts: &Options,
    binary: &LocalBinary,
    ui: &Ui,
) -> Vec<HostResult> {
    let sem = Arc::new(tokio::sync::Semaphore::new(opts.forks.max(1)));
    let abort = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut pairs: Vec<Vec<&Target>> = Vec::new();
    for t in &survey.targets {
        match pairs.iter_mut().find(|g| g[0].pair == t.pair) {
            Some(g) => g.push(t),
            None => pairs.push(vec![t]),
        }
    }
    let futs = pairs.into_iter().map(|group| {
        let sem = sem.clone();
        let abort = abort.clone();
        async move {
            let _permit = sem.acquire().await;
            let mut results = Vec::new();
            let mut failed = false;
            for i in pair_order(inv, &group) {
                let t = group[i];
                let started = Instant::now();
                let pair = &inv.pairs[t.pair];
                let node = &pair.nodes[t.node];
                if failed || abort.load(std::sync::atomic::Ordering::SeqCst) {
                    ui.step(&node.name, "skipped");
                    results.push(HostResult {
                        node: node.name.clone(),
                        pair: pair.name.clone(),
                        outcome: Outcome::Skipped,
                        changed: 0,
                        elapsed_ms: 0,
                        error: None,
                    });
                    continue;
                }
                let r = converge(t, node, binary, ui).await;
                let elapsed_ms = started.elapsed().as_millis();
                let res = match r {
                    Ok(0) => HostResult {
                        node: node.name.clone(),
                        pair: pair.name.clone(),
                        outcome: Outcome::Ok,
                        changed: 0,
                        elapsed_ms,
                        error: None,
                    },
                    Ok(n) => HostResult {
                        node: node.name.clone(),
                        pair: pair.name.clone(),
                        outcome: Outcome::Changed,
                        changed: n,
                        elapsed_ms,
                        error: None,
                    },
                    Err(e) => {
                        failed = true;
                        if opts.fail_fast {
                            abort.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        HostResult {
                            node: node.name.clone(),
                            pair: pair.name.clone(),
                            outcome: Outcome::Failed,
                            changed: 0,
                            elapsed_ms,
                            error: Some(e.to_string()),
                        }
                    }
                };
                ui.done(&res);
                results.push(res);
            }
            results
        }
    });
    futures::future::join_all(futs).await.into_iter().flatten().collect()
}

const SIDECAR_SCRIPT: &str = r#"
# hapair sidecar: remember the uploaded binary's hash with its size and mtime.
# Args: BINARY SHA256 SIDECAR
set -eu
st=$(stat -c '%s %Y' -- "$1")
mkdir -p -- "$(dirname -- "$3")"
printf '%s %s\n' "$2" "$st" > "$3"
"#;

const NGINX_SWAP_SCRIPT: &str = r#"
# hapair nginx swap: set aside the sites to remove, put the staged site in place, `nginx -t`;
# if it fails, put everything back as it was. Args: STAGED TARGET [REMOVE...]
set -u
s=$1 p=$2; shift 2
d=$(mktemp -d -- "$(dirname -- "$p")/.hapair-old.XXXXXX") || exit 1
i=0
for r in "$@"; do
  i=$((i + 1))
  if [ -e "$r" ] || [ -L "$r" ]; then mv -f -- "$r" "$d/r$i" || exit 1; fi
done
if [ -e "$p" ]; then cp -p -- "$p" "$d/old" || exit 1; fi
restore() {
  if [ -e "$d/old" ]; then mv -f -- "$d/old" "$p"; else rm -f -- "$p"; fi
  i=0
  for r in "$@"; do
    i=$((i + 1))
    if [ -e "$d/r$i" ] || [ -L "$d/r$i" ]; then mv -f -- "$d/r$i" "$r"; fi
  done
  rm -rf -- "$d" "$s"
}
# Stopped at the step's time limit (a hung `nginx -t`): put everything back first.
trap 'restore "$@"; exit 1' HUP INT TERM
if ! mv -f -- "$s" "$p"; then restore "$@"; exit 1; fi
if out=$(nginx -t 2>&1); then rm -rf -- "$d"; exit 0; fi
restore "$@"
printf '%s\n' "$out" >&2
exit 1
"#;

const HEALTH_SCRIPT: &str = r#"
# hapair health: the daemon stays up and nginx answers on its port (up to ~5 s).
# Args: PORT
set -u
i=0
while [ $i -lt 20 ]; do
  if systemctl is-active --quiet hapair-vrrpd.service nginx.service &&
     { ! command -v curl >/dev/null 2>&1 || curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/"; }; then
    a=$(systemctl show -p MainPID --value hapair-vrrpd.service)
    sleep 0.3
    b=$(systemctl show -p MainPID --value hapair-vrrpd.service)
    if [ "$a" = "$b" ] && systemctl is-active --quiet hapair-vrrpd.service; then exit 0; fi
  fi
  i=$((i + 1))
  sleep 0.25
done
systemctl --no-pager --lines=5 status hapair-vrrpd.service nginx.service >&2 2>&1
exit 1
"#;

/// Converge one node; returns the number of changes made.
async fn converge(t: &Target, node: &Node, binary: &LocalBinary, ui: &Ui) -> Result<usize, Error> {
    let host = t.host.as_ref();
    let name = node.name.as_str();
    let changes = &t.plan.changes;
    if changes.is_empty() {
        return Ok(0);
    }
    let mut firewall_done = false;
    for c in changes {
        ui.change(name, c);
        match c {
            Change::Package { name: pkg, manager, .. } => {
                ui.step(name, &format!("install {pkg}"));
                let a = if manager == "dnf" {
                    argv(["dnf", "install", "-y", "-q", pkg.as_str()])
                } else {
                    argv([
                        "env",
                        "DEBIAN_FRONTEND=noninteractive",
                        "apt-get",
                        "install",
                        "-y",
                        "-q",
                        "--no-install-recommends",
                        pkg.as_str(),
                    ])
                };
                transport::check(host, "install package", &a, None).await?;
            }
            Change::Binary { path, to, size, .. } => {
                ui.step(name, "upload hapair");
                let progress = ui.upload_progress(name, *size);
                let a = transport::write_argv(path, 0o755, "root", "root", false, &binary.bytes);
                let out = host.run(&a, Some(binary.bytes.as_slice()), progress).await?;
                ui.upload_done(name);
                if !out.success() {
                    return Err(transport::command_failed(name, "upload binary", &a, &out));
                }
                let a = argv([
                    "sh",
                    "-c",
                    SIDECAR_SCRIPT,
                    "hapair-sidecar",
                    path.as_str(),
                    to.as_str(),
                    roles::BINARY_SIDECAR,
                ]);
                transport::check(host, "record binary hash", &a, None).await?;
            }
            Change::File { path, action, spec, .. } => {
                let spec = &t.desired.files[*spec];
                match (action, &spec.content) {
                    // A site removed together with a validated site change goes in the same
                    // swap, so a rejected change restores both.
                    (FileAction::Delete, _) | (_, None) if spec.role == roles::Role::Nginx && nginx_swap_pending(t) => {
                    }
                    (FileAction::Delete, _) | (_, None) => {
                        ui.step(name, &format!("remove {path}"));
                        transport::check(host, "remove file", &argv(["rm", "-f", "--", path.as_str()]), None).await?;
                    }
                    (_, Some(content)) => {
                        ui.step(name, &format!("write {path}"));
                        let removes: Vec<&str> =
                            if spec.validate == Some(Validate::NginxTest) { nginx_removals(t) } else { vec![] };
                        write_file(host, spec, content, &removes).await?
                    }
                }
            }
            Change::FileMeta { path, mode, owner, .. } => {
                if let Some((_, m)) = mode {
                    transport::check(host, "set mode", &argv(["chmod", &format!("{m:o}"), "--", path.as_str()]), None)
                        .await?;
                }
                if let Some((_, o)) = owner {
                    transport::check(host, "set owner", &argv(["chown", o.as_str(), "--", path.as_str()]), None)
                        .await?;
                }
            }
            Change::DaemonReload { .. } => {
                ui.step(name, "daemon-reload");
                transport::check(host, "daemon-reload", &argv(["systemctl", "daemon-reload"]), None).await?;
            }
            Change::Firewall { .. } => {
                if !firewall_done {
                    ui.step(name, "firewall");
                    if t.facts.firewall.iface_zone.is_some() {
                        firewall_dbus(host, changes).await?;
                    } else {
                        firewall(host, changes).await?;
                    }
                    firewall_done = true;
                }
            }
            Change::Service { unit, action, .. } => {
                let verb = match action {
                    ServiceAction::Enable => "enable",
                    ServiceAction::Start => "start",
                    ServiceAction::Reload => "reload",
                    ServiceAction::Restart => "restart",
                };
                ui.step(name, &format!("{verb} {unit}"));
                transport::check(host, &format!("{verb} {unit}"), &argv(["systemctl", verb, unit.as_str()]), None)
                    .await?;
            }
        }
    }
    ui.step(name, "health");
    let a = argv(["sh", "-c", HEALTH_SCRIPT, "hapair-health", &node.nginx.listen.to_string()]);
    transport::check(host, "health check", &a, None).await?;
    Ok(changes.len())
}

fn is_nginx_swap(t: &Target, c: &Change) -> bool {
    matches!(c, Change::File { spec, action: FileAction::Create | FileAction::Update, .. }
        if t.desired.files[*spec].validate == Some(Validate::NginxTest))
}

/// Whether this node's plan writes a site validated with `nginx -t`.
fn nginx_swap_pending(t: &Target) -> bool {
    t.plan.changes.iter().any(|c| is_nginx_swap(t, c))
}

/// nginx files this plan removes (they go in the swap).
fn nginx_removals(t: &Target) -> Vec<&'static str> {
    t.plan
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::File { spec, action: FileAction::Delete, .. }
                if t.desired.files[*spec].role == roles::Role::Nginx =>
            {
                Some(t.desired.files[*spec].path)
            }
            _ => None,
        })
        .collect()
}

/// Stage, validate, then replace. `removes`: files taken away in the same validated swap.
async fn write_file(host: &dyn Host, spec: &roles::FileSpec, content: &str, removes: &[&str]) -> Result<(), Error> {
    let name = host.name();
    let Some(v) = spec.validate else {
        let a = transport::write_argv(spec.path, spec.mode, spec.owner, spec.group, false, content.as_bytes());
        transport::check(host, &format!("write {}", spec.path), &a, Some(content.as_bytes())).await?;
        return Ok(());
    };
    let a = transport::write_argv(spec.path, spec.mode, spec.owner, spec.group, true, content.as_bytes());
    let out = transport::check(host, &format!("stage {}", spec.path), &a, Some(content.as_bytes())).await?;
    let staged = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if staged.is_empty() {
        return Err(Error::new(format!("`{name}`: staging `{}` printed no temp path", spec.path)));
    }
    match v {
        Validate::VrrpdCheckConfig => {
            let a = argv([roles::BINARY_PATH, "vrrpd", "--check-config", staged.as_str()]);
            let out = host.run(&a, None, None).await?;
            if !out.success() {
                let _ = host.run(&argv(["rm", "-f", "--", staged.as_str()]), None, None).await;
                return Err(transport::command_failed(name, &format!("validate {}", spec.path), &a, &out)
                    .with_fix("the rendered daemon config was rejected; the old one stays in place"));
            }
            transport::check(
                host,
                &format!("replace {}", spec.path),
                &argv(["mv", "-f", "--", staged.as_str(), spec.path]),
                None,
            )
            .await?;
        }
        Validate::NginxTest => {
            let mut a = argv(["sh", "-c", NGINX_SWAP_SCRIPT, "hapair-nginx-swap", staged.as_str(), spec.path]);
            a.extend(removes.iter().map(|r| r.to_string()));
            transport::check(host, &format!("validate {} (nginx -t)", spec.path), &a, None).await.map_err(|e| {
                e.with_fix("`nginx -t` rejected the new site; the old one was restored and nginx not reloaded")
            })?;
        }
    }
    Ok(())
}

const FW_BUS: &str = "org.fedoraproject.FirewallD1";
const FW_PATH: &str = "/org/fedoraproject/FirewallD1";

/// Firewall changes straight over D-Bus (`busctl`, as the facts did): the same firewalld calls
/// `firewall-cmd` makes, without a python start per call. Permanent config, then runtime.
async fn firewall_dbus(host: &dyn Host, changes: &[Change]) -> Result<(), Error> {
    let mut config_paths: Vec<(String, String)> = Vec::new();
    for c in changes {
        let Change::Firewall { zone, add, item, value, permanent, .. } = c else { continue };
        if !permanent {
            continue;
        }
        let path = match config_paths.iter().find(|(z, _)| z == zone) {
            Some((_, p)) => p.clone(),
            None => {
                let a = argv([
                    "busctl",
                    "--json=short",
                    "call",
                    FW_BUS,
                    &format!("{FW_PATH}/config"),
                    "org.fedoraproject.FirewallD1.config",
                    "getZoneByName",
                    "s",
                    zone.as_str(),
                ]);
                let out = transport::check(host, "firewall (find zone)", &a, None).await?;
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
                let p = v["data"][0].as_str().unwrap_or_default().to_string();
                if !p.starts_with('/') {
                    return Err(transport::command_failed(host.name(), "firewall (find zone)", &a, &out));
                }
                config_paths.push((zone.clone(), p.clone()));
                p
            }
        };
        let verb = if *add { "add" } else { "remove" };
        let mut a = argv(["busctl", "call", FW_BUS, path.as_str(), "org.fedoraproject.FirewallD1.config.zone"]);
        match *item {
            "port" => {
                let (port, proto) = value.split_once('/').unwrap_or((value.as_str(), "tcp"));
                a.extend(argv([format!("{verb}Port"), "ss".into(), port.into(), proto.into()]));
            }
            _ => a.extend(argv([format!("{verb}RichRule"), "s".into(), value.clone()])),
        }
        transport::check(host, "firewall (permanent)", &a, None).await?;
    }
    for c in changes {
        let Change::Firewall { zone, add, item, value, runtime, .. } = c else { continue };
        if !runtime {
            continue;
        }
        let mut a = argv(["busctl", "call", FW_BUS, FW_PATH, "org.fedoraproject.FirewallD1.zone"]);
        // Runtime adds take a timeout (0 = forever); removes do not.
        match (*item, *add) {
            ("port", true) => {
                let (port, proto) = value.split_once('/').unwrap_or((value.as_str(), "tcp"));
                a.extend(argv(["addPort", "sssi", zone.as_str(), port, proto, "0"]));
            }
            ("port", false) => {
                let (port, proto) = value.split_once('/').unwrap_or((value.as_str(), "tcp"));
                a.extend(argv(["removePort", "sss", zone.as_str(), port, proto]));
            }
            (_, true) => a.extend(argv(["addRichRule", "ssi", zone.as_str(), value.as_str(), "0"])),
            (_, false) => a.extend(argv(["removeRichRule", "ss", zone.as_str(), value.as_str()])),
        }
        transport::check(host, "firewall (runtime)", &a, None).await?;
    }
    Ok(())
}

/// Fallback without busctl. Firewall changes batched: firewall-cmd takes one kind of option per call, so one call per
/// (scope, operation, item kind); permanent and runtime both explicitly, no `--reload`.
async fn firewall(host: &dyn Host, changes: &[Change]) -> Result<(), Error> {
    for permanent in [true, false] {
        for (add, kind) in [(false, "rich-rule"), (true, "rich-rule"), (true, "port"), (false, "port")] {
            let mut a = argv(["firewall-cmd"]);
            if permanent {
                a.push("--permanent".into());
            }
            let mut zone = None;
            for c in changes {
                if let Change::Firewall { zone: z, add: ad, item, value, runtime, permanent: perm, .. } = c {
                    let in_scope = if permanent { *perm } else { *runtime };
                    if in_scope && *ad == add && *item == kind {
                        zone.get_or_insert_with(|| z.clone());
                        a.push(format!("--{}-{item}={value}", if add { "add" } else { "remove" }));
                    }
                }
            }
            if let Some(z) = zone {
                a.insert(1, format!("--zone={z}"));
                let step = if permanent { "firewall (permanent)" } else { "firewall (runtime)" };
                transport::check(host, step, &a, None).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Mode;
    use crate::observe::FileFact;
    use crate::render::tests::pair;
    use crate::transport::LocalHost;

    fn target(inv: &Inventory, node: usize, status: Option<&str>) -> Target {
        let p = &inv.pairs[0];
        let r = Renderer::embedded().expect("templates parse");
        let bin = BinarySpec { sha256: String::new(), size: 0, version: String::new() };
        let desired = roles::desired(&r, p, &p.nodes[node], &bin).expect("renders");
        let mut facts = Facts::default();
        if let Some(s) = status {
            facts.files.insert(
                roles::VRRPD_STATUS.into(),
                FileFact {
                    kind: observe::FileKind::File,
                    sha256: String::new(),
                    mode: 0o644,
                    owner: "root".into(),
                    group: "root".into(),
                    content: s.as_bytes().to_vec(),
                },
            );
        }
        let plan = plan::plan(&desired, &facts);
        Target { pair: 0, node, host: Box::new(LocalHost::new(p.nodes[node].name.clone())), desired, facts, plan }
    }

    fn inv(mode: Mode) -> Inventory {
        Inventory { source: "/tmp/x.yml".into(), pairs: vec![pair(mode)] }
    }

    #[test]
    fn the_current_backup_goes_first() {
        let inv = inv(Mode::MasterBackup);
        // web2 (not the preferred master) is master now, e.g. after a failover.
        let a = target(&inv, 0, Some(r#"{"instances":[{"state":"backup"}]}"#));
        let b = target(&inv, 1, Some(r#"{"instances":[{"state":"master"}]}"#));
        assert_eq!(pair_order(&inv, &[&a, &b]), [0, 1]);
        let a = target(&inv, 0, Some(r#"{"instances":[{"state":"master"}]}"#));
        let b = target(&inv, 1, Some(r#"{"instances":[{"state":"backup"}]}"#));
        assert_eq!(pair_order(&inv, &[&a, &b]), [1, 0]);
    }

    #[test]
    fn without_a_daemon_the_preferred_master_goes_last() {
        let inv = inv(Mode::MasterBackup);
        let a = target(&inv, 0, None);
        let b = target(&inv, 1, Some("not json"));
        assert_eq!(pair_order(&inv, &[&a, &b]), [1, 0]);
    }

    #[test]
    fn limit_selects_a_node_or_a_pair() {
        let inv = inv(Mode::MasterBackup);
        assert_eq!(selected(&inv, Some("web2")).expect("found").len(), 1);
        assert_eq!(selected(&inv, Some("web")).expect("found").len(), 2);
        assert_eq!(selected(&inv, None).expect("found").len(), 2);
        let e = selected(&inv, Some("nope")).expect_err("no match");
        assert_eq!(e.message, "`--limit nope` matches no node or pair of the inventory");
    }
}
