"""Run one node's app server: `python -m labkit.appserver --lab LAB --node NODE`."""

from __future__ import annotations

import uvicorn

from labkit.appserver.app import create_app
from labkit.layout import node_program_args


def main() -> None:
    layout, node = node_program_args(__doc__)
    app = create_app(layout, node)
    uvicorn.run(app, host=layout.address(node), port=layout.ports.app,
                log_level="warning", access_log=False, timeout_keep_alive=30)


if __name__ == "__main__":
    main()
