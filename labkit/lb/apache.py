"""Apache httpd as the cluster's load balancer (mod_proxy_balancer), on every `lb` node.

Both LB nodes run Apache all the time (hot standby): the election decides which one the VIP's
traffic reaches. Each Apache round-robins (`byrequests`) over every app server, drops a dead one
after a failed health check (mod_proxy_hcheck, 1 s interval), and keeps a session on its node by
the route suffix of the JSESSIONID cookie (`<id>.node2` → the member with route=node2).
"""

from __future__ import annotations

import os
from pathlib import Path

from labkit.component import (
    Component,
    NodeContext,
    Program,
    server_binary,
    wait_for_port,
)
from labkit.errors import LabError

MODULES = ["mpm_event", "authz_core", "authz_host", "proxy", "proxy_http", "proxy_balancer",
           "lbmethod_byrequests", "slotmem_shm", "proxy_hcheck", "ssl", "socache_shmcb",
           "status", "headers"]
MODULE_DIRS = [Path("/usr/lib/apache2/modules"), Path("/usr/lib/httpd/modules"),
               Path("/usr/libexec/apache2")]


def apache_binary() -> str:
    return server_binary(("apache2", "httpd"), "Apache httpd", "apache2")


def module_dir() -> Path:
    for d in MODULE_DIRS:
        if (d / "mod_proxy_balancer.so").exists():
            return d
    raise LabError("Apache's proxy modules were not found", "install Debian's apache2 package")


class Apache(Component):
    role = "lb"
    programs = ("apache",)

    def configure(self, ctx: NodeContext) -> list[Program]:
        root = ctx.path("apache", "run", "x").parent.parent
        conf = root / "httpd.conf"
        conf.write_text(self.render(ctx, root))
        return [Program("apache", [apache_binary(), "-f", str(conf), "-DFOREGROUND"],
                        priority=20, stopsignal="WINCH", stopwaitsecs=5)]

    def render(self, ctx: NodeContext, root: Path) -> str:
        lay = ctx.layout
        mods = module_dir()
        tls = lay.paths.tls
        members = "\n".join(
            f'    BalancerMember "http://{lay.address(n.name)}:{lay.ports.app}" route={n.name} '
            "hcmethod=GET hcuri=/health hcinterval=1 hcpasses=1 hcfails=1 "
            "retry=1 connectiontimeout=1 timeout=5"
            for n in lay.topology.with_role("app"))
        user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
        proxy = (
            "    ProxyPass /balancer-manager !\n    ProxyPass /server-status !\n"
            '    ProxyPass "/" "balancer://app/"\n    ProxyPassReverse "/" "balancer://app/"\n'
            '    Header always set X-Labkit-LB "' + ctx.node + '"\n'
        )
        loads = "\n".join(f"LoadModule {m}_module {mods}/mod_{m}.so" for m in MODULES)
        # On compose, keepalived puts the VIP itself on the master's interface: both Apaches
        # listen on it too (ip_nonlocal_bind), so whichever node holds it answers.
        addrs = [ctx.address, *([lay.vip] if lay.backend == "compose" else [])]
        listen = "\n".join(f"Listen {a}:{p}" for p in (lay.ports.http, lay.ports.https)
                           for a in addrs)
        http_vhost = " ".join(f"{a}:{lay.ports.http}" for a in addrs)
        https_vhost = " ".join(f"{a}:{lay.ports.https}" for a in addrs)
        return f"""# Rendered by labkit for {ctx.node}; edits are overwritten by `labkit up`.
ServerRoot "{root}"
ServerName {ctx.node}
DefaultRuntimeDir "{root}/run"
PidFile "{root}/run/httpd.pid"
Mutex file:{root}/run default
{loads}
{user}ErrorLog /dev/stderr
LogLevel warn ssl:error
HostnameLookups Off
LogFormat "%h %t \\"%r\\" %>s %D route=%{{BALANCER_WORKER_ROUTE}}e" lab
CustomLog "{ctx.log_dir}/apache-access.log" lab
Timeout 30
KeepAlive On
MaxRequestWorkers 64
ThreadsPerChild 16
ServerLimit 4
StartServers 1
{listen}
SSLSessionCache "shmcb:{root}/run/ssl_scache(512000)"

<Proxy "balancer://app">
{members}
    ProxySet lbmethod=byrequests stickysession=JSESSIONID|jsessionid nofailover=Off
</Proxy>

<Location "/balancer-manager">
    SetHandler balancer-manager
    Require ip 127.0.0.0/8 {lay.prefix}.0/24
</Location>
<Location "/server-status">
    SetHandler server-status
    Require ip 127.0.0.0/8 {lay.prefix}.0/24
</Location>

<VirtualHost {http_vhost}>
    ServerName {ctx.node}
{proxy}</VirtualHost>

<VirtualHost {https_vhost}>
    ServerName {ctx.node}
    SSLEngine on
    SSLCertificateFile "{tls}/cert.pem"
    SSLCertificateKeyFile "{tls}/key.pem"
{proxy}</VirtualHost>
"""

    def wait_ready(self, ctx: NodeContext, timeout: float) -> None:
        wait_for_port(ctx.address, ctx.layout.ports.http, timeout, f"Apache on {ctx.node}",
                      ctx.log("apache"), alive=ctx.alive("apache"))
