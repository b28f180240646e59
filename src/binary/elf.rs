//! What an ELF executable needs from the machine it runs on: its architecture (`e_machine`,
//! class, byte order) and its C library — none (static), musl (its `PT_INTERP`), or glibc with
//! the newest `GLIBC_x.y` symbol version it references (`.gnu.version_r`, the table the dynamic
//! loader checks before it prints "version `GLIBC_2.34' not found").
//!
//! Pure and bounded: every offset and count read from the file is checked against its length;
//! a malformed file is an `ElfError`, never a panic or a long loop.

use std::fmt;

/// A glibc (or musl) version, `2.17` or `2.2.5`, compared numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// `2.17`, `2.2.5`, `1.2.4`; anything else is `None`.
    pub fn parse(s: &str) -> Option<Version> {
        let mut it = s.trim().split('.');
        let mut part = || -> Option<Option<u32>> {
            match it.next() {
                None => Some(None),
                Some(p) if !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit()) => {
                    Some(Some(p.parse().ok()?))
                }
                Some(_) => None,
            }
        };
        let major = part()??;
        let minor = part()?.unwrap_or(0);
        let patch = part()?.unwrap_or(0);
        if it.next().is_some() {
            return None;
        }
        Some(Version(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.2 == 0 {
            write!(f, "{}.{}", self.0, self.1)
        } else {
            write!(f, "{}.{}.{}", self.0, self.1, self.2)
        }
    }
}

/// The C library a binary needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LibcNeed {
    /// Statically linked (no program interpreter): runs with any or no libc.
    None,
    /// glibc at least this version (`None`: references no versioned glibc symbol).
    Glibc(Option<Version>),
    /// musl, dynamically linked (interpreter `/lib/ld-musl-*.so.1`).
    Musl,
    /// Another program interpreter.
    Other(String),
}

impl fmt::Display for LibcNeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LibcNeed::None => f.write_str("static, no libc"),
            LibcNeed::Glibc(Some(v)) => write!(f, "glibc >= {v}"),
            LibcNeed::Glibc(None) => f.write_str("glibc"),
            LibcNeed::Musl => f.write_str("musl"),
            LibcNeed::Other(i) => write!(f, "interpreter `{i}`"),
        }
    }
}

/// What `parse` learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// `e_machine`.
    pub machine: u16,
    pub class64: bool,
    pub little_endian: bool,
    pub libc: LibcNeed,
    /// References `GLIBC_PRIVATE`: tied to one exact glibc build.
    pub glibc_private: bool,
}

impl ElfInfo {
    /// The architecture as `uname -m` prints it (the name facts report).
    pub fn arch(&self) -> &'static str {
        arch_name(self.machine, self.class64, self.little_endian)
    }
}

/// `uname -m` names for an ELF machine; `unknown` for the rest.
pub fn arch_name(machine: u16, class64: bool, little_endian: bool) -> &'static str {
    match (machine, class64, little_endian) {
        (62, true, true) => "x86_64",
        (3, false, true) => "i686",
        (183, true, true) => "aarch64",
        (183, true, false) => "aarch64_be",
        (40, false, true) => "armv7l",
        (243, true, true) => "riscv64",
        (21, true, true) => "ppc64le",
        (21, true, false) => "ppc64",
        (22, true, false) => "s390x",
        _ => "unknown",
    }
}

