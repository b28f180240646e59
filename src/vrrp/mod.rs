//! The embedded VRRP daemon. `config`, `packet` and `fsm` are pure (no I/O, no clock); `net`,
//! `vip`, `check` and `daemon` carry out what the state machine asks for.

pub mod ah;
pub mod check;
pub mod config;
pub mod control;
pub mod daemon;
pub mod fsm;
pub mod listen;
pub mod monitoring;
pub mod net;
pub mod packet;
pub mod pidfd;
pub mod status;
pub mod strays;
pub mod vip;
