//! The files a lab hands to its user: an inventory of its hosts (docs/inventory-format.md),
//! the root SSH key, and a known_hosts file holding the hosts' real host keys.

use super::cmd;
use super::state::LabState;
use crate::error::Error;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub struct Files {
    pub inventory: PathBuf,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
}

impl Files {
    pub fn all(&self) -> Vec<PathBuf> {
        vec![self.inventory.clone(), self.key.clone(), pub_of(&self.key), self.known_hosts.clone()]
    }
}

fn pub_of(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

pub fn files_for(out: &Path) -> Files {
    let out = absolute(out);
    Files { key: out.with_extension("key"), known_hosts: out.with_extension("known_hosts"), inventory: out }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

/// The lab's SSH key (made once); returns the public key line.
pub fn ensure_key(key: &Path) -> Result<String, Error> {
    if let Some(dir) = key.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::new(format!("cannot create `{}`: {e}", dir.display())))?;
    }
    if !key.exists() || !pub_of(key).exists() {
        let _ = std::fs::remove_file(key);
        let _ = std::fs::remove_file(pub_of(key));
        let k = key.to_string_lossy().to_string();
        cmd::run(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hapair-lab", "-f", &k])?;
    }
    Ok(std::fs::read_to_string(pub_of(key))?)
}

pub fn write(st: &LabState, files: &Files, host_keys: &[(Ipv4Addr, String)]) -> Result<(), Error> {
    let known: String = host_keys
        .iter()
        .map(|(addr, key)| {
            // "ssh-ed25519 AAAA... root@node1" → "10.77.K.11 ssh-ed25519 AAAA..."
            let mut words = key.split_whitespace();
            let (t, k) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            format!("{addr} {t} {k}\n")
        })
        .collect();
    write_file(&files.known_hosts, &known)?;
    write_file(&files.inventory, &render(st, files))
}

fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| Error::new(format!("cannot write `{}`: {e}", path.display())))
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
}

/// The inventory text: one pair per two hosts, VIPs from .200 up, VRIDs from 51 up.
pub fn render(st: &LabState, files: &Files) -> String {
    let k = st.subnet;
    let mut y = String::new();
    y.push_str(&format!(
        "# Written by `hapair lab up --name {}`: {} hosts on 10.77.{k}.0/24.\n\
         # `hapair lab down --name {}` removes the lab and this file.\n\
         defaults:\n  connection:\n    user: root\n    identity_file: {}\n    known_hosts: {}\n\
         pairs:\n",
        st.name,
        st.hosts.len(),
        st.name,
        file_name(&files.key),
        file_name(&files.known_hosts),
    ));
    let mut vip = 200u8;
    let mut vrid = 51u8;
    for (p, pair) in st.hosts.chunks(2).enumerate() {
        let [a, b] = pair else { continue };
        y.push_str(&format!("  pair{}:\n    mode: {}\n    interface: eth0\n    nodes:\n", p + 1, st.mode));
        for h in [a, b] {
            y.push_str(&format!("      - name: {}\n        address: {}\n", h.node, h.address));
        }
        y.push_str("    vips:\n");
        let masters: &[&str] = if st.mode == "dual-master" { &[&a.node, &b.node] } else { &[&a.node] };
        for m in masters {
            y.push_str(&format!("      - address: 10.77.{k}.{vip}/24\n        vrid: {vrid}\n        master: {m}\n"));
            vip = vip.saturating_add(1);
            vrid = vrid.saturating_add(1);
        }
    }
    y
}
