//! Facts: everything a plan needs about one node, gathered in ONE round trip by a fixed,
//! reviewed POSIX sh script. Variable parts (interface, paths, packages, units) travel as
//! positional arguments, never spliced into the script. The output is line-oriented
//! (`TAG<TAB>FIELDS...`); file contents follow a `contents` line as raw bytes, back to back, of
//! the lengths stated before by `queued` lines.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::roles::{self, Desired, Want};
use crate::transport::{self, Host};

/// The facts script. Args: IFACE, then tagged items:
/// `f:PATH` (stat, hash, content), `b:PATH` (the hapair binary: hash via sidecar, version),
/// `p:PKG`, `s:UNIT`.
pub const SCRIPT: &str = r#"
# Every process this starts costs the node CPU (~1 ms a fork and exec, ~5 ms a busctl), and a
# no-op run on many nodes is mostly this: shell builtins and files read directly where they
# answer the same, one stat and one cat for all files, one D-Bus call per question.
set -u
iface=$1; shift
tab='	'
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
k=
[ -r /proc/sys/kernel/osrelease ] && read -r k </proc/sys/kernel/osrelease
printf 'platform\t%s\t%s\n' "$(uname -m 2>/dev/null)" "$k"
if v=$(getconf GNU_LIBC_VERSION 2>/dev/null) && [ -n "$v" ]; then printf 'libc\tglibc\t%s\n' "${v##* }"
else
  v=
  for l in /lib/ld-musl-*.so.1; do
    [ -x "$l" ] && v=$("$l" 2>&1 | sed -n 's/^Version //p') && break
  done
  if [ -n "$v" ]; then printf 'libc\tmusl\t%s\n' "$v"; else printf 'libc\tunknown\t\n'; fi
fi
# firewall-cmd is slow (python + D-Bus): both listings run in the background meanwhile.
fw= fwpk=
if command -v firewall-cmd >/dev/null 2>&1; then
  printf 'fwinstalled\n'
  fwpk=1
  fwb= fwd=
  while IFS='=' read -r k v; do
    case $k in FirewallBackend) fwb=$v ;; DefaultZone) fwd=$v ;; esac
  done 2>/dev/null </etc/firewalld/firewalld.conf
  # D-Bus straight to firewalld: milliseconds, where firewall-cmd costs a python start. Every
  # busctl costs a process start on the node, so one call per question: the zone of the
  # interface comes first, and an answer at all says firewalld runs (--auto-start=no: asking
  # never starts it). Its version comes from the package database, read below anyway.
  # busctl older than systemd 240 (CentOS 7) has no --json: firewall-cmd below instead.
  a=
  if command -v busctl >/dev/null 2>&1; then
    fwc() { busctl --auto-start=no --json=short call org.fedoraproject.FirewallD1 "$@" 2>/dev/null; }
    a=$(fwc /org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1.zone getZoneOfInterface s "$iface") || a=
  fi
  # A string or object path answer, into $r (empty when it is not one).
  fwstr() {
    case $1 in
    '{"type":"'[so]'","data":["'*'"]}') r=${1#*'"data":["'}; r=${r%'"]}'}; case $r in *'"'*) r= ;; esac ;;
    *) r= ;;
    esac
  }
  # The same question (OBJECT INTERFACE METHOD [STRING]) with a name or path for an answer:
  # dbus-send where the node has it (half a busctl's cost), its plain answer read here. Zone
  # names and object paths hold neither quotes nor newlines; anything else is no answer. Only
  # asked once firewalld has answered busctl: dbus-send cannot say --auto-start=no, and asking
  # a stopped firewalld would start it.
  fwq() {
    if command -v dbus-send >/dev/null 2>&1; then
      r=$(dbus-send --system --print-reply --dest=org.fedoraproject.FirewallD1 "$1" "$2.$3" ${4+"string:$4"} 2>/dev/null) || r=
      r=${r#*"$nl"}
      case $r in
      '   string "'*'"'|'   object path "'*'"') r=${r#*'"'}; r=${r%'"'}; case $r in ''|*[!A-Za-z0-9_/.-]*) r= ;; esac ;;
      *) r= ;;
      esac
    elif [ $# -eq 4 ]; then fwstr "$(fwc "$1" "$2" "$3" s "$4")"
    else fwstr "$(fwc "$1" "$2" "$3")"
    fi
  }
  case $a in '{"type":"s","data":["'*) ;; *) a= ;; esac
  if [ -n "$a" ]; then
    printf 'fwrunning\n'
    printf 'fwinfo\t\t%s\tdbus\n' "${fwb:-nftables}"
    fwstr "$a"
    [ -n "$r" ] || fwq /org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1 getDefaultZone
    z=$r
    printf 'fwzone\t%s\n' "$z"
    # firewalld 0.9 and later: all of a zone's settings in one answer, runtime and permanent;
    # older ones have no getZoneSettings2 (the call fails): one call per list instead.
    rt=$(fwc /org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1.zone getZoneSettings2 s "$z") || rt=
    fwq /org/fedoraproject/FirewallD1/config org.fedoraproject.FirewallD1.config getZoneByName "$z"
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
while read -r _ dev _ cidr _; do
  [ -n "$cidr" ] && printf 'addr\t%s\t%s\n' "$dev" "$cidr"
