"""Progress of a long command (backtest, replay) with an estimate of the time left: a one-line bar
on a terminal's standard error, and otherwise a log line now and then, so that a job's log shows
the command is alive without filling up with it."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger(__name__)

REDRAW_SECONDS = 0.1
"""A terminal's bar is redrawn at most this often (and once more at the end)."""
LOG_TENTHS = 10
"""Off a terminal a line is logged each time another tenth of the work is done..."""
LOG_SECONDS = 30.0
"""...or when this long has passed since the last line, whichever comes first."""


class Progress:
    """``progress(done, total)`` reports; ``close()`` ends the bar's line. ``clock`` is injected so
    tests can move time."""

    def __init__(
        self, label: str, *, stream: TextIO = sys.stderr, clock: Callable[[], float] = time.monotonic, width: int = 30
    ) -> None:
        self._label = label
        self._stream = stream
        self._clock = clock
        self._width = width
        self._terminal = stream.isatty()
        self._started = clock()
        self._shown_at: float | None = None
        self._shown_tenth = 0
        self._line_length = 0

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        share = done / total if total else 1.0
        if self._terminal:
            if self._shown_at is not None and now - self._shown_at < REDRAW_SECONDS and done < total:
                return
            self._draw(done, total, share, now)
        else:
            tenth = int(share * LOG_TENTHS)
            since = now - (self._started if self._shown_at is None else self._shown_at)
            if tenth <= self._shown_tenth and since < LOG_SECONDS:
                return
            self._shown_tenth = tenth
            log.info("%s: %d/%d (%d%%), %s", self._label, done, total, int(share * 100), self._timing(done, total, now))
        self._shown_at = now

    def close(self) -> None:
        if self._terminal and self._shown_at is not None:
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self, done: int, total: int, share: float, now: float) -> None:
        filled = round(self._width * share)
        line = (f"{self._label} [{'#' * filled}{'-' * (self._width - filled)}] {done}/{total} {int(share * 100)}% "
                f"{self._timing(done, total, now)}")
        self._stream.write("\r" + line.ljust(self._line_length))  # spaces wipe a longer previous line
        self._stream.flush()
        self._line_length = len(line)

    def _timing(self, done: int, total: int, now: float) -> str:
        elapsed = now - self._started
        if done >= total:
            return f"done in {_duration_text(elapsed)}"
        if done == 0:
            return "time left unknown"
        return f"about {_duration_text(elapsed * (total - done) / done)} left"


def _duration_text(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: as precise as a person reading an estimate needs."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
