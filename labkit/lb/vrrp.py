"""The VIP election daemon on each `lb` node (labkit.lb.vrrpd; keepalived on compose)."""

from __future__ import annotations

from labkit.component import Component, NodeContext, Program


class Vrrp(Component):
    role = "lb"
    programs = ("vrrp",)

    def configure(self, ctx: NodeContext) -> list[Program]:
        return [ctx.python_program("vrrp", "labkit.lb.vrrpd", priority=30, stopwaitsecs=3)]
