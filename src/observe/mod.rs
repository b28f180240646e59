//! Facts: everything a plan needs about one node, gathered in ONE round trip by a fixed,
//! reviewed POSIX sh script. Variable parts (interface, paths, packages, units) travel as
//! positional arguments, never spliced into the script. The output is line-oriented
//! (`TAG<TAB>FIELDS...`); file contents follow a `content` line as raw bytes of a stated length.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::roles::{self, Desired, Want};
use crate::transport::{self, Host};

/// The facts script. Args: IFACE, then tagged items:
/// `f:PATH` (stat, hash, content), `b:PATH` (the hapair binary: hash via sidecar, version),
/// `p:PKG`, `s:UNIT`.
pub const SCRIPT: &str = r#"
set -u
iface=$1; shift
tab=$(printf '\t')
nl='
'
if [ -r /etc/os-release ]; then
  . /etc/os-release
  printf 'os\t%s\t%s\n' "${ID:-unknown}" "${VERSION_ID:-}"
fi
if command -v apt-get >/dev/null 2>&1; then printf 'pkgmgr\tapt\n'
elif command -v dnf >/dev/null 2>&1; then printf 'pkgmgr\tdnf\n'
elif command -v yum >/dev/null 2>&1; then printf 'pkgmgr\tyum\n'
else printf 'pkgmgr\tnone\n'; fi
# SELinux: files hapair writes get their policy's labels (restorecon) when it is on.
if [ -r /sys/fs/selinux/enforce ]; then
  read -r e </sys/fs/selinux/enforce || e=
  case $e in 1) printf 'selinux\tenforcing\n' ;; *) printf 'selinux\tpermissive\n' ;; esac
fi
if [ -d /run/systemd/system ]; then printf 'init\tsystemd\n'; else printf 'init\tother\n'; fi
# What a daemon build must match: architecture and C library (name and version).
printf 'platform\t%s\t%s\n' "$(uname -m 2>/dev/null)" "$(uname -r 2>/dev/null)"
if v=$(getconf GNU_LIBC_VERSION 2>/dev/null) && [ -n "$v" ]; then printf 'libc\tglibc\t%s\n' "${v##* }"
else
  v=
  for l in /lib/ld-musl-*.so.1; do
    [ -x "$l" ] && v=$("$l" 2>&1 | sed -n 's/^Version //p') && break
  done
  if [ -n "$v" ]; then printf 'libc\tmusl\t%s\n' "$v"; else printf 'libc\tunknown\t\n'; fi
fi
# firewall-cmd is slow (python + D-Bus): both listings run in the background meanwhile.
fw=
if command -v firewall-cmd >/dev/null 2>&1; then
  printf 'fwinstalled\n'
  fwb= fwd=
  while IFS='=' read -r k v; do
    case $k in FirewallBackend) fwb=$v ;; DefaultZone) fwd=$v ;; esac
  done 2>/dev/null </etc/firewalld/firewalld.conf
  # D-Bus straight to firewalld: milliseconds, where firewall-cmd costs a python start. Every
  # busctl costs a process start on the node, so as few calls as firewalld allows. The version
  # answers only while firewalld runs (no D-Bus activation); busctl older than systemd 240
  # (CentOS 7) has no --json: firewall-cmd below instead.
  fwv=
  if command -v busctl >/dev/null 2>&1; then
    fwv=$(busctl --auto-start=no --json=short get-property org.fedoraproject.FirewallD1 \
      /org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1 version 2>/dev/null)
    case $fwv in '{"type":"s","data":"'*'"}') fwv=${fwv#*'"data":"'}; fwv=${fwv%'"}'} ;; *) fwv= ;; esac
  fi
  if [ -n "$fwv" ]; then
    printf 'fwrunning\n'
    printf 'fwinfo\t%s\t%s\tdbus\n' "$fwv" "${fwb:-nftables}"
    fwc() { busctl --auto-start=no --json=short call org.fedoraproject.FirewallD1 "$@"; }
    # A string or object path answer, into $r (empty when it is not one).
    fwstr() {
      case $1 in
      '{"type":"'[so]'","data":["'*'"]}') r=${1#*'"data":["'}; r=${r%'"]}'}; case $r in *'"'*) r= ;; esac ;;
      *) r= ;;
      esac
    }
    fwstr "$(fwc /org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1.zone getZoneOfInterface s "$iface")"
    [ -n "$r" ] || fwstr "$(fwc /org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1 getDefaultZone)"
    z=$r
    printf 'fwzone\t%s\n' "$z"
    # firewalld 0.9 and later: all of a zone's settings in one answer, runtime and permanent.
    rt=
    case $fwv in 0.[0-8]|0.[0-8].*) ;; *) rt=$(fwc /org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1.zone getZoneSettings2 s "$z" 2>/dev/null) ;; esac
    fwstr "$(fwc /org/fedoraproject/FirewallD1/config org.fedoraproject.FirewallD1.config getZoneByName s "$z")"
    o=$r
    if [ -n "$rt" ]; then
      printf 'fwjson\trt-zone\t%s\n' "$rt"
      printf 'fwjson\tperm-zone\t%s\n' "$(fwc "$o" org.fedoraproject.FirewallD1.config.zone getSettings2)"
    else
      printf 'fwjson\trt-rich\t%s\n' "$(fwc /org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1.zone getRichRules s "$z")"
      printf 'fwjson\trt-ports\t%s\n' "$(fwc /org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1.zone getPorts s "$z")"
      printf 'fwjson\tperm-rich\t%s\n' "$(fwc "$o" org.fedoraproject.FirewallD1.config.zone getRichRules)"
      printf 'fwjson\tperm-ports\t%s\n' "$(fwc "$o" org.fedoraproject.FirewallD1.config.zone getPorts)"
    fi
  elif systemctl is-active --quiet firewalld 2>/dev/null; then
    printf 'fwrunning\n'
    fw=$(mktemp -d /tmp/hapair-facts.XXXXXX)
    trap 'rm -rf -- "$fw"' EXIT
    firewall-cmd --list-all-zones >"$fw/rt" 2>&1 &
    firewall-cmd --permanent --list-all-zones >"$fw/perm" 2>&1 &
    firewall-cmd --version >"$fw/ver" 2>/dev/null &
  fi
  printf 'fwdefault\t%s\n' "${fwd:-public}"
