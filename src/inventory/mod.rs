//! Inventory: parse, layer, validate. Pure: no I/O runtime.
