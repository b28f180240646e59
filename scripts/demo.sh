#!/usr/bin/env bash
# The main job on the built-in lab: two real Debian hosts on this machine, deployed and verified.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
unset RUST_BACKTRACE
cargo build --locked --release
exec ./target/release/hapair demo "$@"
