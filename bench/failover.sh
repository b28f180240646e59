#!/usr/bin/env bash
# Failover benchmark: hapair vrrpd vs Debian's keepalived, same timers, same run, same wire.
# Not a test (not in CI). Needs root, iproute2, keepalived, a built hapair.
#
# Two network namespaces joined by a veth pair (10.77.250.0/24, reserved for the VRRP work),
# master priority 150 on .11, backup 100 on .12, VIP 10.77.250.200. For each daemon, each
# timer set (v2 advert 1 s with PASS auth, v3 advert 100 ms) and each event (graceful stop =
# SIGTERM, SIGKILL), it measures the time from the signal to the VIP present on the backup,
# polling every 5 ms (the poll adds up to ~5 ms plus one `ip` call). RFC bounds for reference:
# graceful ≈ Skew_Time of the backup, SIGKILL ≈ Master_Down_Interval since the last advert.
# Also reports RSS and CPU time of each daemon after RUNS rounds.
#
# Usage: bench/failover.sh [RUNS] [HAPAIR_BINARY]
#
# Measured 2026-11-25 on the 2-core dev machine (release build, 5 runs, min/median/max ms):
#   hapair     v2 graceful 615/620/621   SIGKILL 2868/2888/2898
#   keepalived v2 graceful 617/620/624   SIGKILL 2886/2890/2894
#   hapair     v3 graceful  68/72/85     SIGKILL  278/350/364
#   keepalived v3 graceful  68/68/77     SIGKILL  343/349/353
# (SIGKILL depends on when the last advert left: Master_Down_Interval 3.61 s / 0.36 s after it.)
# Steady state over 60 s at v3/100 ms: hapair 1 process, 1 thread, RSS 4.6 MB, CPU 70-80 ms;
# keepalived 2 processes, RSS 9.7 + 3.4 = 13.1 MB, CPU 50-70 ms.
set -euo pipefail
RUNS=${1:-3}
HAPAIR=${2:-$(dirname "$0")/../target/release/hapair}
HAPAIR=$(readlink -f "$HAPAIR")
[ -x "$HAPAIR" ] || { echo "no hapair binary at $HAPAIR: run cargo build --release" >&2; exit 1; }
command -v keepalived >/dev/null || { echo "keepalived is not installed: apt-get install -y keepalived" >&2; exit 1; }

NA=hpvbench-a NB=hpvbench-b VIP=10.77.250.200
DIR=$(mktemp -d /tmp/hapair-failover.XXXXXX)
PIDS=()

cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
  ip netns del $NA 2>/dev/null || true
  ip netns del $NB 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

ip netns add $NA; ip netns add $NB
ip link add hpvbench0 type veth peer name hpvbench1
ip link set hpvbench0 netns $NA; ip link set hpvbench1 netns $NB
for x in "$NA hpvbench0 10.77.250.11" "$NB hpvbench1 10.77.250.12"; do
  set -- $x
  ip -n "$1" link set "$2" name eth0
  ip -n "$1" addr add "$3/24" dev eth0
  ip -n "$1" link set eth0 up
  ip -n "$1" link set lo up
done

now_ns() { date +%s%N; }
has_vip() { ip -n "$1" -o -4 addr show dev eth0 | grep -q "$VIP/"; }
wait_vip() { # ns timeout_s -> 0 when present
  local end=$(( $(now_ns) + $2 * 1000000000 ))
  while [ "$(now_ns)" -lt $end ]; do has_vip "$1" && return 0; sleep 0.005; done
  return 1
}
wait_no_vip() {
  local end=$(( $(now_ns) + $2 * 1000000000 ))
  while [ "$(now_ns)" -lt $end ]; do has_vip "$1" || return 0; sleep 0.005; done
  return 1
}

hapair_conf() { # name addr peer prio version interval_ms
  local auth=""; [ "$5" = 2 ] && auth="    auth_pass: secret"
  cat > "$DIR/$1.yml" <<EOF
node: $1
interface: eth0
address: $2
peer: $3
status_file: $DIR/$1.status.json
instances:
  - name: web-51
    vrid: 51
    version: $5
    priority: $4
    advert_interval_ms: $6
    vips: [$VIP/24]
$auth
EOF
}
keepalived_conf() { # name prio version interval_s
  local auth=""
  [ "$3" = 2 ] && auth="  authentication {
    auth_type PASS
    auth_pass secret
  }"
  cat > "$DIR/$1.conf" <<EOF
