//! The embedded VRRP daemon. `config`, `packet` and `fsm` are pure (no I/O, no clock); `net`,
//! `vip`, `check` and `daemon` carry out what the state machine asks for.

pub mod config;
pub mod packet;
pub mod fsm;
pub mod check;
pub mod daemon;
pub mod net;
pub mod status;
pub mod vip;
