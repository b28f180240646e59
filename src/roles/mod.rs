//! Roles as data: the desired state of one node (files, packages, services, firewall rules,
//! the hapair binary). Pure: built from the resolved inventory and rendered templates; `plan`
//! diffs it against facts, `apply` carries the difference out.

use std::fmt;

use crate::inventory::{Node, Pair};
use crate::render::{RenderError, Renderer};

pub const BINARY_PATH: &str = "/usr/local/sbin/hapair";
/// Written next to every binary upload: `SHA256 SIZE MTIME`, so facts need not hash the binary.
pub const BINARY_SIDECAR: &str = "/var/lib/hapair/binary.sha256";
pub const VRRPD_CONFIG: &str = "/etc/hapair/vrrpd.yml";
pub const VRRPD_UNIT: &str = "/etc/systemd/system/hapair-vrrpd.service";
pub const VRRPD_SERVICE: &str = "hapair-vrrpd.service";
pub const VRRPD_STATUS: &str = "/run/hapair/status.json";
pub const NGINX_SITE: &str = "/etc/nginx/conf.d/hapair.conf";
/// Debian's default site also claims `default_server` on port 80; ours replaces it.
pub const NGINX_DEFAULT_SITE: &str = "/etc/nginx/sites-enabled/default";
pub const NGINX_SERVICE: &str = "nginx.service";
pub const FIREWALLD_SERVICE: &str = "firewalld.service";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Vrrp,
    Nginx,
    Firewalld,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Vrrp => "vrrp",
            Role::Nginx => "nginx",
            Role::Firewalld => "firewalld",
        })
    }
}

/// How a staged file is proven good before it replaces the live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validate {
    /// `hapair vrrpd --check-config STAGED` (the staged file itself).
    VrrpdCheckConfig,
    /// `nginx -t` with the new file in place; the old one is restored when it fails.
    NginxTest,
}

/// What a change of a file triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Handler {
    ReloadNginx,
    ReloadVrrpd,
    /// Unit file changed: `systemctl daemon-reload`, then restart the daemon.
    DaemonReloadRestartVrrpd,
    RestartVrrpd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub role: Role,
    pub path: &'static str,
    /// `None`: the file must not exist.
    pub content: Option<String>,
    pub mode: u32,
    pub owner: &'static str,
    pub group: &'static str,
    /// Content holds a secret: plans and diffs show it redacted.
    pub secret: bool,
    pub validate: Option<Validate>,
    pub handler: Option<Handler>,
    /// Why the file is there (or why it must go), for plans.
    pub why: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSpec {
    pub role: Role,
    /// What to install when none of `satisfied_by` is installed.
    pub install: &'static str,
    pub satisfied_by: &'static [&'static str],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub role: Role,
    pub unit: &'static str,
    pub enabled: bool,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallSpec {
    pub interface: String,
    /// Rich rules exactly as firewalld prints them.
    pub rich_rules: Vec<String>,
    /// `PORT/tcp`
    pub ports: Vec<String>,
}

/// The binary this run would install, as the controller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinarySpec {
    pub sha256: String,
    pub size: u64,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub pair: String,
    pub node: String,
    pub binary: BinarySpec,
    pub packages: Vec<PackageSpec>,
    pub files: Vec<FileSpec>,
    pub services: Vec<ServiceSpec>,
    /// `None` when the inventory says `firewall.manage: false`.
    pub firewall: Option<FirewallSpec>,
}

impl Desired {
    /// Every path whose facts a plan needs.
    pub fn managed_paths(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.files.iter().map(|f| f.path)
    }
}

/// The rich rule accepting VRRP (IP protocol 112, not a port) from `peer` only, or from anyone.
pub fn vrrp_rich_rule(peer: Option<std::net::Ipv4Addr>) -> String {
    match peer {
        Some(p) => {
            format!("rule family=\"ipv4\" source address=\"{p}/32\" protocol value=\"vrrp\" accept")
        }
        None => "rule family=\"ipv4\" protocol value=\"vrrp\" accept".to_string(),
    }
}

/// The rich rule admitting the monitoring scraper (only) to the daemon's metrics port.
pub fn metrics_rich_rule(node: &Node) -> Option<String> {
    let m = &node.monitoring;
    let (src, listen) = (m.scraper_source()?, m.listen?);
    (!listen.ip().is_loopback()).then(|| {
        format!("rule family=\"ipv4\" source address=\"{src}\" port port=\"{}\" protocol=\"tcp\" accept", listen.port())
    })
}

