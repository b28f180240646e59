#!/usr/bin/env bash
# The whole test suite: unit tests, CLI tests, and integration tests on real lab hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
# Backtraces would make the CLI's exact-output tests compare noise.
unset RUST_BACKTRACE
# Style and lints first: cheap, and a failure here says exactly what to fix.
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo build --locked
cargo test --locked --no-fail-fast
