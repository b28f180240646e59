#!/usr/bin/env bash
# Bounded fuzz runs (not in CI): the VRRP packet decoder, the inventory loader, the
# keepalived.conf parser, the facts parser and the daemon config parser, each for SECONDS
# (default 60) under libFuzzer with a 512 MB RSS limit and a 2 s per-input timeout. Needs the
# nightly toolchain (no cargo-fuzz needed). Seeds: the repo's examples, corpus and fixtures.
# A crash leaves its input in fuzz/artifacts/TARGET/; keep it as a regression test (see
# tests/hostile_inputs.rs) before fixing. Usage: bench/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"
SECS=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(vrrp_decode inventory keepalived facts daemon_config)
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
bins=()
for t in "${TARGETS[@]}"; do bins+=(--bin "$t"); done
cargo +nightly build --release --target x86_64-unknown-linux-gnu "${bins[@]}"
seeds() {
  case $1 in
  inventory) ls "$root"/inventories/*.yml "$root"/tests/inventory_corpus/*.yml ;;
  keepalived) ls "$root"/tests/fixtures/keepalived/*/*.conf ;;
  facts) ls "$root"/fuzz/seeds/facts/* ;;
  daemon_config) ls "$root"/fuzz/seeds/daemon_config/* ;;
  esac
}
status=0
for t in "${TARGETS[@]}"; do
  corpus="corpus/$t"
  mkdir -p "$corpus" "artifacts/$t"
  for s in $(seeds "$t" 2>/dev/null); do cp -f "$s" "$corpus/seed-$(basename "$(dirname "$s")")-$(basename "$s")"; done
  echo "== $t: ${SECS} s"
  if ! "target/x86_64-unknown-linux-gnu/release/$t" "$corpus" -max_total_time="$SECS" -rss_limit_mb=512 \
      -timeout=2 -max_len=65536 -artifact_prefix="artifacts/$t/" -print_final_stats=1 2>"artifacts/$t/log"; then
    echo "   FAILED: see fuzz/artifacts/$t/ (log and crashing input)"; status=1
  fi
  grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "artifacts/$t/log" | tail -2 | sed 's/^/   /'
done
exit $status
