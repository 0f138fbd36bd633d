"""The local backend: nodes as process trees, each under its own supervisord.

Layout of a run directory (outside the repo, see labkit.layout.home):
    layout.json           the lab's addresses, ports, topology and generated secrets
    events.jsonl          the event log
    faults.json           which node is crashed / frozen / isolated right now
    lab/                  the lab's own supervisor: the network segment (and device fleet)
    nodes/<node>/         one supervisord, its programs' configs, data and log/ per node
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
from pathlib import Path
from typing import Any

import psutil

from labkit import atomic, forkserver, wait
from labkit.backends.base import Backend, Progress, lab_wide_programs, node_programs
from labkit.backends.local import firewall, processes
from labkit.component import Program
from labkit.errors import LabError
from labkit.lb.segment import read_state
from labkit.supervisor import LAB_SUPERVISOR, Supervisor


class LocalBackend(Backend):
    name = "local"
    network = "loopback"
    no_link_faults = ("its nodes share the host's loopback, where no rule can stop every packet "
                      "between two of them (a socket that does not bind its source address "
                      "leaves as 127.0.0.1)")

    # -- supervisors --------------------------------------------------------------------------
    def supervisor(self, node: str) -> Supervisor:
        return Supervisor.of(self.layout.paths, node)

    def node_programs(self, node: str) -> list[Program]:
        return node_programs(self.layout, node, self.name)

    def lab_programs(self) -> list[Program]:
        return [self.forkserver_program(), *self.network_programs(),
                *lab_wide_programs(self.layout, self.name)]

    def forkserver_program(self) -> Program:
        """The process every node's supervisord is forked from (labkit.forkserver): first, so
        it answers before the nodes start."""
        import sys

        return Program("forkserver", [sys.executable, "-m", "labkit.forkserver",
                                      "--lab", self.layout.lab], priority=1, stopwaitsecs=3)

    def network_programs(self) -> list[Program]:
        """The lab's network as programs: on loopback, the segment that carries the VIP."""
        import sys

        return [Program("segment", [sys.executable, "-m", "labkit.lb.segment",
                                    "--lab", self.layout.lab], priority=10, stopwaitsecs=3)]

    def start_node(self, node: str) -> None:
        """Start a node's supervisord with the node's programs."""
        sup = self.supervisor(node)
        sup.write_config(self.node_programs(node))
        sup.start(through=self.start_through(node), outside=self.outside())

    def start_through(self, node: str) -> list[str]:
        """The command a node's supervisord starts through: none on loopback."""
        return []

    def outside(self) -> list[str]:
        """The command that takes a program from this process into the lab's namespaces, where
        its supervisors run: none on loopback."""
        return []

    # -- faults bookkeeping -------------------------------------------------------------------
    @property
    def _faults_path(self) -> Path:
        return self.layout.paths.faults

    def faults(self) -> dict[str, str]:
        try:
            return json.loads(self._faults_path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _set_fault(self, node: str, mode: str | None) -> None:
        faults = self.faults()
        if mode:
            faults[node] = mode
        else:
            faults.pop(node, None)
        atomic.write_json(self._faults_path, faults)
        isolated = sorted(n for n, m in faults.items() if m == "isolated")
        atomic.write_json(self.layout.paths.isolated, isolated)

    # -- lifecycle ----------------------------------------------------------------------------
    def is_running(self) -> bool:
        names = [LAB_SUPERVISOR, *(n.name for n in self.layout.nodes)]
        return any(self.supervisor(n).pid() is not None for n in names)

    def check_ports(self) -> None:
        """Fail before starting anything if another program holds one of the lab's ports."""
        lay, p = self.layout, self.layout.ports
        wanted: list[tuple[str, int, str]] = [(lay.vip, p.http, "VIP http"),
                                              (lay.vip, p.https, "VIP https")]
        for n in lay.nodes:
            addr = lay.address(n.name)
            if n.has("lb"):
                wanted += [(addr, p.http, f"{n.name} Apache"), (addr, p.https, f"{n.name} TLS")]
            if n.has("app"):
                wanted.append((addr, p.app, f"{n.name} app server"))
        for host, port, what in wanted:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((host, port))
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        raise LabError(f"port {host}:{port} ({what}) is already in use by "
                                       "another program",
                                       "stop that program (see `ss -ltnp`), or start the lab "
                                       "with other ports") from None
                    raise

    def _forkserver_serves(self) -> bool:
        """Wait (up to 30 s) for the forkserver to answer; whether it forks (it answers no
        when its imports started a thread: a fork would copy a lock another thread holds)."""
        sock = self.layout.paths.forkserver
        wait.until(lambda: forkserver.state(sock) is not None, 30, every=0.1)
        return forkserver.state(sock) is True

    def up(self, progress: Progress) -> None:
        lab_sup = self.supervisor(LAB_SUPERVISOR)
        fresh = not self.is_running()
        if fresh:
            self.fresh_network(progress)
            self._faults_path.unlink(missing_ok=True)
            self.layout.paths.links.unlink(missing_ok=True)
            atomic.write_json(self.layout.paths.isolated, [])
        progress("starting the lab-wide supervisor")
        lab_sup.write_config(self.lab_programs())
        lab_sup.start(outside=self.outside())
        if "forkserver" in lab_sup.programs() and not self._forkserver_serves():
            progress("the forkserver did not answer: each node's daemons start as programs "
                     "of their own (more memory)")
        for n in self.layout.nodes:
            if self.faults().get(n.name):
                continue  # a node a learner broke stays broken until `recover`
            if self.supervisor(n.name).pid() is None:
                progress(f"starting {n.name} ({', '.join(n.roles)})")
                self.start_node(n.name)
        self.wait_components(progress, [n.name for n in self.layout.nodes
                                        if not self.faults().get(n.name)])

    def down(self, progress: Progress) -> None:
        for n in self.layout.nodes:
            sup = self.supervisor(n.name)
            pid = sup.pid()
            if pid is None:
                continue
            if self.faults().get(n.name) == "frozen":
                processes.thaw_tree(pid)
            progress(f"stopping {n.name}")
            sup.stop()
            if sup.pid() is not None:  # did not stop in time: no survivors allowed
                processes.kill_tree(pid)
        progress("stopping the lab network")
        sup = self.supervisor(LAB_SUPERVISOR)
        pid = sup.pid()
        sup.stop()
        if pid and sup.pid() is not None:
            processes.kill_tree(pid)
        self.remove_network(progress)
        self._faults_path.unlink(missing_ok=True)
        self.layout.paths.links.unlink(missing_ok=True)

    def fresh_network(self, progress: Progress) -> None:
        """Before a fresh start: the lab's ports are free, no old isolation rules remain."""
        self.check_ports()
        firewall.clear(self.layout.lab, self.layout.prefix)

    def remove_network(self, progress: Progress) -> None:
        """After the supervisors stopped: nothing may still hold the lab's addresses."""
        self._reap_strays()
        firewall.clear(self.layout.lab, self.layout.prefix)

    def _reap_strays(self) -> None:
        """Kill anything still bound to the lab's addresses (e.g. a node killed mid-start)."""
        prefix = self.layout.prefix + "."
        for conn in psutil.net_connections(kind="inet"):
            if conn.laddr and conn.laddr.ip.startswith(prefix) and conn.pid:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    psutil.Process(conn.pid).kill()

    # -- state --------------------------------------------------------------------------------
    def node_state(self, node: str) -> str:
        fault = self.faults().get(node)
        if fault:
            return fault
        return "up" if self.supervisor(node).pid() is not None else "down"

    def vip(self) -> dict[str, Any]:
        seg = read_state(self.layout.rundir)
        return self.vip_summary(seg.get("owner"), seg.get("claimants", []), self.lb_views())

    def resources(self, kind: str = "rss") -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for name in [LAB_SUPERVISOR, *(n.name for n in self.layout.nodes)]:
            info = self.supervisor(name).programs() if self.node_state(name) == "up" or \
                name == LAB_SUPERVISOR else {}
            out[name] = {prog: processes.memory(p["pid"], kind)
                         for prog, p in info.items() if p["pid"]}
            sup_pid = self.supervisor(name).pid()
            if sup_pid and info:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc = psutil.Process(sup_pid)
                    out[name]["supervisord"] = (proc.memory_info().rss if kind == "rss"
                                                else proc.memory_full_info().pss)
        return out

    # -- faults -------------------------------------------------------------------------------
    def _break(self, node: str, mode: str) -> str:
        pid = self.supervisor(node).pid()
        assert pid is not None
        if mode == "crash":
            count = processes.kill_tree(pid)
            self._set_fault(node, "crashed")
            msg = f"{node} crashed: SIGKILL to {count} processes (supervisor included)"
        elif mode == "freeze":
            count = processes.freeze_tree(pid)
            self._set_fault(node, "frozen")
            msg = f"{node} frozen: SIGSTOP to {count} processes (like a hung VM)"
        else:
            self._set_fault(node, "isolated")
            if firewall.available():
                firewall.isolate(self.layout.lab, self.layout.prefix, self.layout.address(node))
                addr = self.layout.address(node)
                # what the rules really cut: a socket that does not bind its source leaves
                # loopback as 127.0.0.1, which no rule of the node's address matches
                msg = (f"{node} isolated by nftables: packets to {addr}, and from {addr} to the "
                       "lab, are dropped; connections its programs open without binding "
                       f"{addr} leave from 127.0.0.1 and still get through")
            else:
                msg = (f"{node} isolated from the lab segment only (VRRP adverts, VIP traffic): "
                       "without root, direct connections between node addresses cannot be cut")
        return msg

    def _kill_process_group(self, node: str, pid: int) -> str:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        return ""

    def _mend(self, node: str, state: str) -> None:
        sup = self.supervisor(node)
        if state == "crashed":
            self.start_node(node)
        elif state == "frozen":
            pid = sup.pid()
            if pid is not None:
                processes.thaw_tree(pid)
        elif state == "isolated" and firewall.available():
            firewall.heal(self.layout.lab, self.layout.prefix, self.layout.address(node))
        self._set_fault(node, None)
