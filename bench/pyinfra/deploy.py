# The same end state as `hapair apply` (and bench/ansible/site.yml) for each pair, with
# pyinfra's own operations: nginx with a site naming the node, keepalived with an nginx check
# that can move the VIP, firewalld accepting VRRP (IP protocol 112) from the peer plus the
# HTTP port; reloads only on change. Templates are the Ansible side's (plain Jinja2).
#   pyinfra -y INVENTORY.py bench/pyinfra/deploy.py   (inventory written by bench/run.py)
from pathlib import Path

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

TEMPLATES = Path(__file__).resolve().parent.parent / "ansible" / "templates"

apt.packages(name="packages present", packages=["nginx-light", "keepalived"])

site = files.template(
    name="nginx site",
    src=str(TEMPLATES / "nginx-site.conf.j2"),
    dest="/etc/nginx/conf.d/ha.conf",
    mode="644",
    inventory_hostname=host.data.node,
)
# Debian ships it as a symlink to sites-available/default.
default = files.link(name="no default site", path="/etc/nginx/sites-enabled/default", present=False)

keepalived = files.template(
    name="keepalived configuration",
    src=str(TEMPLATES / "keepalived.conf.j2"),
    dest="/etc/keepalived/keepalived.conf",
    mode="600",
    vrid=host.data.vrid,
    priority=host.data.priority,
    vip=host.data.vip,
)

# pyinfra has no firewalld operation: a fact decides, a shell command converges.
rule = f'rule family="ipv4" source address="{host.data.peer_address}/32" protocol value="vrrp" accept'
for what, query, add in [
    ("firewalld accepts VRRP from the peer", f"--query-rich-rule='{rule}'", f"--add-rich-rule='{rule}'"),
    ("firewalld accepts HTTP", "--query-port=80/tcp", "--add-port=80/tcp"),
]:
    state = host.get_fact(
        Command,
        f"firewall-cmd {query} >/dev/null && firewall-cmd --permanent {query} >/dev/null && echo yes || echo no",
    )
    if state != "yes":
        server.shell(name=what, commands=[f"firewall-cmd {add}", f"firewall-cmd --permanent {add}"])

server.shell(name="check nginx", commands=["nginx -t"], _if=any_changed(site, default))
systemd.service(name="reload nginx", service="nginx", reloaded=True, _if=any_changed(site, default))
server.shell(
    name="check keepalived", commands=["keepalived --config-test -f /etc/keepalived/keepalived.conf"], _if=keepalived.did_change
)
systemd.service(name="reload keepalived", service="keepalived", reloaded=True, _if=keepalived.did_change)
for svc in ["nginx", "keepalived"]:
    systemd.service(name=f"{svc} enabled and running", service=svc, running=True, enabled=True)
