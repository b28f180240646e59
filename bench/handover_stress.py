#!/usr/bin/env python3
"""Requests in flight when the VIP moves: many hand-overs under a heavy client load.

A lab pair (Debian 12 hosts, nginx, firewalld) is deployed with `hapair apply`. A client on this
machine runs W threads, each making one HTTP/1.0 request (a new connection) at a time, 200 ms
timeout, ~10 ms apart. Each thread waits T ms between the handshake and its request, as a client
T ms away would (the lab's own round trip is ~0.05 ms, so without it almost no request is in
flight at the instant clients switch). The VIP is then moved N times:

  switchover  `hapair switchover` there and back, 1 s apart;
  stop        `systemctl stop hapair-vrrpd` on node1 (graceful hand-over to node2), then start
              it (node1 preempts back), 1 s and 5 s apart.

Each mode runs twice in the same run: as shipped (the new holder forwards segments of
connections it does not have to the old holder, `src/vrrp/strays.rs`), and with `nft` moved
aside on both nodes (what a node without nftables gets, and what every ARP failover without
such forwarding does: a request whose next segment reaches the new holder is reset or dropped).

  python3 bench/handover_stress.py [--moves 40] [--workers 16] [--think-ms 20]

Writes a table into bench/results.md (between the handover-stress markers) and
bench/results_handover_stress.json. Not part of CI (minutes; the 2-core machine must be idle).
"""
import argparse, collections, json, re, socket, sys, threading, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labkit  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "debug" / "hapair"
LAB = "hbench"
INV = ROOT / "target" / "hbench.yml"


LABKIT = labkit.Lab(BIN, LAB)
sh, wait, on, holds = labkit.sh, labkit.wait, LABKIT.on, LABKIT.holds


class Load:
    def __init__(self, vip, workers, think):
        self.vip, self.stop, self.lock, self.think = vip, False, threading.Lock(), think
        self.ok, self.failed, self.why = 0, [], collections.Counter()
        self.threads = [threading.Thread(target=self.worker) for _ in range(workers)]
        for t in self.threads:
            t.start()

    def worker(self):
        while not self.stop:
            t = time.monotonic()
            try:
                s = socket.create_connection((self.vip, 80), timeout=0.2)
                s.settimeout(0.2)
                time.sleep(self.think)
                s.sendall(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                s.close()
                if not data.startswith(b"HTTP/1.1 200"):
                    raise OSError("not a 200 answer")
                with self.lock:
                    self.ok += 1
            except OSError as e:
                with self.lock:
                    self.failed.append(time.monotonic())
                    self.why[type(e).__name__] += 1
            time.sleep(max(0.0, 0.01 - (time.monotonic() - t)))

    def finish(self):
        self.stop = True
        for t in self.threads:
            t.join()


def run(mode, moves, workers, think, vip):
    load = Load(vip, workers, think)
    time.sleep(1.0)
    starts = []
    for i in range(moves):
        starts.append(time.monotonic())
        if mode == "switchover":
            sh([BIN, "switchover", "pair1", "--to", "node2" if i % 2 == 0 else "node1", "-i", INV])
            time.sleep(1.0)
        else:
            on("node1", "systemctl", "stop" if i % 2 == 0 else "start", "hapair-vrrpd")
            time.sleep(1.0 if i % 2 == 0 else 5.0)
    load.finish()
    per_move = [sum(1 for f in load.failed if s <= f < (starts[k + 1] if k + 1 < len(starts) else 1e18))
                for k, s in enumerate(starts)]
    return {"requests": load.ok + len(load.failed), "failed": len(load.failed),
            "moves_with_a_failure": sum(1 for n in per_move if n), "why": dict(load.why)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--moves", type=int, default=40)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--think-ms", type=int, default=20)
    a = ap.parse_args()
    sh(["cargo", "build", "-q"])
    sh([BIN, "lab", "down", "--name", LAB], check=False)
    up = sh([BIN, "lab", "up", "--name", LAB, "--out", INV]).stdout
    subnet = re.search(r"\(10\.77\.(\d+)\.0/24\)", up).group(1)
    vip = f"10.77.{subnet}.200"
    sh([BIN, "apply", "-i", INV, "--yes"])
    wait("node1 to hold the VIP", 20, lambda: holds("node1", vip))
    results = {}
    try:
        for nft in ["forwarding", "without nft"]:
            if nft == "without nft":
                # Once the last hand-over's tables are gone (a daemon without `nft` could not
                # remove them), `nft` goes aside.
                wait("the hand-over tables to go", 20, lambda: not any(
                    "hapair_" in on(n, "nft", "list", "tables").stdout for n in ("node1", "node2")))
                for n in ("node1", "node2"):
                    on(n, "mv", "/usr/sbin/nft", "/usr/sbin/nft.bench-aside")
            for mode in ["switchover", "stop"]:
                r = run(mode, a.moves, a.workers, a.think_ms / 1000, vip)
                wait("node1 to hold the VIP", 20, lambda: holds("node1", vip))
                results[f"{mode}, {nft}"] = r
                print(f"{mode:10} {nft:12} {r}", flush=True)
    finally:
        for n in ("node1", "node2"):
            on(n, "sh", "-c", "[ -e /usr/sbin/nft.bench-aside ] && mv /usr/sbin/nft.bench-aside /usr/sbin/nft || true",
               check=False)
        sh([BIN, "lab", "down", "--name", LAB], check=False)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out = {"measured": stamp, "moves": a.moves, "workers": a.workers, "think_ms": a.think_ms, "results": results}
    (ROOT / "bench" / "results_handover_stress.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["<!-- handover-stress:begin (bench/handover_stress.py) -->",
             f"Requests in flight when the VIP moves ({stamp}; {a.moves} moves per row, {a.workers} client threads,"
             f" a new connection per request sent {a.think_ms} ms after the handshake, 200 ms timeout):", "",
             "| moves | requests | failed | moves with a failure | why |", "| --- | --- | --- | --- | --- |"]
    for k, r in results.items():
        why = ", ".join(f"{n} {w}" for w, n in sorted(r["why"].items())) or "–"
        lines.append(f"| {k} | {r['requests']} | {r['failed']} | {r['moves_with_a_failure']} of {a.moves} | {why} |")
    lines.append("<!-- handover-stress:end -->")
    block = "\n".join(lines) + "\n"
    md = (ROOT / "bench" / "results.md").read_text()
    if "<!-- handover-stress:begin" in md:
        md = re.sub(r"<!-- handover-stress:begin.*?<!-- handover-stress:end -->\n", lambda _: block, md, flags=re.S)
    else:
        md = md.rstrip("\n") + "\n\n" + block
    (ROOT / "bench" / "results.md").write_text(md)


if __name__ == "__main__":
    main()
