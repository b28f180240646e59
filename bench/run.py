#!/usr/bin/env python3
"""hapair's benchmarks, side by side with what users would pick instead, in one run on the lab.

Writes bench/results.json and bench/results.md. Not part of CI (minutes of wall time, and
figures from a shared 2-core machine are noisy: every figure is a median of repeated runs or a
ratio of medians taken in the same run).

  python3 bench/run.py [--runs 5] [--only deploy,scale,failover] [--trials 20]

Needs root (the lab). Installs Ansible (PyPI `ansible`, for ansible-core + ansible.posix) and
pyinfra (PyPI `pyinfra`) into venvs under /var/tmp on first use.
"""
import argparse, json, os, platform, re, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "hapair"
VENV = Path("/var/tmp/hapair-bench-venv")
ANSIBLE_VERSION = "12.3.0"  # ansible-core 2.19, the newest for Python 3.11


def sh(argv, check=True, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        sys.exit(f"bench: `{' '.join(map(str, argv))}` exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def timed(argv, want=0, env=None, cwd=None):
    t = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd)
    dt = time.monotonic() - t
    if r.returncode != want:
        sys.exit(f"bench: `{' '.join(map(str, argv))}` exited {r.returncode} (want {want}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return dt, r.stdout


def summary(xs):
    xs = sorted(xs)
    return {"n": len(xs), "median": statistics.median(xs), "min": xs[0], "max": xs[-1],
            "p95": xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]}


# Lab names carry `$HAPAIR_TEST_LAB_PREFIX`, so a bench never collides with another lab.
PREFIX = os.environ.get("HAPAIR_TEST_LAB_PREFIX", "")


def lab_up(name, nodes, workdir, mode="master-backup"):
    name = PREFIX + name
    sh([BIN, "lab", "down", "--name", name], check=False)
    inv = Path(workdir) / f"{name}.yml"
    sh([BIN, "lab", "up", "--name", name, "--nodes", str(nodes), "--mode", mode, "--out", inv])
    return inv


def lab_down(name):
    sh([BIN, "lab", "down", "--name", PREFIX + name], check=False)


def load_lab_inventory(inv):
    """The few facts of a lab inventory the Ansible side needs (written by `hapair lab up`)."""
    text = Path(inv).read_text()
    nodes = re.findall(r"- name: (node\d+)\n\s+address: ([\d.]+)", text)
    vips = re.findall(r"- address: ([\d./]+)\n\s+vrid: (\d+)\n\s+master: (node\d+)", text)
    return nodes, vips


def ansible_env():
    if not (VENV / "bin" / "ansible-playbook").exists():
        print(f"bench: installing ansible=={ANSIBLE_VERSION} into {VENV} (once)", flush=True)
        sh([sys.executable, "-m", "venv", VENV])
        sh([VENV / "bin" / "pip", "install", "--quiet", f"ansible=={ANSIBLE_VERSION}"])
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(ROOT / "bench" / "ansible" / "ansible.cfg")
    env["PATH"] = f"{VENV / 'bin'}:{env['PATH']}"
    return env


def ansible_inventory(inv, path):
    """An Ansible inventory for every pair of a lab inventory (per-host vars)."""
    base = Path(inv).with_suffix("")
    lines = ["[pair]"]
    for nodes, vip, vrid, master in lab_pairs(inv):
        for name, addr in nodes:
            peer = next(a for n, a in nodes if n != name)
            prio = 150 if name == master else 100
            lines.append(f"{name} ansible_host={addr} peer_address={peer} priority={prio} vrid={vrid} vip={vip}")
    lines += ["", "[pair:vars]", "ansible_user=root",
              f"ansible_ssh_private_key_file={base}.key",
              f"ansible_ssh_common_args='-o UserKnownHostsFile={base}.known_hosts'"]
    Path(path).write_text("\n".join(lines) + "\n")


PYINFRA_VENV = Path("/var/tmp/hapair-bench-pyinfra")
PYINFRA_VERSION = "3.10.0"


def pyinfra_bin():
    exe = PYINFRA_VENV / "bin" / "pyinfra"
    if not exe.exists():
        print(f"bench: installing pyinfra=={PYINFRA_VERSION} into {PYINFRA_VENV} (once)", flush=True)
        sh([sys.executable, "-m", "venv", PYINFRA_VENV])
        sh([PYINFRA_VENV / "bin" / "pip", "install", "--quiet", f"pyinfra=={PYINFRA_VERSION}"])
    return exe


def lab_pairs(inv):
    """Every pair of a lab inventory: [(nodes [(name, addr)], vip, vrid, master)]."""
    text = Path(inv).read_text()
    out = []
    for block in re.split(r"\n  pair\d+:\n", text)[1:]:
        nodes = re.findall(r"- name: (node\d+)\n\s+address: ([\d.]+)", block)
        (vip, vrid, master), = re.findall(r"- address: ([\d./]+)\n\s+vrid: (\d+)\n\s+master: (node\d+)", block)[:1]
        out.append((nodes, vip, vrid, master))
    return out


def pyinfra_inventory(inv, path):
    """A pyinfra inventory (Python) for every pair of a lab inventory, same data as Ansible's."""
    base = Path(inv).with_suffix("")
    hosts = []
    for nodes, vip, vrid, master in lab_pairs(inv):
        for name, addr in nodes:
            peer = next(a for n, a in nodes if n != name)
            hosts.append((addr, {"node": name, "peer_address": peer, "priority": 150 if name == master else 100,
                                 "vrid": int(vrid), "vip": vip, "ssh_user": "root", "ssh_key": f"{base}.key",
                                 "ssh_known_hosts_file": f"{base}.known_hosts",
                                 "ssh_strict_host_key_checking": "yes"}))
    Path(path).write_text(f"hosts = {hosts!r}\n")


def pyinfra_cmd(pinv, forks):
    return [pyinfra_bin(), "-y", "--parallel", str(forks), str(pinv), str(ROOT / "bench" / "pyinfra" / "deploy.py")]


def bench_deploy(runs, work):
    env = ansible_env()
    play = ROOT / "bench" / "ansible" / "site.yml"
    res = {k: [] for k in ["hapair_fresh", "hapair_noop", "hapair_plan", "ansible_fresh", "ansible_noop", "ansible_check",
                           "pyinfra_fresh", "pyinfra_noop", "pyinfra_dry"]}
    for i in range(runs):
        print(f"bench: deploy run {i + 1}/{runs}", flush=True)
        inv = lab_up("bdeploy", 2, work)
        dt, _ = timed([BIN, "apply", "-i", inv, "--yes"]); res["hapair_fresh"].append(dt)
        dt, _ = timed([BIN, "apply", "-i", inv, "--yes"]); res["hapair_noop"].append(dt)
        dt, _ = timed([BIN, "plan", "-i", inv]); res["hapair_plan"].append(dt)
        lab_down("bdeploy")
        inv = lab_up("bdeploy", 2, work)
        ainv = Path(work) / "ansible-hosts"
        ansible_inventory(inv, ainv)
        pb = ["ansible-playbook", "-i", str(ainv), str(play)]
        dt, out = timed(pb, env=env); res["ansible_fresh"].append(dt)
        dt, out = timed(pb, env=env); res["ansible_noop"].append(dt)
        assert "changed=0" in out, out
        dt, _ = timed(pb + ["--check", "--diff"], env=env); res["ansible_check"].append(dt)
        lab_down("bdeploy")
        inv = lab_up("bdeploy", 2, work)
        pinv = Path(work) / "pyinfra-inventory.py"
        pyinfra_inventory(inv, pinv)
        dt, _ = timed(pyinfra_cmd(pinv, 2)); res["pyinfra_fresh"].append(dt)
        dt, out = timed(pyinfra_cmd(pinv, 2)); res["pyinfra_noop"].append(dt)
        dt, _ = timed(pyinfra_cmd(pinv, 2) + ["--dry"]); res["pyinfra_dry"].append(dt)
        lab_down("bdeploy")
    return {k: summary(v) for k, v in res.items()}


SCALE_PAIRS = (1, 8, 16)


def bench_scale(work, pairs_list=SCALE_PAIRS):
    """hapair, Ansible and pyinfra on 1, 8 and 16 pairs; each tool on its own fresh lab, with
    as much parallelism as there are hosts (hapair `--forks` counts pairs, the others hosts)."""
    env = ansible_env()
    play = ROOT / "bench" / "ansible" / "site.yml"
    out = {}
    for pairs in pairs_list:
        hosts = 2 * pairs
        print(f"bench: scale, {pairs} pair(s)", flush=True)
        row = {"load": os.getloadavg()[0]}
        inv = lab_up("bscale", hosts, work)
        row["hapair_fresh"], _ = timed([BIN, "apply", "-i", inv, "--yes", "--forks", str(pairs)])
        row["hapair_noop"] = statistics.median(
            timed([BIN, "apply", "-i", inv, "--yes", "--forks", str(pairs)])[0] for _ in range(3))
        row["hapair_plan"] = statistics.median(timed([BIN, "plan", "-i", inv, "--forks", str(pairs)])[0] for _ in range(3))
        lab_down("bscale")
        inv = lab_up("bscale", hosts, work)
        ainv = Path(work) / "ansible-hosts"
        ansible_inventory(inv, ainv)
        pb = ["ansible-playbook", "-i", str(ainv), "--forks", str(hosts), str(play)]
        row["ansible_fresh"], _ = timed(pb, env=env)
        row["ansible_noop"], _ = timed(pb, env=env)
        lab_down("bscale")
        inv = lab_up("bscale", hosts, work)
        pinv = Path(work) / "pyinfra-inventory.py"
        pyinfra_inventory(inv, pinv)
        row["pyinfra_fresh"], _ = timed(pyinfra_cmd(pinv, hosts))
        row["pyinfra_noop"], _ = timed(pyinfra_cmd(pinv, hosts))
        lab_down("bscale")
        out[str(pairs)] = row
    return out


def bench_failover(trials, work):
    """hapair vrrpd vs keepalived with the same timers (bench/failover.sh, network namespaces)."""
    script = ROOT / "bench" / "failover.sh"
    r = subprocess.run(["bash", str(script), str(trials), str(BIN)], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench: failover.sh failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return {"trials": trials, "table": r.stdout.rstrip("\n"),
            "markdown": [f"{trials} trials per row (bench/failover.sh); times from the signal to the VIP on the backup.", "",
                         "```", r.stdout.rstrip("\n"), "```"]}


def fmt(s):
    return f"{s['median']:.3f} s ({s['min']:.3f}–{s['max']:.3f})"


def report(results):
    m = results["machine"]
    lines = [f"# hapair benchmarks", "",
             f"Run {results['date']} on {m['cores']} cores, {m['kernel']}; a shared machine, so figures are medians of repeated runs (min–max in brackets).", ""]
    d = results.get("deploy")
    if d:
        n = d["hapair_fresh"]["n"]
        lines += ["## Deploy one pair (nginx + VRRP with a check + firewalld), same end state", "",
                  f"{n} runs each; fresh = packages already present on the hosts.", "",
                  "| run | hapair | Ansible + keepalived | pyinfra + keepalived | vs Ansible | vs pyinfra |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for label, h, a, p in [("fresh provisioning", "hapair_fresh", "ansible_fresh", "pyinfra_fresh"),
                               ("no-op re-run", "hapair_noop", "ansible_noop", "pyinfra_noop"),
                               ("dry run (`plan` / `--check --diff` / `--dry`)", "hapair_plan", "ansible_check", "pyinfra_dry")]:
            py = d.get(p)
            lines.append(f"| {label} | {fmt(d[h])} | {fmt(d[a])} | {fmt(py) if py else '-'} | "
                         f"{d[a]['median'] / d[h]['median']:.1f}× faster | "
                         + (f"{py['median'] / d[h]['median']:.1f}× faster |" if py else "- |"))
        lines.append("")
    s = results.get("scale")
    if s:
        lines += ["## Scale: pairs in one run, side by side", "",
                  "Each tool on its own fresh lab; parallelism = every host (hapair `--forks PAIRS`, Ansible "
                  "`--forks HOSTS`, pyinfra `--parallel HOSTS`); hapair no-op and plan: median of 3.", "",
                  "| pairs (hosts) | hapair fresh | no-op | plan | Ansible fresh | no-op | pyinfra fresh | no-op | load |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for k, v in s.items():
            cells = [v.get(c) for c in ["hapair_fresh", "hapair_noop", "hapair_plan", "ansible_fresh", "ansible_noop",
                                        "pyinfra_fresh", "pyinfra_noop"]]
            load = f"{v['load']:.1f}" if "load" in v else "-"
            lines.append(f"| {k} ({2 * int(k)}) | " + " | ".join(f"{c:.2f} s" if c is not None else "-" for c in cells)
                         + f" | {load} |")
        lines.append("")
    analysis = ROOT / "bench" / "scale-analysis.md"
    if s and analysis.exists():
        # Hand-written: where the time of a no-op run goes (bench/scale_probe.py), kept across runs.
        lines += [analysis.read_text().rstrip(), ""]
    f = results.get("failover")
    if f:
        lines += ["## Failover: hapair vrrpd vs keepalived, same lab, same timers", ""]
        lines += f.get("markdown", [])
        lines.append("")
    return "\n".join(lines)


def keep_other_sections(text):
    """`text` plus the sections of the current results.md this script does not write (other
    benches append their own: bench/failover_client.py, advert_stress.sh, fuzz.sh)."""
    try:
        old = (ROOT / "bench" / "results.md").read_text()
    except OSError:
        return text
    ours = {l for l in text.splitlines() if l.startswith("## ")}
    kept = []
    for part in re.split(r"(?m)^(?=## |<!-- failover-client:begin)", old)[1:]:
        head = part.splitlines()[0]
        if head.startswith("<!--"):
            head = next((l for l in part.splitlines() if l.startswith("## ")), head)
        if head.startswith("## Where the time goes"):
            continue  # superseded by bench/scale-analysis.md
        if head not in ours:
            kept.append(part.rstrip())
    return "\n\n".join([text.rstrip()] + kept)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--only", default="deploy,scale,failover")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (the lab)")
    # Every run logs in afresh (cold), as a plain run does: no connections kept between runs.
    os.environ.pop("HAPAIR_SSH_PERSIST", None)
    print("bench: building the release binary", flush=True)
    sh(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    work = tempfile.mkdtemp(prefix="hapair-bench.")
    only = a.only.split(",")
    # Sections not run this time keep their last figures (`--only` runs a part).
    try:
        results = json.loads((ROOT / "bench" / "results.json").read_text())
    except (OSError, ValueError):
        results = {}
    results.update({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "load_before": os.getloadavg()[0],
                    "machine": {"cores": os.cpu_count(), "kernel": platform.release(),
                                "hapair_binary_bytes": BIN.stat().st_size}})
    try:
        if "deploy" in only:
            results["deploy"] = bench_deploy(a.runs, work)
        if "scale" in only:
            results["scale"] = bench_scale(work)
        if "failover" in only:
            results["failover"] = bench_failover(a.trials, work)
    finally:
        lab_down("bdeploy"); lab_down("bscale")
        shutil.rmtree(work, ignore_errors=True)
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (ROOT / "bench" / "results.md").write_text(keep_other_sections(report(results)) + "\n")
    print(report(results))


if __name__ == "__main__":
    main()
