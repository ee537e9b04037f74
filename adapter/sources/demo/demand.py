"""Offered load for the demo fleet: a synthetic daily/weekly curve with bursts, or a real trace.

Every random-looking quantity here and in :mod:`adapter.sources.demo.fleet` is a hash of (seed, stream,
index), where the index is a step number or a fixed time bucket. Nothing depends on how a time
range is cut into calls, so generating a range once or in pieces gives identical samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from forecasting import Trace

__all__ = [
    "Burst",
    "DemandModel",
    "SyntheticDemand",
    "TokenLengths",
    "TraceDemand",
    "hash_normal",
    "hash_uniform",
    "stream_key",
]

_MASK64 = (1 << 64) - 1
_DAY = 86_400.0
_HOUR = 3_600.0


def stream_key(seed: int, *parts: int) -> np.uint64:
    """A 64-bit key for one independent noise stream (e.g. seed, stream id, pod index)."""
    key = seed & _MASK64
    for part in parts:
        key = _splitmix_int((key ^ (part & _MASK64)) * 0x9E3779B97F4A7C15 & _MASK64)
    return np.uint64(key)


def hash_uniform(key: np.uint64, index: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) values, one per integer ``index``, fixed by ``key``."""
    z = np.asarray(index, dtype=np.int64).view(np.uint64) ^ key
    z = z * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def hash_normal(key: np.uint64, index: np.ndarray) -> np.ndarray:
    """Standard normal values, one per integer ``index`` (Box-Muller over two hashed streams)."""
    u1 = hash_uniform(key, index)
    u2 = hash_uniform(key ^ np.uint64(0x5DEECE66D), index)
    normal: np.ndarray = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
    return normal


def _splitmix_int(z: int) -> int:
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _MASK64
    return z ^ (z >> 31)


TokenLengths = tuple[np.ndarray, np.ndarray]
"""Mean prompt and output tokens per request, one of each per step."""


class DemandModel(Protocol):
    """Total requests offered to the fleet, before the split across workloads."""

    def requests(self, starts: np.ndarray, duration: float) -> np.ndarray:
        """Expected requests arriving in ``[s, s + duration)`` for each Unix time ``s``."""

    def reference_rps(self) -> float:
        """The total rate the fleet is sized to serve; peaks and bursts go beyond it."""

    def token_lengths(self, starts: np.ndarray, duration: float) -> TokenLengths | None:
        """Mean prompt and output tokens of the requests arriving in each step, where the demand
        counts them (a token trace); None leaves each workload its own token mix."""


@dataclass(frozen=True)
class Burst:
    """A flash crowd: extra load rising fast to ``extra_rps`` and decaying until ``end``."""

    start: float
    end: float
    extra_rps: float


