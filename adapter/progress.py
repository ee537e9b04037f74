"""A one-line progress bar on a terminal's standard error (nothing when it is not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """``bar(done, total)`` redraws the line at most ten times a second; ``close()`` ends it."""

    def __init__(self, label: str, *, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self._label = label
        self._stream = stream
        self._width = width
        self._drawn_at = 0.0
        self._active = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self._active or (now - self._drawn_at < 0.1 and done < total):
            return
        self._drawn_at = now
        filled = round(self._width * done / total) if total else self._width
        bar = "#" * filled + "-" * (self._width - filled)
        self._stream.write(f"\r{self._label} [{bar}] {done}/{total}")
        self._stream.flush()

    def close(self) -> None:
        if self._active:
            self._stream.write("\n")
            self._stream.flush()
