"""The node's application server (labkit.appserver on uvicorn), on every `app` node."""

from __future__ import annotations

from labkit.component import Component, NodeContext, Program, wait_for_port


class AppServer(Component):
    role = "app"
    programs = ("app",)

    def configure(self, ctx: NodeContext) -> list[Program]:
        return [ctx.python_program("app", "labkit.appserver", priority=50, stopwaitsecs=5)]

    def wait_ready(self, ctx: NodeContext, timeout: float) -> None:
        wait_for_port(ctx.address, ctx.layout.ports.app, timeout,
                      f"the app server on {ctx.node}", ctx.log("app"), alive=ctx.alive("app"))
