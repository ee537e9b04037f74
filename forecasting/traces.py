"""Reading request-arrival traces: CSV files with the header ``timestamp,requests``.

A trace is a regular series of request counts, one row per step. ``timestamp`` is ISO 8601
(UTC when it has no offset) or seconds (Unix time, or seconds since the start of the trace;
integers or floats). ``requests`` is the number of requests that arrived in
``[timestamp, timestamp + step)``; an empty cell means the source has no record for that step and
is read as NaN, never as zero, so models can mask it instead of learning a fake outage.

The step is the difference between the first two rows. A whole number of missing steps is filled
with NaN rows; a timestamp that repeats, goes backwards or falls between grid points is an error.
Every problem raises :class:`TraceError` naming the file, the line and the field, e.g.
``traces/x.csv:17: requests: "abc" is not a number``.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

import numpy as np

__all__ = ["Trace", "TraceError", "read_trace"]

HEADER = ("timestamp", "requests")
UNIX_TIME_THRESHOLD = 1e9
"""Numeric timestamps at or above this (2001-09-09) are read as Unix time, below as relative."""
GRID_TOLERANCE = 1e-3
"""How far, in steps, a timestamp may sit from its grid point (float rounding of Unix seconds)."""
MAX_ROWS = 50_000_000
"""Cap on rows after gap filling, so one mistyped timestamp cannot allocate gigabytes."""


class TraceError(ValueError):
    """A trace file is missing, unreadable or malformed; the message says where and why."""


@dataclass(frozen=True, eq=False)
class Trace:
    """Request counts per step of one trace file."""

    name: str
    """The file stem, e.g. ``worldcup98_1min``."""
    step_seconds: float
    start: float
    """Unix seconds of the first row; for relative traces the first row's offset (normally 0.0)."""
    wall_clock: bool
    """True when timestamps were ISO 8601 or numeric Unix time, so hour of day and weekday mean something."""
    requests: np.ndarray
    """float64 counts per step, NaN where the source has no data; read-only."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.step_seconds) and self.step_seconds > 0):
            raise ValueError(f"step_seconds must be a positive number, got {self.step_seconds!r}")
        counts = np.array(self.requests, dtype=np.float64)
        if counts.ndim != 1:
            raise ValueError(f"requests must be one-dimensional, got shape {counts.shape}")
        counts.flags.writeable = False
        object.__setattr__(self, "requests", counts)

    def __len__(self) -> int:
        return int(self.requests.shape[0])

    def rate_per_second(self) -> np.ndarray:
        """Requests per second in each step (NaN stays NaN)."""
        return self.requests / self.step_seconds

    @property
    def duration_seconds(self) -> float:
        """Time covered by all rows: rows × step."""
        return len(self) * self.step_seconds


def read_trace(path: str | os.PathLike[str], *, value_column: str = "requests") -> Trace:
    """Read one trace CSV; raises :class:`TraceError` for anything that is not a valid trace.

    ``value_column`` names the second column for other series on a trace's grid (e.g. a grid's
    carbon intensity, ``timestamp,grams_per_kwh``); its values land in ``requests``."""
    where = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            return _parse(file, where, Path(path).stem, (HEADER[0], value_column))
    except OSError as error:
        raise TraceError(f"{where}: cannot read: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise TraceError(f"{where}: cannot read: not UTF-8 text ({error.reason})") from error
    except csv.Error as error:
        raise TraceError(f"{where}: cannot read: {error}") from error


class _TimestampParser:
    """Parses timestamps in the form the first row established (numeric or ISO 8601)."""

    def __init__(self, first: str) -> None:
        self.numeric = _is_number(first)

    def __call__(self, text: str) -> float | None:
        """Unix (or relative) seconds, or None when ``text`` is not in this trace's form."""
        if self.numeric:
            try:
                value = float(text)
            except ValueError:
                return None
            return value if math.isfinite(value) else None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()

    def describe(self) -> str:
        return "a number of seconds" if self.numeric else "an ISO 8601 time"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse(file: TextIO, where: str, name: str, expected: tuple[str, str] = HEADER) -> Trace:
    rows = csv.reader(file)
    header = next(rows, None)
    if header is None or tuple(cell.strip() for cell in header) != expected:
        got = "an empty file" if header is None else f'"{",".join(header)}"'
        raise TraceError(f'{where}:1: header: expected "{",".join(expected)}", got {got}')

    counts: list[float] = []
    parse_time: _TimestampParser | None = None
    first_time = step = 0.0
    last_index = 0
    line = 1
    for row in rows:
        line = rows.line_num
        if not row:
            continue
        if len(row) != 2:
            raise TraceError(f"{where}:{line}: row: expected 2 fields ({','.join(expected)}), got {len(row)}")
        time_text, count_text = row[0].strip(), row[1].strip()
        if parse_time is None:
            parse_time = _TimestampParser(time_text)
        time = parse_time(time_text)
        if time is None:
            raise TraceError(f'{where}:{line}: timestamp: "{time_text}" is not {parse_time.describe()}')
        count = _parse_count(count_text, where, line, expected[1])

        if not counts:
            first_time = time
            counts.append(count)
            continue
        if step == 0.0:
            step = time - first_time
            if step <= 0:
                raise TraceError(_order_error(where, line, time_text, step == 0))
            last_index = 1
            counts.append(count)
            continue
        position = (time - first_time) / step
        index = round(position)
        if abs(position - index) > GRID_TOLERANCE:
            raise TraceError(
                f'{where}:{line}: timestamp: "{time_text}" is off the {_format_seconds(step)} grid '
                f"set by the first two rows"
            )
        if index <= last_index:
            raise TraceError(_order_error(where, line, time_text, index == last_index))
        if index >= MAX_ROWS:
            raise TraceError(
                f'{where}:{line}: timestamp: "{time_text}" is more than {MAX_ROWS} steps after the first row'
            )
        counts.extend([math.nan] * (index - last_index - 1))
        counts.append(count)
        last_index = index

    if len(counts) < 2:
        raise TraceError(
            f"{where}:{line + 1}: timestamp: at least 2 rows are needed to infer the step, found {len(counts)}"
        )
    assert parse_time is not None
    wall_clock = not parse_time.numeric or first_time >= UNIX_TIME_THRESHOLD
    return Trace(
        name=name,
        step_seconds=step,
        start=first_time,
        wall_clock=wall_clock,
        requests=np.array(counts, dtype=np.float64),
    )


def _parse_count(text: str, where: str, line: int, column: str) -> float:
    if not text:
        return math.nan
    try:
        count = float(text)
    except ValueError:
        raise TraceError(f'{where}:{line}: {column}: "{text}" is not a number') from None
    if not math.isfinite(count):
        raise TraceError(f'{where}:{line}: {column}: "{text}" is not a finite number')
    if count < 0:
        raise TraceError(f'{where}:{line}: {column}: "{text}" is negative')
    return count


def _order_error(where: str, line: int, text: str, duplicate: bool) -> str:
    problem = "repeats the previous row's time" if duplicate else "goes backwards"
    return f'{where}:{line}: timestamp: "{text}" {problem}'


def _format_seconds(seconds: float) -> str:
    return f"{seconds:g} s"
