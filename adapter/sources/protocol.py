"""The one way the adapter reaches time-series data.

Prometheus (``adapter.sources.prometheus``) and the embedded demo fleet (``adapter.sources.demo``) both implement
:class:`Source`; the server never knows which one it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from adapter.kubernetes.errors import SourceError

__all__ = ["RangeSeries", "Sample", "Source", "SourceError"]


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector: a label set and its value (may be NaN or ±Inf)."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: timestamps (Unix seconds) and values of equal length."""

    labels: Mapping[str, str]
    timestamps: tuple[float, ...] = field(default=())
    values: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.timestamps) != len(self.values):
            raise ValueError("timestamps and values differ in length")


class Source(Protocol):
    """Evaluates PromQL. Implementations raise only :class:`SourceError` (wrapping their causes)."""

    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        """Evaluate ``query`` at Unix time ``at`` (now when None) as an instant vector."""

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        """Evaluate ``query`` at every ``step`` seconds from ``start`` to ``end`` inclusive."""

    async def start(self) -> None:
        """Start what queries run on (threads, connections), once, before the first query:
        constructing a source starts nothing."""

    async def close(self) -> None:
        """Release connections; the source is not used afterwards."""
