//! The RHEL family on paper: plans made from facts as a Rocky Linux 9 and a CentOS 7 host
//! report them. Their package repositories are not reachable here, so these hosts cannot be
//! booted; the facts below are what the facts script prints on them, taken from the
//! distributions' documentation and package contents (Rocky 9.4: glibc 2.34, kernel 5.14,
//! firewalld 1.3 on nftables, systemd 252, dnf, SELinux enforcing, nginx 1.20 in AppStream;
//! CentOS 7.9: glibc 2.17, kernel 3.10, firewalld 0.6 on iptables, systemd 219 whose busctl has
//! no JSON, yum, SELinux enforcing, nginx 1.20 from EPEL). Both use firewalld's default zone
//! `public` and nginx's `conf.d/` (no `sites-enabled/`).

use super::*;
use crate::binary::elf::tests::tiny_elf;
use crate::binary::{Build, Builds};
use crate::inventory::Mode;
use crate::observe;
use crate::render::tests::pair;
use crate::roles::{desired, RoleSet};

const LD: &str = "/lib64/ld-linux-x86-64.so.2";

fn build(versions: &[&str], running: bool, path: &str) -> Build {
    let bytes = tiny_elf(62, Some(LD), versions);
    let elf = crate::binary::elf::parse(&bytes).expect("parses");
    let spec = crate::roles::BinarySpec {
        sha256: sha256_hex(&bytes),
        size: bytes.len() as u64,
        version: crate::binary::version_line(),
        needs: crate::binary::needs(&elf),
    };
    Build { path: path.into(), running, elf, spec, bytes: std::sync::Arc::new(bytes) }
}

/// This (glibc 2.34) hapair, and with the portable (2.17) build before it when `portable`.
fn builds(portable: bool) -> Builds {
    let mut list = Vec::new();
    if portable {
        list.push(build(&["GLIBC_2.2.5", "GLIBC_2.17"], false, crate::binary::PORTABLE_BUILD));
    }
    list.push(build(&["GLIBC_2.2.5", "GLIBC_2.34"], true, "/usr/local/bin/hapair"));
    Builds { list }
}

/// What the facts script prints on a fresh Rocky Linux 9.4 host (firewalld answers over D-Bus).
const ROCKY9: &str = "os\trocky\t9.4\npkgmgr\tdnf\nselinux\tenforcing\ninit\tsystemd\n\
platform\tx86_64\t5.14.0-427.13.1.el9_4.x86_64\nlibc\tglibc\t2.34\n\
fwinstalled\nfwrunning\nfwinfo\t1.3.4\tnftables\tdbus\nfwzone\tpublic\n\
fwjson\trt-rich\t{\"type\":\"as\",\"data\":[[]]}\n\
fwjson\trt-ports\t{\"type\":\"aas\",\"data\":[[]]}\n\
fwjson\tperm-rich\t{\"type\":\"as\",\"data\":[[]]}\n\
fwjson\tperm-ports\t{\"type\":\"a(ss)\",\"data\":[[]]}\n\
fwdefault\tpublic\naddr\tlo\t127.0.0.1/8\naddr\teth0\t10.77.1.11/24\n\
nofile\t/etc/nginx/sites-enabled/default\n\
svcunits\tfirewalld.service\nsvc\tLoadState=loaded\nsvc\tActiveState=active\nsvc\tUnitFileState=enabled\n\
svc\tMainPID=712\nsvc\tNRestarts=0\nend\n";

/// What it prints on a fresh CentOS 7.9 host: no busctl JSON, so firewall-cmd's listing.
const CENTOS7: &str = "os\tcentos\t7\npkgmgr\tyum\nselinux\tenforcing\ninit\tsystemd\n\
platform\tx86_64\t3.10.0-1160.el7.x86_64\nlibc\tglibc\t2.17\n\
fwinstalled\nfwrunning\nfwdefault\tpublic\naddr\tlo\t127.0.0.1/8\naddr\teth0\t10.77.1.11/24\n\
nofile\t/etc/nginx/sites-enabled/default\n\
svcunits\tfirewalld.service\nsvc\tLoadState=loaded\nsvc\tActiveState=active\nsvc\tUnitFileState=enabled\n\
svc\tMainPID=655\nsvc\tNRestarts=0\n\
fwinfo\t0.6.3\tiptables\tfirewall-cmd\n\
fwrt\tpublic (active)\nfwrt\t  target: default\nfwrt\t  icmp-block-inversion: no\nfwrt\t  interfaces: eth0\n\
fwrt\t  sources: \nfwrt\t  services: dhcpv6-client ssh\nfwrt\t  ports: \nfwrt\t  protocols: \n\
fwrt\t  masquerade: no\nfwrt\t  rich rules: \nfwrt\t\n\
fwperm\tpublic\nfwperm\t  target: default\nfwperm\t  interfaces: \nfwperm\t  services: dhcpv6-client ssh\n\
fwperm\t  ports: \nfwperm\t  rich rules: \nend\n";

/// The plan for `web1` of the test pair on a host reporting `facts_text`, with the daemon build
/// the survey would choose; `Err` when it would refuse the node.
fn plan_on(facts_text: &str, with_portable: bool) -> Result<(Facts, HostPlan), crate::error::Error> {
    let f = observe::parse(facts_text.as_bytes()).expect("the facts parse");
    let b = builds(with_portable);
    let p = pair(Mode::MasterBackup);
    let mut d = desired(&RoleSet::builtin().expect("roles"), &p, &p.nodes[0], &[], &b.running().spec).expect("renders");
    let choice = b.choose(&p.nodes[0].name, &f)?;
    d.use_binary(&b.list[choice.index].spec);
    let hp = plan(&d, &f);
    Ok((f, hp))
}