fi
ip -o -4 addr show 2>/dev/null | while read -r _ dev _ cidr _; do
  printf 'addr\t%s\t%s\n' "$dev" "$cidr"
done
set -f  # package and unit lists below are split on spaces, never globbed
pk= un=
for a in "$@"; do
  case $a in
  f:*)
    p=${a#f:}
    if [ -L "$p" ] && [ ! -e "$p" ]; then printf 'file\t%s\tdangling\n' "$p"
    elif [ -f "$p" ]; then
      kind=file; [ -L "$p" ] && kind=link
      st=$(stat -L -c '%a %U %G %s' -- "$p")
      # The parser hashes the content itself: no sha256sum per file.
      printf 'file\t%s\t%s\t-\t%s\n' "$p" "$kind" "$st"
      printf 'content\t%s\t%s\n' "$p" "${st##* }"
      cat -- "$p"; printf '\n'
    elif [ -d "$p" ]; then printf 'dir\t%s\t%s\n' "$p" "$(stat -c '%a %U %G' -- "$p")"
    elif [ -e "$p" ]; then printf 'file\t%s\tother\n' "$p"
    else printf 'nofile\t%s\n' "$p"; fi ;;
  b:*)
    p=${a#b:}
    if [ -f "$p" ]; then
      st=$(stat -c '%s %Y' -- "$p")
      side=
      [ -r /var/lib/hapair/binary.sha256 ] && read -r side </var/lib/hapair/binary.sha256
      case $side in
      *" $st") sum=${side%% *} ;;
      *) sum=$(sha256sum < "$p"); sum=${sum%% *} ;;
      esac
      v=$("$p" --version 2>/dev/null)
      v=${v%%"$nl"*}  # the first line
      printf 'binary\t%s\t%s\n' "$sum" "$v"
    fi ;;
  p:*) case ${a#p:} in *[!a-z0-9.+-]*|'') ;; *) pk="$pk ${a#p:}" ;; esac ;;
  s:*) case ${a#s:} in *[!A-Za-z0-9@._-]*|'') ;; *) un="$un ${a#s:}" ;; esac ;;
  esac
done
if [ -n "$pk" ]; then
  if command -v dpkg-query >/dev/null 2>&1; then
    dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\n' -- $pk 2>/dev/null |
    while IFS="$tab" read -r st n v; do
      case $st in ii*|hi*) printf 'pkg\t%s\t%s\n' "$n" "$v" ;; esac
    done
  elif command -v rpm >/dev/null 2>&1; then
    for n in $pk; do
      r=$(rpm -q --qf '%{VERSION}-%{RELEASE}' -- "$n" 2>/dev/null) && printf 'pkg\t%s\t%s\n' "$n" "$r"
    done
  fi
fi
if [ -n "$un" ]; then
  # One block per unit, in argument order, separated by empty lines.
  printf 'svcunits\t%s\n' "${un# }"
  systemctl show -p LoadState,ActiveState,UnitFileState,MainPID,NRestarts -- $un 2>/dev/null |
  while IFS= read -r l; do printf 'svc\t%s\n' "$l"; done
fi
if [ -n "$fw" ]; then
  wait
  printf 'fwinfo\t%s\t%s\tfirewall-cmd\n' "$(cat "$fw/ver")" "${fwb:-nftables}"
  while IFS= read -r l; do printf 'fwrt\t%s\n' "$l"; done < "$fw/rt"
  while IFS= read -r l; do printf 'fwperm\t%s\n' "$l"; done < "$fw/perm"
