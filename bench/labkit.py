"""What the lab benches share: run a command, run one on a lab host, wait for a condition."""
import subprocess, sys, time


def sh(argv, check=True):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"bench: `{' '.join(map(str, argv))}` exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


class Lab:
    """The hosts of one lab, reached without SSH (`hapair lab exec`: the link may be down)."""

    def __init__(self, binary, name):
        self.binary, self.name = binary, name

    def on(self, node, *cmd, check=True):
        return sh([self.binary, "lab", "exec", "--name", self.name, node, "--", *cmd], check=check)

    def holds(self, node, vip):
        return f" {vip}/" in self.on(node, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout


def wait(what, limit, cond):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    sys.exit(f"bench: timed out waiting for {what}")
