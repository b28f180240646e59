//! Moving existing setups over to hapair.

pub mod keepalived;