fi
printf 'end\n'
"#;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub os_id: String,
    pub os_version: String,
    /// `apt`, `dnf`, `yum` (CentOS 7) or `none`.
    pub pkg_manager: String,
    /// `systemd` or `other`.
    pub init: String,
    /// `enforcing` or `permissive` when SELinux is on; empty when off or absent.
    pub selinux: String,
    /// `uname -m`, e.g. `x86_64`, `aarch64`.
    pub arch: String,
    /// `uname -r` (in a container: the machine's kernel).
    pub kernel: String,
    /// `glibc`, `musl`, or empty when the node did not say.
    pub libc: String,
    /// e.g. `2.36`.
    pub libc_version: String,
    /// (interface, `addr/prefix`)
    pub addresses: Vec<(String, String)>,
    /// Installed packages among those asked about, with versions.
    pub packages: BTreeMap<String, String>,
    /// Files asked about, by path; absent paths are not in the map.
    pub files: BTreeMap<String, FileFact>,
    pub services: BTreeMap<String, ServiceFact>,
    pub firewall: FirewallFacts,
    /// The installed hapair binary, if any.
    pub binary: Option<BinaryFact>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    File,
    /// A symlink to a regular file.
    Link,
    Dangling,
    /// A directory (mode and owner known, no content).
    Dir,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFact {
    pub kind: FileKind,
    pub sha256: String,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    pub content: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFact {
    /// `loaded`, `not-found`, ...
    pub load: String,
    /// `active`, `inactive`, `failed`, ...
    pub active: String,
    /// `enabled`, `disabled`, ...
    pub enabled: String,
    pub main_pid: u32,
    pub n_restarts: u32,
}

impl ServiceFact {
    pub fn exists(&self) -> bool {
        self.load == "loaded"
    }
    pub fn is_active(&self) -> bool {
        matches!(self.active.as_str(), "active" | "reloading" | "activating")
    }
    pub fn is_enabled(&self) -> bool {
        matches!(self.enabled.as_str(), "enabled" | "enabled-runtime" | "static" | "alias")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallFacts {
    pub installed: bool,
    pub running: bool,
    pub default_zone: String,
    pub runtime: Vec<Zone>,
    pub permanent: Vec<Zone>,
    /// The zone of the interface as firewalld answered it (D-Bus path).
    pub iface_zone: Option<String>,
    /// firewalld's version, e.g. `0.9.3` (Debian 11), `1.3.3` (12), `2.3.1` (13).
    pub version: String,
    /// `FirewallBackend`: `nftables` (the default) or `iptables`.
    pub backend: String,
    /// How hapair talks to it: `dbus` (busctl) or `firewall-cmd` (no busctl with JSON).
    pub via: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub interfaces: Vec<String>,
    pub ports: Vec<String>,
    pub rich_rules: Vec<String>,
}

impl FirewallFacts {
    /// The zone `iface` is in: the zone listing it, else the default zone.
    pub fn zone_of(&self, iface: &str) -> String {
        if let Some(z) = &self.iface_zone {
            return z.clone();
        }
        self.runtime
            .iter()
            .find(|z| z.interfaces.iter().any(|i| i == iface))
            .map(|z| z.name.clone())
            .unwrap_or_else(|| self.default_zone.clone())
    }
    pub fn runtime_zone(&self, name: &str) -> Option<&Zone> {
        self.runtime.iter().find(|z| z.name == name)
    }
    pub fn permanent_zone(&self, name: &str) -> Option<&Zone> {
        self.permanent.iter().find(|z| z.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryFact {
    pub sha256: String,
    pub version: String,
}

/// The output did not follow the script's format: a bug or a very unusual target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unexpected facts output: {}", self.0)
    }
}

/// The argv that gathers facts for `desired`; `extra` are more files to read (e.g. a status
/// file the caller orders nodes by).
pub fn facts_argv(desired: &Desired, interface: &str, extra: &[String]) -> Vec<String> {
    let mut v = transport::argv(["sh", "-c", SCRIPT, "hapair-facts", interface]);
    for f in &desired.files {
        match f.want {
            Want::Hapair(_) => v.push(format!("b:{}", f.path)),
            _ => v.push(format!("f:{}", f.path)),
        }
    }
    if desired.firewall.is_some() {
        v.push(format!("f:{}", roles::FIREWALL_OWNED));
    }
    v.extend(extra.iter().map(|p| format!("f:{p}")));
    for p in &desired.packages {
        v.extend(p.satisfied_by.iter().map(|n| format!("p:{n}")));
    }
    v.extend(desired.units().into_iter().map(|u| format!("s:{u}")));
    v
}

/// Hex sha256, as facts and plans compare file contents.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The script's `stat` of `path`: `MODE OWNER GROUP` (mode in octal) and `more` fields after
/// them that only the script uses (a file's size).
fn parse_stat<'a>(path: &str, st: &'a str, more: usize) -> Result<(u32, &'a str, &'a str), ParseError> {
    let fields: Vec<&str> = st.split(' ').collect();
    let [mode, owner, group, rest @ ..] = fields.as_slice() else {
        return Err(ParseError(format!("bad stat for `{path}`: {st}")));
    };
    if rest.len() != more {
        return Err(ParseError(format!("bad stat for `{path}`: {st}")));
    }
    let mode = u32::from_str_radix(mode, 8).map_err(|_| ParseError(format!("bad mode `{mode}` for `{path}`")))?;
    Ok((mode, owner, group))
}

fn take_line<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    if buf.is_empty() {
        return None;
    }
    let (line, rest) = match buf.iter().position(|b| *b == b'\n') {
        Some(i) => (&buf[..i], &buf[i + 1..]),
        None => (*buf, &buf[buf.len()..]),
    };
    *buf = rest;
    Some(line)
}

/// The most facts output `parse` accepts (the transport caps a command's output at the same).
pub const FACTS_CAP: usize = crate::transport::OUTPUT_CAP;
/// The most entries of each kind (files, addresses, packages, services, firewall lines) the
/// parser keeps: a node answers about the few dozen it was asked; more is a broken node.
pub const FACTS_MAX_ITEMS: usize = 10_000;

/// Parse the facts script's output. The node may be broken or hostile: every length and count
/// it sends is checked, and no input makes this panic or loop (fuzzed: fuzz/fuzz_targets/facts.rs).
pub fn parse(out: &[u8]) -> Result<Facts, ParseError> {
    if out.len() > FACTS_CAP {
        return Err(ParseError(format!("{} bytes, more than the {} facts may hold", out.len(), FACTS_CAP)));
    }
    let f = parse_unchecked(out)?;
    let counts = [
        ("files", f.files.len()),
        ("addresses", f.addresses.len()),
        ("packages", f.packages.len()),
        ("services", f.services.len()),
        ("runtime firewall zones", f.firewall.runtime.len()),
        ("permanent firewall zones", f.firewall.permanent.len()),
    ];
    for (what, n) in counts {
        if n > FACTS_MAX_ITEMS {
            return Err(ParseError(format!("{n} {what}, more than the {FACTS_MAX_ITEMS} a node can be asked about")));
        }
    }
    Ok(f)
}

fn parse_unchecked(out: &[u8]) -> Result<Facts, ParseError> {
    let mut f = Facts::default();
    let mut buf = out;
    let mut ended = false;
    let mut rt_lines = Vec::new();
    let mut perm_lines = Vec::new();
    let mut units: Vec<String> = Vec::new();
    let mut unit_idx = 0usize;
    while let Some(raw) = take_line(&mut buf) {
        let line = String::from_utf8_lossy(raw);
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["os", id, ver] => {
                f.os_id = id.to_string();
                f.os_version = ver.to_string();
            }
            ["pkgmgr", m] => f.pkg_manager = m.to_string(),
            ["selinux", mode] => f.selinux = mode.to_string(),
            ["init", i] => f.init = i.to_string(),
            ["platform", arch, kernel] => {
                f.arch = arch.to_string();
                f.kernel = kernel.to_string();
            }
            ["libc", "unknown", _] => {}
            ["libc", name, ver] => {
                f.libc = name.to_string();
                f.libc_version = ver.to_string();
            }
            ["fwinstalled"] => f.firewall.installed = true,
            ["fwrunning"] => f.firewall.running = true,
            ["fwdefault", z] => f.firewall.default_zone = z.to_string(),
            ["fwinfo", version, backend, via] => {
                f.firewall.version = version.to_string();
                f.firewall.backend = backend.to_string();
                f.firewall.via = via.to_string();
            }
            ["addr", dev, cidr] => f.addresses.push((dev.to_string(), cidr.to_string())),
            ["file", path, "dangling"] | ["file", path, "other"] => {
                let kind = if fields[2] == "dangling" { FileKind::Dangling } else { FileKind::Other };
                f.files.insert(
                    path.to_string(),
                    FileFact {
                        kind,
                        sha256: String::new(),
                        mode: 0,
                        owner: String::new(),
                        group: String::new(),
                        content: Vec::new(),
                    },
                );
            }
            ["file", path, kind, sum, st] => {
                let (mode, owner, group) = parse_stat(path, st, 1)?;
                f.files.insert(
                    path.to_string(),
                    FileFact {
                        kind: if *kind == "link" { FileKind::Link } else { FileKind::File },
                        sha256: sum.to_string(),
                        mode,
                        owner: owner.to_string(),
                        group: group.to_string(),
                        content: Vec::new(),
                    },
                );
            }
            ["content", path, len] => {
                let len: usize = len.parse().map_err(|_| ParseError(format!("bad length `{len}` for `{path}`")))?;
                // The length comes from the node: checked against what actually arrived
                // (never `len + 1`, which overflows on a hostile `usize::MAX`).
                if len >= buf.len() || buf[len] != b'\n' {
                    return Err(ParseError(format!("`{path}` changed while it was read; run again")));
                }
                let content = buf[..len].to_vec();
                buf = &buf[len + 1..];
                match f.files.get_mut(*path) {
                    Some(ff) => {
                        ff.sha256 = sha256_hex(&content);
                        ff.content = content;
                    }
                    None => return Err(ParseError(format!("content of unknown file `{path}`"))),
                }
            }
            ["dir", path, st] => {
                let (mode, owner, group) = parse_stat(path, st, 0)?;
                f.files.insert(
                    path.to_string(),
                    FileFact {
                        kind: FileKind::Dir,
                        sha256: String::new(),
                        mode,
                        owner: owner.to_string(),
                        group: group.to_string(),
                        content: Vec::new(),
                    },
                );
            }
            ["nofile", _] => {}
            ["binary", sum, ver] => f.binary = Some(BinaryFact { sha256: sum.to_string(), version: ver.to_string() }),
            ["pkg", name, ver] => {
                f.packages.insert(name.to_string(), ver.to_string());
            }
            ["svcunits", list] => {
                units = list.split(' ').take(FACTS_MAX_ITEMS + 1).map(str::to_string).collect();
                unit_idx = 0;
            }
            ["svc", ""] => unit_idx += 1,
            ["svc", kv] => {
                let Some(unit) = units.get(unit_idx) else {
                    return Err(ParseError(format!("service facts beyond the units asked about: `{kv}`")));
                };
                let s = f.services.entry(unit.clone()).or_default();
                if let Some((k, v)) = kv.split_once('=') {
                    match k {
                        "LoadState" => s.load = v.to_string(),
                        "ActiveState" => s.active = v.to_string(),
                        "UnitFileState" => s.enabled = v.to_string(),
                        "MainPID" => s.main_pid = v.parse().unwrap_or(0),
                        "NRestarts" => s.n_restarts = v.parse().unwrap_or(0),
                        _ => {}
                    }
                }
            }
            ["fwzone", z] => f.firewall.iface_zone = Some(z.to_string()),
            ["fwjson", which, json] => {
                let z = f.firewall.iface_zone.clone().unwrap_or_default();
                fw_json(&mut f.firewall, &z, which, json)?;
            }
            ["fwrt", ..] => rt_lines.push(line.strip_prefix("fwrt\t").unwrap_or_default().to_string()),
            ["fwperm", ..] => perm_lines.push(line.strip_prefix("fwperm\t").unwrap_or_default().to_string()),
            ["end"] => ended = true,
            [""] => {}
            _ => return Err(ParseError(format!("unknown line `{}`", line.trim_end()))),
        }
    }
    if !ended {
        return Err(ParseError("the script stopped before its end marker".into()));
    }
    f.firewall.runtime.extend(parse_zones(&rt_lines));
    f.firewall.permanent.extend(parse_zones(&perm_lines));
    if let Some(z) = f.firewall.runtime.iter().find(|z| z.name.contains("(default")) {
        f.firewall.default_zone = z.name.split(' ').next().unwrap_or_default().to_string();
    }
    for z in f.firewall.runtime.iter_mut().chain(f.firewall.permanent.iter_mut()) {
        z.name = z.name.split(' ').next().unwrap_or_default().to_string();
    }
    Ok(f)
}

/// One `busctl --json=short` answer: a zone's settings (`a{sv}`, firewalld 0.9 and later), or
/// rich rules (`as`) or ports (`aas` / `a(ss)`) alone.
fn fw_json(fw: &mut FirewallFacts, zone: &str, which: &str, json: &str) -> Result<(), ParseError> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| ParseError(format!("firewalld answered `{json}`: {e}")))?;
    let bad = || ParseError(format!("firewalld answered `{json}`"));
    let list = if which.starts_with("rt-") { &mut fw.runtime } else { &mut fw.permanent };
    if !list.iter().any(|z| z.name == zone) {
        list.push(Zone { name: zone.to_string(), ..Zone::default() });
    }
    let Some(z) = list.iter_mut().find(|z| z.name == zone) else { return Ok(()) };
    if which.ends_with("-zone") {
        // `{"type":"a{sv}","data":[{"ports":{"type":"a(ss)","data":[["80","tcp"]]},...}]}`; a
        // setting firewalld has nothing for is left out of the answer.
        let settings = v.get("data").and_then(|d| d.get(0)).and_then(|d| d.as_object()).ok_or_else(bad)?;
        let field = |key: &str| -> Result<&[serde_json::Value], ParseError> {
            match settings.get(key) {
                None => Ok(&[]),
                Some(x) => x.get("data").and_then(|d| d.as_array()).map(Vec::as_slice).ok_or_else(bad),
            }
        };
        let strings = |key: &str| -> Result<Vec<String>, ParseError> {
            field(key)?.iter().map(|x| x.as_str().map(str::to_string).ok_or_else(bad)).collect()
        };
        z.rich_rules = strings("rules_str")?;
        z.interfaces = strings("interfaces")?;
        z.ports = field("ports")?
            .iter()
            .map(|pp| match pp.as_array().map(Vec::as_slice) {
                Some([serde_json::Value::String(port), serde_json::Value::String(proto)]) => {
                    Ok(format!("{port}/{proto}"))
                }
                _ => Err(bad()),
            })
            .collect::<Result<_, _>>()?;
        return Ok(());
    }
    let items = v.get("data").and_then(|d| d.get(0)).and_then(|d| d.as_array()).ok_or_else(bad)?;
    for it in items {
        match (which.ends_with("-rich"), it) {
            (true, serde_json::Value::String(r)) => z.rich_rules.push(r.clone()),
            (false, serde_json::Value::Array(pp)) => {
                if let [serde_json::Value::String(port), serde_json::Value::String(proto)] = pp.as_slice() {
                    z.ports.push(format!("{port}/{proto}"));
                }
            }
            _ => return Err(ParseError(format!("firewalld answered `{json}`"))),
        }
    }
    Ok(())
}