fn summaries(p: &HostPlan) -> Vec<String> {
    p.changes.iter().map(Change::summary).collect()
}

const PEER_RULE: &str = "rule family=\"ipv4\" source address=\"10.77.1.12/32\" protocol value=\"vrrp\" accept";

#[test]
fn rocky_9_facts_parse_as_reported() {
    let f = observe::parse(ROCKY9.as_bytes()).expect("parses");
    assert_eq!((f.os_id.as_str(), f.os_version.as_str(), f.pkg_manager.as_str()), ("rocky", "9.4", "dnf"));
    assert_eq!((f.arch.as_str(), f.libc.as_str(), f.libc_version.as_str()), ("x86_64", "glibc", "2.34"));
    assert_eq!(f.selinux, "enforcing");
    assert_eq!((f.firewall.version.as_str(), f.firewall.via.as_str()), ("1.3.4", "dbus"));
    assert_eq!(f.firewall.zone_of("eth0"), "public");
}

#[test]
fn rocky_9_runs_this_hapair_and_gets_dnf_conf_d_selinux_labels_and_the_public_zone() {
    // glibc 2.34 exactly: this hapair (2.34) runs there, no portable build needed.
    let (_, p) = plan_on(ROCKY9, false).expect("not refused");
    let s = summaries(&p);
    let upload = s.iter().position(|x| x.starts_with("upload `/usr/local/sbin/hapair`")).expect("upload");
    assert!(s[upload].contains("x86_64, glibc >= 2.34"), "{}", s[upload]);
    assert_eq!(s[0], "install package `nginx` (dnf)");
    // nginx's conf.d layout: the site goes to conf.d; there is no Debian default site to remove.
    assert!(s.contains(&"create `/etc/nginx/conf.d/hapair.conf` (mode 0644, owner root:root)".to_string()), "{s:#?}");
    assert!(!s.iter().any(|x| x.contains("sites-enabled")), "{s:#?}");
    // SELinux enforcing: everything written is relabelled before any service (re)starts.
    let relabel = s.iter().position(|x| x.starts_with("restorecon ")).expect("relabel");
    assert_eq!(
        s[relabel],
        "restorecon `/etc/nginx/conf.d/hapair.conf` `/usr/local/sbin/hapair` `/etc/hapair/vrrpd.yml` \
         `/etc/systemd/system/hapair-vrrpd.service` (SELinux is on: written files get their policy's labels)"
    );
    let first_service = s.iter().position(|x| x.starts_with("systemctl ") || x.starts_with("enable ")).expect("svc");
    assert!(relabel < first_service, "{s:#?}");
    // firewalld's default zone, over D-Bus (no firewall-cmd finding).
    assert!(s.contains(&format!("add rich-rule in zone `public` (runtime and permanent): {PEER_RULE}")), "{s:#?}");
    assert!(s.contains(&"add port in zone `public` (runtime and permanent): 80/tcp".to_string()), "{s:#?}");
    assert!(p.findings.is_empty(), "{:#?}", p.findings);
}

#[test]
fn centos_7_needs_the_portable_build_and_is_refused_without_it() {
    let e = plan_on(CENTOS7, false).expect_err("refused");
    assert_eq!(
        e.message,
        "`web1` (x86_64, glibc 2.17) cannot run any daemon build of this run, so nothing was changed: \
         this hapair (x86_64, glibc >= 2.34): it needs glibc >= 2.34, the node has glibc 2.17"
    );
    assert!(e.fix.as_deref().is_some_and(|f| f.contains("--daemon-binary target/portable/")), "{e}");
}

#[test]
fn centos_7_gets_yum_selinux_labels_and_firewall_cmd_in_the_public_zone() {
    let (f, p) = plan_on(CENTOS7, true).expect("the portable build fits");
    assert_eq!((f.os_id.as_str(), f.pkg_manager.as_str(), f.libc_version.as_str()), ("centos", "yum", "2.17"));
    assert_eq!(f.firewall.zone_of("eth0"), "public");
    let s = summaries(&p);
    assert_eq!(s[0], "install package `nginx` (yum)");
    let upload =
        s.iter().find(|x| x.starts_with("upload `/usr/local/sbin/hapair` (absent -> sha256 ")).expect("upload");
    assert!(upload.contains("x86_64, glibc >= 2.17"), "{upload}");
    assert!(s.iter().any(|x| x.starts_with("restorecon ") && x.contains("`/usr/local/sbin/hapair`")), "{s:#?}");
    assert!(s.contains(&format!("add rich-rule in zone `public` (runtime and permanent): {PEER_RULE}")), "{s:#?}");
    // systemd 219's busctl has no JSON: the plan says rules go through firewall-cmd.
    assert_eq!(p.findings.len(), 1, "{:#?}", p.findings);
    assert_eq!(
        p.findings[0].message,
        "firewalld 0.6.3 on `web1` is changed with `firewall-cmd`: its busctl has no JSON output (systemd older than 240)"
    );
}

#[test]
fn without_selinux_nothing_is_relabelled() {
    let text = ROCKY9.replace("selinux\tenforcing\n", "");
    let (_, p) = plan_on(&text, false).expect("fits");
    assert!(!summaries(&p).iter().any(|x| x.starts_with("restorecon")));
}