/// `uname -m` spellings of one architecture mapped to the name `arch_name` gives it.
pub fn normalize_arch(uname_m: &str) -> &str {
    match uname_m {
        "amd64" => "x86_64",
        "i386" | "i486" | "i586" => "i686",
        "arm64" => "aarch64",
        "armv7" | "armv7hl" | "armhf" | "armv8l" => "armv7l",
        other => other,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfError(pub String);

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const PT_INTERP: u32 = 3;
const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
/// More entries than any real binary has; a loop in a crafted file stops here.
const MAX_ENTRIES: usize = 4096;

struct Reader<'a> {
    b: &'a [u8],
    le: bool,
    c64: bool,
}

impl Reader<'_> {
    fn bytes(&self, off: u64, len: u64) -> Result<&[u8], ElfError> {
        let end = off.checked_add(len).ok_or_else(|| ElfError("an offset overflows".into()))?;
        if end > self.b.len() as u64 {
            return Err(ElfError(format!("truncated: needs {end} bytes, the file has {}", self.b.len())));
        }
        Ok(&self.b[off as usize..end as usize])
    }
    fn u16(&self, off: u64) -> Result<u16, ElfError> {
        let s = self.bytes(off, 2)?;
        let a = [s[0], s[1]];
        Ok(if self.le { u16::from_le_bytes(a) } else { u16::from_be_bytes(a) })
    }
    fn u32(&self, off: u64) -> Result<u32, ElfError> {
        let s = self.bytes(off, 4)?;
        let a = [s[0], s[1], s[2], s[3]];
        Ok(if self.le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) })
    }
    fn u64(&self, off: u64) -> Result<u64, ElfError> {
        let s = self.bytes(off, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(if self.le { u64::from_le_bytes(a) } else { u64::from_be_bytes(a) })
    }
    /// A native-width word (`Elf64_Off`/`Elf32_Off`, addresses, sizes).
    fn word(&self, off: u64) -> Result<u64, ElfError> {
        if self.c64 {
            self.u64(off)
        } else {
            self.u32(off).map(u64::from)
        }
    }
    /// A NUL-terminated string starting at `off`, at most 4096 bytes.
    fn cstr(&self, off: u64) -> Result<String, ElfError> {
        let start = usize::try_from(off).map_err(|_| ElfError("a string offset overflows".into()))?;
        let rest = self.b.get(start..).ok_or_else(|| ElfError("a string lies outside the file".into()))?;
        let rest = &rest[..rest.len().min(4096)];
        let end = rest.iter().position(|b| *b == 0).ok_or_else(|| ElfError("an unterminated string".into()))?;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
}

/// Read what a binary needs from the machine that runs it.
pub fn parse(b: &[u8]) -> Result<ElfInfo, ElfError> {
    if b.len() < 52 || &b[..4] != b"\x7fELF" {
        return Err(ElfError("not an ELF file".into()));
    }
    let c64 = match b[4] {
        1 => false,
        2 => true,
        c => return Err(ElfError(format!("unknown ELF class {c}"))),
    };
    let le = match b[5] {
        1 => true,
        2 => false,
        d => return Err(ElfError(format!("unknown ELF byte order {d}"))),
    };
    let r = Reader { b, le, c64 };
    let e_type = r.u16(16)?;
    if e_type != 2 && e_type != 3 {
        return Err(ElfError(format!("not an executable (ELF type {e_type})")));
    }
    let machine = r.u16(18)?;
    let (phoff, shoff, phentsize, phnum, shentsize, shnum) = if c64 {
        (r.u64(32)?, r.u64(40)?, r.u16(54)?, r.u16(56)?, r.u16(58)?, r.u16(60)?)
    } else {
        (r.u32(28)? as u64, r.u32(32)? as u64, r.u16(42)?, r.u16(44)?, r.u16(46)?, r.u16(48)?)
    };

    // Program headers: the interpreter, and whether it links dynamically at all.
    let mut interp = None;
    let min_ph = if c64 { 56 } else { 32 };
    if phnum > 0 && (phentsize as usize) < min_ph {
        return Err(ElfError(format!("program header entries of {phentsize} bytes")));
    }
    for i in 0..u64::from(phnum) {
        let h = phoff.checked_add(i * u64::from(phentsize)).ok_or_else(|| ElfError("an offset overflows".into()))?;
        let p_type = r.u32(h)?;
        if p_type == PT_INTERP {
            let (off, size) = if c64 {
                (r.u64(h.saturating_add(8))?, r.u64(h.saturating_add(32))?)
            } else {
                (r.word(h.saturating_add(4))?, r.word(h.saturating_add(16))?)
            };
            let s = r.bytes(off, size.min(4096))?;
            let s = s.split(|c| *c == 0).next().unwrap_or_default();
            interp = Some(String::from_utf8_lossy(s).into_owned());
        }
    }

    // Versions needed, from `.gnu.version_r` (SHT_GNU_verneed) and its string table.
    let mut needed: Vec<String> = Vec::new();
    let min_sh = if c64 { 64 } else { 40 };
    if shnum > 0 && (shentsize as usize) < min_sh {
        return Err(ElfError(format!("section header entries of {shentsize} bytes")));
    }
    let sh = |i: u64| -> Result<u64, ElfError> {
        shoff.checked_add(i * u64::from(shentsize)).ok_or_else(|| ElfError("an offset overflows".into()))
    };
    for i in 0..u64::from(shnum) {
        let h = sh(i)?;
        if r.u32(h.saturating_add(4))? != SHT_GNU_VERNEED {
            continue;
        }
        let (off, size, link, info) = if c64 {
            (
                r.u64(h.saturating_add(24))?,
                r.u64(h.saturating_add(32))?,
                r.u32(h.saturating_add(40))?,
                r.u32(h.saturating_add(44))?,
            )
        } else {
            (
                r.word(h.saturating_add(16))?,
                r.word(h.saturating_add(20))?,
                r.u32(h.saturating_add(24))?,
                r.u32(h.saturating_add(28))?,
            )
        };
        if u64::from(link) >= u64::from(shnum) {
            return Err(ElfError("the version table names no string table".into()));
        }
        let sl = sh(u64::from(link))?;
        let (stroff, strsize) = if c64 {
            (r.u64(sl.saturating_add(24))?, r.u64(sl.saturating_add(32))?)
        } else {
            (r.word(sl.saturating_add(16))?, r.word(sl.saturating_add(20))?)
        };
        r.bytes(stroff, strsize)?;
        r.bytes(off, size)?;
        let name_at = |n: u32| -> Result<String, ElfError> {
            if u64::from(n) >= strsize {
                return Err(ElfError("a version name lies outside its string table".into()));
            }
            r.cstr(stroff.saturating_add(u64::from(n)))
        };
        let mut vn = off;
        let mut entries = 0usize;
        for _ in 0..info.min(MAX_ENTRIES as u32) {
            let cnt = r.u16(vn.saturating_add(2))?;
            let aux = r.u32(vn.saturating_add(8))?;
            let next = r.u32(vn.saturating_add(12))?;
            let mut va = vn.checked_add(u64::from(aux)).ok_or_else(|| ElfError("an offset overflows".into()))?;
            for _ in 0..cnt {
                entries += 1;
                if entries > MAX_ENTRIES {
                    return Err(ElfError("too many version entries".into()));
                }
                needed.push(name_at(r.u32(va.saturating_add(8))?)?);
                let anext = r.u32(va.saturating_add(12))?;
                if anext == 0 {
                    break;
                }
                va = va.checked_add(u64::from(anext)).ok_or_else(|| ElfError("an offset overflows".into()))?;
            }
            if next == 0 {
                break;
            }
            vn = vn.checked_add(u64::from(next)).ok_or_else(|| ElfError("an offset overflows".into()))?;
        }
    }

    let glibc_private = needed.iter().any(|n| n == "GLIBC_PRIVATE");
    let libc = match interp {
        None => LibcNeed::None,
        Some(i) if i.contains("ld-musl") => LibcNeed::Musl,
        Some(i) if i.contains("ld-linux") || i.contains("ld64.so") || i.contains("ld.so") => {
            LibcNeed::Glibc(needed.iter().filter_map(|n| n.strip_prefix("GLIBC_")).filter_map(Version::parse).max())
        }
        Some(i) => LibcNeed::Other(i),
    };
    Ok(ElfInfo { machine, class64: c64, little_endian: le, libc, glibc_private })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF64 little-endian executable: optional interpreter, optional verneed table
    /// with the given version names (all under `libc.so.6`).
    pub fn tiny_elf(machine: u16, interp: Option<&str>, versions: &[&str]) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[6] = 1;
        b[16..18].copy_from_slice(&3u16.to_le_bytes());
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        // Program headers at 64: one PT_INTERP if asked.
        let phoff = 64u64;
        let phnum: u16 = if interp.is_some() { 1 } else { 0 };
        b.resize(64 + 56 * phnum as usize, 0);
        // Data: interpreter string, dynstr, verneed.
        let interp_off = b.len() as u64;
        if let Some(i) = interp {
            b.extend_from_slice(i.as_bytes());
            b.push(0);
            let h = 64;
            b[h..h + 4].copy_from_slice(&PT_INTERP.to_le_bytes());
            b[h + 8..h + 16].copy_from_slice(&interp_off.to_le_bytes());
            b[h + 32..h + 40].copy_from_slice(&((i.len() + 1) as u64).to_le_bytes());
        }
        let str_off = b.len() as u64;
        let mut strtab = vec![0u8];
        let file_name = strtab.len() as u32;
        strtab.extend_from_slice(b"libc.so.6\0");
        let mut names = Vec::new();
        for v in versions {
            names.push(strtab.len() as u32);
            strtab.extend_from_slice(v.as_bytes());
            strtab.push(0);
        }
        b.extend_from_slice(&strtab);
        while b.len() % 8 != 0 {
            b.push(0);
        }
        let vn_off = b.len() as u64;
        let mut vn = Vec::new();
        vn.extend_from_slice(&1u16.to_le_bytes());
        vn.extend_from_slice(&(versions.len() as u16).to_le_bytes());
        vn.extend_from_slice(&file_name.to_le_bytes());
        vn.extend_from_slice(&16u32.to_le_bytes());
        vn.extend_from_slice(&0u32.to_le_bytes());
        for (i, n) in names.iter().enumerate() {
            vn.extend_from_slice(&0u32.to_le_bytes());
            vn.extend_from_slice(&0u16.to_le_bytes());
            vn.extend_from_slice(&0u16.to_le_bytes());
            vn.extend_from_slice(&n.to_le_bytes());
            let next: u32 = if i + 1 == names.len() { 0 } else { 16 };
            vn.extend_from_slice(&next.to_le_bytes());
        }
        b.extend_from_slice(&vn);
        // Section headers: null, .dynstr, .gnu.version_r.
        let shoff = b.len() as u64;
        let mut sh = vec![0u8; 64 * 3];
        sh[64 + 4..64 + 8].copy_from_slice(&3u32.to_le_bytes());
        sh[64 + 24..64 + 32].copy_from_slice(&str_off.to_le_bytes());
        sh[64 + 32..64 + 40].copy_from_slice(&(strtab.len() as u64).to_le_bytes());
        let v = 128;
        sh[v + 4..v + 8].copy_from_slice(&SHT_GNU_VERNEED.to_le_bytes());
        sh[v + 24..v + 32].copy_from_slice(&vn_off.to_le_bytes());
        sh[v + 32..v + 40].copy_from_slice(&(vn.len() as u64).to_le_bytes());
        sh[v + 40..v + 44].copy_from_slice(&1u32.to_le_bytes());
        sh[v + 44..v + 48].copy_from_slice(&u32::from(!versions.is_empty()).to_le_bytes());
        b.extend_from_slice(&sh);
        b[32..40].copy_from_slice(&phoff.to_le_bytes());
        b[40..48].copy_from_slice(&shoff.to_le_bytes());
        b[52..54].copy_from_slice(&64u16.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&phnum.to_le_bytes());
        b[58..60].copy_from_slice(&64u16.to_le_bytes());
        b[60..62].copy_from_slice(&3u16.to_le_bytes());
        b
    }

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(Version::parse("2.17"), Some(Version(2, 17, 0)));
        assert_eq!(Version::parse("2.2.5"), Some(Version(2, 2, 5)));
        assert!(Version::parse("2.2.5") < Version::parse("2.17"));
        assert!(Version::parse("2.34") > Version::parse("2.31"));
        for bad in ["", "2.", "x", "2.17.1.1", "-1", "2.1a", "9999999.1"] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
        assert_eq!(Version(2, 2, 5).to_string(), "2.2.5");
        assert_eq!(Version(2, 17, 0).to_string(), "2.17");
    }

    #[test]
    fn the_newest_glibc_version_is_the_requirement() {
        let b = tiny_elf(62, Some("/lib64/ld-linux-x86-64.so.2"), &["GLIBC_2.2.5", "GLIBC_2.34", "GLIBC_2.14"]);
        let i = parse(&b).expect("parses");
        assert_eq!(i.arch(), "x86_64");
        assert_eq!(i.libc, LibcNeed::Glibc(Some(Version(2, 34, 0))));
        assert!(!i.glibc_private);
        assert_eq!(i.libc.to_string(), "glibc >= 2.34");
    }

    #[test]
    fn static_musl_and_other_architectures() {
        assert_eq!(parse(&tiny_elf(62, None, &[])).expect("parses").libc, LibcNeed::None);
        let m = parse(&tiny_elf(183, Some("/lib/ld-musl-aarch64.so.1"), &[])).expect("parses");
        assert_eq!((m.arch(), &m.libc), ("aarch64", &LibcNeed::Musl));
        let p = parse(&tiny_elf(62, Some("/lib64/ld-linux-x86-64.so.2"), &["GLIBC_2.17", "GLIBC_PRIVATE"])).unwrap();
        assert!(p.glibc_private);
        assert_eq!(p.libc, LibcNeed::Glibc(Some(Version(2, 17, 0))));
    }

    #[test]
    fn the_test_binary_itself_parses() {
        // Built on this machine: x86_64, dynamically linked against glibc.
        let b = std::fs::read(std::env::current_exe().expect("exe")).expect("read");
        let i = parse(&b).expect("parses");
        assert_eq!(i.arch(), std::env::consts::ARCH);
        assert!(matches!(i.libc, LibcNeed::Glibc(Some(v)) if v >= Version(2, 17, 0)), "{:?}", i.libc);
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(parse(b"#!/bin/sh\n").unwrap_err().0, "not an ELF file");
        let good = tiny_elf(62, Some("/lib64/ld-linux-x86-64.so.2"), &["GLIBC_2.17"]);
        for cut in [52, 70, 130, good.len() - 20] {
            assert!(parse(&good[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn no_mutation_panics() {
        // Every byte of a real-looking file flipped in turn: errors are fine, panics are not.
        let good = tiny_elf(62, Some("/lib64/ld-linux-x86-64.so.2"), &["GLIBC_2.17", "GLIBC_2.34"]);
        for i in 0..good.len() {
            for v in [0u8, 0x7f, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                let _ = parse(&b);
            }
        }
    }
}
