"""Prometheus's numeric kernels for the embedded demo: the functions behind operators, aggregations,
range functions, ``histogram_quantile`` and ``label_replace``'s template expansion.

Each mirrors its Go original so the demo's numbers match a real Prometheus, not just approximately:
``extrapolatedRate`` and ``instantValue`` (promql/functions.go) on millisecond timestamps,
``BucketQuantile`` with ``ensureMonotonicAndIgnoreSmallDeltas`` (promql/quantile.go), Neumaier
(``kahansum.Inc``) sums, and Go's ``math`` special cases for ``%``, ``^``, ``Max`` and ``Min``.
Arithmetic never raises: division by zero gives ±Inf or NaN as IEEE floats do.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from functools import lru_cache
from typing import Final

import numpy as np

from adapter.sources.demo.promql_ast import PromQLError
from adapter.sources.demo.promql_parser import COMPARISONS
from adapter.sources.demo.tsdb import SeriesSlice

__all__ = [
    "AGGREGATORS",
    "RANGE_FUNCTIONS",
    "anchored_regex",
    "apply_op",
    "bucket_quantile",
    "expand_template",
    "go_max",
    "go_min",
    "parse_le",
    "to_ms",
]

_MIN_NORMAL: Final = sys.float_info.min
_SMALL_DELTA_TOLERANCE: Final = 1e-12
_TEMPLATE_REF_RE: Final = re.compile(r"\$(?:(\$)|\{(\w+)\}|(\w+))")


# -- float helpers with Prometheus (Go) semantics ------------------------------------------------


def kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    """One step of Neumaier-compensated summation, as Prometheus's ``kahansum.Inc``."""
    t = total + inc
    if math.isinf(t):
        return t, 0.0
    if abs(total) >= abs(inc):
        return t, c + ((total - t) + inc)
    return t, c + ((inc - t) + total)


def sum_values(values: list[float]) -> float:
    total, c = values[0], 0.0
    for v in values[1:]:
        total, c = kahan_inc(v, total, c)
    return total if math.isinf(total) else total + c


def mean(values: list[float]) -> float:
    """Direct Kahan mean, switching to an incremental mean only if the running sum overflows."""
    total, c, mean, incremental = values[0], 0.0, 0.0, False
    for i, v in enumerate(values[1:], start=2):
        if not incremental:
            new_total, new_c = kahan_inc(v, total, c)
            if not math.isinf(new_total):
                total, c = new_total, new_c
                continue
            incremental, mean, c = True, total / (i - 1), c / (i - 1)
        q = (i - 1) / i
        mean, c = kahan_inc(v / i, q * mean, q * c)
    n = len(values)
    return mean + c if incremental else total / n + c / n


def max_value(values: list[float]) -> float:
    best = values[0]
    for v in values:
        if v > best or math.isnan(best):
            best = v
    return best


def min_value(values: list[float]) -> float:
    best = values[0]
    for v in values:
        if v < best or math.isnan(best):
            best = v
    return best


def go_max(a: float, b: float) -> float:
    """Go's ``math.Max``: +Inf wins over NaN, NaN over everything else, +0 over -0."""
    if a == math.inf or b == math.inf:
        return math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == 0 and b == 0:
        return a if math.copysign(1.0, a) > 0 else b
    return a if a > b else b


def go_min(a: float, b: float) -> float:
    """Go's ``math.Min``: -Inf wins over NaN, NaN over everything else, -0 over +0."""
    if a == -math.inf or b == -math.inf:
        return -math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == 0 and b == 0:
        return a if math.copysign(1.0, a) < 0 else b
    return a if a < b else b


