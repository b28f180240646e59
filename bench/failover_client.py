#!/usr/bin/env python3
"""Failover as clients see it: hapair vs keepalived on the same lab hosts, in the same run.

A lab pair (Debian 12 hosts, nginx, firewalld) is deployed with `hapair apply` (v3, advert 1 s,
HTTP check 1 s x fall 2, weight -60, the defaults). Each row's event is caused on the master
(node1) while a client on this machine sends ~200 requests/s through the VIP (4 threads, one
request every 20 ms each, 200 ms timeout); the row reports the longest time between two
answered requests ("gap") and the failed requests, over N trials: median and p95.

keepalived 2.2.7 (Debian's) then runs on the same hosts with the same timers, configured at its
best for each row: `track_process` on nginx (weight -60, the event-driven equivalent) next to
the HTTP check script, and systemd restarting it 100 ms after a crash (a drop-in; Debian's unit
has none), like hapair's unit.

  python3 bench/failover_client.py [--trials 5] [--only hapair,keepalived] [--rows a,b]

Writes the table into bench/results.md (between the failover-client markers) and
bench/results_failover_client.json. Not part of CI (several minutes; a shared 2-core machine,
so the figures are noisy).
"""
import argparse, http.client, json, re, statistics, sys, threading, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labkit  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "hapair"
LAB = "fbench2"


LABKIT = labkit.Lab(BIN, LAB)
sh, wait, on, holds = labkit.sh, labkit.wait, LABKIT.on, LABKIT.holds


class Load:
    """~200 requests/s through the VIP; records (completion time, answered)."""

    def __init__(self, vip):
        self.vip, self.stop, self.events, self.lock = vip, False, [], threading.Lock()
        self.threads = [threading.Thread(target=self.worker, args=(i,)) for i in range(4)]
        for t in self.threads:
            t.start()

    def worker(self, i):
        time.sleep(0.005 * i)
        while not self.stop:
            t = time.monotonic()
            ok = False
            try:
                c = http.client.HTTPConnection(self.vip, 80, timeout=0.2)
                c.request("GET", "/")
                ok = c.getresponse().status < 500
                c.close()
            except Exception:
                ok = False
            with self.lock:
                self.events.append((time.monotonic(), ok))
            rest = 0.02 - (time.monotonic() - t)
            if rest > 0:
                time.sleep(rest)

    def finish(self):
        self.stop = True
        for t in self.threads:
            t.join()
        ev = sorted(self.events)
        gap, last = 0.0, None
        for t, ok in ev:
            if ok:
                if last is not None:
                    gap = max(gap, t - last)
                last = t
        return {"requests": len(ev), "failed": sum(1 for _, ok in ev if not ok), "gap_ms": round(gap * 1000)}


def vrrp_rules(node):
    return [l for l in on(node, "firewall-cmd", "--list-rich-rules").stdout.splitlines() if "vrrp" in l]


# Each row: (key, label, action(daemon_unit), restore(daemon_unit), hapair_only)
def act_stop(unit):
    on("node1", "systemctl", "stop", unit)


def act_kill(unit):
    on("node1", "systemctl", "kill", "-s", "KILL", unit)


def act_nginx_stop(unit):
    on("node1", "systemctl", "stop", "nginx")


def act_nginx_kill(unit):
    on("node1", "systemctl", "kill", "-s", "KILL", "nginx")


def act_link(unit):
    on("node1", "ip", "link", "set", "eth0", "down")


def act_switchover(unit):
    sh([BIN, "switchover", "pair1", "--to", "node2", "-i", INV])


def act_new_build(unit):
    # A "new build" on both nodes: the installed binary differs from the local one, so `apply`
    # uploads it and restarts the daemons (backup first; the master's stop is its hand-over).
    for n in ("node1", "node2"):
        on(n, "sh", "-c", "cp /usr/local/sbin/hapair /usr/local/sbin/.hapair.old && echo >> /usr/local/sbin/.hapair.old "
           "&& mv /usr/local/sbin/.hapair.old /usr/local/sbin/hapair")
    sh([BIN, "apply", "--yes", "-i", INV])


