"""Run the device fleet (or one shard of it): `python -m labkit.devices --lab LAB`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from labkit.devices import control_socket, host_key_path, password
from labkit.devices.fleet import Fleet
from labkit.layout import Layout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lab", required=True)
    parser.add_argument("--shard", type=int, default=0, help="serve devices i with i %% shards "
                        "== shard (so a large fleet can use every core)")
    parser.add_argument("--shards", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    layout = Layout.load(args.lab)
    spec = layout.topology.devices
    indexes = [i for i in range(1, spec.count + 1) if i % args.shards == args.shard]
    fleet = Fleet(layout.fleet_address, layout.ports.netconf, indexes, spec.latency_ms,
                  host_key_path(layout), password(layout), control_socket(layout, args.shard))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await fleet.run(stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
