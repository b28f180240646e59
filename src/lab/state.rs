//! What a lab made, written before it is made, so `down` can undo a run that died halfway.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    pub name: String,
    /// The lab's /24 is `10.77.<subnet>.0/24`.
    pub subnet: u8,
    pub bridge: String,
    pub mode: String,
    pub hosts: Vec<HostState>,
    /// Files written outside the lab directory (inventory, key, known_hosts).
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostState {
    pub node: String,
    pub address: std::net::Ipv4Addr,
    pub netns: String,
    pub veth: String,
    /// PID of the `systemd-nspawn` process we started, once started.
    pub nspawn_pid: Option<u32>,
    /// The Debian release it boots (state files from before releases existed: bookworm).
    #[serde(default)]
    pub distro: super::base::Distro,
}

impl LabState {
    pub fn load(path: &Path) -> Result<Option<LabState>, Error> {
        match std::fs::read_to_string(path) {
            Ok(s) => serde_json::from_str(&s).map(Some).map_err(|e| {
                Error::new(format!("lab state `{}` is unreadable: {e}", path.display()))
                    .with_fix("remove it by hand after checking nothing of that lab still runs")
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::new(format!("cannot read `{}`: {e}", path.display()))),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::new(e.to_string()))?;
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| Error::new(format!("cannot write `{}`: {e}", path.display())))
    }

    pub fn host(&self, node: &str) -> Option<&HostState> {
        self.hosts.iter().find(|h| h.node == node)
    }
}
