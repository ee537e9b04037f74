"""In-memory time-series store behind the embedded demo's PromQL evaluator.

Owns series storage and label matching. A series is identified by its full label set (including
``__name__``); its samples live in growable float64 numpy arrays so that days of generated history
cost two arrays per series, not one Python object per sample. Samples older than
``retention_seconds`` before the newest appended timestamp are dropped lazily.

Label semantics follow Prometheus: an empty label value is the same as an absent label, and regex
matchers must match the whole value (``^(?s:re)$``). Regexes use Python's ``re`` syntax, which agrees
with Go's RE2 on everything the demo's rule presets use.
"""

from __future__ import annotations

import re
from collections.abc import ItemsView, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

import numpy as np
import numpy.typing as npt

__all__ = ["METRIC_NAME", "FloatArray", "Labels", "Matcher", "MatchOp", "MemoryTSDB", "SeriesSlice"]

FloatArray = npt.NDArray[np.float64]
MatchOp = Literal["=", "!=", "=~", "!~"]

METRIC_NAME: Final = "__name__"
_MIN_CAPACITY: Final = 16
# Sweep every series for expired samples each time the newest timestamp advances by this fraction
# of the retention, so the amortised cost per append stays constant.
_SWEEP_FRACTION: Final = 0.125


class Labels(Mapping[str, str]):
    """An immutable, hashable label set; usable as a dict key and cheap to compare."""

    __slots__ = ("_data", "_hash")

    def __init__(self, labels: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = labels.items() if isinstance(labels, Mapping) else labels
        # Prometheus treats an empty value as an absent label; normalising here keeps keys unique.
        self._data: dict[str, str] = {k: v for k, v in sorted(pairs) if v != ""}
        self._hash = hash(frozenset(self._data.items()))

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def items(self) -> ItemsView[str, str]:
        return self._data.items()

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Labels):
            return self._hash == other._hash and self._data == other._data
        return isinstance(other, Mapping) and self._data == dict(other.items())

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._data.items())
        return f"{{{inner}}}"

    def to_dict(self) -> dict[str, str]:
        """A mutable copy, for callers that derive new label sets."""
        return dict(self._data)