/// `firewall-cmd --list-all-zones`: a header line per zone (`public (default, active)`),
/// indented `key: values` lines, and rich rules on tab-indented lines after `rich rules:`.
pub fn parse_zones(lines: &[String]) -> Vec<Zone> {
    let mut zones: Vec<Zone> = Vec::new();
    let mut in_rich = false;
    for l in lines {
        if l.trim().is_empty() {
            in_rich = false;
            continue;
        }
        if !l.starts_with(' ') && !l.starts_with('\t') {
            zones.push(Zone { name: l.trim().to_string(), ..Zone::default() });
            in_rich = false;
            continue;
        }
        let Some(z) = zones.last_mut() else { continue };
        let t = l.trim();
        if in_rich && l.starts_with('\t') {
            z.rich_rules.push(t.to_string());
            continue;
        }
        in_rich = false;
        if let Some((k, v)) = t.split_once(':') {
            let vals = || v.split_whitespace().map(str::to_string).collect::<Vec<_>>();
            match k {
                "interfaces" => z.interfaces = vals(),
                "ports" => z.ports = vals(),
                "rich rules" => {
                    in_rich = true;
                    if !v.trim().is_empty() {
                        z.rich_rules.push(v.trim().to_string());
                    }
                }
                _ => {}
            }
        }
    }
    zones
}

