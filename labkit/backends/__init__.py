"""Backends start a topology somewhere: `local` (plain processes on loopback) or `compose`."""

from __future__ import annotations

from labkit.backends.base import Backend
from labkit.errors import LabError
from labkit.layout import Layout

BACKENDS = ("local", "compose")


def backend_for(layout: Layout) -> Backend:
    if layout.backend == "local":
        from labkit.backends.local.backend import LocalBackend

        return LocalBackend(layout)
    if layout.backend == "compose":
        try:
            from labkit.backends.compose import ComposeBackend  # type: ignore[attr-defined]
        except ImportError:
            raise LabError("the compose backend is not available in this version",
                           "use --backend local") from None
        return ComposeBackend(layout)
    raise LabError(f"unknown backend {layout.backend!r}", f"choose one of: {', '.join(BACKENDS)}")
