"""Prometheus-style durations (``15s``, ``5m``, ``1h30m``, ``7d``) used throughout the config."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises ValueError with the offending text when it is not a duration."""
    stripped = text.strip()
    position = 0
    total = 0.0
    for match in _PART.finditer(stripped):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(stripped) or position == 0:
        raise ValueError(f"{text!r} is not a duration (examples: 15s, 5m, 1h30m, 7d)")
    return total


def format_duration(seconds: float) -> str:
    """The shortest exact PromQL duration for a whole number of seconds (``90`` → ``1m30s``)."""
    if seconds <= 0 or seconds != int(seconds):
        raise ValueError(f"{seconds} s cannot be written as a PromQL duration")
    remaining = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
