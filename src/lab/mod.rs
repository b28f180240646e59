//! The built-in lab: real Debian hosts (systemd-nspawn) on this machine.
