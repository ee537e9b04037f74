"""Instant-query evaluation of the demo's PromQL subset against a :class:`MemoryTSDB`.

Follows Prometheus 3 semantics so the demo answers exactly what a real Prometheus would: 5 minute
lookback, left-open range windows ``(t - range, t]``, functions and aggregations that drop the
metric name, and vector matching (``on``/``ignoring``/``group_*``, set operators) with Prometheus's
error messages. The numeric kernels live in :mod:`adapter.sources.demo.promql_functions`.

A range query is this evaluation repeated per step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable, Mapping
from typing import Final

from adapter.sources.demo.promql_ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    PromQLError,
    StringLiteral,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
)
from adapter.sources.demo.promql_functions import (
    AGGREGATORS,
    RANGE_FUNCTIONS,
    anchored_regex,
    apply_op,
    bucket_quantile,
    expand_template,
    go_max,
    go_min,
    parse_le,
    to_ms,
)
from adapter.sources.demo.promql_parser import COMPARISONS, parse
from adapter.sources.demo.tsdb import METRIC_NAME, MemoryTSDB

__all__ = ["LOOKBACK_SECONDS", "Vector", "evaluate"]

Vector = list[tuple[dict[str, str], float]]
Value = float | str | Vector

LOOKBACK_SECONDS: Final = 300.0
_LABEL_NAME_RE: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def evaluate(expr: Expr | str, db: MemoryTSDB, at: float) -> Vector:
    """Evaluate ``expr`` at Unix time ``at`` as an instant query.

    Returns ``(labels, value)`` pairs. A scalar result comes back as one element with empty labels;
    string and range-vector results raise :class:`PromQLError`.
    """
    tree = parse(expr) if isinstance(expr, str) else expr
    value = _Evaluator(db, at).eval(tree)
    if isinstance(value, float):
        return [({}, value)]
    if isinstance(value, str):
        raise PromQLError("string results are not supported by the demo")
    return value


# -- label helpers -------------------------------------------------------------------------------


def _format_labels(labels: Mapping[str, str]) -> str:
    name = labels.get(METRIC_NAME, "")
    body = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != METRIC_NAME)
    return f"{name}{{{body}}}"


def _without_name(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != METRIC_NAME}


def _check_unique(vector: Vector) -> Vector:
    """Prometheus refuses results where two elements ended up with the same labels."""
    seen: set[frozenset[tuple[str, str]]] = set()
    for labels, _ in vector:
        key = frozenset(labels.items())
        if key in seen:
            raise PromQLError(
                f"vector cannot contain metrics with the same labelset: {_format_labels(labels)}"
            )
        seen.add(key)
    return vector


def _signature(matching: VectorMatching) -> Callable[[Mapping[str, str]], Hashable]:
    """The key two samples must share to match: the ``on`` labels, or all but ``ignoring`` ones."""
    if matching.on:
        names = matching.labels
        return lambda labels: tuple(labels.get(n, "") for n in names)
    excluded = frozenset(matching.labels) | {METRIC_NAME}
    return lambda labels: frozenset(kv for kv in labels.items() if kv[0] not in excluded)


# -- the evaluator ---------------------------------------------------------------------------


class _Evaluator:
    """Walks the tree once for one evaluation timestamp."""

    def __init__(self, db: MemoryTSDB, at: float) -> None:
        self._db = db
        self._at = at
        self._at_ms = to_ms(at)

    def eval(self, expr: Expr) -> Value:
        match expr:
            case NumberLiteral(value=value):
                return value
            case StringLiteral(value=text):
                return text
            case ParenExpr(expr=inner):
                return self.eval(inner)
            case VectorSelector():
                return self._instant(expr)
            case MatrixSelector():
                raise PromQLError(f"range vector results are not supported; wrap {expr} in a function")
            case UnaryExpr(op=op, expr=inner):
                return self._unary(op, self.eval(inner))
            case BinaryExpr():
                return self._binary(expr)
            case AggregateExpr():
                return self._aggregate(expr)
            case Call():
                return self._call(expr)

    def _vector(self, expr: Expr) -> Vector:
        value = self.eval(expr)
        assert isinstance(value, list), "the parser type-checks vector operands"
        return value

    def _scalar(self, expr: Expr) -> float:
        value = self.eval(expr)
        assert isinstance(value, float), "the parser type-checks scalar operands"
        return value

    def _string(self, expr: Expr) -> str:
        value = self.eval(expr)
        assert isinstance(value, str), "the parser type-checks string operands"
        return value

    def _instant(self, selector: VectorSelector) -> Vector:
        """Latest sample of each matching series within the lookback window ``(t - 5m, t]``."""
        found = self._db.select(selector.matchers, start=self._at - LOOKBACK_SECONDS, end=self._at)
        return [(s.labels.to_dict(), float(s.values[-1])) for s in found]

    def _unary(self, op: str, value: Value) -> Value:
        if op == "+":
            return value
        if isinstance(value, float):
            return -value
        assert isinstance(value, list)
        return _check_unique([(_without_name(labels), -v) for labels, v in value])

    # -- operators ---------------------------------------------------------------------------------

    def _binary(self, node: BinaryExpr) -> Value:
        lhs, rhs = self.eval(node.lhs), self.eval(node.rhs)
        if isinstance(lhs, float) and isinstance(rhs, float):
            value, keep = apply_op(node.op, lhs, rhs)
            return (1.0 if keep else 0.0) if node.op in COMPARISONS else value
        if isinstance(lhs, list) and isinstance(rhs, list):
            assert node.matching is not None, "the parser sets matching for vector operands"
            if node.op in ("and", "or", "unless"):
                return _set_operation(node.op, lhs, rhs, node.matching)
            return _vector_vector(node.op, lhs, rhs, node.matching, node.return_bool)
        if isinstance(lhs, list) and isinstance(rhs, float):
            return _vector_scalar(node.op, lhs, rhs, swapped=False, return_bool=node.return_bool)
        assert isinstance(lhs, float) and isinstance(rhs, list)
        return _vector_scalar(node.op, rhs, lhs, swapped=True, return_bool=node.return_bool)

    def _aggregate(self, node: AggregateExpr) -> Vector:
        groups: dict[Hashable, tuple[dict[str, str], list[float]]] = {}
        excluded = frozenset(node.grouping) | {METRIC_NAME}
        for labels, value in self._vector(node.expr):
            key: Hashable
            if node.without:
                key = frozenset(kv for kv in labels.items() if kv[0] not in excluded)
            else:
                key = tuple(labels.get(n, "") for n in node.grouping)
            group = groups.get(key)
            if group is None:
                kept = (
                    dict(key) if isinstance(key, frozenset)
                    else {n: labels[n] for n in node.grouping if labels.get(n)}
                )
                group = groups[key] = (kept, [])
            group[1].append(value)
        reduce = AGGREGATORS[node.op]
        return [(kept, reduce(values)) for kept, values in groups.values()]

    # -- functions ---------------------------------------------------------------------------------

    def _call(self, node: Call) -> Value:
        name, args = node.func, node.args
        if name in RANGE_FUNCTIONS:
            return self._range_function(name, args[0])
        if name == "histogram_quantile":
            return self._histogram_quantile(self._scalar(args[0]), self._vector(args[1]))
        if name == "label_replace":
            dst, repl, src, regex = (self._string(a) for a in args[1:])
            return _label_replace(self._vector(args[0]), dst, repl, src, regex)
        if name in ("clamp_min", "clamp_max"):
            bound = self._scalar(args[1])
            low, high = (bound, math.inf) if name == "clamp_min" else (-math.inf, bound)
            return self._map(args[0], lambda v: go_max(low, go_min(high, v)))
        if name == "abs":
            return self._map(args[0], math.fabs)
        if name == "vector":
            return [({}, self._scalar(args[0]))]
        if name == "scalar":
            vector = self._vector(args[0])
            return vector[0][1] if len(vector) == 1 else math.nan
        if name == "time":
            return self._at
        raise PromQLError(f"function {name!r} is not supported by the demo")

    def _map(self, arg: Expr, fn: Callable[[float], float]) -> Vector:
        """Apply ``fn`` to every value, dropping the metric name as Prometheus does."""
        return _check_unique([(_without_name(labels), fn(v)) for labels, v in self._vector(arg)])

    def _range_function(self, name: str, arg: Expr) -> Vector:
        while isinstance(arg, ParenExpr):
            arg = arg.expr
        assert isinstance(arg, MatrixSelector), "the parser type-checks range arguments"
        fn = RANGE_FUNCTIONS[name]
        found = self._db.select(arg.vector.matchers, start=self._at - arg.range_seconds, end=self._at)
        out: Vector = []
        for s in found:
            value = fn(s, self._at_ms, arg.range_ms)
            if value is not None:
                out.append((_without_name(s.labels), value))
        return _check_unique(out)

    def _histogram_quantile(self, q: float, vector: Vector) -> Vector:
        """Group classic ``le`` buckets by their other labels (name included) and interpolate."""
        groups: dict[frozenset[tuple[str, str]], tuple[dict[str, str], list[tuple[float, float]]]] = {}
        for labels, value in vector:
            bound = parse_le(labels.get("le", ""))
            if bound is None:
                continue
            key = frozenset(kv for kv in labels.items() if kv[0] != "le")
            if key not in groups:
                groups[key] = ({k: v for k, v in labels.items() if k not in ("le", METRIC_NAME)}, [])
            groups[key][1].append((bound, value))
        return _check_unique([(kept, bucket_quantile(q, buckets)) for kept, buckets in groups.values()])


def _label_replace(vector: Vector, dst: str, repl: str, src: str, regex: str) -> Vector:
    pattern = anchored_regex(regex)
    if not _LABEL_NAME_RE.fullmatch(dst):
        raise PromQLError(f"invalid destination label name in label_replace(): {dst}")
    out: Vector = []
    for labels, value in vector:
        match = pattern.fullmatch(labels.get(src, ""))
        if match is not None:
            labels = dict(labels)
            replaced = expand_template(repl, match)
            if replaced:
                labels[dst] = replaced
            else:
                labels.pop(dst, None)
        out.append((labels, value))
    return _check_unique(out)


def _set_operation(op: str, lhs: Vector, rhs: Vector, matching: VectorMatching) -> Vector:
    """``and``/``or``/``unless``: filter or merge by matching signature; values and names kept."""
    sig = _signature(matching)
    if op == "or":
        left = {sig(labels) for labels, _ in lhs}
        return lhs + [s for s in rhs if sig(s[0]) not in left]
    right = {sig(labels) for labels, _ in rhs}
    keep = op == "and"
    return [s for s in lhs if (sig(s[0]) in right) == keep]


def _vector_scalar(
    op: str, vector: Vector, scalar: float, *, swapped: bool, return_bool: bool
) -> Vector:
    """Apply ``op`` between every element and a scalar; comparisons filter (or give 0/1 with bool)."""
    out: Vector = []
    drop_name = return_bool or op not in COMPARISONS
    for labels, v in vector:
        value, keep = apply_op(op, scalar, v) if swapped else apply_op(op, v, scalar)
        if op in COMPARISONS:
            value = v
        if return_bool:
            value, keep = (1.0 if keep else 0.0), True
        if keep:
            out.append((_without_name(labels) if drop_name else labels, value))
    return _check_unique(out)


def _vector_vector(
    op: str, lhs: Vector, rhs: Vector, matching: VectorMatching, return_bool: bool
) -> Vector:
    """One-to-one or many-to-one matching, as Prometheus's ``VectorBinop``."""
    if not lhs or not rhs:
        return []
    swapped = matching.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    sig = _signature(matching)
    one_side: dict[Hashable, tuple[dict[str, str], float]] = {}
    for labels, v in one:
        key = sig(labels)
        if key in one_side:
            raise PromQLError(
                f"found duplicate series for the match group on the {'left' if swapped else 'right'} "
                f"hand-side of the operation: [{_format_labels(labels)}, "
                f"{_format_labels(one_side[key][0])}]"
                ";many-to-many matching not allowed: matching labels must be unique on one side"
            )
        one_side[key] = (labels, v)
    matched: dict[Hashable, set[frozenset[tuple[str, str]]]] = {}
    out: Vector = []
    for labels, v in many:
        key = sig(labels)
        partner = one_side.get(key)
        if partner is None:
            continue
        left, right = (partner[1], v) if swapped else (v, partner[1])
        value, keep = apply_op(op, left, right)
        if return_bool:
            value, keep = (1.0 if keep else 0.0), True
        if not keep:
            continue
        result = _result_labels(labels, partner[0], op, matching, return_bool)
        _record_match(matched, key, result, matching)
        out.append((result, value))
    return out


