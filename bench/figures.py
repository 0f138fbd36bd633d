"""A measured figure, and the small statistics every benchmark needs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class Figure:
    name: str
    value: float | None
    unit: str
    how: str  # how it was measured, in one sentence

    def to_dict(self) -> dict:
        return asdict(self)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: every reported figure was really observed)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]
