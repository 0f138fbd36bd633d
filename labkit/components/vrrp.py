"""The VIP election daemon on each `lb` node (labkit.vrrp.daemon; keepalived on compose)."""

from __future__ import annotations

import sys

from labkit.components.base import Component, NodeContext, Program


class Vrrp(Component):
    role = "lb"
    programs = ("vrrp",)

    def configure(self, ctx: NodeContext) -> list[Program]:
        return [Program("vrrp", [sys.executable, "-m", "labkit.vrrp.daemon",
                                 "--lab", ctx.layout.lab, "--node", ctx.node],
                        priority=30, stopwaitsecs=3)]