/// The desired state of `node` in `pair`, roles `vrrp`, `nginx` and `firewalld`.
pub fn desired(r: &Renderer, pair: &Pair, node: &Node, binary: &BinarySpec) -> Result<Desired, RenderError> {
    let file = |role, path, content: Option<String>, mode, why| FileSpec {
        role,
        path,
        content,
        mode,
        owner: "root",
        group: "root",
        secret: false,
        validate: None,
        handler: None,
        why,
    };
    let files = vec![
        FileSpec {
            secret: true,
            validate: Some(Validate::VrrpdCheckConfig),
            handler: Some(Handler::ReloadVrrpd),
            ..file(Role::Vrrp, VRRPD_CONFIG, Some(r.vrrpd_config(pair, node)?), 0o600, "daemon config")
        },
        FileSpec {
            handler: Some(Handler::DaemonReloadRestartVrrpd),
            ..file(Role::Vrrp, VRRPD_UNIT, Some(r.vrrpd_unit(node)?), 0o644, "systemd unit")
        },
        FileSpec {
            handler: Some(Handler::ReloadNginx),
            ..file(Role::Nginx, NGINX_DEFAULT_SITE, None, 0o644, "Debian's default site also claims `default_server`")
        },
        FileSpec {
            validate: Some(Validate::NginxTest),
            handler: Some(Handler::ReloadNginx),
            ..file(Role::Nginx, NGINX_SITE, Some(r.nginx_site(node)?), 0o644, "site")
        },
    ];
    let firewall = node.firewall.manage.then(|| {
        let peer = pair.peer_of(&node.name).map(|p| p.address);
        FirewallSpec {
            interface: node.interface.clone(),
            rich_rules: std::iter::once(vrrp_rich_rule(if node.firewall.restrict_to_peer { peer } else { None }))
                .chain(metrics_rich_rule(node))
                .collect(),
            ports: vec![format!("{}/tcp", node.nginx.listen)],
        }
    });
    Ok(Desired {
        pair: pair.name.clone(),
        node: node.name.clone(),
        binary: binary.clone(),
        packages: vec![PackageSpec {
            role: Role::Nginx,
            install: "nginx",
            satisfied_by: &["nginx", "nginx-light", "nginx-core", "nginx-full", "nginx-extras"],
        }],
        files,
        services: vec![
            ServiceSpec { role: Role::Nginx, unit: NGINX_SERVICE, enabled: true, active: true },
            ServiceSpec { role: Role::Vrrp, unit: VRRPD_SERVICE, enabled: true, active: true },
        ],
        firewall,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Mode;
    use crate::render::tests::pair;

    fn bin() -> BinarySpec {
        BinarySpec { sha256: "ab".repeat(32), size: 10, version: "hapair 0.1.0".into() }
    }

    #[test]
    fn firewall_accepts_vrrp_from_the_peer_only() {
        let r = Renderer::embedded().expect("templates parse");
        let p = pair(Mode::MasterBackup);
        let d = desired(&r, &p, &p.nodes[0], &bin()).expect("renders");
        let fw = d.firewall.expect("managed");
        assert_eq!(
            fw.rich_rules,
            ["rule family=\"ipv4\" source address=\"10.77.1.12/32\" protocol value=\"vrrp\" accept"]
        );
        assert_eq!(fw.ports, ["80/tcp"]);
    }

    #[test]
    fn unmanaged_firewall_and_open_vrrp() {
        let r = Renderer::embedded().expect("templates parse");
        let mut p = pair(Mode::MasterBackup);
        p.nodes[1].firewall.restrict_to_peer = false;
        p.nodes[0].firewall.manage = false;
        assert_eq!(desired(&r, &p, &p.nodes[0], &bin()).expect("renders").firewall, None);
        let fw = desired(&r, &p, &p.nodes[1], &bin()).expect("renders").firewall.expect("managed");
        assert_eq!(fw.rich_rules, ["rule family=\"ipv4\" protocol value=\"vrrp\" accept"]);
    }

    #[test]
    fn the_secret_file_is_private_and_validated() {
        let r = Renderer::embedded().expect("templates parse");
        let p = pair(Mode::MasterBackup);
        let d = desired(&r, &p, &p.nodes[0], &bin()).expect("renders");
        let cfg = d.files.iter().find(|f| f.path == VRRPD_CONFIG).expect("present");
        assert!(cfg.secret);
        assert_eq!(cfg.mode, 0o600);
        assert_eq!(cfg.validate, Some(Validate::VrrpdCheckConfig));
    }
}
