//! Survey: connect to every selected node at once (one multiplexed SSH connection each), gather
//! its facts (one round trip each) and plan it. What `plan`, `apply` and `status` share; it
//! knows nothing of how changes are carried out or shown.

use std::path::PathBuf;
use std::sync::Arc;

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
    /// From the serving probe: whether the node serves now (`None`: unknown).
    pub serving: Option<bool>,
}

/// Connections and facts for every selected node, and the plan of each.
pub struct Survey {
    pub targets: Vec<Target>,
    control_dir: PathBuf,
}

impl Survey {
    pub fn plans(&self) -> Vec<HostPlan> {
        self.targets.iter().map(|t| t.plan.clone()).collect()
    }

    /// Close every connection and remove the control directory.
    pub async fn close(self) {
        futures::future::join_all(self.targets.into_iter().map(|t| t.host.close())).await;
        let _ = std::fs::remove_dir_all(&self.control_dir);
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
        out.push((pi, ni, roles::desired(&set, p, n, &[], binary)?));
    }
    Ok(out)
}

/// Connect to the selected nodes and gather their facts, all at once. `step(host, what)`
/// reports progress.
pub async fn survey(
    inv: &Inventory,
    opts: &Options,
    binary: &BinarySpec,
    step: &(dyn Fn(&str, &str) + Sync),
) -> Result<Survey, Error> {
    let desired = desired_states(inv, opts, binary)?;
    let control_dir = std::env::temp_dir().join(format!("hapair-{}", std::process::id()));
    std::fs::create_dir_all(&control_dir)
        .map_err(|e| Error::new(format!("cannot create `{}`: {e}", control_dir.display())))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&control_dir, std::fs::Permissions::from_mode(0o700));
    }
    let ssh = SshOptions { control_dir: control_dir.clone(), accept_new_host_keys: opts.accept_new_host_keys };
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
            let plan = plan::plan(&d, &facts);
            let serving =
                opts.serving.as_ref().and_then(|s| facts.files.get(&s.path).and_then(|f| (s.is_serving)(&f.content)));
            Ok::<_, Error>(Target { pair: pi, node: ni, host: Box::new(host), desired: d, facts, plan, serving })
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
        let _ = std::fs::remove_dir_all(&control_dir);
        if errors.len() == 1 {
            return Err(first);
        }
        let msg = errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("\n       ");
        return Err(Error::new(msg).with_fix(first.fix.unwrap_or_default()));
    }
    Ok(Survey { targets, control_dir })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Mode;
    use crate::render::tests::pair;

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
