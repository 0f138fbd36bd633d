"""The compose backend: every node a container of one image, VRRP by keepalived on a Docker bridge.

`backend.ComposeBackend` starts, breaks and mends the lab through `docker compose` and the Docker
API; `images` builds the images (a debootstrap base where none can be pulled); `node` is each
container's entry point; `network` hands out a /24 per compose lab.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ComposeBackend"]


def __getattr__(name: str) -> Any:
    """`ComposeBackend` on first use, so `python -m labkit.backends.compose.images` (or `.node`)
    does not import its own module twice."""
    if name == "ComposeBackend":
        from labkit.backends.compose.backend import ComposeBackend

        return ComposeBackend
    raise AttributeError(name)
