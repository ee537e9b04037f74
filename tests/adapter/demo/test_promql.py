"""The demo's PromQL subset: parsing, printing, errors, and evaluation against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.sources.demo.promql import PromQLError, Vector, evaluate, parse
from adapter.sources.demo.promql_ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    MatrixSelector,
    NumberLiteral,
    StringLiteral,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
)
from adapter.sources.demo.promql_functions import bucket_quantile
from adapter.sources.demo.tsdb import Matcher, MemoryTSDB

AT = 1000.0
STEP = 15.0
TIMES = AT - STEP * np.arange(30, -1, -1)  # 550, 565, ..., 1000

PRESET_QUERIES = [
    'sum(rate(vllm:request_success_total{namespace="default",model_name="llama"}[1m]))',
    "histogram_quantile(0.99, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket"
    '{namespace="default"}[1m])))',
    'sum(vllm:num_requests_waiting{namespace="default"} and on(namespace, pod) '
    'kube_pod_labels{namespace="default",label_app="llama"})',
    'avg(label_replace(label_replace(label_replace(DCGM_FI_DEV_GPU_UTIL{}, "pod", "$1", "pod_name", "(.+)"), '
    '"pod", "$1", "exported_pod", "(.+)"), "namespace", "$1", "exported_namespace", "(.+)") and on(namespace, pod) '
    'kube_pod_labels{namespace="default",label_app=~"llama|mistral"})',
    'sum(max by (UUID) (DCGM_FI_DEV_POWER_USAGE{} and on(namespace, pod) kube_pod_labels{namespace="default"})) '
    '/ sum(rate(vllm:request_success_total{namespace="default"}[1m]) and on(namespace, pod) '
    'kube_pod_labels{namespace="default"})',
    'avg by (pod) (DCGM_FI_DEV_GPU_UTIL{namespace="default"} * on(namespace, pod) group_left(label_app) '
    'kube_pod_labels{namespace="default"})',
    "sum(rate(x_total[5m])) * 1000 / clamp_min(sum(rate(y_total[5m])), 0.001)",
]

Key = tuple[tuple[str, str], ...]


def key(**labels: str) -> Key:
    return tuple(sorted(labels.items()))


def results(query: str, db: MemoryTSDB, at: float = AT) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for labels, value in evaluate(query, db, at):
        k = tuple(sorted(labels.items()))
        assert k not in out, f"duplicate result labels {k}"
        out[k] = value
    return out


def scalar(query: str, db: MemoryTSDB | None = None) -> float:
    (labels, value), *rest = evaluate(query, db or MemoryTSDB(), AT)
    assert labels == {} and not rest
    return value


def gauge(db: MemoryTSDB, value: float, **labels: str) -> None:
    db.append_many(labels, TIMES, np.full(TIMES.size, value))


def counter(db: MemoryTSDB, per_second: float, **labels: str) -> None:
    db.append_many(labels, TIMES, per_second * TIMES)


def samples(db: MemoryTSDB, points: list[tuple[float, float]], **labels: str) -> None:
    db.append_many(labels, np.array([t for t, _ in points]), np.array([v for _, v in points]))


# -- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", PRESET_QUERIES)
def test_preset_queries_round_trip_through_the_printer(query: str) -> None:
    tree = parse(query)
    printed = str(tree)
    assert parse(printed) == tree
    assert str(parse(printed)) == printed


def test_printer_uses_prometheus_spelling() -> None:
    assert str(parse(PRESET_QUERIES[1])) == (
        'histogram_quantile(0.99, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket{namespace="default"}[1m])))'
    )
    assert str(parse("a * on(x,y) group_left(z) b")) == "a * on (x, y) group_left (z) b"
    assert str(parse("sum(x) without (a,)")) == "sum without (a) (x)"
    assert str(parse("x[90s]")) == "x[1m30s]"
    assert str(parse("1 > bool 2")) == "1 > bool 2"


def test_parse_builds_the_expected_tree() -> None:
    name = Matcher("__name__", "=", "vllm:num_requests_waiting")
    ns = Matcher("namespace", "=", "default")
    assert parse('sum by (pod) (vllm:num_requests_waiting{namespace="default"}) > bool 2') == BinaryExpr(
        ">",
        AggregateExpr("sum", VectorSelector("vllm:num_requests_waiting", (name, ns)), ("pod",)),
        NumberLiteral(2.0),
        None,
        True,
    )
    assert parse("rate(x[1h30m])") == Call(
        "rate", (MatrixSelector(VectorSelector("x", (Matcher("__name__", "=", "x"),)), 5_400_000),), "vector"
    )


def test_prefix_and_suffix_grouping_parse_alike() -> None:
    assert parse("sum by (le) (x)") == parse("sum(x) by (le)") == parse("SUM BY (le,) (x)")
    assert parse("avg without (a) (x)") == parse("avg(x) without (a)")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("1", 1.0),
        ("1e6", 1e6),
        ("1.5e-3", 0.0015),
        (".5", 0.5),
        ("0x1F", 31.0),
        ("010", 8.0),  # Go's ParseInt base 0: leading zero is octal
        ("Inf", math.inf),
        ("-inf", -math.inf),
        ("+Inf", math.inf),
    ],
)
def test_number_literals(query: str, expected: float) -> None:
    assert parse(query) == NumberLiteral(expected)


def test_nan_literal_is_nan_and_compares_equal_to_itself() -> None:
    tree = parse("NaN")
    assert isinstance(tree, NumberLiteral) and math.isnan(tree.value)
    assert tree == parse("nan")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"a\\"b"', 'a"b'),
        ("'it\\'s'", "it's"),
        ('"tab\\tnew\\nline"', "tab\tnew\nline"),
        ('"\\x41\\101\\u00e9\\U0001F600"', "AAé😀"),
        ('"\\xc3\\xa9"', "é"),
        ("`raw \\n`", "raw \\n"),
        ('"\\\\"', "\\"),
    ],
)
def test_string_literals_use_go_escapes(query: str, expected: str) -> None:
    assert parse(query) == StringLiteral(expected)


@pytest.mark.parametrize(
    ("duration", "milliseconds"),
    [("500ms", 500), ("15s", 15_000), ("1m", 60_000), ("1h30m", 5_400_000), ("2d", 172_800_000),
     ("1w", 604_800_000), ("1y", 31_536_000_000), ("1h0m1s", 3_601_000)],
)
def test_range_durations(duration: str, milliseconds: int) -> None:
    tree = parse(f"x[{duration}]")
    assert isinstance(tree, MatrixSelector) and tree.range_ms == milliseconds


def test_selector_forms() -> None:
    x = (Matcher("__name__", "=", "x"),)
    assert parse("x") == parse("x{}") == VectorSelector("x", x)
    assert parse('{__name__="x"}') == VectorSelector("", x)
    assert parse('x{a="1",}') == VectorSelector("x", (*x, Matcher("a", "=", "1")))
    assert parse('x{a!="1", b=~"2", c!~"3"}') == VectorSelector(
        "x", (*x, Matcher("a", "!=", "1"), Matcher("b", "=~", "2"), Matcher("c", "!~", "3"))
    )
    assert parse("ns:metric:rate5m") == VectorSelector("ns:metric:rate5m", (Matcher("__name__", "=", "ns:metric:rate5m"),))


@pytest.mark.parametrize(
    ("query", "shape"),
    [
        ("1 + 2 * 3", "(1 + (2 * 3))"),
        ("1 * 2 + 3", "((1 * 2) + 3)"),
        ("1 - 2 - 3", "((1 - 2) - 3)"),
        ("2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))"),
        ("-2 ^ 2", "-(2 ^ 2)"),
        ("-a * b", "(-a * b)"),
        ("2 ^ -1 * 3", "((2 ^ -1) * 3)"),
        ("a + b > bool c - d", "((a + b) > bool (c - d))"),
        ("a or b and c", "(a or (b and c))"),
        ("a and b unless c", "((a and b) unless c)"),
        ("a == b or c unless d > e", "((a == b) or (c unless (d > e)))"),
        ("a % b / c", "((a % b) / c)"),
    ],
)
def test_operator_precedence_and_associativity(query: str, shape: str) -> None:
    def show(e: object) -> str:
        if isinstance(e, BinaryExpr):
            return f"({show(e.lhs)} {e.op}{' bool' if e.return_bool else ''} {show(e.rhs)})"
        if isinstance(e, UnaryExpr):
            return f"{e.op}{show(e.expr)}"
        if isinstance(e, VectorSelector):
            return e.name
        return str(e)

    assert show(parse(query)) == shape


def test_vector_matching_is_recorded() -> None:
    tree = parse("a * ignoring(x) group_right(y) b")
    assert isinstance(tree, BinaryExpr)
    assert tree.matching == VectorMatching("one-to-many", False, ("x",), ("y",))
    set_op = parse("a and on(x) b")
    assert isinstance(set_op, BinaryExpr)
    assert set_op.matching == VectorMatching("many-to-many", True, ("x",))
    assert isinstance(scalar_op := parse("a * 2"), BinaryExpr) and scalar_op.matching is None


@pytest.mark.parametrize(
    ("query", "column", "message"),
    [
        ("sum(", 5, "unexpected end of input"),
        ("x{a=1}", 5, "expected string"),
        ('x{a="b" c="d"}', 9, "expected ',' or '}'"),
        ('x{a:b="c"}', 3, "expected a label name"),
        ('"abc', 1, "unterminated quoted string"),
        ("5x", 1, "bad number or duration syntax"),
        ("x[5]", 3, "expected a duration"),
        ("x[30m1h]", 3, "not a valid duration string"),
        ("x[0s]", 3, "greater than 0"),
        ("{}", 1, "at least one non-empty matcher"),
        ('{a=""}', 1, "at least one non-empty matcher"),
        ('x{__name__="y"}', 3, "metric name must not be set twice"),
        ("1 > 2", 3, "comparisons between scalars must use BOOL modifier"),
        ("a + bool b", 3, "bool modifier can only be used on comparison operators"),
        ("x and 1", 3, "set operator 'and' not allowed in binary scalar expression"),
        ("a and on(x) group_left b", 3, "no grouping allowed for 'and' operation"),
        ("a * on(x) group_left(x) b", 3, "must not occur in ON and GROUP clause"),
        ("1 * on(x) a", 3, "vector matching only allowed between instant vectors"),
        ("x[5m] + 1", 7, "only scalar and instant vector types"),
        ("rate(x)", 6, "expected type range vector in call to function 'rate', got instant vector"),
        ("histogram_quantile(x, y)", 20, "expected type scalar"),
        ("rate(x[1m], 2)", 1, "expected 1 argument(s)"),
        ("sum(1)", 5, "expected type instant vector in aggregation expression, got scalar"),
        ("sum(a, b)", 1, "wrong number of arguments"),
        ("-x[1m]", 1, "unary expression only allowed"),
        ("(x)[1m]", 4, "ranges are only allowed for vector selectors"),
        ('"\\q"', 2, "invalid escape sequence"),
        ("'\\\"'", 2, "invalid escape sequence"),
        ("by", 1, "unexpected keyword 'by'"),
        ("x y", 3, "unexpected ident 'y'"),
        ("a +\n  $", 3, "unexpected character '$'"),
    ],
)
def test_parse_errors_name_the_position(query: str, column: int, message: str) -> None:
    with pytest.raises(PromQLError) as info:
        parse(query)
    assert message in str(info.value)
    line = query.count("\n", 0, info.value.position or 0) + 1
    assert f"line {line}, column {column}:" in str(info.value)


@pytest.mark.parametrize(
    ("query", "feature"),
    [
        ("x offset 5m", "offset modifier"),
        ("x @ 100", "@ modifier"),
        ("x[5m:1m]", "subqueries"),
        ("rate(x[5m:])", "subqueries"),
        ("topk(3, x)", "topk aggregation"),
        ("quantile(0.5, x)", "quantile aggregation"),
        ("a atan2 b", "atan2 operator"),
        ("deriv(x[5m])", "function 'deriv'"),
        ("nope(x)", "function 'nope'"),
    ],
)
def test_unsupported_features_are_named(query: str, feature: str) -> None:
    with pytest.raises(PromQLError, match="not supported") as info:
        parse(query)
    assert feature in str(info.value)


def test_parse_is_cached() -> None:
    assert parse("sum(rate(cached_total[1m]))") is parse("sum(rate(cached_total[1m]))")


# -- scalar arithmetic ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("2 ^ 3 ^ 2", 512.0),
        ("-2 ^ 2", -4.0),
        ("(-2) ^ 2", 4.0),
        ("2 ^ -1 * 4", 2.0),
        ("10 - 2 - 3", 5.0),
        ("7 % 4 * 2", 6.0),
        ("5 % -3", 2.0),  # Go's Mod: sign of the dividend
        ("-5 % 3", -2.0),
        ("1 / 0", math.inf),
        ("-1 / 0", -math.inf),
        ("1 / -0", -math.inf),
        ("2 ^ 1024", math.inf),
        ("0 ^ -1", math.inf),
        ("1 + 1 > bool 1", 1.0),
        ("1 == bool 2", 0.0),
        ("NaN == bool NaN", 0.0),
        ("NaN != bool NaN", 1.0),
        ("-(1 + 2)", -3.0),
        ("time()", AT),
        ("scalar(vector(4))", 4.0),
    ],
)
def test_scalar_expressions(query: str, expected: float) -> None:
    assert scalar(query) == expected


@pytest.mark.parametrize("query", ["0 / 0", "1 % 0", "Inf % 2", "(-8) ^ 0.5", "Inf - Inf", "NaN + 1"])
def test_undefined_arithmetic_is_nan_not_an_exception(query: str) -> None:
    assert math.isnan(scalar(query))


def test_scalar_result_is_one_element_with_empty_labels() -> None:
    assert evaluate("1 + 1", MemoryTSDB(), AT) == [({}, 2.0)]


def test_string_and_range_results_are_rejected() -> None:
    db = MemoryTSDB()
    with pytest.raises(PromQLError, match="string results"):
        evaluate('"abc"', db, AT)
    with pytest.raises(PromQLError, match="range vector results"):
        evaluate("x[5m]", db, AT)


# -- selectors and lookback ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (99.0, None),  # before the first sample
        (100.0, 1.0),
        (150.0, 2.0),  # the latest sample at or before t
        (449.999, 2.0),
        (450.0, None),  # the sample at 150 is exactly 5m old: out of (t - 5m, t]
    ],
)
def test_instant_selector_uses_five_minute_lookback(at: float, expected: float | None) -> None:
    db = MemoryTSDB()
    samples(db, [(100.0, 1.0), (150.0, 2.0)], __name__="x")
    assert results("x", db, at) == ({} if expected is None else {key(__name__="x"): expected})


def test_selector_matchers_filter_series() -> None:
    db = MemoryTSDB()
    for pod, value in (("a-1", 1.0), ("a-2", 2.0), ("b-1", 3.0)):
        gauge(db, value, __name__="up", pod=pod)
    gauge(db, 9.0, __name__="down", pod="a-1")
    assert set(results('up{pod=~"a-.*"}', db).values()) == {1.0, 2.0}
    assert set(results('up{pod!~"a-.*"}', db).values()) == {3.0}
    assert set(results('up{pod!="a-1"}', db).values()) == {2.0, 3.0}
    assert set(results('{pod="a-1"}', db).values()) == {1.0, 9.0}
    assert set(results('{__name__=~"up|down", pod="a-1"}', db).values()) == {1.0, 9.0}


# -- rate, increase, irate -----------------------------------------------------------------------

# Samples at 5, 20, 35, 50 s evaluated at t=60 over [1m]: the window is (0, 60].
_FOUR = [5.0, 20.0, 35.0, 50.0]


@pytest.mark.parametrize(
    ("points", "function", "expected"),
    [
        # 30 over 45s sampled; 5s to the start and 10s to the end are within 1.1 x the 15s step, so
        # extrapolate to the full 60s: 30 * 60/45 = 40.
        (list(zip(_FOUR, [10.0, 20.0, 30.0, 40.0], strict=True)), "increase", 40.0),
        (list(zip(_FOUR, [10.0, 20.0, 30.0, 40.0], strict=True)), "rate", 40.0 / 60),
        # The counter would reach zero 1.5s before the first sample: extrapolate only that far.
        (list(zip(_FOUR, [1.0, 11.0, 21.0, 31.0], strict=True)), "increase", 30 * (45 + 1.5 + 10) / 45),
        # Counter reset 20 -> 5 adds the pre-reset value: raw increase 5 + 20 = 25.
        (list(zip(_FOUR, [10.0, 20.0, 5.0, 15.0], strict=True)), "increase", 25 * 60 / 45),
        (list(zip(_FOUR, [10.0, 20.0, 5.0, 15.0], strict=True)), "rate", 25 * 60 / 45 / 60),
        # First sample 25s after the window start (> 16.5s threshold): extrapolate half a step only.
        ([(25.0, 100.0), (40.0, 115.0), (55.0, 130.0)], "increase", 30 * (30 + 7.5 + 5) / 30),
        # irate: last two samples per second; after a reset the last value itself.
        (list(zip(_FOUR, [10.0, 20.0, 30.0, 45.0], strict=True)), "irate", 1.0),
        (list(zip(_FOUR, [10.0, 20.0, 30.0, 6.0], strict=True)), "irate", 0.4),
    ],
)
def test_counter_functions_match_prometheus_extrapolation(
    points: list[tuple[float, float]], function: str, expected: float
) -> None:
    db = MemoryTSDB()
    samples(db, points, __name__="c_total", job="a")
    assert results(f"{function}(c_total[1m])", db, at=60.0) == {key(job="a"): pytest.approx(expected, rel=1e-12)}


def test_rate_needs_two_samples_in_the_window() -> None:
    db = MemoryTSDB()
    samples(db, [(5.0, 1.0), (50.0, 2.0)], __name__="c_total")
    assert results("rate(c_total[1m])", db, at=60.0) == {(): pytest.approx(1 * (45 + 5 + 10) / 45 / 60)}
    assert results("rate(c_total[1m])", db, at=100.0) == {}  # only the sample at 50 is in (40, 100]
    assert results("irate(c_total[1m])", db, at=100.0) == {}


def test_rate_window_excludes_a_sample_exactly_at_its_start() -> None:
    db = MemoryTSDB()
    samples(db, [(0.0, 0.0), (15.0, 1000.0), (30.0, 1015.0), (45.0, 1030.0), (60.0, 1045.0)], __name__="c_total")
    # (0, 60] leaves out the sample at 0 (which would add a large reset-free jump).
    assert results("increase(c_total[1m])", db, at=60.0) == {(): pytest.approx(45 * 60 / 45)}


# -- over_time -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "expected"),
    [("avg_over_time", 4.0), ("max_over_time", 8.0), ("min_over_time", 1.0), ("sum_over_time", 12.0)],
)
def test_over_time_functions(function: str, expected: float) -> None:
    db = MemoryTSDB()
    samples(db, [(10.0, 100.0), (20.0, 3.0), (30.0, 8.0), (40.0, 1.0)], __name__="g", pod="p")
    assert results(f"{function}(g[30s])", db, at=40.0) == {key(pod="p"): expected}


def test_max_over_time_skips_nan_unless_all_nan() -> None:
    db = MemoryTSDB()
    samples(db, [(10.0, math.nan), (20.0, 2.0), (30.0, math.nan)], __name__="g")
    samples(db, [(10.0, math.nan)], __name__="h")
    assert results("max_over_time(g[1m])", db, at=30.0) == {(): 2.0}
    assert math.isnan(results("max_over_time(h[1m])", db, at=30.0)[()])


def test_avg_over_time_survives_overflow_of_the_running_sum() -> None:
    db = MemoryTSDB()
    samples(db, [(10.0, 1e308), (20.0, 1e308), (30.0, 1e308)], __name__="g")
    assert results("avg_over_time(g[1m])", db, at=30.0) == {(): pytest.approx(1e308)}


# -- histogram_quantile ----------------------------------------------------------------------------


_BUCKETS = [(1.0, 10.0), (2.0, 20.0), (4.0, 30.0), (math.inf, 40.0)]


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, _BUCKETS, 2.0),  # rank 20 ends bucket (1, 2]
        (0.3, _BUCKETS, 1.2),  # rank 12: 2 of 10 into (1, 2]
        (0.25, _BUCKETS, 1.0),  # first bucket interpolates from 0
        (0.1, _BUCKETS, 0.4),
        (0.7, _BUCKETS, 3.6),  # rank 28: 8 of 10 into (2, 4]
        (0.9, _BUCKETS, 4.0),  # rank 36 falls into +Inf: highest finite bound
        (0.5, [(-1.0, 5.0), (1.0, 10.0), (math.inf, 10.0)], -1.0),  # first bound <= 0 is returned as is
        (0.5, [(1.0, 10.0), (2.0, 8.0), (4.0, 30.0), (math.inf, 40.0)], 3.0),  # decrease 10 -> 8 is evened out
        (0.5, [(2.0, 20.0), (math.inf, 40.0), (1.0, 10.0), (4.0, 30.0)], 2.0),  # order does not matter
        (0.5, [(1.0, 5.0), (1.0, 5.0), (2.0, 20.0), (math.inf, 40.0)], 2.0),  # duplicate bounds add up
    ],
)
def test_bucket_quantile_interpolation(q: float, buckets: list[tuple[float, float]], expected: float) -> None:
    assert bucket_quantile(q, buckets) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, [(1.0, 0.0), (math.inf, 0.0)], math.nan),  # no observations
        (0.5, [(1.0, 3.0), (2.0, 5.0)], math.nan),  # no +Inf bucket
        (0.5, [(math.inf, 5.0)], math.nan),  # a single bucket
        (math.nan, _BUCKETS, math.nan),
        (-0.1, _BUCKETS, -math.inf),
        (1.1, _BUCKETS, math.inf),
    ],
)
def test_bucket_quantile_special_cases(q: float, buckets: list[tuple[float, float]], expected: float) -> None:
    got = bucket_quantile(q, buckets)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_histogram_quantile_groups_by_labels_other_than_le_and_drops_le_and_name() -> None:
    db = MemoryTSDB()
    for job, counts in (("a", (10.0, 20.0, 30.0, 40.0)), ("b", (0.0, 0.0, 0.0, 0.0))):
        for le, count in zip(("1", "2", "4", "+Inf"), counts, strict=True):
            gauge(db, count, __name__="lat_bucket", job=job, le=le)
    gauge(db, 99.0, __name__="lat_bucket", job="a", le="not-a-number")
    got = results("histogram_quantile(0.7, lat_bucket)", db)
    assert got.keys() == {key(job="a"), key(job="b")}
    assert got[key(job="a")] == pytest.approx(3.6)
    assert math.isnan(got[key(job="b")])


# -- aggregation -----------------------------------------------------------------------------------


@pytest.fixture
def pods() -> MemoryTSDB:
    db = MemoryTSDB()
    for pod, node, value in (("a", "n1", 1.0), ("b", "n1", 2.0), ("c", "n2", 6.0)):
        gauge(db, value, __name__="load", pod=pod, node=node, namespace="default")
    return db


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sum(load)", {(): 9.0}),
        ("avg(load)", {(): 3.0}),
        ("min(load)", {(): 1.0}),
        ("max(load)", {(): 6.0}),
        ("count(load)", {(): 3.0}),
        ("sum by (node) (load)", {key(node="n1"): 3.0, key(node="n2"): 6.0}),
        ("sum(load) by (node)", {key(node="n1"): 3.0, key(node="n2"): 6.0}),
        ("max by (node, missing) (load)", {key(node="n1"): 2.0, key(node="n2"): 6.0}),
        ("count without (pod) (load)", {key(node="n1", namespace="default"): 2.0, key(node="n2", namespace="default"): 1.0}),
        ("avg without (pod, node) (load)", {key(namespace="default"): 3.0}),
        ("sum(nothing)", {}),
    ],
)
def test_aggregations(pods: MemoryTSDB, query: str, expected: dict[Key, float]) -> None:
    assert results(query, pods) == expected


def test_sum_uses_compensated_summation() -> None:
    db = MemoryTSDB()
    for pod, value in (("a", 1e100), ("b", 1.0), ("c", -1e100)):
        gauge(db, value, __name__="x", pod=pod)
    assert results("sum(x)", db) == {(): 1.0}


def test_min_max_ignore_nan_unless_all_nan() -> None:
    db = MemoryTSDB()
    gauge(db, math.nan, __name__="x", pod="a")
    gauge(db, 5.0, __name__="x", pod="b")
    assert results("max(x)", db) == {(): 5.0}
    assert results("min(x)", db) == {(): 5.0}
    assert math.isnan(results("sum(x)", db)[()])


@settings(deadline=None, max_examples=100)
@given(values=st.lists(st.floats(min_value=-1e9, max_value=1e9), min_size=1, max_size=30))
def test_sum_and_count_equal_the_sum_and_number_of_samples(values: list[float]) -> None:
    db = MemoryTSDB()
    for i, value in enumerate(values):
        db.append({"__name__": "x", "i": str(i)}, AT, value)
    assert results("sum(x)", db)[()] == pytest.approx(math.fsum(values), abs=1e-6)
    assert results("count(x)", db)[()] == len(values)
    assert results("max(x)", db)[()] == max(values)
    assert results("sum by (i) (x)", db) == {key(i=str(i)): v for i, v in enumerate(values)}


# -- binary operators between vectors ---------------------------------------------------------------


@pytest.fixture
def ab() -> MemoryTSDB:
    db = MemoryTSDB()
    gauge(db, 1.0, __name__="a", pod="p1")
    gauge(db, 2.0, __name__="a", pod="p2")
    gauge(db, 20.0, __name__="b", pod="p2")
    gauge(db, 30.0, __name__="b", pod="p3")
    return db


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a and b", {key(__name__="a", pod="p2"): 2.0}),
        ("a or b", {key(__name__="a", pod="p1"): 1.0, key(__name__="a", pod="p2"): 2.0, key(__name__="b", pod="p3"): 30.0}),
        ("a unless b", {key(__name__="a", pod="p1"): 1.0}),
        ("a and on() b", {key(__name__="a", pod="p1"): 1.0, key(__name__="a", pod="p2"): 2.0}),
        ("a unless ignoring(pod) b", {}),
        ("a and nothing", {}),
        ("a unless nothing", {key(__name__="a", pod="p1"): 1.0, key(__name__="a", pod="p2"): 2.0}),
        ("nothing or b", {key(__name__="b", pod="p2"): 20.0, key(__name__="b", pod="p3"): 30.0}),
        ("a + b", {key(pod="p2"): 22.0}),
        ("b / a", {key(pod="p2"): 10.0}),
        ("b > a", {key(__name__="b", pod="p2"): 20.0}),  # filter keeps the left sample and its name
        ("a > b", {}),
        ("a > bool b", {key(pod="p2"): 0.0}),
        ("a > 1", {key(__name__="a", pod="p2"): 2.0}),
        ("a >= bool 2", {key(pod="p1"): 0.0, key(pod="p2"): 1.0}),
        ("1 < a", {key(__name__="a", pod="p2"): 2.0}),  # scalar on the left: the vector value is kept
        ("a * 10", {key(pod="p1"): 10.0, key(pod="p2"): 20.0}),
        ("10 - a", {key(pod="p1"): 9.0, key(pod="p2"): 8.0}),
        ("2 ^ a", {key(pod="p1"): 2.0, key(pod="p2"): 4.0}),
        ("-a", {key(pod="p1"): -1.0, key(pod="p2"): -2.0}),
        ("a + on(pod) b", {key(pod="p2"): 22.0}),
    ],
)
def test_vector_operators(ab: MemoryTSDB, query: str, expected: dict[Key, float]) -> None:
    assert results(query, ab) == expected


def test_division_by_zero_gives_ieee_values() -> None:
    db = MemoryTSDB()
    gauge(db, 1.0, __name__="n", pod="pos")
    gauge(db, -1.0, __name__="n", pod="neg")
    gauge(db, 0.0, __name__="n", pod="zero")
    got = results("n / 0", db)
    assert got[key(pod="pos")] == math.inf
    assert got[key(pod="neg")] == -math.inf
    assert math.isnan(got[key(pod="zero")])
    assert math.isnan(results("n % 0", db)[key(pod="pos")])
    assert results("vector(1) / vector(0)", db) == {(): math.inf}


@pytest.fixture
def gpus() -> MemoryTSDB:
    db = MemoryTSDB()
    gauge(db, 50.0, __name__="util", namespace="d", pod="p1", gpu="0")
    gauge(db, 70.0, __name__="util", namespace="d", pod="p1", gpu="1")
    gauge(db, 30.0, __name__="util", namespace="d", pod="p2", gpu="0")
    gauge(db, 1.0, __name__="info", namespace="d", pod="p1", label_app="llama", gpu="x")
    gauge(db, 2.0, __name__="info", namespace="d", pod="p2", label_app="mistral")
    return db


def test_group_left_copies_labels_from_the_one_side(gpus: MemoryTSDB) -> None:
    assert results("util * on(namespace, pod) group_left(label_app) info", gpus) == {
        key(namespace="d", pod="p1", gpu="0", label_app="llama"): 50.0,
        key(namespace="d", pod="p1", gpu="1", label_app="llama"): 70.0,
        key(namespace="d", pod="p2", gpu="0", label_app="mistral"): 60.0,
    }


def test_group_left_overwrites_and_removes_included_labels(gpus: MemoryTSDB) -> None:
    # info{pod="p1"} has gpu="x", which replaces the left value; info{pod="p2"} has none, removing it.
    assert results('util{gpu="0"} * on(namespace, pod) group_left(gpu) info', gpus) == {
        key(namespace="d", pod="p1", gpu="x"): 50.0,
        key(namespace="d", pod="p2"): 60.0,
    }


def test_group_left_results_must_stay_unique(gpus: MemoryTSDB) -> None:
    # Both GPUs of p1 would become {namespace="d", pod="p1", gpu="x"}.
    with pytest.raises(PromQLError, match="grouping labels must ensure unique matches"):
        results("util * on(namespace, pod) group_left(gpu) info", gpus)


def test_group_right_keeps_the_right_side_labels_and_operand_order(gpus: MemoryTSDB) -> None:
    assert results("info - on(pod) group_right(label_app) util", gpus) == {
        key(namespace="d", pod="p1", gpu="0", label_app="llama"): 1.0 - 50.0,
        key(namespace="d", pod="p1", gpu="1", label_app="llama"): 1.0 - 70.0,
        key(namespace="d", pod="p2", gpu="0", label_app="mistral"): 2.0 - 30.0,
    }


def test_one_to_one_matching_keeps_only_on_labels_or_drops_ignored_ones(gpus: MemoryTSDB) -> None:
    assert results('util{gpu="0"} + on(pod) info', gpus) == {key(pod="p1"): 51.0, key(pod="p2"): 32.0}
    assert results('util{gpu="0"} + ignoring(gpu, label_app) info', gpus) == {
        key(namespace="d", pod="p1"): 51.0,
        key(namespace="d", pod="p2"): 32.0,
    }


def test_many_to_one_without_group_modifier_is_an_error(gpus: MemoryTSDB) -> None:
    with pytest.raises(PromQLError, match="many-to-one matching must be explicit"):
        results("util * on(namespace, pod) info", gpus)


def test_duplicates_on_the_one_side_are_many_to_many(gpus: MemoryTSDB) -> None:
    with pytest.raises(PromQLError, match="many-to-many matching not allowed"):
        results("info * on(namespace, pod) util", gpus)
    with pytest.raises(PromQLError, match="many-to-many matching not allowed"):
        results("util * on(namespace) group_left info", gpus)


def test_set_operators_allow_many_to_many(gpus: MemoryTSDB) -> None:
    assert len(results("util and on(namespace) info", gpus)) == 3


# -- other functions -------------------------------------------------------------------------------


def test_value_functions_drop_the_metric_name(ab: MemoryTSDB) -> None:
    assert results("abs(-a)", ab) == {key(pod="p1"): 1.0, key(pod="p2"): 2.0}
    assert results("clamp_min(a, 1.5)", ab) == {key(pod="p1"): 1.5, key(pod="p2"): 2.0}
    assert results("clamp_max(a, 1.5)", ab) == {key(pod="p1"): 1.0, key(pod="p2"): 1.5}
    assert all(math.isnan(v) for v in results("clamp_min(a, NaN)", ab).values())
    assert results("vector(3)", ab) == {(): 3.0}
    assert math.isnan(scalar("scalar(a)", ab))  # two elements
    assert scalar('scalar(a{pod="p2"})', ab) == 2.0


def test_functions_that_drop_names_reject_colliding_results() -> None:
    db = MemoryTSDB()
    gauge(db, 1.0, __name__="a", pod="p")
    gauge(db, 2.0, __name__="b", pod="p")
    with pytest.raises(PromQLError, match="same labelset"):
        results('abs({__name__=~"a|b"})', db)
    with pytest.raises(PromQLError, match="same labelset"):
        results('{__name__=~"a|b"} * 2', db)


@pytest.mark.parametrize(
    ("args", "expected_pod"),
    [
        ('"pod", "$1", "pod_name", "(.+)"', "from-name"),
        ('"pod", "x-${1}y", "pod_name", "from-(.*)"', "x-namey"),
        ('"pod", "$1y", "pod_name", "from-(.*)"', None),  # $1y names group "1y": empty, label removed
        ('"pod", "$$1", "pod_name", ".*"', "$1"),
        ('"pod", "$who", "pod_name", "(?P<who>.+)-name"', "from"),
        ('"pod", "$1", "pod_name", "name"', "orig"),  # anchored: no match leaves the sample as is
        ('"pod", "$1", "missing", "(.+)"', "orig"),
        ('"pod", "", "pod_name", ".*"', None),  # empty replacement removes the label
    ],
)
def test_label_replace(args: str, expected_pod: str | None) -> None:
    db = MemoryTSDB()
    gauge(db, 1.0, __name__="m", pod="orig", pod_name="from-name")
    ((labels, value),) = evaluate(f"label_replace(m, {args})", db, AT)
    assert labels.get("pod") == expected_pod
    assert labels["__name__"] == "m" and labels["pod_name"] == "from-name" and value == 1.0


def test_label_replace_errors() -> None:
    db = MemoryTSDB()
    gauge(db, 1.0, __name__="m", pod="a")
    gauge(db, 1.0, __name__="m", pod="b")
    with pytest.raises(PromQLError, match="invalid regular expression"):
        evaluate('label_replace(m, "x", "$1", "pod", "(")', db, AT)
    with pytest.raises(PromQLError, match="invalid destination label name"):
        evaluate('label_replace(m, "1x", "$1", "pod", "(.*)")', db, AT)
    with pytest.raises(PromQLError, match="same labelset"):
        evaluate('label_replace(m, "pod", "same", "pod", ".*")', db, AT)


# -- the preset queries on a small fleet --------------------------------------------------------------


@pytest.fixture
def fleet() -> MemoryTSDB:
    """Three serving pods (two llama, one mistral), a batch pod, and a pod in another namespace."""
    db = MemoryTSDB()
    for pod, model, per_second in (("llama-0", "llama", 2.0), ("llama-1", "llama", 3.0), ("mistral-0", "mistral", 5.0)):
        counter(db, per_second, __name__="vllm:request_success_total", namespace="default", pod=pod, model_name=model)
    counter(db, 7.0, __name__="vllm:request_success_total", namespace="other", pod="llama-0", model_name="llama")
    # Bucket rates summed over pods: le=0.5 -> 2, le=1 -> 4, le=2.5 -> 6, +Inf -> 6.
    for pod, rates in (("llama-0", (1.0, 3.0, 3.5, 3.5)), ("llama-1", (1.0, 1.0, 2.5, 2.5))):
        for le, per_second in zip(("0.5", "1", "2.5", "+Inf"), rates, strict=True):
            counter(db, per_second, __name__="vllm:e2e_request_latency_seconds_bucket", namespace="default", pod=pod, le=le)
    counter(db, 100.0, __name__="vllm:e2e_request_latency_seconds_bucket", namespace="other", pod="x", le="+Inf")
    for pod, waiting in (("llama-0", 3.0), ("llama-1", 4.0), ("mistral-0", 10.0)):
        gauge(db, waiting, __name__="vllm:num_requests_waiting", namespace="default", pod=pod)
    for pod, app in (("llama-0", "llama"), ("llama-1", "llama"), ("mistral-0", "mistral"), ("batch-0", "batch")):
        gauge(db, 1.0, __name__="kube_pod_labels", namespace="default", pod=pod, label_app=app)
    gauge(db, 1.0, __name__="kube_pod_labels", namespace="other", pod="llama-0", label_app="llama")
    util = "DCGM_FI_DEV_GPU_UTIL"
    gauge(db, 40.0, __name__=util, namespace="default", pod="llama-0", UUID="GPU-0")
    gauge(db, 20.0, __name__=util, namespace="default", pod="llama-0", UUID="GPU-1")
    gauge(db, 60.0, __name__=util, namespace="gpu-operator", pod="dcgm", exported_namespace="default",
          exported_pod="llama-1", UUID="GPU-2")
    gauge(db, 80.0, __name__=util, namespace="default", pod_name="mistral-0", UUID="GPU-3")
    gauge(db, 99.0, __name__=util, namespace="gpu-operator", pod="dcgm", exported_namespace="other",
          exported_pod="llama-0", UUID="GPU-4")
    gauge(db, 10.0, __name__=util, namespace="default", pod="batch-0", UUID="GPU-5")
    power = "DCGM_FI_DEV_POWER_USAGE"
    gauge(db, 200.0, __name__=power, namespace="default", pod="llama-0", UUID="GPU-0", Hostname="n1")
    gauge(db, 150.0, __name__=power, namespace="default", pod="llama-0", UUID="GPU-0", Hostname="n2")
    gauge(db, 100.0, __name__=power, namespace="default", pod="llama-1", UUID="GPU-2")
    gauge(db, 1000.0, __name__=power, namespace="other", pod="llama-0", UUID="GPU-4")
    counter(db, 0.5, __name__="x_total", pod="a")
    gauge(db, 42.0, __name__="y_total", pod="a")  # a counter that stopped: rate 0
    return db


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (0, {(): 5.0}),  # llama pods in default: 2 + 3
        (1, {(): 1 + 1.5 * (0.99 * 6 - 4) / 2}),  # rank 5.94 falls 1.94 of 2 into (1, 2.5]
        (2, {(): 7.0}),  # waiting on llama pods: 3 + 4
        (3, {(): 50.0}),  # GPUs of llama/mistral pods in default after relabelling: 40, 20, 60, 80
        (4, {(): 30.0}),  # (max 200 for GPU-0 + 100 for GPU-2) / (2 + 3 + 5)
        (5, {key(pod="llama-0"): 30.0, key(pod="batch-0"): 10.0}),  # GPU-3 has no pod label: unmatched
        (6, {(): 0.5 * 1000 / 0.001}),  # y's rate 0 is clamped to 0.001
    ],
)
def test_preset_queries_evaluate_to_hand_checked_values(fleet: MemoryTSDB, index: int, expected: dict[Key, float]) -> None:
    got = results(PRESET_QUERIES[index], fleet)
    assert got == {k: pytest.approx(v, rel=1e-9) for k, v in expected.items()}


def test_range_evaluation_is_evaluation_per_step(fleet: MemoryTSDB) -> None:
    steps = [AT - 30.0, AT - 15.0, AT]
    values: list[Vector] = [evaluate(PRESET_QUERIES[0], fleet, t) for t in steps]
    assert [v[0][1] for v in values] == [pytest.approx(5.0)] * 3
