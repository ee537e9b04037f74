"""A data source with no series at all, for tests of what the server does around its data."""

from __future__ import annotations

from adapter.sources.protocol import RangeSeries, Sample


class EmptySource:
    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        return []

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        return []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass
