//! The executor: carry out each node's plan, one executor per kind of change. Pairs run in
//! parallel (bounded by `forks`); inside a pair one node at a time, the node not serving now
//! first, and it must be healthy before the other is touched. Works from the plan alone.

pub mod ui;

use std::sync::Arc;
use std::time::Instant;

use crate::binary::Builds;
use crate::error::Error;
use crate::inventory::Inventory;
use crate::observe::{self, Facts};
use crate::plan::{self, Change, FileAction, FileOp, ServiceAction};
use crate::render::scrub;
use crate::roles::{Want, BINARY_SIDECAR};
use crate::transport::{self, argv, Host};

pub use crate::survey::{survey, Options, Survey, Target};
pub use ui::Ui;

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

/// Order of a pair's targets: the one not serving first, so a bad change hits the node not
/// serving. Unknown: the preferred master of the first VIP counts as serving.
fn pair_order(inv: &Inventory, ts: &[&Target]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..ts.len()).collect();
    idx.sort_by_key(|&i| {
        let t = ts[i];
        let pair = &inv.pairs[t.pair];
        let serving =
            t.serving.unwrap_or_else(|| pair.vips.first().is_some_and(|v| v.master == pair.nodes[t.node].name));
        (serving, t.node)
    });
    idx
}

/// Carry out every plan. Returns one result per target.
pub async fn execute(inv: &Inventory, survey: &Survey, opts: &Options, builds: &Builds, ui: &Ui) -> Vec<HostResult> {
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
                let r = converge(t, builds, ui).await;
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
                            error: Some(scrub(&e.to_string(), &t.plan.secrets)),
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

const BINARY_SWAP_SCRIPT: &str = r#"
# hapair binary swap: prove the staged binary runs on this node (`--version` is this hapair, and
# it accepts the config it validates, given on stdin) before it replaces the old one; then record
# its hash with its size and mtime, and the version it printed, so facts need neither hash nor
# run it.
# Args: STAGED TARGET VERSION SHA256 SIDECAR [CHECK ARGV...]
set -u
s=$1 p=$2 v=$3 sum=$4 side=$5
shift 5
fail() { rm -f -- "$s"; printf '%s\n' "$1" >&2; exit 1; }
if ! out=$("$s" --version 2>&1 </dev/null); then
  fail "the new binary does not run on this node: $(printf '%s\n' "$out" | head -n 3)"
fi
got=$(printf '%s\n' "$out" | head -n 1)
[ "$got" = "$v" ] || fail "the new binary says \`$got\`, expected \`$v\`"
if [ $# -gt 0 ]; then
  out=$("$@" 2>&1) || fail "the new binary rejects the config it will run with: $out"
fi
mv -f -- "$s" "$p" || fail "cannot replace $p"
st=$(stat -c '%s %Y' -- "$p") || exit 1
mkdir -p -- "$(dirname -- "$side")" || exit 1
printf '%s %s\n%s\n' "$sum" "$st" "$got" > "$side"
"#;

const SWAP_SCRIPT: &str = r#"
# hapair swap: put a set of staged files in place and take others away, run the validator with
# all of them in place; if it fails, put every one of them back as it was.
# Args: OPS... -- VALIDATOR...   where an op is `w STAGED TARGET` or `d TARGET`.
set -u
n=0 m=0
for a in "$@"; do
  [ "$a" = -- ] && break
  case $a in */.hapair-new.*) m=$((m + 1)); eval "st_$m=\$a" ;; esac
done
restore() {
  while [ "$n" -gt 0 ]; do
    eval "t=\$t_$n b=\$b_$n"
    if [ -n "$b" ]; then mv -f -- "$b" "$t"; else rm -f -- "$t"; fi
    n=$((n - 1))
  done
  while [ "$m" -gt 0 ]; do eval "s=\$st_$m"; rm -f -- "$s"; m=$((m - 1)); done
}
# Stopped at the step's time limit (a hung validator): put everything back first.
trap 'restore; exit 1' HUP INT TERM
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  op=$1; shift
  if [ "$op" = w ]; then s=$1 t=$2; shift 2; else s= t=$1; shift; fi
  b=
  if [ -e "$t" ] || [ -L "$t" ]; then
    b=$(mktemp -- "$(dirname -- "$t")/.hapair-old.XXXXXX") || { restore; exit 1; }
    mv -f -- "$t" "$b" || { rm -f -- "$b"; restore; exit 1; }
  fi
  n=$((n + 1)); eval "t_$n=\$t b_$n=\$b"
  if [ -n "$s" ]; then mv -f -- "$s" "$t" || { restore; exit 1; }; fi
done
shift
if out=$("$@" 2>&1); then
  while [ "$n" -gt 0 ]; do eval "b=\$b_$n"; [ -z "$b" ] || rm -f -- "$b"; n=$((n - 1)); done
  exit 0
fi
restore
printf '%s\n' "$out" >&2
exit 1
"#;

const HEALTH_SCRIPT: &str = r#"
# hapair health: the started units stay up (same main PID) and every probe URL answers, within
# ~5 s. Args: UNIT... -- URL...
set -u
units=
while [ $# -gt 0 ] && [ "$1" != -- ]; do units="$units $1"; shift; done
[ $# -gt 0 ] && shift
pids() { for u in $units; do systemctl show -p MainPID --value "$u"; done; }
up() {
  for u in $units; do systemctl is-active --quiet "$u" || return 1; done
  if command -v curl >/dev/null 2>&1; then
    for url in "$@"; do curl -fsS -o /dev/null --max-time 2 "$url" || return 1; done
  fi
  return 0
}
i=0
while [ $i -lt 20 ]; do
  if up "$@"; then
    a=$(pids); sleep 0.3; b=$(pids)
    if [ "$a" = "$b" ] && up "$@"; then exit 0; fi
  fi
  i=$((i + 1))
  sleep 0.25
done
[ -z "$units" ] || systemctl --no-pager --lines=5 status $units >&2 2>&1
exit 1
"#;

/// Converge one node from its plan; returns the number of changes made.
async fn converge(t: &Target, builds: &Builds, ui: &Ui) -> Result<usize, Error> {
    let host = t.host.as_ref();
    let name = t.plan.node.as_str();
    if t.plan.changes.is_empty() {
        return Ok(0);
    }
    // Packages first; what they bring (a default site, a started service) is observed again
    // and the rest of the plan made anew on it, so a bare host converges in one run.
    let installs: Vec<&Change> = t.plan.changes.iter().filter(|c| matches!(c, Change::Package { .. })).collect();
    let mut done = 0;
    for c in &installs {
        ui.change(name, c);
        if let Change::Package { name: pkg, manager, .. } = c {
            install(host, name, pkg, manager, ui).await?;
            done += 1;
        }
    }
    let (facts, replanned);
    let (facts, changes): (&Facts, &[Change]) = if installs.is_empty() {
        (&t.facts, &t.plan.changes)
    } else {
        ui.step(name, "facts after install");
        facts = observe::gather(host, &t.desired, &t.interface, &[]).await?;
        replanned = plan::plan(&t.desired, &facts);
        (&facts, &replanned.changes)
    };
    let mut firewall_done = false;
    let mut swapped: Vec<String> = Vec::new();
    for c in changes {
        if matches!(c, Change::Package { .. }) {
            continue;
        }
        ui.change(name, c);
        match c {
            Change::Package { .. } => {}
            Change::Binary { path, to, size, .. } => {
                // Staged beside the target, run there, and only then renamed over the old one:
                // a build that cannot run on this node never replaces a working daemon.
                let build = &builds.list[t.build];
                ui.step(name, "upload hapair");
                let progress = ui.upload_progress(name, *size);
                let a = transport::write_argv(path, 0o755, "root", "root", true, &build.bytes);
                let out = host.run(&a, Some(build.bytes.as_slice()), progress).await?;
                ui.upload_done(name);
                if !out.success() {
                    return Err(transport::command_failed(name, "upload binary", &a, &out));
                }
                let staged = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if staged.is_empty() {
                    return Err(Error::new(format!("`{name}`: staging `{path}` printed no temp path")));
                }
                ui.step(name, "check new hapair");
                // Files this binary validates itself (its validator runs `path`): the staged
                // binary must accept the version of them it will run with.
                let checks: Vec<(Vec<String>, &[u8])> = t
                    .desired
                    .files
                    .iter()
                    .filter_map(|f| {
                        let v = f.validate.as_ref()?;
                        let Want::Content { bytes, .. } = &f.want else { return None };
                        (v.command.first() == Some(path)).then(|| {
                            let mut cmd: Vec<String> =
                                v.command.iter().map(|w| w.replace("{staged}", "/dev/stdin")).collect();
                            cmd[0] = staged.clone();
                            (cmd, bytes.as_slice())
                        })
                    })
                    .collect();
                let fix = || {
                    format!(
                        "the build sent ({}) cannot serve as the daemon on `{name}`; the old binary and the running \
                         daemon were left as they were",
                        build.describe()
                    )
                };
                for (cmd, input) in checks.iter().skip(1) {
                    let out = host.run(cmd, Some(input), None).await?;
                    if !out.success() {
                        let _ = host.run(&argv(["rm", "-f", "--", staged.as_str()]), None, None).await;
                        return Err(
                            transport::command_failed(name, "check the new hapair binary", cmd, &out).with_fix(fix())
                        );
                    }
                }
                let mut a = argv([
                    "sh",
                    "-c",
                    BINARY_SWAP_SCRIPT,
                    "hapair-binary",
                    staged.as_str(),
                    path.as_str(),
                    build.spec.version.as_str(),
                    to.as_str(),
                    BINARY_SIDECAR,
                ]);
                let input = checks.first().map(|(cmd, input)| {
                    a.extend(cmd.iter().cloned());
                    *input
                });
                let out = host.run(&a, input, None).await?;
                if !out.success() {
                    return Err(
                        transport::command_failed(name, "check the new hapair binary", &a, &out).with_fix(fix())
                    );
                }
            }
            Change::File { path, action, op, .. } => match &op.validate {
                // Every file of an in-place validator goes in one swap, at the first of them.
                Some(v) if v.in_place => {
                    if !swapped.contains(&v.name) {
                        swapped.push(v.name.clone());
                        ui.step(name, &format!("validate ({})", v.command.join(" ")));
                        swap(t, changes, &v.name).await?;
                    }
                }
                _ => match (action, &op.content) {
                    (FileAction::Delete, _) => {
                        ui.step(name, &format!("remove {path}"));
                        transport::check(host, "remove file", &argv(["rm", "-f", "--", path.as_str()]), None).await?;
                    }
                    (_, None) if op.directory => {
                        ui.step(name, &format!("directory {path}"));
                        let a = argv([
                            "install".to_string(),
                            "-d".into(),
                            "-m".into(),
                            format!("{:o}", op.mode),
                            "-o".into(),
                            op.owner.clone(),
                            "-g".into(),
                            op.group.clone(),
                            "--".into(),
                            path.clone(),
                        ]);
                        transport::check(host, "create directory", &a, None).await?;
                    }
                    (_, Some(content)) => {
                        ui.step(name, &format!("write {path}"));
                        write_file(host, path, op, content).await?
                    }
                    (_, None) => {}
                },
            },
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
            Change::Relabel { paths, .. } => {
                ui.step(name, "restorecon");
                let mut a = argv(["restorecon", "-F", "--"]);
                a.extend(paths.iter().cloned());
                transport::check(host, "restore SELinux labels", &a, None).await?;
            }
            Change::DaemonReload { .. } => {
                ui.step(name, "daemon-reload");
                transport::check(host, "daemon-reload", &argv(["systemctl", "daemon-reload"]), None).await?;
            }
            Change::Firewall { .. } => {
                if !firewall_done {
                    ui.step(name, "firewall");
                    if facts.firewall.iface_zone.is_some() {
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
    let mut a = argv(["sh", "-c", HEALTH_SCRIPT, "hapair-health"]);
    a.extend(t.desired.services.iter().filter(|s| s.started).map(|s| s.unit.clone()));
    a.push("--".into());
    a.extend(t.desired.services.iter().filter_map(|s| s.probe.clone()));
    transport::check(host, "health check", &a, None).await?;
    Ok(done + changes.iter().filter(|c| !matches!(c, Change::Package { .. })).count())
}

/// Install one package with the node's package manager.
async fn install(host: &dyn Host, name: &str, pkg: &str, manager: &str, ui: &Ui) -> Result<(), Error> {
    ui.step(name, &format!("install {pkg}"));
    let a = if manager == "dnf" || manager == "yum" {
        argv([manager, "install", "-y", "-q", pkg])
    } else {
        argv([
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            pkg,
        ])
    };
    transport::check(host, "install package", &a, None).await?;
    Ok(())
}

/// Stage every new file of validator `validator`, then swap them (and the deletions) in
/// together and run it; a refusal puts all of them back.
async fn swap(t: &Target, changes: &[Change], validator: &str) -> Result<(), Error> {
    let host = t.host.as_ref();
    let mut ops: Vec<String> = Vec::new();
    let mut staged_all: Vec<String> = Vec::new();
    let mut command = Vec::new();
    let mut paths = Vec::new();
    for c in changes {
        let Change::File { path, action, op, .. } = c else { continue };
        let Some(v) = op.validate.as_ref().filter(|v| v.name == validator) else { continue };
        command = v.command.clone();
        paths.push(path.clone());
        match (action, &op.content) {
            (FileAction::Delete, _) | (_, None) => ops.extend([String::from("d"), path.clone()]),
            (_, Some(content)) => match stage(host, path, op, content).await {
                Ok(s) => {
                    staged_all.push(s.clone());
                    ops.extend([String::from("w"), s, path.clone()]);
                }
                Err(e) => {
                    for s in &staged_all {
                        let _ = host.run(&argv(["rm", "-f", "--", s.as_str()]), None, None).await;
                    }
                    return Err(e);
                }
            },
        }
    }
    let mut a = argv(["sh", "-c", SWAP_SCRIPT, "hapair-swap"]);
    a.extend(ops);
    a.push("--".into());
    a.extend(command.iter().cloned());
    let step = format!("validate {} ({})", paths.join(" "), command.join(" "));
    transport::check(host, &step, &a, None).await.map_err(|e| {
        e.with_fix(format!(
            "`{}` refused the new files; every one of them was put back and nothing was reloaded",
            command.join(" ")
        ))
    })?;
    Ok(())
}

/// Upload `content` beside `path` under a temp name; returns that name.
async fn stage(host: &dyn Host, path: &str, op: &FileOp, content: &[u8]) -> Result<String, Error> {
    let a = transport::write_argv(path, op.mode, &op.owner, &op.group, true, content);
    let out = transport::check(host, &format!("stage {path}"), &a, Some(content)).await?;
    let staged = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if staged.is_empty() {
        return Err(Error::new(format!("`{}`: staging `{path}` printed no temp path", host.name())));
    }
    Ok(staged)
}

/// Write a file: atomically, or staged and checked by its validator before it replaces the
/// live one.
async fn write_file(host: &dyn Host, path: &str, op: &FileOp, content: &Arc<Vec<u8>>) -> Result<(), Error> {
    let name = host.name();
    let Some(v) = &op.validate else {
        let a = transport::write_argv(path, op.mode, &op.owner, &op.group, false, content);
        transport::check(host, &format!("write {path}"), &a, Some(content)).await?;
        return Ok(());
    };
    let staged = stage(host, path, op, content).await?;
    let a: Vec<String> = v.command.iter().map(|w| w.replace("{staged}", &staged)).collect();
    let out = host.run(&a, None, None).await?;
    if !out.success() {
        let _ = host.run(&argv(["rm", "-f", "--", staged.as_str()]), None, None).await;
        return Err(transport::command_failed(name, &format!("validate {path}"), &a, &out)
            .with_fix("the new file was refused by its validator; the old one stays in place"));
    }
    transport::check(host, &format!("replace {path}"), &argv(["mv", "-f", "--", staged.as_str(), path]), None).await?;
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
    use crate::observe::Facts;
    use crate::render::tests::pair;
    use crate::roles::{BinarySpec, RoleSet};
    use crate::transport::LocalHost;

    fn target(inv: &Inventory, node: usize, serving: Option<bool>) -> Target {
        let p = &inv.pairs[0];
        let bin = BinarySpec { sha256: String::new(), size: 0, version: String::new(), needs: String::new() };
        let set = RoleSet::builtin().expect("roles");
        let desired = crate::roles::desired(&set, p, &p.nodes[node], &[], &bin).expect("renders");
        let facts = Facts::default();
        let plan = crate::plan::plan(&desired, &facts);
        Target {
            pair: 0,
            node,
            host: Box::new(LocalHost::new(p.nodes[node].name.clone())),
            desired,
            facts,
            plan,
            serving,
            build: 0,
            refusal: None,
            interface: "eth0".into(),
        }
    }

    fn inv(mode: Mode) -> Inventory {
        Inventory { source: "/tmp/x.yml".into(), pairs: vec![pair(mode)] }
    }

    #[test]
    fn the_node_not_serving_goes_first() {
        let inv = inv(Mode::MasterBackup);
        // web2 (not the preferred master) serves now, e.g. after a failover.
        let (a, b) = (target(&inv, 0, Some(false)), target(&inv, 1, Some(true)));
        assert_eq!(pair_order(&inv, &[&a, &b]), [0, 1]);
        let (a, b) = (target(&inv, 0, Some(true)), target(&inv, 1, Some(false)));
        assert_eq!(pair_order(&inv, &[&a, &b]), [1, 0]);
        // Unknown: the preferred master goes last.
        let (a, b) = (target(&inv, 0, None), target(&inv, 1, None));
        assert_eq!(pair_order(&inv, &[&a, &b]), [1, 0]);
    }

    fn sh(script: &str, args: &[&str]) -> std::process::Output {
        std::process::Command::new("sh").arg("-c").arg(script).arg("hapair-test").args(args).output().expect("sh runs")
    }

    #[test]
    fn a_refused_swap_puts_every_file_back() {
        // Real sh and coreutils: two writes and a deletion, the validator fails, all restored.
        let dir = std::env::temp_dir().join(format!("hapair-swap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let f = |n: &str| dir.join(n).display().to_string();
        std::fs::write(f("a.conf"), "old a\n").expect("write");
        std::fs::write(f("gone.conf"), "old gone\n").expect("write");
        std::fs::write(f(".hapair-new.1"), "new a\n").expect("write");
        std::fs::write(f(".hapair-new.2"), "new b\n").expect("write");
        let ops =
            ["w", &f(".hapair-new.1"), &f("a.conf"), "w", &f(".hapair-new.2"), &f("b.conf"), "d", &f("gone.conf")];
        let mut args: Vec<&str> = ops.to_vec();
        args.extend(["--", "sh", "-c", "grep -q 'new a' a.conf && echo refused >&2 && exit 1"]);
        let o = std::process::Command::new("sh")
            .current_dir(&dir)
            .arg("-c")
            .arg(SWAP_SCRIPT)
            .arg("hapair-swap")
            .args(&args)
            .output()
            .expect("sh runs");
        assert!(!o.status.success());
        assert_eq!(String::from_utf8_lossy(&o.stderr), "refused\n");
        assert_eq!(std::fs::read_to_string(f("a.conf")).expect("a"), "old a\n");
        assert_eq!(std::fs::read_to_string(f("gone.conf")).expect("gone"), "old gone\n");
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
            .collect();
        left.sort();
        assert_eq!(left, ["a.conf", "gone.conf"]);

        // Accepted: new files in place, deletion done, no backups left.
        std::fs::write(f(".hapair-new.1"), "new a\n").expect("write");
        std::fs::write(f(".hapair-new.2"), "new b\n").expect("write");
        let mut args: Vec<&str> = ops.to_vec();
        args.extend(["--", "true"]);
        let o = sh(SWAP_SCRIPT, &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read_to_string(f("a.conf")).expect("a"), "new a\n");
        assert_eq!(std::fs::read_to_string(f("b.conf")).expect("b"), "new b\n");
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
            .collect();
        left.sort();
        assert_eq!(left, ["a.conf", "b.conf"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
