"""The VIP election daemon on each `lb` node (labkit.vrrp.daemon; keepalived on compose)."""

from __future__ import annotations

from labkit.components.base import Component, NodeContext, Program


class Vrrp(Component):
    role = "lb"
    programs = ("vrrp",)

    def configure(self, ctx: NodeContext) -> list[Program]:
        return [ctx.python_program("vrrp", "labkit.vrrp.daemon", priority=30, stopwaitsecs=3)]