/// Gather the facts of one node in one round trip.
pub async fn gather(host: &dyn Host, desired: &Desired, interface: &str, extra: &[String]) -> Result<Facts, Error> {
    let argv = facts_argv(desired, interface, extra);
    let out = host.run(&argv, None, None).await?;
    if !out.success() {
        return Err(transport::command_failed(host.name(), "facts", &argv, &out));
    }
    parse(&out.stdout).map_err(|e| {
        Error::new(format!("`{}`: {e}", host.name()))
            .with_fix("the target's shell or tools behave unexpectedly; run `hapair doctor`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONES: &str = "block\n  target: %%REJECT%%\n  interfaces: \n  rich rules: \n\npublic (default, active)\n  target: default\n  icmp-block-inversion: no\n  interfaces: eth0\n  services: dhcpv6-client ssh\n  ports: 80/tcp\n  protocols: \n  rich rules: \n\trule family=\"ipv4\" source address=\"10.77.1.12/32\" protocol value=\"vrrp\" accept\n\trule family=\"ipv4\" source address=\"10.0.0.1\" accept\n";

    #[test]
    fn zones_parse_with_rich_rules() {
        let lines: Vec<String> = ZONES.lines().map(str::to_string).collect();
        let z = parse_zones(&lines);
        assert_eq!(z.len(), 2);
        assert_eq!(z[1].name, "public (default, active)");
        assert_eq!(z[1].interfaces, ["eth0"]);
        assert_eq!(z[1].ports, ["80/tcp"]);
        assert_eq!(z[1].rich_rules.len(), 2);
        assert!(z[0].rich_rules.is_empty());
    }

    #[test]
    fn full_output_parses() {
        let mut out = b"os\tdebian\t12\npkgmgr\tapt\ninit\tsystemd\nplatform\tx86_64\t6.1.0-28-amd64\nlibc\tglibc\t2.36\nfwinstalled\nfwrunning\nfwdefault\tpublic\naddr\teth0\t10.77.1.11/24\n".to_vec();
        out.extend_from_slice(
            b"file\t/etc/hapair/vrrpd.yml\tfile\tabc\t600 root root 6\ncontent\t/etc/hapair/vrrpd.yml\t6\nx: 1\n\n\n",
        );
        out.extend_from_slice(b"file\t/etc/nginx/sites-enabled/default\tlink\tdef\t644 root root 0\ncontent\t/etc/nginx/sites-enabled/default\t0\n\n");
        out.extend_from_slice(
            b"nofile\t/etc/nginx/conf.d/hapair.conf\nbinary\tfeed\thapair 0.1.0\npkg\tnginx-light\t1.22.1-9\n",
        );
        out.extend_from_slice(b"svcunits\tfirewalld.service nginx.service\nsvc\tLoadState=not-found\nsvc\t\nsvc\tLoadState=loaded\nsvc\tActiveState=active\nsvc\tUnitFileState=enabled\nsvc\tMainPID=42\nsvc\tNRestarts=0\n");
        for l in ZONES.lines() {
            out.extend_from_slice(format!("fwrt\t{l}\n").as_bytes());
        }
        out.extend_from_slice(b"end\n");
        let f = parse(&out).expect("parses");
        assert_eq!(f.os_id, "debian");
        assert_eq!((f.arch.as_str(), f.kernel.as_str()), ("x86_64", "6.1.0-28-amd64"));
        assert_eq!((f.libc.as_str(), f.libc_version.as_str()), ("glibc", "2.36"));
        assert_eq!(f.files["/etc/hapair/vrrpd.yml"].content, b"x: 1\n\n");
        assert_eq!(f.files["/etc/hapair/vrrpd.yml"].mode, 0o600);
        assert_eq!(f.files["/etc/nginx/sites-enabled/default"].kind, FileKind::Link);
        assert!(!f.files.contains_key("/etc/nginx/conf.d/hapair.conf"));
        assert_eq!(f.packages["nginx-light"], "1.22.1-9");
        assert!(f.services["nginx.service"].is_active());
        assert_eq!(f.services["nginx.service"].main_pid, 42);
        assert_eq!(f.firewall.default_zone, "public");
        assert_eq!(f.firewall.zone_of("eth0"), "public");
        assert_eq!(f.binary.as_ref().map(|b| b.sha256.as_str()), Some("feed"));
    }

    #[test]
    fn dbus_answers_parse() {
        let out = b"fwinstalled\nfwrunning\nfwinfo\t0.9.3\tiptables\tdbus\nfwdefault\tpublic\nfwzone\ttrusted\n\
fwjson\trt-rich\t{\"type\":\"as\",\"data\":[[\"rule family=\\\"ipv4\\\" protocol value=\\\"vrrp\\\" accept\"]]}\n\
fwjson\trt-ports\t{\"type\":\"aas\",\"data\":[[[\"80\",\"tcp\"]]]}\n\
fwjson\tperm-rich\t{\"type\":\"as\",\"data\":[[]]}\n\
fwjson\tperm-ports\t{\"type\":\"a(ss)\",\"data\":[[[\"80\",\"tcp\"]]]}\nend\n";
        let f = parse(out).expect("parses");
        assert_eq!(f.firewall.zone_of("eth0"), "trusted");
        assert_eq!((f.firewall.version.as_str(), f.firewall.backend.as_str()), ("0.9.3", "iptables"));
        let rt = f.firewall.runtime_zone("trusted").expect("zone");
        assert_eq!(rt.rich_rules, ["rule family=\"ipv4\" protocol value=\"vrrp\" accept"]);
        assert_eq!(rt.ports, ["80/tcp"]);
        let perm = f.firewall.permanent_zone("trusted").expect("zone");
        assert!(perm.rich_rules.is_empty());
        assert_eq!(perm.ports, ["80/tcp"]);
        assert!(parse(b"fwzone\tpublic\nfwjson\trt-rich\tnot json\nend\n").is_err());
    }

    #[test]
    fn zone_settings_answers_parse() {
        // firewalld 0.9+: one `getZoneSettings2` (runtime) and one `getSettings2` (permanent).
        let out = b"fwinstalled\nfwrunning\nfwinfo\t1.3.3\tnftables\tdbus\nfwdefault\tpublic\nfwzone\tpublic\n\
fwjson\trt-zone\t{\"type\":\"a{sv}\",\"data\":[{\"target\":{\"type\":\"s\",\"data\":\"default\"},\
\"services\":{\"type\":\"as\",\"data\":[\"ssh\"]},\"ports\":{\"type\":\"a(ss)\",\"data\":[[\"80\",\"tcp\"],[\"112\",\"udp\"]]},\
\"interfaces\":{\"type\":\"as\",\"data\":[\"eth0\"]},\
\"rules_str\":{\"type\":\"as\",\"data\":[\"rule family=\\\"ipv4\\\" protocol value=\\\"vrrp\\\" accept\"]}}]}\n\
fwjson\tperm-zone\t{\"type\":\"a{sv}\",\"data\":[{\"target\":{\"type\":\"s\",\"data\":\"default\"}}]}\nend\n";
        let f = parse(out).expect("parses");
        let rt = f.firewall.runtime_zone("public").expect("runtime zone");
        assert_eq!(rt.ports, ["80/tcp", "112/udp"]);
        assert_eq!(rt.interfaces, ["eth0"]);
        assert_eq!(rt.rich_rules, ["rule family=\"ipv4\" protocol value=\"vrrp\" accept"]);
        // Nothing set permanently: firewalld leaves the keys out.
        let perm = f.firewall.permanent_zone("public").expect("permanent zone");
        assert!(perm.ports.is_empty() && perm.rich_rules.is_empty());
        assert!(parse(b"fwzone\tpublic\nfwjson\trt-zone\t{\"type\":\"a{sv}\",\"data\":[[]]}\nend\n").is_err());
        let bad_port = b"fwzone\tpublic\nfwjson\tperm-zone\t{\"type\":\"a{sv}\",\"data\":[{\"ports\":{\"type\":\"a(ss)\",\"data\":[[\"80\"]]}}]}\nend\n";
        assert!(parse(bad_port).is_err());
    }

    #[test]
    fn stat_lines_parse_with_octal_modes() {
        assert_eq!(parse_stat("/f", "640 root adm 12", 1), Ok((0o640, "root", "adm")));
        assert_eq!(parse_stat("/d", "2755 www-data www-data", 0), Ok((0o2755, "www-data", "www-data")));
        assert_eq!(
            parse_stat("/d", "755 root root 4096", 0),
            Err(ParseError("bad stat for `/d`: 755 root root 4096".into()))
        );
        assert_eq!(parse_stat("/f", "644 root", 1), Err(ParseError("bad stat for `/f`: 644 root".into())));
        assert_eq!(
            parse_stat("/f", "rw-r--r-- root root 1", 1),
            Err(ParseError("bad mode `rw-r--r--` for `/f`".into()))
        );
        assert_eq!(parse_stat("/f", "9 root root 1", 1), Err(ParseError("bad mode `9` for `/f`".into())));
    }

    #[test]
    fn truncated_or_garbled_output_is_an_error() {
        assert!(parse(b"os\tdebian\t12\n").is_err());
        assert!(parse(b"file\t/x\tfile\tabc\t644 root root 5\ncontent\t/x\t5\nab").is_err());
        assert!(parse(b"content\t/x\tnotanumber\nend\n").is_err());
        assert!(parse(b"what\nend\n").is_err());
    }

    #[test]
    fn the_script_runs_locally_and_parses() {
        // Real sh, real coreutils: the script and the parser agree.
        let dir = std::env::temp_dir().join(format!("hapair-facts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let file = dir.join("a.conf");
        std::fs::write(&file, b"line one\n\tline\ttwo\nno newline").expect("write");
        let argv = transport::argv([
            "sh".to_string(),
            "-c".into(),
            SCRIPT.into(),
            "hapair-facts".into(),
            "lo".into(),
            format!("f:{}", file.display()),
            format!("f:{}", dir.join("missing").display()),
        ]);
        let out = std::process::Command::new(&argv[0]).args(&argv[1..]).output().expect("sh runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let f = parse(&out.stdout).expect("parses");
        let ff = &f.files[&file.display().to_string()];
        assert_eq!(ff.content, b"line one\n\tline\ttwo\nno newline");
        assert_eq!(ff.sha256.len(), 64);
        assert_eq!(f.files.len(), 1);
        // This machine: its architecture, kernel and glibc, as the daemon builds are matched.
        assert_eq!(f.arch, std::env::consts::ARCH);
        assert!(!f.kernel.is_empty());
        assert_eq!(f.libc, "glibc");
        assert!(crate::binary::elf::Version::parse(&f.libc_version).is_some(), "{}", f.libc_version);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A hostile node: lengths that overflow, lengths past the end, tags without fields.
    #[test]
    fn hostile_lengths_and_counts_are_errors_not_panics() {
        let max = format!("file\t/x\tfile\t-\t644 root root 1\ncontent\t/x\t{}\nend\n", usize::MAX);
        assert!(parse(max.as_bytes()).is_err());
        assert!(parse(b"file\t/x\tfile\t-\t644 root root 1\ncontent\t/x\t99999999999\nab\nend\n").is_err());
        assert!(parse(b"file\t/x\tfile\t-\t644 root root 1\ncontent\t/x\t-1\nend\n").is_err());
        assert_eq!(parse(b"fwrt\nfwperm\nend\n").map(|f| f.firewall.runtime.len()), Ok(0));
        let mut many = String::new();
        for i in 0..=FACTS_MAX_ITEMS {
            many.push_str(&format!("addr\teth0\t10.0.{}.{}/24\n", i / 250, i % 250));
        }
        many.push_str("end\n");
        assert!(parse(many.as_bytes()).unwrap_err().0.contains("more than the 10000"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn no_output_makes_the_parser_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn no_mutation_of_real_output_makes_it_panic(pos in 0usize..200, b in proptest::prelude::any::<u8>(), digits in "[0-9]{1,22}") {
            let mut v = format!("file\t/x\tfile\t-\t644 root root 3\ncontent\t/x\t{digits}\nabc\nfwrt\tpublic\nsvcunits\ta b\nsvc\t\nsvc\t\nsvc\tMainPID=1\nend\n").into_bytes();
            let p = pos % v.len();
            v[p] = b;
            let _ = parse(&v);
        }
    }
}
