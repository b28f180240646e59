#!/usr/bin/env python3
"""Where the time of a no-op `apply` / `plan` goes on many pairs (issue 16, "Many pairs").

  python3 bench/scale_probe.py [--pairs 8] [--runs 3] [--keep]
  python3 bench/scale_probe.py --cpu [--pairs 8] [--runs 5] [--reuse] [--keep] [--gap 0] [--persist 0]

`--cpu` measures CPU only (what a loaded, shared machine does not inflate): per no-op `plan`
and `apply`, the CPU of hapair and its ssh processes (getrusage) and of the lab hosts (their
cgroups' cpu.stat, minus what the idle hosts burn in the same wall time: daemons' adverts and
checks), each divided by the number of hosts; plus the facts script alone, 20 times in one SSH
session on one host. `--reuse` keeps an existing lab of that name (converged by the first
apply); `--gap S` waits S seconds between runs (11 or more: each run's logins start a new
`systemd --user` on every host, as the first run after a pause does); `--persist S` keeps the
SSH connections between runs (HAPAIR_SSH_PERSIST=S): one cold run, then warm ones.

Brings up 2 x PAIRS lab hosts, converges them once, then measures with the release binary:
  - no-op `apply` and `plan` wall time, with `--forks` = PAIRS and with the default (10);
  - CPU time of hapair and its children (ssh masters) per run (getrusage), and of the lab hosts
    themselves (their cgroups' cpu.stat: sshd, the facts script, firewalld...), which the load
    of other work on the machine does not inflate the way it inflates wall time;
  - a per-host timeline of one no-op apply (the `step` events of `--format json`, stamped as
    they arrive): connect, facts, execution, done;
  - the pieces alone: an SSH connection (handshake + one command, no multiplexing) to every host
    at once, one more command on an existing master connection, and the facts script run
    inside a host without SSH (`hapair lab exec`).
Prints a markdown report. Numbers from a shared 2-core machine: medians of RUNS.
"""
import argparse, json, os, re, resource, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "hapair"