def nothing(unit):
    pass


def restore(unit):
    on("node1", "ip", "link", "set", "eth0", "up")
    on("node1", "systemctl", "start", "nginx", unit)


def restore_switchover(unit):
    sh([BIN, "switchover", "pair1", "--to", "node1", "-i", INV])


ROWS = [
    ("stop", "`systemctl stop` of the daemon", act_stop, restore, False),
    ("kill", "`kill -9` of the daemon", act_kill, restore, False),
    ("nginx-stop", "nginx stopped", act_nginx_stop, restore, False),
    ("nginx-kill", "nginx killed", act_nginx_kill, restore, False),
    ("link", "link down", act_link, restore, False),
    ("switchover", "planned switchover (`hapair switchover`)", act_switchover, restore_switchover, True),
    ("apply", "`apply` pushing a new hapair build (daemons restarted)", act_new_build, nothing, True),
    ("split", "a split brain heals", None, None, False),
]


def trial(row, unit, vip):
    key, _, action, undo, _ = row
    wait("node1 to hold the VIP alone", 30, lambda: holds("node1", vip) and not holds("node2", vip))
    time.sleep(1.5)
    if key == "split":
        rules = {n: vrrp_rules(n) for n in ("node1", "node2")}
        for n, rs in rules.items():
            for r in rs:
                on(n, "firewall-cmd", "--remove-rich-rule", r)
        wait("node2 to hold the VIP too", 15, lambda: holds("node2", vip))
        time.sleep(1.5)  # node2's gratuitous ARP points this client at it
        load = Load(vip)
        time.sleep(0.5)
        for n, rs in rules.items():
            for r in rs:
                on(n, "firewall-cmd", "--add-rich-rule", r)
        wait("node2 to release the VIP", 15, lambda: not holds("node2", vip))
        time.sleep(3)
        return load.finish()
    load = Load(vip)
    time.sleep(1.0)
    action(unit)
    if key in ("kill",):
        time.sleep(5)
    else:
        wait("the VIP on node2", 20, lambda: holds("node2", vip))
        time.sleep(1.0)
    r = load.finish()
    undo(unit)
    return r


KEEPALIVED_CONF = """global_defs {{
  router_id {node}
  enable_script_security
  script_user root
}}
vrrp_script chk_http {{
  script "/usr/bin/curl -fs -o /dev/null -m 1 http://127.0.0.1:80/"
  interval 1
  fall 2
  rise 2
  weight -60
}}
vrrp_track_process nginx {{
  process nginx
  weight -60
  quorum 1
  delay 0
}}
vrrp_instance V51 {{
  state BACKUP
  interface eth0
  virtual_router_id 51
  version 3
  priority {prio}
  advert_int 1
  virtual_ipaddress {{
    {vip_cidr}
  }}
  track_script {{
    chk_http
  }}
  track_process {{
    nginx
  }}
}}
"""

DROPIN = "[Service]\nRestart=always\nRestartSec=100ms\n"


def to_keepalived(vip, vip_cidr):
    for node, prio in (("node1", 150), ("node2", 100)):
        on(node, "systemctl", "disable", "--now", "hapair-vrrpd")
        on(node, "sh", "-c", f"ip addr del {vip_cidr} dev eth0 2>/dev/null; true")
        conf = KEEPALIVED_CONF.format(node=node, prio=prio, vip_cidr=vip_cidr)
        on(node, "sh", "-c", f"mkdir -p /etc/keepalived /etc/systemd/system/keepalived.service.d && cat > /etc/keepalived/keepalived.conf <<'EOF'\n{conf}EOF\n"
           f"cat > /etc/systemd/system/keepalived.service.d/bench.conf <<'EOF'\n{DROPIN}EOF\n")
        on(node, "systemctl", "daemon-reload")
        on(node, "systemctl", "restart", "keepalived")


