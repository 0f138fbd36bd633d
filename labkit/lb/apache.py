"""Apache httpd as the cluster's load balancer (mod_proxy_balancer), on every `lb` node.

Both LB nodes run Apache all the time (hot standby): the election decides which one the VIP's
traffic reaches. Each Apache round-robins (`byrequests`) over every app server, drops a dead or
frozen one after a failed health check (mod_proxy_hcheck, every `lb.health_check_interval`), and
keeps a session on its node by the route suffix of the JSESSIONID cookie (`<id>.node2` → the
member with route=node2).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from labkit import atomic, templating
from labkit.appserver import limits
from labkit.component import (
    Component,
    NodeContext,
    Program,
    server_binary,
    wait_for_port,
)
from labkit.errors import LabError
from labkit.layout import Layout

MODULES = ["mpm_event", "authz_core", "authz_host", "proxy", "proxy_http", "proxy_balancer",
           "lbmethod_byrequests", "slotmem_shm", "proxy_hcheck", "ssl", "socache_shmcb",
           "status", "headers", "rewrite", "auth_basic", "authn_core", "authn_file",
           "authz_user"]
#: The NBI's routes that may legitimately answer later than `lb.member_timeout`: each waits on a
#: database (a MySQL or PostgreSQL commit waits for the standby until the watcher gives up on it;
#: sessions live in MySQL) or moves a device image. They go through `balancer://app-slow`, whose
#: members wait `lb.slow_timeout`; the rest (/health, /api/node, /api/membership, ...) answer
#: from the app server's memory and go through `balancer://app`.
SLOW_ROUTES = ("/api/notes", "/api/monitoring", "/api/files", "/api/devices", "/api/jobs",
               "/api/login", "/api/logout", "/api/session")
MODULE_DIRS = [Path("/usr/lib/apache2/modules"), Path("/usr/lib/httpd/modules"),
               Path("/usr/libexec/apache2")]


def apache_binary() -> str:
    return server_binary(("apache2", "httpd"), "Apache httpd", "apache2")


def module_dir() -> Path:
    for d in MODULE_DIRS:
        if (d / "mod_proxy_balancer.so").exists():
            return d
    raise LabError("Apache's proxy modules were not found", "install Debian's apache2 package")


def write_htpasswd(path: Path, user: str, password: str) -> None:
    """The balancer-manager's password file: a bcrypt hash made by Apache's own `htpasswd`
    (the password goes on its stdin, never on a command line), private from its first byte.
    Apache's workers read it on each request: as root they are www-data, who must own it."""
    tool = shutil.which("htpasswd")
    if tool is None:
        raise LabError("Apache's htpasswd was not found", "install Debian's apache2-utils package")
    made = subprocess.run([tool, "-niB", user], input=password, capture_output=True, text=True,
                          check=False)
    if made.returncode != 0 or not made.stdout.startswith(f"{user}:"):
        raise LabError(f"htpasswd failed: {made.stderr.strip()}", "see the message above")
    atomic.write_text(path, made.stdout, mode=0o600)
    if os.geteuid() == 0:
        worker = pwd.getpwnam("www-data")
        os.chown(path, worker.pw_uid, worker.pw_gid)


class Apache(Component):
    role = "lb"
    programs = ("apache",)

    def configure(self, ctx: NodeContext) -> list[Program]:
        conf = self.config_files(ctx.layout, ctx.node)["httpd.conf"]
        (conf.parent / "run").mkdir(parents=True, exist_ok=True)
        write_htpasswd(self.htpasswd_file(conf.parent), *ctx.layout.nbi_auth("admin"))
        conf.write_text(self.config_text(ctx, conf.parent))
        return [Program("apache", [apache_binary(), "-f", str(conf), "-DFOREGROUND"],
                        priority=20, stopsignal="WINCH", stopwaitsecs=5)]

    def config_files(self, layout: Layout, node: str) -> dict[str, Path]:
        return {"httpd.conf": layout.paths.service(node, "apache") / "httpd.conf"}

    @staticmethod
    def htpasswd_file(root: Path) -> Path:
        """The balancer-manager's password file beside httpd.conf: the one name for the file
        configure writes and the AuthUserFile httpd.conf reads. Not in `config_files`, so
        `labkit config` never prints the admin's password hash."""
        return root / "balancer.htpasswd"

    def config_text(self, ctx: NodeContext, root: Path) -> str:
        """httpd.conf from templates/httpd.conf.j2."""
        lay = ctx.layout
        # On compose and netns, keepalived puts the VIP itself on the master's interface: both
        # Apaches listen on it too (ip_nonlocal_bind), so whichever node holds it answers.
        addresses = [ctx.address, *([lay.vip] if lay.own_network_stacks else [])]
        members = [{"address": lay.address(n.name), "route": n.name}
                   for n in lay.topology.with_role("app")]
        return templating.render(
            __file__, "httpd.conf.j2", node=ctx.node, root=root, modules=MODULES,
            module_dir=module_dir(), as_root=os.geteuid() == 0, log_dir=ctx.log_dir,
            addresses=addresses, ports=lay.ports, members=members, lab_net=f"{lay.prefix}.0/24",
            tls=lay.paths.tls, body_limit=limits.BODY_LIMIT, htpasswd=self.htpasswd_file(root),
            upload_limit=limits.UPLOAD_LIMIT, backend_ttl=limits.BACKEND_TTL,
            keep_alive=limits.KEEP_ALIVE, lb=lay.topology.lb, slow_routes=SLOW_ROUTES)

    def wait_ready(self, ctx: NodeContext, timeout: float) -> None:
        wait_for_port(ctx.address, ctx.layout.ports.http, timeout, f"Apache on {ctx.node}",
                      ctx.log("apache"), alive=ctx.alive("apache"))
