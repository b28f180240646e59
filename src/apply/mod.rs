//! Not implemented yet.
pub mod load;
