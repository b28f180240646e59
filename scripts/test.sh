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
# The glibc 2.17 daemon build the lab tests push to Debian 11 hosts (found by the tests at
# target/portable/..., or at $HAPAIR_TEST_DAEMON_BINARY). ~1.5-2.5 min cold, seconds when unchanged.
bash scripts/build-portable.sh
cargo test --locked --no-fail-fast
