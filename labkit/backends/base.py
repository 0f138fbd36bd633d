"""What a backend does: start a lab's nodes, break them, mend them, and report what runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from labkit.layout import Layout

FAULT_MODES = ("crash", "freeze", "isolate")
Progress = Callable[[str], None]


class Backend(ABC):
    name: str

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    @abstractmethod
    def up(self, progress: Progress) -> None:
        """Start every node's programs (idempotent) and return once they are ready."""

    @abstractmethod
    def down(self, progress: Progress) -> None:
        """Stop everything of the lab; nothing may keep running or listening."""

    @abstractmethod
    def is_running(self) -> bool:
        """True if any part of the lab is running."""

    @abstractmethod
    def node_state(self, node: str) -> str:
        """up | crashed | frozen | isolated | down"""

    @abstractmethod
    def services(self, node: str) -> dict[str, str]:
        """program → state (running, starting, backoff, exited, stopped, frozen, down)."""

    @abstractmethod
    def fail(self, node: str, mode: str) -> None: ...

    @abstractmethod
    def fail_service(self, node: str, service: str) -> None: ...

    @abstractmethod
    def recover(self, node: str) -> None: ...

    @abstractmethod
    def vip(self) -> dict[str, Any]:
        """owner (the node the VIP's traffic reaches), claimants, and each LB node's own view."""

    def resources(self) -> dict[str, dict[str, int]]:
        """node → {service: resident bytes}; empty where the backend cannot see processes."""
        return {}