global_defs {
  router_id $1
}
vrrp_instance V51 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority $2
  advert_int $4
  version $3
$auth
  virtual_ipaddress {
    $VIP/24
  }
}
EOF
}

start() { # impl node(a|b) version -> echoes pid
  local ns addr peer prio
  if [ "$2" = a ]; then ns=$NA addr=10.77.250.11 peer=10.77.250.12 prio=150; else ns=$NB addr=10.77.250.12 peer=10.77.250.11 prio=100; fi
  local ims=1000 isec=1; [ "$3" = 3 ] && ims=100 isec=0.1
  if [ "$1" = hapair ]; then
    hapair_conf "$2" $addr $peer $prio "$3" $ims
    ip netns exec $ns "$HAPAIR" vrrpd --config "$DIR/$2.yml" >>"$DIR/$1-$2.log" 2>&1 &
  else
    keepalived_conf "$2" $prio "$3" $isec
    ip netns exec $ns keepalived -n -l -P -f "$DIR/$2.conf" -p "$DIR/$2.pid" -r "$DIR/$2.vrrp.pid" >>"$DIR/$1-$2.log" 2>&1 &
  fi
  echo $!
}

usage() { # pid -> "rss_kB cpu_ms" summed over the process and its children (keepalived forks)
  local pids="$1 $(cat /proc/"$1"/task/*/children 2>/dev/null)" rss=0 cpu=0 tck
  tck=$(getconf CLK_TCK)
  for p in $pids; do
    [ -r /proc/$p/status ] || continue
    rss=$(( rss + $(awk '/VmRSS/{print $2}' /proc/$p/status) ))
    read -r ut st < <(awk '{print $14, $15}' /proc/$p/stat)
    cpu=$(( cpu + (ut + st) * 1000 / tck ))
  done
  echo "$rss $cpu"
}

wait_gone() { # pid: started in a subshell, so not ours to `wait` for
  local end=$(( $(now_ns) + 10000000000 ))
  while [ -e /proc/"$1" ] && [ "$(now_ns)" -lt $end ]; do sleep 0.01; done
}
declare -A last_usage

printf '%-10s %-3s %-9s %8s %8s %8s %8s\n' daemon ver event min_ms med_ms p95_ms max_ms
for impl in hapair keepalived; do
  for ver in 2 3; do
    for ev in TERM KILL; do
      times=()
      for _ in $(seq "$RUNS"); do
        b=$(start $impl b $ver); PIDS+=("$b")
        a=$(start $impl a $ver); PIDS+=("$a")
        wait_vip $NA 10 || { echo "$impl v$ver: master never took the VIP" >&2; exit 1; }
        wait_no_vip $NB 10 || { echo "$impl v$ver: backup kept the VIP" >&2; exit 1; }
        sleep 1.2  # several adverts: the backup has learned the master
        [ "$ver" = 2 ] && sleep 1.5
        usage_a=$(usage "$a")
        t0=$(now_ns)
        if [ $impl = keepalived ] && [ $ev = KILL ]; then
          # keepalived's VRRP work is in its child; killing only the parent makes the child
          # stop gracefully (priority 0). A crash is both gone at once.
          kill -KILL "$a" "$(cat "$DIR/a.vrrp.pid")"
        else
          kill -$ev "$a"
        fi
        wait_vip $NB 10 || { echo "$impl v$ver $ev: backup never took over" >&2; exit 1; }
        t1=$(now_ns)
        times+=($(( (t1 - t0) / 1000000 )))
        wait_gone "$a"
        # a killed daemon leaves its VIP behind; clean it for the next round
        ip -n $NA addr del $VIP/24 dev eth0 2>/dev/null || true
        kill -TERM "$b"; wait_gone "$b"
        ip -n $NB addr del $VIP/24 dev eth0 2>/dev/null || true
        last_usage[$impl]="$usage_a"
      done
      sorted=($(printf '%s\n' "${times[@]}" | sort -n))
      p95=$(( (${#sorted[@]} * 95 + 99) / 100 - 1 ))
      printf '%-10s v%-2s %-9s %8s %8s %8s %8s\n' $impl $ver $([ $ev = TERM ] && echo graceful || echo SIGKILL) \
        "${sorted[0]}" "${sorted[$(( ${#sorted[@]} / 2 ))]}" "${sorted[$p95]}" "${sorted[-1]}"
    done
  done
done
echo
echo "master process just before the event (last round, v3): RSS kB, CPU ms since start"
for impl in hapair keepalived; do echo "$impl: ${last_usage[$impl]}"; done