def sh(argv, check=True, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        sys.exit(f"probe: `{' '.join(map(str, argv))}` exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(argv, want=(0,)):
    c0, t0 = cpu(), time.monotonic()
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
    dt, dc = time.monotonic() - t0, cpu() - c0
    if r.returncode not in want:
        sys.exit(f"probe: `{' '.join(map(str, argv))}` exited {r.returncode}:\n{r.stderr[-2000:]}")
    return dt, dc


def host_cpu(lab):
    """CPU seconds used so far by every host of the lab (cgroup v2 cpu.stat of each)."""
    total = 0
    for d in Path("/sys/fs/cgroup/unified/hapair-lab").glob(f"{lab}-node*"):
        for line in (d / "cpu.stat").read_text().splitlines():
            if line.startswith("usage_usec "):
                total += int(line.split()[1])
    return total / 1e6


def med(xs):
    return statistics.median(xs)


def timeline(inv, forks):
    """One no-op apply with JSON events stamped on arrival: per host (connect, facts, exec, done)."""
    t0 = time.monotonic()
    p = subprocess.Popen([str(BIN), "apply", "-i", str(inv), "--yes", "--format", "json", "--forks", str(forks)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    marks = {}
    for line in p.stdout:
        t = time.monotonic() - t0
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") == "step":
            marks.setdefault(e["host"], {}).setdefault(e["step"], t)
        elif e.get("event") == "plan":
            marks.setdefault("_plan", {})["t"] = t
        elif e.get("event") == "host":
            marks.setdefault(e["result"]["node"], {})["done"] = t
    p.wait()
    end = time.monotonic() - t0
    hosts = {h: m for h, m in marks.items() if not h.startswith("_")}
    rows = []
    for h, m in sorted(hosts.items(), key=lambda x: int(re.sub(r"\D", "", x[0]) or 0)):
        c, f = m.get("connect", 0), m.get("facts", 0)
        ex = min([v for k, v in m.items() if k not in ("connect", "facts", "done")] or [m.get("done", end)])
        rows.append((h, c, f - c, ex - f, m.get("done", end) - ex))
    return rows, marks.get("_plan", {}).get("t", 0), end


def idle_rate(lab, seconds=3.0):
    """Host CPU seconds per wall second the lab burns with nothing asked of it."""
    h0, t0 = host_cpu(lab), time.monotonic()
    time.sleep(seconds)
    return (host_cpu(lab) - h0) / (time.monotonic() - t0)


def facts_script_argv(inv):
    """The facts script and its arguments as hapair sends them to node1 (`HAPAIR_DEBUG_FACTS_ARGV`
    is not a thing: the role layout is mirrored here, like `main` does for the timeline)."""
    src = (ROOT / "src" / "observe" / "mod.rs").read_text()
    script = re.search(r'pub const SCRIPT: &str = r#"(.*?)"#;', src, re.S).group(1)
    args = ["b:/usr/local/sbin/hapair", "f:/etc/hapair/vrrpd.yml", "f:/etc/systemd/system/hapair-vrrpd.service",
            "f:/etc/nginx/sites-enabled/default", "f:/etc/nginx/conf.d/hapair.conf", "f:/var/lib/hapair/firewalld-owned",
            "p:nginx", "p:nginx-light", "p:nginx-core", "p:nginx-full", "p:nginx-extras",
            "s:hapair-vrrpd.service", "s:nginx.service"]
    return script, args


def cpu_mode(a, name, inv, work):
    P, H = a.pairs, 2 * a.pairs
    if not (a.reuse and inv.exists()):
        sh([BIN, "lab", "down", "--name", name], check=False)
        sh([BIN, "lab", "up", "--name", name, "--nodes", H, "--out", inv])
    timed([BIN, "apply", "-i", inv, "--yes", "--forks", P])  # converge (a no-op when reused)
    rate = idle_rate(name)
    rows = {}
    runs = [("plan no-op", [BIN, "plan", "-i", inv, "--forks", P]),
            ("apply no-op", [BIN, "apply", "-i", inv, "--yes", "--forks", P])]
    if a.persist:
        # Connections kept between runs (HAPAIR_SSH_PERSIST): the first run logs in (cold), the
        # next ones within the time reuse its connections (warm).
        os.environ["HAPAIR_SSH_PERSIST"] = str(a.persist)
        runs = [("plan no-op, cold (first run: logs in, keeps its connections)", runs[0][1])] + \
               [(f"{k}, warm (connections of the run before)", v) for k, v in runs]
    for label, argv in runs:
        xs = []
        for _ in range(1 if "cold" in label else a.runs):
            if a.gap:
                time.sleep(a.gap)
            h0 = host_cpu(name)
            w, c = timed(argv)
            hc = host_cpu(name) - h0 - rate * w
            xs.append((w, c / H, hc / H, (c + hc) / H, os.getloadavg()[0]))
        rows[label] = xs
    os.environ.pop("HAPAIR_SSH_PERSIST", None)
    # The facts script alone: 20 times in one SSH session on node1 (its cgroup only).
    text = inv.read_text()
    addr = re.findall(r"address: (10\.77\.\d+\.\d+)\n", text)[0]
    key, kh = inv.with_suffix(".key"), inv.with_suffix(".known_hosts")
    script, args = facts_script_argv(inv)
    quoted = " ".join("'" + x.replace("'", "'\\''") + "'" for x in ["eth0"] + args)
    loop = f"i=0; while [ $i -lt 20 ]; do i=$((i+1)); sh -c \"$S\" hapair-facts {quoted} >/dev/null; done"
    node1 = Path("/sys/fs/cgroup/unified/hapair-lab") / f"{name}-node1" / "cpu.stat"

    def one_host():
        return int(re.search(r"usage_usec (\d+)", node1.read_text()).group(1)) / 1e6

    facts = []
    for _ in range(3):
        h0, t0 = one_host(), time.monotonic()
        r = subprocess.run(["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={kh}",
                            "-i", str(key), f"root@{addr}", f"S=$(cat); {loop}"], input=script, text=True,
                           capture_output=True)
        if r.returncode != 0:
            sys.exit(f"probe: facts loop failed: {r.stderr}")
        dt = time.monotonic() - t0
        facts.append((one_host() - h0 - rate / H * dt) / 20)
    print(f"## CPU of a no-op run: {P} pairs ({H} hosts), release build, {a.runs} runs each"
          + (f", {a.gap:.0f} s apart" if a.gap else ", back to back") + "\n")
    print(f"Idle lab: {rate * 1000 / H:.1f} ms of host CPU per host per second (subtracted below).\n")
    print("| run | wall | hapair + ssh, per host | hosts, per host | total per host | load |")
    print("| --- | --- | --- | --- | --- | --- |")
    for k, xs in rows.items():
        cells = []
        for i in range(4):
            v = [x[i] for x in xs]
            unit, f = ("s", 1) if i == 0 else ("ms", 1000)
            cells.append(f"{med(v) * f:.2f} {unit} ({min(v) * f:.2f}–{max(v) * f:.2f})" if i == 0
                         else f"{med(v) * f:.0f} ms ({min(v) * f:.0f}–{max(v) * f:.0f})")
        print(f"| {k} | " + " | ".join(cells) + f" | {med([x[4] for x in xs]):.1f} |")
    print(f"\nThe facts script alone on one host (20 runs in one SSH session, cgroup CPU): "
          f"{med(facts) * 1000:.1f} ms per run ({min(facts) * 1000:.1f}–{max(facts) * 1000:.1f}).")
    if not a.keep:
        sh([BIN, "lab", "down", "--name", name], check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--runs", type=int, default=None, help="runs per figure (3; 5 with --cpu)")
    ap.add_argument("--keep", action="store_true", help="leave the lab up")
    ap.add_argument("--cpu", action="store_true", help="CPU time per host only (see above)")
    ap.add_argument("--reuse", action="store_true", help="with --cpu: use the lab if it is up")
    ap.add_argument("--gap", type=float, default=0, help="with --cpu: seconds between runs")
    ap.add_argument("--persist", type=int, default=0,
                    help="with --cpu: HAPAIR_SSH_PERSIST=SECONDS (first run cold, the others warm)")
    a = ap.parse_args()
    a.runs = a.runs or (5 if a.cpu else 3)
    os.environ.pop("HAPAIR_SSH_PERSIST", None)  # cold runs unless --persist says otherwise
    if not BIN.exists():
        sys.exit("probe: build the release binary first: cargo build --release")
    name = os.environ.get("HAPAIR_TEST_LAB_PREFIX", "") + "scale"
    work = Path("/var/tmp/hapair-scale-probe")
    work.mkdir(parents=True, exist_ok=True)
    inv = work / f"{name}.yml"
    if a.cpu:
        return cpu_mode(a, name, inv, work)
    sh([BIN, "lab", "down", "--name", name], check=False)
    t = time.monotonic()
    sh([BIN, "lab", "up", "--name", name, "--nodes", 2 * a.pairs, "--out", inv])
    print(f"lab up ({2 * a.pairs} hosts): {time.monotonic() - t:.1f} s", file=sys.stderr)
    P = a.pairs
    fresh, fresh_cpu = timed([BIN, "apply", "-i", inv, "--yes", "--forks", P])
    res = {}
    for label, argv, want in [
        (f"apply no-op, --forks {P}", [BIN, "apply", "-i", inv, "--yes", "--forks", P], (0,)),
        ("apply no-op, default forks (10)", [BIN, "apply", "-i", inv, "--yes"], (0,)),
        (f"plan, --forks {P}", [BIN, "plan", "-i", inv, "--forks", P], (0,)),
        ("plan, default forks (10)", [BIN, "plan", "-i", inv], (0,)),
        (f"status, --forks {P}", [BIN, "status", "-i", inv, "--forks", P], (0,)),
    ]:
        xs = []
        for _ in range(a.runs):
            h0 = host_cpu(name)
            w, c = timed(argv, want)
            xs.append((w, c, host_cpu(name) - h0, os.getloadavg()[0]))
        res[label] = tuple(med([x[i] for x in xs]) for i in range(4))

    text = inv.read_text()
    addrs = re.findall(r"address: (10\.77\.\d+\.\d+)\n", text)
    key, kh = inv.with_suffix(".key"), inv.with_suffix(".known_hosts")
    base = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={kh}", "-i", key,
            "-o", "StrictHostKeyChecking=yes", "-o", "KexAlgorithms=curve25519-sha256"]
    # Every host at once: handshake, auth, session, `true`.
    conn = []
    for _ in range(a.runs):
        c0, t0, h0 = cpu(), time.monotonic(), host_cpu(name)
        ps = [subprocess.Popen([str(x) for x in base + [f"root@{h}", "true"]]) for h in addrs]
        for p in ps:
            p.wait()
        conn.append((time.monotonic() - t0, cpu() - c0, host_cpu(name) - h0))
    # One host, sequentially: a fresh connection; then commands on a master connection.
    one = [timed(base + [f"root@{addrs[0]}", "true"]) [0] for _ in range(5)]
    ctl = work / "ctl-%C"
    m = subprocess.Popen([str(x) for x in base + ["-M", "-N", "-S", ctl, f"root@{addrs[0]}"]])
    time.sleep(1.0)
    mux = [timed(base + ["-S", ctl, f"root@{addrs[0]}", "true"])[0] for _ in range(10)]
    m.terminate()
    m.wait()
    # The facts script inside a host, no SSH.
    src = (ROOT / "src" / "observe" / "mod.rs").read_text()
    script = re.search(r'pub const SCRIPT: &str = r#"(.*?)"#;', src, re.S).group(1)
    args = ["b:/usr/local/sbin/hapair", "f:/etc/hapair/vrrpd.yml", "f:/etc/systemd/system/hapair-vrrpd.service",
            "f:/etc/nginx/sites-enabled/default", "f:/etc/nginx/conf.d/hapair.conf", "f:/var/lib/hapair/firewalld-owned",
            "p:nginx", "p:nginx-light", "p:nginx-core", "p:nginx-full", "p:nginx-extras",
            "s:hapair-vrrpd.service", "s:nginx.service"]
    facts = [timed([BIN, "lab", "exec", "node1", "--name", name, "--", "sh", "-c", script, "hapair-facts", "eth0"] + args)[0]
             for _ in range(5)]
    lab_exec = [timed([BIN, "lab", "exec", "node1", "--name", name, "--", "true"])[0] for _ in range(5)]
    rows, plan_at, end = timeline(inv, P)

    print(f"## Where the time goes: {P} pairs ({2 * P} hosts), no-op, release build\n")
    print(f"Fresh apply (packages present): {fresh:.2f} s wall, {fresh_cpu:.2f} s CPU.\n")
    print("| run (median of %d) | wall | CPU (hapair + ssh) | CPU of the %d hosts | load average |" % (a.runs, 2 * P))
    print("| --- | --- | --- | --- | --- |")
    for k, (w, c, h, l) in res.items():
        print(f"| {k} | {w:.2f} s | {c:.2f} s | {h:.2f} s | {l:.1f} |")
    print(f"| {2 * P} plain `ssh host true` at once (no multiplexing) | {med([c[0] for c in conn]):.2f} s | "
          f"{med([c[1] for c in conn]):.2f} s | {med([c[2] for c in conn]):.2f} s | - |")
    print()
    print(f"- one fresh SSH connection + `true`, alone: {med(one) * 1000:.0f} ms (median of 5)")
    print(f"- one more command on an open master connection: {med(mux) * 1000:.1f} ms (median of 10)")
    print(f"- the facts script inside a host (no SSH; `lab exec` itself costs {med(lab_exec) * 1000:.0f} ms): "
          f"{med(facts) * 1000:.0f} ms including that (median of 5)")
    print(f"\nTimeline of one no-op apply (`--forks {P}`), seconds since start; plan ready at {plan_at:.2f} s, "
          f"exit at {end:.2f} s:\n")
    print("| host | connect starts | connect | facts + plan | execute (health) |")
    print("| --- | --- | --- | --- | --- |")
    for h, c, cn, f, ex in rows:
        print(f"| {h} | {c:.2f} | {cn:.2f} | {f:.2f} | {ex:.2f} |")
    if not a.keep:
        sh([BIN, "lab", "down", "--name", name], check=False)


if __name__ == "__main__":
    main()
