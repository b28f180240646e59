//! Where the structural parts of each pair were written, and which written values were refused:
//! what `load` hands the rules besides the model, so their findings point at the right line and
//! a value already reported as wrong is not judged again.

use super::finding::Location;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default)]
pub struct PairPlaces {
    pub name: Location,
    pub nodes: Location,
    pub vips: Location,
    pub node_name: Vec<Location>,
    pub node_address: Vec<Location>,
    /// Per VIP, the place of its first address.
    pub vip_address: Vec<Location>,
    /// Per VIP, the places of its further addresses (`Vip::also`).
    pub vip_also: Vec<Vec<Location>>,
    pub vip_vrid: Vec<Location>,
    /// Per VIP, where `outside_subnet` was written (accepted), if it was.
    pub vip_outside_subnet: Vec<Option<Location>>,
    /// Per VIP, where its `interface` was written, if it was.
    pub vip_interface: Vec<Option<Location>>,
    pub vip_master: Vec<Location>,
    /// Per VIP, the priorities' place (or the VIP's when defaulted).
    pub vip_priorities: Vec<Location>,
    /// Per VIP, whether a priority was refused (the rules on priorities skip it).
    pub vip_priorities_refused: Vec<bool>,
    /// Per node (index), per setting key, where its winning value was written.
    pub settings: [BTreeMap<String, Location>; 2],
    /// Per node, the settings (and `interface`) whose written value was refused; the node was
    /// built with the built-in value in their place, which the rules must not judge.
    pub refused: [BTreeSet<String>; 2],
    /// Whether `check.*` keys other than `type` were written anywhere for the node.
    pub check_keys_written: [bool; 2],
    /// The pair's `mode` was missing or refused.
    pub mode_refused: bool,
    /// Some VIP could not be read at all, so the count of VIPs proves nothing.
    pub vips_incomplete: bool,
}

impl PairPlaces {
    /// Whether every one of `keys` was accepted on node `node`.
    pub fn accepted(&self, node: usize, keys: &[&str]) -> bool {
        keys.iter().all(|k| !self.refused[node.min(1)].contains(*k))
    }
}
