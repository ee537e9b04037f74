"""What the hot path of a tracked key remembers between requests: each request target parsed
once, and the body last rendered for it with the reading it was rendered from.

HPAs repeat the same few targets every 15 s, and a reading changes once per refresh, so most
requests are a dictionary lookup and an identity check. A body is served again only for the very
reading it was rendered from: a new reading (a refresh, a rule a reload changed) renders afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.tracking.metric_values import MetricRequest
from adapter.tracking.store import Reading

TARGETS_KEPT = 4096
"""Request targets remembered; past it, all are forgotten (HPAs send a few, a scanner many)."""


@dataclass
class KnownTarget:
    """One request target: its parsed request, and its last rendered body with the reading it
    came from."""

    parsed: MetricRequest
    reading: Reading | None = None
    body: bytes = b""

    def rendered(self, reading: Reading) -> bytes | None:
        """The body rendered from ``reading``, where it is the last one rendered."""
        return self.body if reading is self.reading else None

    def keep(self, reading: Reading, body: bytes) -> bytes:
        """Remember ``body`` as rendered from ``reading``; returns it."""
        self.reading, self.body = reading, body
        return body


class RequestCache:
    """Known request targets by their raw text, bounded by :data:`TARGETS_KEPT`."""

    def __init__(self) -> None:
        self._targets: dict[str, KnownTarget] = {}

    def get(self, target: str) -> KnownTarget | None:
        return self._targets.get(target)

    def add(self, target: str, parsed: MetricRequest) -> KnownTarget:
        if len(self._targets) >= TARGETS_KEPT:
            self._targets.clear()
        known = self._targets[target] = KnownTarget(parsed)
        return known

    def clear(self) -> None:
        """Forget every target: what they parsed and rendered to may no longer hold."""
        self._targets.clear()
