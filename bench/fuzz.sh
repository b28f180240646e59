#!/usr/bin/env bash
# A bounded fuzz run of the VRRP packet decoder (not in CI). Needs a nightly toolchain
# (rustup toolchain install nightly). Usage: bench/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECS=${1:-60}
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
cargo +nightly build --release --target x86_64-unknown-linux-gnu --bin vrrp_decode
mkdir -p corpus
exec target/x86_64-unknown-linux-gnu/release/vrrp_decode corpus -max_total_time="$SECS"
