#!/usr/bin/env bash
# Evidence for the default advert interval: false takeovers under CPU stress, and the link-loss
# takeover against its bound (Master_Down_Interval + 50 ms), per advert interval.
# Not a test (not in CI). Needs root, iproute2, stress-ng, a built hapair.
#
# Two network namespaces joined by a veth pair (10.77.250.0/24), a hapair pair (priority 150 on
# .11, 100 on .12, v3, peer_hapair). For each interval: settle, then DURATION seconds of
# `stress-ng --cpu 2×cores` (every core oversubscribed; both daemons share them, as VMs on a
# busy hypervisor do) counting the backup's MASTER transitions (each is a false takeover: the
# master never stopped), then the master's link goes down and the time to the VIP on the backup
# is compared with Master_Down_Interval + 50 ms (the RFC bound the issue sets).
#
# Usage: bench/advert_stress.sh [DURATION_S] [HAPAIR_BINARY] [INTERVALS...]
set -euo pipefail
DUR=${1:-30}
HAPAIR=$(readlink -f "${2:-$(dirname "$0")/../target/release/hapair}")
shift 2 || true
INTERVALS=${*:-1000 500 200 100 50}
[ -x "$HAPAIR" ] || { echo "no hapair binary at $HAPAIR" >&2; exit 1; }
command -v stress-ng >/dev/null || { echo "stress-ng is not installed: apt-get install -y stress-ng" >&2; exit 1; }
NA=hpvstress-a NB=hpvstress-b VIP=10.77.250.200
DIR=$(mktemp -d /tmp/hapair-stress.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
  ip netns del $NA 2>/dev/null || true; ip netns del $NB 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
setup() {
  ip netns del $NA 2>/dev/null || true; ip netns del $NB 2>/dev/null || true
  ip netns add $NA; ip netns add $NB
  ip link add hpvstress0 type veth peer name hpvstress1
  ip link set hpvstress0 netns $NA; ip link set hpvstress1 netns $NB
  local x
  for x in "$NA hpvstress0 10.77.250.11" "$NB hpvstress1 10.77.250.12"; do
    set -- $x
    ip -n "$1" link set "$2" name eth0; ip -n "$1" addr add "$3/24" dev eth0
    ip -n "$1" link set eth0 up; ip -n "$1" link set lo up
  done
}
conf() { # name addr peer prio interval
  cat > "$DIR/$1.yml" <<EOC
node: $1
interface: eth0
address: $2
peer: $3
peer_hapair: true
status_file: $DIR/$1.status.json
instances:
  - name: web-51
    vrid: 51
    priority: $4
    advert_interval_ms: $5
    vips: [$VIP/24]
    garp_count: 1
EOC
}
has_vip() { ip -n "$1" -o -4 addr show dev eth0 | grep -q "$VIP/"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
cores=$(nproc)
printf '| advert | false takeovers in %s s of stress-ng --cpu %s | link down → VIP on backup | bound (MDI + 50 ms) |\n' "$DUR" $((cores * 2))
printf '| --- | --- | --- | --- |\n'
for iv in $INTERVALS; do
  setup
  conf a 10.77.250.11 10.77.250.12 150 "$iv"; conf b 10.77.250.12 10.77.250.11 100 "$iv"
  ip netns exec $NA "$HAPAIR" vrrpd --config "$DIR/a.yml" 2> "$DIR/a.log" & PA=$!
  ip netns exec $NB "$HAPAIR" vrrpd --config "$DIR/b.yml" 2> "$DIR/b.log" & PB=$!
  PIDS=("$PA" "$PB")
  end=$(( $(now_ms) + 10000 ))
  until has_vip $NA && ! has_vip $NB; do [ "$(now_ms)" -lt $end ] || { echo "no master at $iv ms" >&2; exit 1; }; sleep 0.05; done
  sleep 1
  before=$(grep -c "^MASTER" "$DIR/b.log" || true)
  stress-ng --cpu $((cores * 2)) --timeout "${DUR}s" --quiet || true
  false_takeovers=$(( $(grep -c "^MASTER" "$DIR/b.log" || true) - before ))
  # Let a false takeover settle back, then take the master's link down.
  end=$(( $(now_ms) + 10000 ))
  until has_vip $NA && ! has_vip $NB; do [ "$(now_ms)" -lt $end ] || break; sleep 0.05; done
  sleep 1
  t0=$(now_ms); ip -n $NA link set eth0 down
  until has_vip $NB; do sleep 0.002; done
  took=$(( $(now_ms) - t0 ))
  # Master_Down_Interval of the backup (priority 100): 3 × interval + (256 − 100) × interval / 256.
  bound=$(( 3 * iv + 156 * iv / 256 + 50 ))
  printf '| %s ms | %s | %s ms | %s ms |\n' "$iv" "$false_takeovers" "$took" "$bound"
  kill -KILL "$PA" "$PB" 2>/dev/null || true; wait "$PA" "$PB" 2>/dev/null || true
done
