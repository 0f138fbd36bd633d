"""Run one node's app server: `python -m labkit.appserver --lab LAB --node NODE`."""

from __future__ import annotations

import argparse

import uvicorn

from labkit.appserver.app import create_app
from labkit.layout import Layout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lab", required=True)
    parser.add_argument("--node", required=True)
    args = parser.parse_args()
    layout = Layout.load(args.lab)
    app = create_app(layout, args.node)
    uvicorn.run(app, host=layout.address(args.node), port=layout.ports.app,
                log_level="warning", access_log=False, timeout_keep_alive=30)


if __name__ == "__main__":
    main()
