//! hapair: turn a small YAML inventory into a working, verified nginx HA pair.
//!
//! Pure modules (no I/O runtime, no sockets): `inventory`, `render`, `plan`, `vrrp::packet`,
//! `vrrp::fsm`. Everything that touches the world is an executor: `transport`, `observe`,
//! `apply`, `verify`, `vrrp::{net,vip,daemon}`, `lab`.

pub mod apply;
pub mod binary;
pub mod cli;
pub mod doctor;
pub mod error;
pub mod import;
pub mod input;
pub mod inventory;
pub mod lab;
pub mod monitoring;
pub mod observe;
pub mod plan;
pub mod render;
pub mod roles;
pub mod survey;
pub mod switchover;
pub mod transport;
pub mod values;
pub mod verify;
pub mod vrrp;
