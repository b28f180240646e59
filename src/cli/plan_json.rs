//! The machine-readable plan (`plan --format json`, and the `plan` event of `apply --format
//! json`): one document with a `format_version`, and one entry per managed resource and per
//! change with its action — `create`, `update`, `delete` or `no-op` — like Terraform's JSON
//! plan. The contract is docs/plan-json.md; bump [`FORMAT_VERSION`] on any incompatible change.

use serde_json::{json, Value};

use crate::apply::Target;
use crate::plan::{Change, FileAction, ServiceAction};
use crate::roles::Desired;

/// `MAJOR.MINOR`: a consumer accepts any minor of the major it knows (fields are only added).
pub const FORMAT_VERSION: &str = "1.0";

/// The resource a change acts on (`kind:id`) and its action.
pub fn address_and_action(c: &Change) -> (String, &'static str) {
    match c {
        Change::Package { name, .. } => (format!("package:{name}"), "create"),
        // The binary is a file task of its role; its change says more (hashes, size).
        Change::Binary { path, from, .. } => (format!("file:{path}"), if from.is_some() { "update" } else { "create" }),
        Change::File { path, action, .. } => (
            format!("file:{path}"),
            match action {
                FileAction::Create => "create",
                FileAction::Update => "update",
                FileAction::Delete => "delete",
            },
        ),
        Change::FileMeta { path, .. } => (format!("file:{path}"), "update"),
        Change::Relabel { .. } => ("selinux:restorecon".into(), "update"),
        Change::DaemonReload { .. } => ("systemd:daemon-reload".into(), "update"),
        Change::Firewall { item, value, add, .. } => {
            (format!("firewall-{item}:{value}"), if *add { "create" } else { "delete" })
        }
        Change::Service { unit, .. } => (format!("service:{unit}"), "update"),
    }
}

/// What the operation on a service is (a service change is always an `update`).
fn operation(c: &Change) -> Option<&'static str> {
    match c {
        Change::Service { action, .. } => Some(match action {
            ServiceAction::Enable => "enable",
            ServiceAction::Start => "start",
            ServiceAction::Reload => "reload",
            ServiceAction::Restart => "restart",
        }),
        _ => None,
    }
}

/// Every resource the node's desired state manages, with its role (for `no-op` entries).
fn managed(d: &Desired) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> =
        d.packages.iter().map(|p| (format!("package:{}", p.install), p.role.to_string())).collect();
    v.extend(d.files.iter().map(|f| (format!("file:{}", f.path), f.role.to_string())));
    if let Some(fw) = &d.firewall {
        v.extend(fw.rich_rules.iter().map(|r| (format!("firewall-rich-rule:{r}"), fw.role.clone())));
        v.extend(fw.ports.iter().map(|p| (format!("firewall-port:{p}"), fw.role.clone())));
    }
    v.extend(d.services.iter().map(|s| (format!("service:{}", s.unit), s.role.to_string())));
    v
}

/// The plan document for the surveyed nodes.
pub fn document(targets: &[Target]) -> Value {
    let mut resource_changes = Vec::new();
    let mut hosts = Vec::new();
    let mut counts = [("create", 0u64), ("update", 0), ("delete", 0), ("no-op", 0)];
    for t in targets {
        let p = &t.plan;
        let mut touched = std::collections::BTreeSet::new();
        for c in &p.changes {
            let (address, action) = address_and_action(c);
            touched.insert(address.clone());
            let mut change = serde_json::to_value(c).unwrap_or(Value::Null);
            if let Some(op) = operation(c) {
                change["operation"] = json!(op);
            }
            resource_changes.push(json!({
                "pair": p.pair, "node": p.node, "address": address, "role": c.role(),
                "actions": [action], "summary": c.summary(), "change": change,
            }));
        }
        for (address, role) in managed(&t.desired) {
            // A file that must be absent and is absent is not managed content: still a no-op.
            if !touched.contains(&address) {
                resource_changes.push(json!({
                    "pair": p.pair, "node": p.node, "address": address, "role": role,
                    "actions": ["no-op"], "summary": "in the desired state", "change": null,
                }));
            }
        }
        hosts.push(json!({
            "pair": p.pair, "node": p.node, "changes": p.changes.len(), "findings": p.findings,
        }));
    }
    for rc in &resource_changes {
        if let Some(a) = rc["actions"][0].as_str() {
            if let Some(c) = counts.iter_mut().find(|(k, _)| *k == a) {
                c.1 += 1;
            }
        }
    }
    let summary: serde_json::Map<String, Value> = counts.iter().map(|(k, n)| (k.to_string(), json!(n))).collect();
    json!({
        "format_version": FORMAT_VERSION,
        "hapair_version": env!("CARGO_PKG_VERSION"),
        "changes_pending": targets.iter().any(|t| t.plan.has_changes()),
        "summary": summary,
        "hosts": hosts,
        "resource_changes": resource_changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_follow_the_change() {
        let file = |action| Change::File {
            role: "nginx".into(),
            path: "/etc/x".into(),
            action,
            diff: String::new(),
            mode: 0o644,
            owner: "root:root".into(),
            op: Default::default(),
        };
        assert_eq!(address_and_action(&file(FileAction::Create)), ("file:/etc/x".into(), "create"));
        assert_eq!(address_and_action(&file(FileAction::Update)).1, "update");
        assert_eq!(address_and_action(&file(FileAction::Delete)).1, "delete");
        let fw = |add| Change::Firewall {
            role: "firewalld".into(),
            zone: "public".into(),
            add,
            item: "port",
            value: "80/tcp".into(),
            runtime: true,
            permanent: true,
        };
        assert_eq!(address_and_action(&fw(true)), ("firewall-port:80/tcp".into(), "create"));
        assert_eq!(address_and_action(&fw(false)).1, "delete");
        let bin = |from: Option<&str>| Change::Binary {
            role: "vrrp".into(),
            path: "/usr/local/sbin/hapair".into(),
            from: from.map(String::from),
            to: "b".into(),
            size: 1,
            needs: "x86_64, glibc >= 2.17".into(),
        };
        assert_eq!(address_and_action(&bin(None)), ("file:/usr/local/sbin/hapair".into(), "create"));
        assert_eq!(address_and_action(&bin(Some("a"))).1, "update");
    }
}
