"""Run one node's app server: `python -m labkit.appserver --lab LAB --node NODE`."""

from __future__ import annotations

import uvicorn

from labkit.appserver import limits
from labkit.appserver.app import create_app
from labkit.layout import node_program_args

#: uvicorn's fast event loop and HTTP parser (`uvicorn[standard]`), named rather than "auto" so a
#: missing one fails the start instead of quietly halving the NBI's speed. One worker per node: a
#: second process would not add a core (the lab shares two), costs its memory, and would split
#: the in-memory session store and the membership state a node keeps.
SERVER = {"loop": "uvloop", "http": "httptools",
          "ws": "none",  # the NBI has no WebSocket route: no library imported for one
          "proxy_headers": False,  # no route reads the client's address from X-Forwarded-For
          "timeout_keep_alive": limits.KEEP_ALIVE}  # above Apache's ttl= on its members


def main() -> None:
    layout, node = node_program_args(__doc__)
    app = create_app(layout, node)
    # the API description of every tier, built now rather than by the first GET /openapi.json:
    # on a loaded machine building it took longer than the balancer's member timeout (502)
    app.openapi()
    uvicorn.run(app, host=layout.address(node), port=layout.ports.app,
                log_level="warning", access_log=False, **SERVER)


if __name__ == "__main__":
    main()
