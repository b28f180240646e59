//! Inventory: parse, layer, validate. Pure: no I/O runtime.

pub mod model;

pub use model::*;