done <<EOF
$(ip -o -4 addr show 2>/dev/null)
EOF
# Every interface, also those without an IPv4 address (a VIP's own `interface` must exist).
for l in /sys/class/net/*; do
  [ -e "$l" ] && printf 'link\t%s\n' "${l##*/}"
done
set -f  # package and unit lists below are split on spaces, never globbed
pk= un= fwask=
for a in "$@"; do
  case $a in
  f:*)
    # Regular files are read together below; the rest is said here.
    p=${a#f:}
    if [ -L "$p" ] && [ ! -e "$p" ]; then printf 'file\t%s\tdangling\n' "$p"
    elif [ -f "$p" ]; then :
    elif [ -d "$p" ]; then printf 'dir\t%s\t%s\n' "$p" "$(stat -c '%a %U %G' -- "$p")"
    elif [ -e "$p" ]; then printf 'file\t%s\tother\n' "$p"
    else printf 'nofile\t%s\n' "$p"; fi ;;
  p:*)
    case ${a#p:} in *[!a-z0-9.+-]*|'') ;; *) pk="$pk ${a#p:}" ;; esac
    [ "$a" = p:firewalld ] && fwask=1 ;;
  s:*) case ${a#s:} in *[!A-Za-z0-9@._-]*|'') ;; *) un="$un ${a#s:}" ;; esac ;;
  esac
done
# Every regular file (and the hapair binary, last) in one stat, then every content in one cat:
# `queued` lines give each file's length, the bytes follow a `contents` line back to back.
files() {
  b=
  for a in "$@"; do
    shift
    case $a in
    f:*) [ -f "${a#f:}" ] && set -- "$@" "${a#f:}" ;;
    b:*) [ -f "${a#b:}" ] && b=${a#b:} ;;
    esac
  done
  [ -n "$b" ] && set -- "$@" "$b"
  [ $# -gt 0 ] || return 0
  if ! st=$(stat -L -c '%a %U %G %s %Y' -- "$@" 2>/dev/null); then
    # One of them went away meanwhile: each alone, to say which.
    st=
    for p in "$@"; do l=$(stat -L -c '%a %U %G %s %Y' -- "$p" 2>/dev/null) || l=gone; st=$st$l$nl; done
  fi
  st=$st$nl
  q= n=$# i=0
  for p in "$@"; do
    shift
    i=$((i + 1))
    l=${st%%"$nl"*}; st=${st#*"$nl"}
    if [ -n "$b" ] && [ $i -eq $n ]; then
      [ "$l" = gone ] && continue
      side= sv=
      [ -r /var/lib/hapair/binary.sha256 ] && { read -r side; read -r sv; } </var/lib/hapair/binary.sha256
      # The sidecar written at upload: hash, size and mtime, then the version it printed.
      case $side in
      *" ${l#* * * }") sum=${side%% *} ;;
      *) sum=$(sha256sum < "$p"); sum=${sum%% *}; sv= ;;
      esac
      if [ -z "$sv" ]; then v=$("$p" --version 2>/dev/null); sv=${v%%"$nl"*}; fi
      printf 'binary\t%s\t%s\n' "$sum" "$sv"
    elif [ "$l" = gone ]; then printf 'nofile\t%s\n' "$p"
    else
      kind=file; [ -L "$p" ] && kind=link
      l=${l% *}  # without the mtime
      # The parser hashes the content itself: no sha256sum per file.
      printf 'file\t%s\t%s\t-\t%s\n' "$p" "$kind" "$l"
      q="$q${q:+$nl}queued$tab$p$tab${l##* }"
      set -- "$@" "$p"
    fi
  done
  if [ $# -gt 0 ]; then
    printf '%s\ncontents\n' "$q"
    cat -- "$@"; printf '\n'
  fi
}
files "$@"
if [ -n "$fwpk" ] && [ -z "$fwask" ]; then pk="$pk firewalld"; fi
if [ -n "$pk" ]; then
  # firewalld's version (`fwpkg`) whether or not its package was asked about.
  if command -v dpkg-query >/dev/null 2>&1; then
    while IFS="$tab" read -r st n v; do
      case $st in ii*|hi*) ;; *) continue ;; esac
      if [ "$n" = firewalld ] && [ -n "$fwpk" ]; then printf 'fwpkg\t%s\n' "$v"; [ -n "$fwask" ] || continue; fi
      printf 'pkg\t%s\t%s\n' "$n" "$v"
    done <<EOF