def _record_match(
    matched: dict[Hashable, set[frozenset[tuple[str, str]]]],
    key: Hashable,
    result: dict[str, str],
    matching: VectorMatching,
) -> None:
    """Reject a second result for the same match group, as Prometheus does."""
    seen = matched.setdefault(key, set())
    if matching.card == "one-to-one":
        if seen:
            raise PromQLError(
                "multiple matches for labels: many-to-one matching must be explicit "
                "(group_left/group_right)"
            )
        seen.add(frozenset())
        return
    signature = frozenset(result.items())
    if signature in seen:
        raise PromQLError("multiple matches for labels: grouping labels must ensure unique matches")
    seen.add(signature)


def _result_labels(
    many: dict[str, str], one: dict[str, str], op: str, matching: VectorMatching, return_bool: bool
) -> dict[str, str]:
    """Prometheus's ``resultMetric``: labels of the "many" side, trimmed, plus ``group_*`` copies."""
    out = _without_name(many) if return_bool or op not in COMPARISONS else dict(many)
    if matching.card == "one-to-one":
        if matching.on:
            out = {k: v for k, v in out.items() if k in matching.labels}
        else:
            for name in matching.labels:
                out.pop(name, None)
    for name in matching.include:
        copied = one.get(name, "")
        if copied:
            out[name] = copied
        else:
            out.pop(name, None)
    return out
