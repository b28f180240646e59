//! The engine's entry to the inventory: `inventory::load_or_error`, kept under this name
//! for the commands that call it.

use std::path::Path;

use crate::error::Error;
use crate::inventory::Inventory;

/// Load and resolve an inventory; `overrides` are `key=value` (`vrrp.x=..` or `NODE.vrrp.x=..`).
pub fn load(path: &Path, overrides: &[String]) -> Result<Inventory, Error> {
    crate::inventory::load_or_error(path, overrides)
}