$(dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\n' -- $pk 2>/dev/null)
EOF
  elif command -v rpm >/dev/null 2>&1; then
    for n in $pk; do
      r=$(rpm -q --qf '%{VERSION}-%{RELEASE}' -- "$n" 2>/dev/null) || continue
      if [ "$n" = firewalld ] && [ -n "$fwpk" ]; then printf 'fwpkg\t%s\n' "$r"; [ -n "$fwask" ] || continue; fi
      printf 'pkg\t%s\t%s\n' "$n" "$r"
    done
  fi
fi
if [ -n "$un" ]; then
  # One block per unit, in argument order, separated by empty lines.
  printf 'svcunits\t%s\n' "${un# }"
  s=$(systemctl show -p LoadState,ActiveState,UnitFileState,MainPID,NRestarts -- $un 2>/dev/null)
  [ -z "$s" ] || while IFS= read -r l; do printf 'svc\t%s\n' "$l"; done <<EOF
$s
EOF
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
    /// Every network interface's name (`/sys/class/net`), with an address or not.
    pub links: Vec<String>,
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

/// The one parse error that is no fault of the node: a file replaced between the script's `stat`
/// and its `cat` (a daemon's status file is rewritten every second), so the stated lengths do
/// not add up. `gather` reads once more.
const CHANGED_WHILE_READ: &str = "a file changed while it was read";

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
        ("interfaces", f.links.len()),
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
    let mut queued: Vec<(String, usize)> = Vec::new();
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
                if !version.is_empty() {
                    f.firewall.version = version.to_string();
                }
                f.firewall.backend = backend.to_string();
                f.firewall.via = via.to_string();
            }
            // firewalld's package version (`1.3.3-1`, `1:1.3.4-7.el9`), when firewalld itself did
            // not say (D-Bus): the upstream part.
            ["fwpkg", v] => {
                if f.firewall.version.is_empty() {
                    let v = v.split_once(':').map_or(*v, |(_, v)| v);
                    f.firewall.version = v.rsplit_once('-').map_or(v, |(v, _)| v).to_string();
                }
            }
            ["addr", dev, cidr] => f.addresses.push((dev.to_string(), cidr.to_string())),
            ["link", name] => f.links.push(name.to_string()),
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
            ["queued", path, len] => {
                let len: usize = len.parse().map_err(|_| ParseError(format!("bad length `{len}` for `{path}`")))?;
                if queued.len() >= FACTS_MAX_ITEMS {
                    return Err(ParseError(format!("more than {FACTS_MAX_ITEMS} file contents")));
                }
                queued.push((path.to_string(), len));
            }
            ["contents"] => {
                // Every queued file's bytes, back to back, then a newline. Lengths come from the
                // node: summed with overflow checks, then checked against what arrived.
                let total = queued.iter().try_fold(0usize, |t, (_, n)| t.checked_add(*n));
                let Some(total) = total.filter(|t| *t < buf.len() && buf[*t] == b'\n') else {
                    return Err(ParseError(CHANGED_WHILE_READ.into()));
                };
                let (mut data, rest) = buf.split_at(total);
                buf = &rest[1..];
                for (path, len) in queued.drain(..) {
                    let (content, more) = data.split_at(len);
                    data = more;
                    match f.files.get_mut(&path) {
                        Some(ff) => {
                            ff.sha256 = sha256_hex(content);
                            ff.content = content.to_vec();
                        }
                        None => return Err(ParseError(format!("content of unknown file `{path}`"))),
                    }
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
    if !ended || !queued.is_empty() {
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
    let mut first_read: Option<Vec<(String, usize)>> = None;
    loop {
        let out = host.run(&argv, None, None).await?;
        if !out.success() {
            return Err(transport::command_failed(host.name(), "facts", &argv, &out));
        }
        let e = match parse(&out.stdout) {
            Ok(f) => return Ok(f),
            Err(e) => e,
        };
        if e.0 != CHANGED_WHILE_READ {
            return Err(Error::new(format!("`{}`: {e}", host.name()))
                .with_fix("the target's shell or tools behave unexpectedly; run `hapair doctor`"));
        }
        let now = stated_lengths(&out.stdout);
        let Some(before) = first_read.replace(now.clone()) else { continue };
        return Err(changed_twice(host.name(), &before, &now));
    }
}

/// The lengths the script stated (`queued` lines) for the contents it then sent, in order.
fn stated_lengths(out: &[u8]) -> Vec<(String, usize)> {
    let mut v = Vec::new();
    for line in out.split(|b| *b == b'\n') {
        if line == b"contents" || v.len() >= FACTS_MAX_ITEMS {
            break;
        }
        let Some(rest) = line.strip_prefix(b"queued\t") else { continue };
        let rest = String::from_utf8_lossy(rest);
        if let Some((path, len)) = rest.rsplit_once('\t') {
            v.push((path.to_string(), len.parse().unwrap_or(0)));
        }
    }
    v
}

/// Two reads in a row each saw a file change under them: name the files whose length differed
/// between the two reads (the likely ones).
fn changed_twice(node: &str, before: &[(String, usize)], now: &[(String, usize)]) -> Error {
    let moving: Vec<String> = now
        .iter()
        .filter(|(p, n)| before.iter().any(|(q, m)| q == p && m != n))
        .map(|(p, n)| {
            let m = before.iter().find(|(q, _)| q == p).map_or(0, |(_, m)| *m);
            format!("`{p}` ({m} then {n} bytes)")
        })
        .collect();
    let which = if moving.is_empty() { "a file".to_string() } else { moving.join(", ") };
    Error::new(format!("`{node}`: {which} changed while it was read, twice in a row"))
        .with_fix("something on the node rewrites it all the time; stop that, or run again when it is quiet")
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
        let mut out = b"os\tdebian\t12\npkgmgr\tapt\ninit\tsystemd\nplatform\tx86_64\t6.1.0-28-amd64\nlibc\tglibc\t2.36\nfwinstalled\nfwrunning\nfwdefault\tpublic\naddr\teth0\t10.77.1.11/24\nlink\teth0\nlink\teth1\nlink\tlo\n".to_vec();
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
        assert_eq!(f.addresses, [("eth0".to_string(), "10.77.1.11/24".to_string())]);
        assert_eq!(f.links, ["eth0", "eth1", "lo"]);
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
        // More files, read by the same stat and cat: empty, a symlink, a name with a space, a
        // directory, a dangling link; and a binary that says its version.
        let empty = dir.join("empty");
        std::fs::write(&empty, b"").expect("write");
        let spaced = dir.join("b c.conf");
        std::fs::write(&spaced, b"\n\n").expect("write");
        let link = dir.join("link");
        let dangling = dir.join("dangling");
        let _ = std::fs::remove_file(&link);
        let _ = std::fs::remove_file(&dangling);
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).expect("symlink");
        let bin = dir.join("hapair");
        std::fs::write(&bin, b"#!/bin/sh\necho 'hapair 9.9.9'\necho second line\n").expect("write");
        std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let argv = transport::argv([
            "sh".to_string(),
            "-c".into(),
            SCRIPT.into(),
            "hapair-facts".into(),
            "lo".into(),
            format!("b:{}", bin.display()),
            format!("f:{}", file.display()),
            format!("f:{}", dir.join("missing").display()),
            format!("f:{}", empty.display()),
            format!("f:{}", dir.display()),
            format!("f:{}", spaced.display()),
            format!("f:{}", link.display()),
            format!("f:{}", dangling.display()),
        ]);
        let out = std::process::Command::new(&argv[0]).args(&argv[1..]).output().expect("sh runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let f = parse(&out.stdout).expect("parses");
        let ff = &f.files[&file.display().to_string()];
        assert_eq!(ff.content, b"line one\n\tline\ttwo\nno newline");
        assert_eq!(ff.sha256, sha256_hex(b"line one\n\tline\ttwo\nno newline"));
        assert_eq!((ff.kind.clone(), ff.mode), (FileKind::File, 0o644 & !umask()));
        assert_eq!(f.files[&empty.display().to_string()].content, b"");
        assert_eq!(f.files[&spaced.display().to_string()].content, b"\n\n");
        assert_eq!(f.files[&link.display().to_string()].kind, FileKind::Link);
        assert_eq!(f.files[&link.display().to_string()].content, ff.content);
        assert_eq!(f.files[&dangling.display().to_string()].kind, FileKind::Dangling);
        assert_eq!(f.files[&dir.display().to_string()].kind, FileKind::Dir);
        assert!(!f.files.contains_key(&dir.join("missing").display().to_string()));
        assert_eq!(f.files.len(), 6);
        let b = f.binary.as_ref().expect("the binary");
        assert_eq!(b.version, "hapair 9.9.9");
        assert_eq!(b.sha256, sha256_hex(&std::fs::read(&bin).expect("read")));
        // This machine: its architecture, kernel and glibc, as the daemon builds are matched.
        assert_eq!(f.arch, std::env::consts::ARCH);
        assert!(!f.kernel.is_empty());
        assert_eq!(f.libc, "glibc");
        assert!(crate::binary::elf::Version::parse(&f.libc_version).is_some(), "{}", f.libc_version);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn umask() -> u32 {
        let probe = std::env::temp_dir().join(format!("hapair-umask-{}", std::process::id()));
        std::fs::write(&probe, b"").expect("write");
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&probe).expect("stat").permissions());
        let _ = std::fs::remove_file(&probe);
        0o666 & !mode & 0o777
    }

    #[test]
    fn queued_contents_split_by_the_stated_lengths() {
        let out = b"file\t/a\tfile\t-\t644 root root 3\nfile\t/b\tlink\t-\t600 root adm 0\nfile\t/c\tfile\t-\t644 root root 2\n\
queued\t/a\t3\nqueued\t/b\t0\nqueued\t/c\t2\ncontents\nab\n\n\n\nfwpkg\t1:1.3.3-1+b1\nend\n";
        let f = parse(out).expect("parses");
        assert_eq!(f.files["/a"].content, b"ab\n");
        assert_eq!(f.files["/b"].content, b"");
        assert_eq!((f.files["/b"].kind.clone(), f.files["/b"].group.as_str()), (FileKind::Link, "adm"));
        assert_eq!(f.files["/c"].content, b"\n\n");
        assert_eq!(f.files["/c"].sha256, sha256_hex(b"\n\n"));
        // The package version stands in for firewalld's own only when firewalld did not say.
        assert_eq!(f.firewall.version, "1.3.3");
        let said = parse(b"fwinfo\t0.9.3\tnftables\tfirewall-cmd\nfwpkg\t1.0.0-1\nend\n").expect("parses");
        assert_eq!(said.firewall.version, "0.9.3");
        // A file that grew or shrank between stat and cat: the lengths don't add up.
        let grew = b"file\t/a\tfile\t-\t644 root root 3\nqueued\t/a\t3\ncontents\nabcd\nend\n";
        assert_eq!(parse(grew).unwrap_err().0, CHANGED_WHILE_READ);
        assert_eq!(stated_lengths(grew), [("/a".to_string(), 3)]);
        assert!(parse(b"file\t/a\tfile\t-\t644 root root 3\nqueued\t/a\t3\ncontents\nab").is_err());
        // Queued but never sent, or sent for a file never stated.
        assert!(parse(b"file\t/a\tfile\t-\t644 root root 3\nqueued\t/a\t3\nend\n").is_err());
        assert!(parse(b"queued\t/z\t1\ncontents\nz\nend\n").is_err());
    }

    /// A node that answers each facts run with the next of `outputs`, counting the runs.
    struct Scripted {
        outputs: std::sync::Mutex<Vec<Vec<u8>>>,
        runs: std::sync::atomic::AtomicUsize,
    }

    impl Host for Scripted {
        fn name(&self) -> &str {
            "web1"
        }

        fn run_step<'a>(
            &'a self,
            _step: &'a str,
            _argv: &'a [String],
            _stdin: Option<&'a [u8]>,
            _progress: Option<transport::Progress>,
        ) -> transport::BoxFuture<'a, Result<transport::Output, Error>> {
            self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let stdout = self.outputs.lock().expect("lock").remove(0);
            Box::pin(async move { Ok(transport::Output { code: Some(0), stdout, stderr: Vec::new() }) })
        }
    }

    fn gather_from(outputs: &[&[u8]]) -> (Result<Facts, Error>, usize) {
        let host = Scripted {
            outputs: std::sync::Mutex::new(outputs.iter().map(|o| o.to_vec()).collect()),
            runs: Default::default(),
        };
        let desired = Desired {
            pair: "p".into(),
            node: "web1".into(),
            packages: vec![],
            files: vec![],
            services: vec![],
            firewall: None,
            secrets: vec![],
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let r = rt.block_on(gather(&host, &desired, "eth0", &["/run/hapair/status.json".to_string()]));
        (r, host.runs.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// A status file the daemon replaces between the script's stat and its cat: read once more,
    /// by itself; a file that keeps changing is named.
    #[test]
    fn a_file_replaced_while_read_is_read_again_and_named_if_it_keeps_changing() {
        let s = "/run/hapair/status.json";
        let changed = format!("file\t{s}\tfile\t-\t644 root root 3\nqueued\t{s}\t3\ncontents\nabcd\nend\n");
        let good = format!("file\t{s}\tfile\t-\t644 root root 4\nqueued\t{s}\t4\ncontents\nabcd\nend\n");
        let (r, runs) = gather_from(&[changed.as_bytes(), good.as_bytes()]);
        assert_eq!((r.expect("read again").files[s].content.as_slice(), runs), (b"abcd".as_slice(), 2));

        let again = format!("file\t{s}\tfile\t-\t644 root root 5\nqueued\t{s}\t5\ncontents\nab\nend\n");
        let (r, runs) = gather_from(&[changed.as_bytes(), again.as_bytes()]);
        let e = r.expect_err("changed twice");
        assert_eq!(runs, 2);
        assert_eq!(e.message, format!("`web1`: `{s}` (3 then 5 bytes) changed while it was read, twice in a row"));

        // Any other malformed output is not read again.
        let (r, runs) = gather_from(&[b"nonsense\nend\n"]);
        assert_eq!(
            (r.expect_err("malformed").message, runs),
            ("`web1`: unexpected facts output: unknown line `nonsense`".to_string(), 1)
        );
    }

    /// A hostile node: lengths that overflow, lengths past the end, tags without fields.
    #[test]
    fn hostile_lengths_and_counts_are_errors_not_panics() {
        let max = format!("file\t/x\tfile\t-\t644 root root 1\ncontent\t/x\t{}\nend\n", usize::MAX);
        assert!(parse(max.as_bytes()).is_err());
        assert!(parse(b"file\t/x\tfile\t-\t644 root root 1\ncontent\t/x\t99999999999\nab\nend\n").is_err());
        assert!(parse(b"file\t/x\tfile\t-\t644 root root 1\ncontent\t/x\t-1\nend\n").is_err());
        let sum_overflows = format!(
            "file\t/x\tfile\t-\t644 root root 1\nqueued\t/x\t{}\nqueued\t/x\t2\ncontents\nab\nend\n",
            usize::MAX
        );
        assert!(parse(sum_overflows.as_bytes()).is_err());
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
            let mut v = format!("file\t/x\tfile\t-\t644 root root 3\ncontent\t/x\t{digits}\nabc\nfile\t/y\tfile\t-\t644 root root 2\nqueued\t/y\t{digits}\nqueued\t/x\t1\ncontents\nabc\nfwrt\tpublic\nsvcunits\ta b\nsvc\t\nsvc\t\nsvc\tMainPID=1\nend\n").into_bytes();
            let p = pos % v.len();
            v[p] = b;
            let _ = parse(&v);
        }
    }
}
