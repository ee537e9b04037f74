"""Reading request-arrival traces: CSV files with the header ``timestamp,requests``, or
``timestamp,requests,prompt_tokens,generation_tokens`` for an LLM trace that counts its tokens.

A trace is a regular series of request counts, one row per step. ``timestamp`` is ISO 8601
(UTC when it has no offset) or seconds (Unix time, or seconds since the start of the trace;
integers or floats). ``requests`` is the number of requests that arrived in
``[timestamp, timestamp + step)``, and ``prompt_tokens`` and ``generation_tokens`` the tokens of
their prompts and outputs; an empty cell means the source has no record for that step and
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

from forecasting.core import InputError

__all__ = ["DEMANDS", "Trace", "TraceError", "read_trace"]

HEADER = ("timestamp", "requests")
TOKEN_HEADER = (*HEADER, "prompt_tokens", "generation_tokens")
DEMANDS = TOKEN_HEADER[1:]
"""The columns a trace's demand can be taken from (:meth:`Trace.demand`)."""
UNIX_TIME_THRESHOLD = 1e9
"""Numeric timestamps at or above this (2001-09-09) are read as Unix time, below as relative."""
GRID_TOLERANCE = 1e-3
"""How far, in steps, a timestamp may sit from its grid point (float rounding of Unix seconds)."""
MAX_ROWS = 50_000_000
"""Cap on rows after gap filling, so one mistyped timestamp cannot allocate gigabytes."""


class TraceError(InputError):
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
    """float64 counts per step, NaN where the source has no data; read-only. Requests, or the
    tokens of a trace's :meth:`demand` in tokens."""
    tokens: dict[str, np.ndarray] | None = None
    """``prompt_tokens`` and ``generation_tokens`` per step, for a trace that counts them."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.step_seconds) and self.step_seconds > 0):
            raise ValueError(f"step_seconds must be a positive number, got {self.step_seconds!r}")
        object.__setattr__(self, "requests", _read_only(self.requests, "requests"))
        if self.tokens is not None:
            tokens = {name: _read_only(values, name) for name, values in self.tokens.items()}
            if set(tokens) != set(DEMANDS[1:]) or any(len(values) != len(self.requests) for values in tokens.values()):
                raise ValueError(f"tokens must hold {' and '.join(DEMANDS[1:])}, one count per row")
            object.__setattr__(self, "tokens", tokens)

    def demand(self, column: str) -> Trace:
        """The trace whose counts are ``column``'s: itself for ``requests``, its prompt or output
        tokens per step for a token column, so a replay or backtest runs on tokens."""
        if column == "requests":
            return self
        if column not in DEMANDS:
            raise TraceError(f"{self.name}: no demand {column!r}; choose one of {', '.join(DEMANDS)}")
        if self.tokens is None:
            raise TraceError(f'{self.name}: no {column} column; a token trace has the header "{",".join(TOKEN_HEADER)}"')
        return Trace(f"{self.name} {column}", self.step_seconds, self.start, self.wall_clock, self.tokens[column])

    def __len__(self) -> int:
        return int(self.requests.shape[0])

    def rate_per_second(self) -> np.ndarray:
        """Requests per second in each step (NaN stays NaN)."""
        return self.requests / self.step_seconds

    @property
    def duration_seconds(self) -> float:
        """Time covered by all rows: rows × step."""
        return len(self) * self.step_seconds


def _read_only(values: np.ndarray, name: str) -> np.ndarray:
    counts = np.array(values, dtype=np.float64)
    if counts.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {counts.shape}")
    counts.flags.writeable = False
    return counts


def read_trace(path: str | os.PathLike[str], *, value_column: str = "requests") -> Trace:
    """Read one trace CSV; raises :class:`TraceError` for anything that is not a valid trace.

    ``value_column`` names the second column for other series on a trace's grid (e.g. a grid's
    carbon intensity, ``timestamp,grams_per_kwh``); its values land in ``requests``, and such a
    file has no token columns."""
    where = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            headers = (HEADER, TOKEN_HEADER) if value_column == HEADER[1] else ((HEADER[0], value_column),)
            return _parse(file, where, Path(path).stem, headers)
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


def _parse(file: TextIO, where: str, name: str, headers: tuple[tuple[str, ...], ...]) -> Trace:
    rows = csv.reader(file)
    header = next(rows, None)
    columns = None if header is None else tuple(cell.strip() for cell in header)
    if columns is None or columns not in headers:
        got = "an empty file" if header is None else f'"{",".join(header)}"'
        expected = " or ".join(f'"{",".join(names)}"' for names in headers)
        raise TraceError(f"{where}:1: header: expected {expected}, got {got}")
    names = columns[1:]

    counts: list[tuple[float, ...]] = []
    parse_time: _TimestampParser | None = None
    first_time = step = 0.0
    last_index = 0
    line = 1
    for row in rows:
        line = rows.line_num
        if not row:
            continue
        if len(row) != len(columns):
            raise TraceError(f"{where}:{line}: row: expected {len(columns)} fields ({','.join(columns)}), got {len(row)}")
        time_text = row[0].strip()
        if parse_time is None:
            parse_time = _TimestampParser(time_text)
        time = parse_time(time_text)
        if time is None:
            raise TraceError(f'{where}:{line}: timestamp: "{time_text}" is not {parse_time.describe()}')
        count = tuple(_parse_count(text.strip(), where, line, name) for name, text in zip(names, row[1:]))

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
        counts.extend([(math.nan,) * len(names)] * (index - last_index - 1))
        counts.append(count)
        last_index = index

    if len(counts) < 2:
        raise TraceError(
            f"{where}:{line + 1}: timestamp: at least 2 rows are needed to infer the step, found {len(counts)}"
        )
    assert parse_time is not None
    wall_clock = not parse_time.numeric or first_time >= UNIX_TIME_THRESHOLD
    table = np.array(counts, dtype=np.float64)
    return Trace(
        name=name,
        step_seconds=step,
        start=first_time,
        wall_clock=wall_clock,
        requests=table[:, 0],
        tokens={column: table[:, index] for index, column in enumerate(names) if index} if len(names) > 1 else None,
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
