"""Option values of the commands, read one way: each error names its option and exits with 2."""

from __future__ import annotations

import math

from adapter.settings.durations import parse_duration


class UsageError(Exception):
    """Arguments that parse but do not make sense together (exit code 2)."""


def duration(text: str, option: str) -> float:
    """Seconds of a duration such as ``5m``."""
    try:
        return parse_duration(text)
    except ValueError as error:
        raise UsageError(f"{option}: {error}") from error


def positive_duration(text: str, option: str) -> float:
    """Seconds of a duration above zero."""
    seconds = duration(text, option)
    if seconds <= 0:
        raise UsageError(f"{option}: must be positive, not {text}")
    return seconds


def number(text: str, option: str) -> float:
    """A finite number."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise UsageError(f"{option}: {text!r} is not a finite number")
    return value


def positive(text: str, option: str) -> float:
    """A number above zero."""
    value = number(text, option)
    if value <= 0:
        raise UsageError(f"{option}: must be positive, not {text}")
    return value


def share(text: str, option: str) -> float:
    """``1%`` or ``0.01``: a share in [0, 1)."""
    stripped = text.strip()
    value = number(stripped[:-1], option) / 100 if stripped.endswith("%") else number(stripped, option)
    if not 0 <= value < 1:
        raise UsageError(f"{option}: {text!r} is not a share of requests in [0, 1) (write 1% or 0.01)")
    return value


def whole(text: str, option: str, *, least: int = 1) -> int:
    """A whole number of at least ``least``."""
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a whole number") from None
    if value < least:
        raise UsageError(f"{option}: must be at least {least}, not {value}")
    return value
