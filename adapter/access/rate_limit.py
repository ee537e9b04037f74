"""A token bucket: ``rate`` events a second on average, ``burst`` at once."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, *, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._tokens = burst
        self._updated = clock()

    def take(self) -> bool:
        """Spend one token; ``False`` (and nothing spent) when the bucket is empty."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def seconds_to_next(self) -> float:
        """How long until a token is there again."""
        return max(0.0, (1 - self._tokens) / self._rate)