def summarise(results):
    out = {}
    for key, trials in results.items():
        gaps = sorted(t["gap_ms"] for t in trials)
        fails = sorted(t["failed"] for t in trials)
        p95 = lambda xs: xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
        out[key] = {"trials": len(trials), "gap_median_ms": statistics.median(gaps), "gap_p95_ms": p95(gaps),
                    "failed_median": statistics.median(fails), "failed_p95": p95(fails),
                    "requests_median": statistics.median(t["requests"] for t in trials)}
    return out


def fmt(s):
    if s is None:
        return "–"
    return (f"{s['gap_median_ms']:.0f} ms (p95 {s['gap_p95_ms']:.0f}); "
            f"{s['failed_median']:g} failed (p95 {s['failed_p95']:g}) of ~{s['requests_median']:.0f}")


def main():
    global INV
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--only", default="hapair,keepalived")
    ap.add_argument("--rows", default=",".join(r[0] for r in ROWS))
    a = ap.parse_args()
    if not BIN.exists():
        sys.exit("bench: build first: cargo build --release")
    rows = [r for r in ROWS if r[0] in a.rows.split(",")]
    work = Path("/var/tmp/hapair-bench-fo")
    work.mkdir(parents=True, exist_ok=True)
    INV = work / f"{LAB}.yml"
    sh([BIN, "lab", "down", "--name", LAB], check=False)
    sh([BIN, "lab", "up", "--name", LAB, "--nodes", "2", "--out", INV])
    try:
        sh([BIN, "apply", "--yes", "-i", INV])
        vip_cidr = re.search(r"- address: ([\d.]+/\d+)", INV.read_text()).group(1)
        vip = vip_cidr.split("/")[0]
        results = {}
        for daemon in a.only.split(","):
            unit = "hapair-vrrpd" if daemon == "hapair" else "keepalived"
            if daemon == "keepalived":
                to_keepalived(vip, vip_cidr)
            results[daemon] = {}
            for row in rows:
                if row[4] and daemon != "hapair":
                    continue
                trials = []
                for i in range(a.trials):
                    r = trial(row, unit, vip)
                    print(f"{daemon:10} {row[0]:11} trial {i + 1}: gap {r['gap_ms']} ms, {r['failed']} failed of {r['requests']}", flush=True)
                    trials.append(r)
                results[daemon][row[0]] = trials
        summary = {d: summarise(r) for d, r in results.items()}
    finally:
        sh([BIN, "lab", "down", "--name", LAB], check=False)
    (ROOT / "bench" / "results_failover_client.json").write_text(json.dumps({"raw": results, "summary": summary}, indent=1))
    lines = ["<!-- failover-client:begin (bench/failover_client.py) -->",
             "## Failover as clients see it: hapair vs keepalived, same lab hosts, same run", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {a.trials} trials per row; v3, advert 1 s, HTTP check 1 s × fall 2, weight −60; "
             "a client on the control machine sends ~200 requests/s through the VIP (200 ms timeout). "
             "Each cell: longest gap between two answered requests, median (p95); failed requests, median (p95), of the requests sent in the trial. "
             "keepalived at its best per row: `track_process` on nginx plus the HTTP check, restarted by systemd 100 ms after a crash.", "",
             "| on the master | hapair | keepalived 2.2.7 |", "| --- | --- | --- |"]
    for key, label, *_ in rows:
        h = summary.get("hapair", {}).get(key)
        k = summary.get("keepalived", {}).get(key)
        lines.append(f"| {label} | {fmt(h)} | {fmt(k)} |")
    lines.append("<!-- failover-client:end -->")
    block = "\n".join(lines) + "\n"
    md = (ROOT / "bench" / "results.md").read_text()
    if "<!-- failover-client:begin" in md:
        md = re.sub(r"<!-- failover-client:begin.*?<!-- failover-client:end -->\n", block, md, flags=re.S)
    else:
        md = md.rstrip("\n") + "\n\n" + block
    (ROOT / "bench" / "results.md").write_text(md)
    print(block)


if __name__ == "__main__":
    main()
