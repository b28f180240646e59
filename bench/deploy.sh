#!/bin/sh
# Engine speed on one lab pair (release build): fresh `apply` (packages already present, binary
# upload included), then no-op `plan` and no-op `apply`, 5 runs each (min / median / max).
# Targets: fresh apply < 5 s, no-op apply < 0.5 s, plan < 0.5 s. Needs root (the lab).
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
B=$PWD/target/release/hapair
NAME=${NAME:-engbench}
DIR=$(mktemp -d /tmp/hapair-bench.XXXXXX)
INV=$DIR/$NAME.yml
"$B" lab up --name "$NAME" --nodes 2 --out "$INV" >/dev/null
trap '"$B" lab down --name "$NAME" >/dev/null 2>&1; rm -rf "$DIR"' EXIT INT TERM

now() { date +%s.%N; }
# time_it EXPECTED_EXIT CMD...: prints seconds; fails on another exit code.
time_it() {
  want=$1; shift
  s=$(now); rc=0; "$@" >"$DIR/out" 2>&1 || rc=$?; e=$(now)
  if [ "$rc" -ne "$want" ]; then echo "unexpected exit $rc (want $want) from: $*" >&2; cat "$DIR/out" >&2; exit 1; fi
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
}
stats() { sort -n | awk '{ v[NR] = $1 } END { printf "min %.3f s  median %.3f s  max %.3f s", v[1], v[int((NR + 1) / 2)], v[NR] }'; }

fresh_plan=$(time_it 2 "$B" plan -i "$INV")
fresh=$(time_it 0 "$B" apply -i "$INV" --yes)
plans=$(for i in 1 2 3 4 5; do time_it 0 "$B" plan -i "$INV"; done | stats)
noops=$(for i in 1 2 3 4 5; do time_it 0 "$B" apply -i "$INV" --yes; done | stats)
size=$(stat -c %s "$B")
echo "hapair engine on one pair (lab \`$NAME\`, release binary $((size / 1024)) KiB, $(nproc) cores)"
echo "  plan, fresh nodes:      $fresh_plan s"
echo "  apply, fresh nodes:     $fresh s      (target < 5 s)"
echo "  plan, converged:        $plans   (target < 0.5 s)"
echo "  apply, no-op:           $noops   (target < 0.5 s)"