@dataclass(frozen=True)
class Matcher:
    """One label matcher, e.g. ``job=~"api|web"``. A missing label matches as the empty string."""

    name: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.op not in get_args(MatchOp):
            raise ValueError(f"unknown matcher operator {self.op!r}")
        if self.op in ("=~", "!~"):
            try:
                # fullmatch + DOTALL is Prometheus's ^(?s:re)$ anchoring without wrapping the pattern,
                # which would break leading inline flags such as (?i).
                compiled = re.compile(self.value, re.DOTALL)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {self.value!r}: {exc}") from None
            object.__setattr__(self, "_regex", compiled)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfies this matcher."""
        actual = labels.get(self.name, "")
        if self._regex is None:
            return (actual == self.value) == (self.op == "=")
        return (self._regex.fullmatch(actual) is not None) == (self.op == "=~")


@dataclass(frozen=True, eq=False)
class SeriesSlice:
    """The samples of one series inside a time window, as read-only views into the store."""

    labels: Labels
    timestamps: FloatArray
    values: FloatArray


class _Series:
    """Samples of one series in ``[lo, hi)`` of two parallel growable arrays.

    Live samples are never moved in place: growing or compacting allocates new arrays, so views
    handed out by :meth:`window` stay valid snapshots.
    """

    __slots__ = ("labels", "_ts", "_vs", "_lo", "_hi")

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self._ts: FloatArray = np.empty(_MIN_CAPACITY, dtype=np.float64)
        self._vs: FloatArray = np.empty(_MIN_CAPACITY, dtype=np.float64)
        self._lo = 0
        self._hi = 0

    def __len__(self) -> int:
        return self._hi - self._lo

    def last_timestamp(self) -> float:
        return float(self._ts[self._hi - 1]) if self._hi > self._lo else -np.inf

    def append(self, timestamp: float, value: float) -> None:
        self._reserve(1)
        self._ts[self._hi] = timestamp
        self._vs[self._hi] = value
        self._hi += 1

    def extend(self, timestamps: FloatArray, values: FloatArray) -> None:
        n = timestamps.size
        self._reserve(n)
        self._ts[self._hi : self._hi + n] = timestamps
        self._vs[self._hi : self._hi + n] = values
        self._hi += n

    def drop_through(self, cutoff: float) -> None:
        """Forget samples with timestamp <= ``cutoff``."""
        if self._hi > self._lo and self._ts[self._lo] <= cutoff:
            live = self._ts[self._lo : self._hi]
            self._lo += int(live.searchsorted(cutoff, side="right"))

    def window(self, start: float, end: float) -> tuple[FloatArray, FloatArray]:
        """Read-only views of the samples with ``start < t <= end``."""
        live = self._ts[self._lo : self._hi]
        a = self._lo + int(live.searchsorted(start, side="right"))
        b = self._lo + int(live.searchsorted(end, side="right"))
        ts, vs = self._ts[a:b], self._vs[a:b]
        ts.flags.writeable = False
        vs.flags.writeable = False
        return ts, vs

    def _reserve(self, extra: int) -> None:
        if self._hi + extra <= self._ts.size:
            return
        n = self._hi - self._lo
        capacity = max(_MIN_CAPACITY, 2 * (n + extra))
        ts = np.empty(capacity, dtype=np.float64)
        vs = np.empty(capacity, dtype=np.float64)
        ts[:n] = self._ts[self._lo : self._hi]
        vs[:n] = self._vs[self._lo : self._hi]
        self._ts, self._vs, self._lo, self._hi = ts, vs, 0, n


class MemoryTSDB:
    """Series keyed by label set, indexed by metric name, with optional time-based retention."""

    def __init__(self, retention_seconds: float | None = None) -> None:
        if retention_seconds is not None and not retention_seconds > 0:
            raise ValueError("retention_seconds must be positive")
        self._retention = retention_seconds
        self._series: dict[Labels, _Series] = {}
        self._by_name: dict[str, dict[Labels, _Series]] = {}
        self._newest = -np.inf
        self._last_sweep = -np.inf

    def __len__(self) -> int:
        """Number of series currently held."""
        return len(self._series)

    def append(self, labels: Mapping[str, str], timestamp: float, value: float) -> None:
        """Add one sample; ``timestamp`` must be later than the series' last sample."""
        series = self._get_or_create(labels)
        if not timestamp > series.last_timestamp():
            raise ValueError(
                f"out-of-order sample for {series.labels!r}: {timestamp} is not after "
                f"{series.last_timestamp()}"
            )
        series.append(timestamp, value)
        self._advance(series, timestamp)

    def append_many(
        self, labels: Mapping[str, str], timestamps: npt.ArrayLike, values: npt.ArrayLike
    ) -> None:
        """Add many samples at once; timestamps must increase and follow the series' last sample."""
        ts = np.asarray(timestamps, dtype=np.float64)
        vs = np.asarray(values, dtype=np.float64)
        if ts.ndim != 1 or ts.shape != vs.shape:
            raise ValueError("timestamps and values must be 1-D arrays of equal length")
        if ts.size == 0:
            return
        if not bool(np.all(np.diff(ts) > 0)) or np.isnan(ts[0]):
            raise ValueError("timestamps must be strictly increasing")
        series = self._get_or_create(labels)
        if not ts[0] > series.last_timestamp():
            raise ValueError(
                f"out-of-order samples for {series.labels!r}: {ts[0]} is not after "
                f"{series.last_timestamp()}"
            )
        series.extend(ts, vs)
        self._advance(series, float(ts[-1]))

    def select(self, matchers: Sequence[Matcher], *, start: float, end: float) -> list[SeriesSlice]:
        """Series matching every matcher, with their samples in ``start < t <= end``.

        Series without samples in the window are omitted.
        """
        start = max(start, self._cutoff())
        out: list[SeriesSlice] = []
        for series in self._candidates(matchers):
            if all(m.matches(series.labels) for m in matchers):
                ts, vs = series.window(start, end)
                if ts.size:
                    out.append(SeriesSlice(series.labels, ts, vs))
        return out

    def _candidates(self, matchers: Sequence[Matcher]) -> Iterable[_Series]:
        """Narrow the scan through the metric-name index when a matcher constrains the name."""
        name_matchers = [m for m in matchers if m.name == METRIC_NAME]
        for m in name_matchers:
            if m.op == "=":
                return list(self._by_name.get(m.value, {}).values())
        if name_matchers:
            names = [n for n in self._by_name if all(m.matches({METRIC_NAME: n}) for m in name_matchers)]
            return [s for n in names for s in self._by_name[n].values()]
        return list(self._series.values())

    def _get_or_create(self, labels: Mapping[str, str]) -> _Series:
        key = labels if isinstance(labels, Labels) else Labels(labels)
        series = self._series.get(key)
        if series is None:
            series = _Series(key)
            self._series[key] = series
            self._by_name.setdefault(key.get(METRIC_NAME, ""), {})[key] = series
        return series

    def _cutoff(self) -> float:
        return -np.inf if self._retention is None else self._newest - self._retention

    def _advance(self, series: _Series, timestamp: float) -> None:
        """Track the newest timestamp and apply retention to ``series`` (and periodically to all)."""
        self._newest = max(self._newest, timestamp)
        if self._retention is None:
            return
        cutoff = self._cutoff()
        series.drop_through(cutoff)
        if self._newest - self._last_sweep >= self._retention * _SWEEP_FRACTION:
            self._sweep(cutoff)

    def _sweep(self, cutoff: float) -> None:
        """Trim every series and forget those left empty (e.g. pods that went away)."""
        self._last_sweep = self._newest
        for key, series in list(self._series.items()):
            series.drop_through(cutoff)
            if not len(series):
                del self._series[key]
                by_name = self._by_name[key.get(METRIC_NAME, "")]
                del by_name[key]
                if not by_name:
                    del self._by_name[key.get(METRIC_NAME, "")]