@dataclass(frozen=True)
class SyntheticDemand:
    """Diurnal curve × weekly modulation × per-minute noise, plus bursts, all from ``seed``.

    The weekday rate at hour h (UTC) is ``base_rps · (1 + diurnal_amplitude · cos(2π (h − peak_hour) / 24))``;
    weekends are scaled by ``weekend_factor``. Each hour independently holds a burst with
    probability ``bursts_per_day / 24``; it starts at a hashed minute, lasts ``burst_minutes``
    and adds up to ``burst_amplitude · base_rps``.
    """

    base_rps: float = 25.0
    diurnal_amplitude: float = 0.6
    peak_hour_utc: float = 15.0
    weekend_factor: float = 0.75
    noise: float = 0.05
    bursts_per_day: float = 3.0
    burst_amplitude: tuple[float, float] = (0.4, 1.0)
    burst_minutes: tuple[float, float] = (4.0, 16.0)
    seed: int = 0

    def reference_rps(self) -> float:
        """The weekday peak one noise σ up: the noisier minutes of the peak and bursts overload a fleet sized to it."""
        return self.base_rps * (1.0 + self.diurnal_amplitude) * (1.0 + self.noise)

    def token_lengths(self, starts: np.ndarray, duration: float) -> TokenLengths | None:
        """None: the synthetic curve counts requests only."""
        return None

    def requests(self, starts: np.ndarray, duration: float) -> np.ndarray:
        """Rate at the middle of each step × its length: noise is constant per minute, the rest is smooth."""
        return self.rate(np.asarray(starts, dtype=np.float64) + duration / 2.0) * duration

    def rate(self, times: np.ndarray) -> np.ndarray:
        """Offered req/s at each Unix time."""
        times = np.asarray(times, dtype=np.float64)
        hour = (times % _DAY) / _HOUR
        diurnal = 1.0 + self.diurnal_amplitude * np.cos(2.0 * np.pi * (hour - self.peak_hour_utc) / 24.0)
        weekday = (np.floor(times / _DAY).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        weekly = np.where(weekday >= 5, self.weekend_factor, 1.0)
        minute = np.floor(times / 60.0).astype(np.int64)
        noise = np.exp(self.noise * hash_normal(stream_key(self.seed, 1), minute) - self.noise**2 / 2.0)
        offered: np.ndarray = self.base_rps * diurnal * weekly * noise + self._burst_rate(times)
        return offered

    def bursts(self, start: float, end: float) -> list[Burst]:
        """The bursts that overlap ``[start, end)``, in time order."""
        hours = np.arange(math.floor(start / _HOUR), math.floor(end / _HOUR) + 1, dtype=np.int64)
        begin, length, extra, present = self._burst_schedule(hours)
        return [
            Burst(start=float(b), end=float(b + d), extra_rps=float(x))
            for b, d, x, p in zip(begin, length, extra, present)
            if p and b < end and b + d > start
        ]

    def _burst_schedule(self, hours: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(start, duration, extra req/s, present) of the burst candidate of each hour bucket."""
        present = hash_uniform(stream_key(self.seed, 2), hours) < self.bursts_per_day / 24.0
        low_minutes, high_minutes = self.burst_minutes
        duration = 60.0 * (low_minutes + (high_minutes - low_minutes) * hash_uniform(stream_key(self.seed, 3), hours))
        # A burst starts early enough in its hour to end before the next one's could start.
        begin = hours * _HOUR + (_HOUR - duration) * hash_uniform(stream_key(self.seed, 4), hours)
        low, high = self.burst_amplitude
        extra = self.base_rps * (low + (high - low) * hash_uniform(stream_key(self.seed, 5), hours))
        return begin, duration, extra, present

    def _burst_rate(self, times: np.ndarray) -> np.ndarray:
        hours = np.floor(times / _HOUR).astype(np.int64)
        begin, duration, extra, present = self._burst_schedule(hours)
        progress = (times - begin) / duration
        # Fast rise over the first 15 % of the burst, then a linear decay.
        shape = np.clip(np.minimum(progress / 0.15, (1.0 - progress) / 0.85), 0.0, 1.0)
        return np.where(present, extra * shape, 0.0)


class TraceDemand:
    """A real trace played from ``origin`` (the fleet's start), looping when it ends.

    Steps without data (NaN) offer no load: the demo cannot invent what the source did not record,
    and an idle gap is easier to spot on a dashboard than made-up traffic. A trace that counts
    tokens gives each step's requests the prompt and output lengths the trace recorded for them.
    """

    def __init__(self, trace: Trace, *, origin: float) -> None:
        counts = np.nan_to_num(trace.requests, nan=0.0)
        if not counts.any():
            raise ValueError(f"trace {trace.name} has no requests to play")
        self.trace = trace
        self.origin = origin
        self._cumulative = _cumulative(counts)
        self._tokens: tuple[np.ndarray, ...] | None = None
        if trace.tokens is not None:
            self._tokens = tuple(_cumulative(np.nan_to_num(trace.tokens[column], nan=0.0))
                                 for column in ("prompt_tokens", "generation_tokens"))

    def reference_rps(self) -> float:
        """The trace's 90th-percentile rate (its mean when that is zero, as in mostly idle traces)."""
        rates = self.trace.rate_per_second()
        rates = rates[np.isfinite(rates)]
        return float(max(np.percentile(rates, 90), rates.mean()))

    def requests(self, starts: np.ndarray, duration: float) -> np.ndarray:
        """Requests arriving in each ``[s, s + duration)``, integrating the piecewise-constant trace."""
        return self._arrived(self._cumulative, np.asarray(starts, dtype=np.float64), duration)

    def token_lengths(self, starts: np.ndarray, duration: float) -> TokenLengths | None:
        """The trace's tokens arriving in each step over its requests; in a step without requests,
        the trace's mean lengths."""
        if self._tokens is None:
            return None
        starts = np.asarray(starts, dtype=np.float64)
        requests = self.requests(starts, duration)
        lengths = []
        for cumulative in self._tokens:
            tokens = self._arrived(cumulative, starts, duration)
            mean = cumulative[-1] / self._cumulative[-1]
            lengths.append(np.divide(tokens, requests, out=np.full_like(tokens, mean), where=requests > 0))
        return lengths[0], lengths[1]

    def _arrived(self, cumulative: np.ndarray, starts: np.ndarray, duration: float) -> np.ndarray:
        arrived: np.ndarray = self._delivered(cumulative, starts + duration) - self._delivered(cumulative, starts)
        return arrived

    def _delivered(self, cumulative: np.ndarray, times: np.ndarray) -> np.ndarray:
        """What the looping trace has delivered of the column whose running total is ``cumulative``
        between ``origin`` and each time."""
        step = self.trace.step_seconds
        rows = len(cumulative) - 1
        steps = (times - self.origin) / step
        loops = np.floor(steps / rows)
        within = steps - loops * rows
        row = np.minimum(np.floor(within).astype(np.int64), rows - 1)
        partial_row = (within - row) * (cumulative[row + 1] - cumulative[row])
        delivered: np.ndarray = loops * cumulative[-1] + cumulative[row] + partial_row
        return delivered


def _cumulative(counts: np.ndarray) -> np.ndarray:
    """Running totals from zero: row ``i`` holds what the rows before ``i`` delivered."""
    return np.concatenate(([0.0], np.cumsum(counts)))