def divide(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def modulo(a: float, b: float) -> float:
    """Go's ``math.Mod``: sign of the dividend, NaN for a zero divisor or infinite dividend."""
    if b == 0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.fmod(a, b)


def power(a: float, b: float) -> float:
    """C/Go ``pow`` special cases (overflow to Inf, NaN for negative base and fractional power)."""
    with np.errstate(all="ignore"):
        return float(np.power(np.float64(a), np.float64(b)))


ARITHMETIC: Final[dict[str, Callable[[float, float], float]]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": divide,
    "%": modulo,
    "^": power,
}
COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


def apply_op(op: str, a: float, b: float) -> tuple[float, bool]:
    """Prometheus's ``vectorElemBinop``: (value, keep). Comparisons keep the left value."""
    if op in COMPARISONS:
        return a, COMPARE[op](a, b)
    return ARITHMETIC[op](a, b), True


# -- range-vector functions ----------------------------------------------------------------------


def to_ms(seconds: float) -> int:
    """Prometheus computes on integer milliseconds; rounding to them reproduces its arithmetic."""
    return round(seconds * 1000)


def extrapolated_rate(
    s: SeriesSlice, at_ms: int, range_ms: int, *, is_counter: bool, is_rate: bool
) -> float | None:
    """``extrapolatedRate`` from Prometheus's promql/functions.go, on float samples."""
    values = s.values
    n = values.size
    first_ms, last_ms = to_ms(float(s.timestamps[0])), to_ms(float(s.timestamps[-1]))
    if n < 2 or first_ms == last_ms:
        return None
    first = float(values[0])
    result = float(values[-1]) - first
    if is_counter:
        previous = values[:-1]
        for reset_from in previous[values[1:] < previous].tolist():
            result += reset_from
    duration_to_start = (first_ms - (at_ms - range_ms)) / 1000
    duration_to_end = (at_ms - last_ms) / 1000
    sampled = (last_ms - first_ms) / 1000
    average_step = sampled / (n - 1)
    threshold = average_step * 1.1
    if duration_to_start >= threshold:
        duration_to_start = average_step / 2
    if is_counter and result > 0 and first >= 0:
        duration_to_start = min(duration_to_start, sampled * (first / result))
    if duration_to_end >= threshold:
        duration_to_end = average_step / 2
    factor = (sampled + duration_to_start + duration_to_end) / sampled
    if is_rate:
        factor /= range_ms / 1000
    return result * factor


def irate(s: SeriesSlice, at_ms: int, range_ms: int) -> float | None:
    """``instantValue`` for irate: per-second change between the last two samples."""
    if s.values.size < 2:
        return None
    previous, last = float(s.values[-2]), float(s.values[-1])
    interval_ms = to_ms(float(s.timestamps[-1])) - to_ms(float(s.timestamps[-2]))
    if interval_ms == 0:
        return None
    change = last if last < previous else last - previous
    return change / (interval_ms / 1000)


def _over_time(reduce: Callable[[list[float]], float]) -> Callable[[SeriesSlice, int, int], float]:
    return lambda s, at_ms, range_ms: reduce(s.values.tolist())


RANGE_FUNCTIONS: Final[dict[str, Callable[[SeriesSlice, int, int], float | None]]] = {
    "rate": lambda s, t, r: extrapolated_rate(s, t, r, is_counter=True, is_rate=True),
    "increase": lambda s, t, r: extrapolated_rate(s, t, r, is_counter=True, is_rate=False),
    "irate": irate,
    "avg_over_time": _over_time(mean),
    "max_over_time": _over_time(max_value),
    "min_over_time": _over_time(min_value),
    "sum_over_time": _over_time(sum_values),
}

AGGREGATORS: Final[dict[str, Callable[[list[float]], float]]] = {
    "sum": sum_values,
    "avg": mean,
    "max": max_value,
    "min": min_value,
    "count": lambda values: float(len(values)),
}


# -- histogram_quantile --------------------------------------------------------------------------


def parse_le(text: str) -> float | None:
    """Go's ``strconv.ParseFloat`` for decimal text; None where it would fail."""
    if not text or text != text.strip() or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def almost_equal(a: float, b: float, epsilon: float) -> bool:
    """Prometheus's ``almost.Equal``: relative comparison, absolute near zero."""
    if (math.isnan(a) and math.isnan(b)) or a == b:
        return True
    abs_sum, diff = abs(a) + abs(b), abs(a - b)
    if a == 0 or b == 0 or abs_sum < _MIN_NORMAL:
        return diff < epsilon * _MIN_NORMAL
    return diff / min(abs_sum, sys.float_info.max) < epsilon


def _monotonic(counts: list[float]) -> None:
    """``ensureMonotonicAndIgnoreSmallDeltas``: absorb float noise, then remove decreases."""
    prev = counts[0]
    for i in range(1, len(counts)):
        curr = counts[i]
        if curr == prev:
            continue
        if almost_equal(prev, curr, _SMALL_DELTA_TOLERANCE) or curr < prev:
            counts[i] = prev
            continue
        prev = curr


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """``BucketQuantile``: linear interpolation inside the bucket holding rank ``q * total``.

    NaN for no observations, fewer than two buckets or no ``+Inf`` bucket; the second-highest bound
    when the rank falls into the ``+Inf`` bucket; 0 as the lower edge of a positive first bucket.
    """
    if math.isnan(q):
        return math.nan
    if q < 0 or q > 1:
        return math.copysign(math.inf, q)
    ordered = sorted(buckets, key=lambda b: b[0])
    if ordered[-1][0] != math.inf:
        return math.nan
    bounds: list[float] = []
    counts: list[float] = []
    for bound, count in ordered:
        if bounds and bounds[-1] == bound:
            counts[-1] += count
        else:
            bounds.append(bound)
            counts.append(count)
    _monotonic(counts)
    if len(bounds) < 2 or counts[-1] == 0:
        return math.nan
    rank = q * counts[-1]
    b = next((i for i in range(len(counts) - 1) if counts[i] >= rank), len(counts) - 1)
    if b == len(counts) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start, count, rank = bounds[b - 1], count - counts[b - 1], rank - counts[b - 1]
    return start + (end - start) * (rank / count)


# -- label_replace -------------------------------------------------------------------------------


@lru_cache(maxsize=128)
def anchored_regex(regex: str) -> re.Pattern[str]:
    """``label_replace``'s regex, compiled once; used with ``fullmatch``, i.e. ``^(?s:re)$``."""
    try:
        return re.compile(regex, re.DOTALL)
    except re.error:
        raise PromQLError(f"invalid regular expression in label_replace(): {regex}") from None


def expand_template(template: str, match: re.Match[str]) -> str:
    """Go's ``Regexp.ExpandString``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``."""

    def group(ref: re.Match[str]) -> str:
        if ref[1]:
            return "$"
        name = ref[2] or ref[3]
        if name.isascii() and name.isdigit() and (name == "0" or name[0] != "0"):
            index = int(name)
            return (match.group(index) or "") if index <= match.re.groups else ""
        named = match.re.groupindex.get(name)
        return (match.group(named) or "") if named is not None else ""

    return _TEMPLATE_REF_RE.sub(group, template)
