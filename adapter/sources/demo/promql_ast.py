"""Typed PromQL syntax tree for the embedded demo, and its canonical (Prometheus-style) printing.

Nodes are frozen dataclasses, so parsed queries can be cached, compared and hashed. ``str(expr)``
prints the query the way Prometheus's own printer does (``sum by (le) (rate(x[1m]))``), and parsing
that text again yields an equal tree.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Final, Literal

from adapter.sources.demo.tsdb import METRIC_NAME, Matcher

__all__ = [
    "AggregateExpr",
    "BinaryExpr",
    "Call",
    "Cardinality",
    "Expr",
    "MatrixSelector",
    "NumberLiteral",
    "ParenExpr",
    "PromQLError",
    "StringLiteral",
    "UnaryExpr",
    "ValueType",
    "VectorMatching",
    "VectorSelector",
    "format_duration",
    "quote",
]

ValueType = Literal["scalar", "vector", "matrix", "string"]
Cardinality = Literal["one-to-one", "many-to-one", "one-to-many", "many-to-many"]

TYPE_NAMES: Final[dict[ValueType, str]] = {
    "scalar": "scalar",
    "vector": "instant vector",
    "matrix": "range vector",
    "string": "string",
}

_DURATION_UNITS: Final = (
    ("y", 365 * 86_400_000, True),
    ("w", 7 * 86_400_000, True),
    ("d", 86_400_000, False),
    ("h", 3_600_000, False),
    ("m", 60_000, False),
    ("s", 1_000, False),
    ("ms", 1, False),
)


class PromQLError(ValueError):
    """A query the demo cannot parse or evaluate; ``position`` is the 0-based offset when known."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


def quote(value: str) -> str:
    """A double-quoted literal that the PromQL lexer (Go escapes) reads back as ``value``."""
    return json.dumps(value, ensure_ascii=False)


def format_duration(milliseconds: int) -> str:
    """Prometheus's duration spelling: ``90000`` -> ``1m30s``; years and weeks only when exact."""
    if milliseconds == 0:
        return "0s"
    out, rest = [], milliseconds
    for unit, size, exact in _DURATION_UNITS:
        if exact and rest % size:
            continue
        count, rest = divmod(rest, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def _format_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _label_list(names: tuple[str, ...]) -> str:
    return "(" + ", ".join(names) + ")"


@dataclass(frozen=True, eq=False)
class NumberLiteral:
    """A float literal; NaN literals compare equal to each other so parsed trees round-trip."""

    value: float

    @property
    def type(self) -> ValueType:
        return "scalar"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumberLiteral):
            return NotImplemented
        both_nan = math.isnan(self.value) and math.isnan(other.value)
        return both_nan or self.value == other.value

    def __hash__(self) -> int:
        return hash(("number", "nan" if math.isnan(self.value) else self.value))

    def __str__(self) -> str:
        return _format_number(self.value)


@dataclass(frozen=True)
class StringLiteral:
    """A string literal (only meaningful as a function argument, e.g. to ``label_replace``)."""

    value: str

    @property
    def type(self) -> ValueType:
        return "string"

    def __str__(self) -> str:
        return quote(self.value)


@dataclass(frozen=True)
class VectorSelector:
    """``name{matchers}``; ``matchers`` holds every matcher, the name's ``__name__=`` one included."""

    name: str
    matchers: tuple[Matcher, ...]

    @property
    def type(self) -> ValueType:
        return "vector"

    def __str__(self) -> str:
        shown = [m for m in self.matchers if not (self.name and m == _name_matcher(self.name))]
        if self.name and not shown:
            return self.name
        body = ",".join(f"{m.name}{m.op}{quote(m.value)}" for m in shown)
        return f"{self.name}{{{body}}}"


def _name_matcher(name: str) -> Matcher:
    return Matcher(METRIC_NAME, "=", name)


@dataclass(frozen=True)
class MatrixSelector:
    """``selector[range]``: the samples of each series in ``(t - range, t]``."""

    vector: VectorSelector
    range_ms: int

    @property
    def type(self) -> ValueType:
        return "matrix"

    @property
    def range_seconds(self) -> float:
        return self.range_ms / 1000

    def __str__(self) -> str:
        return f"{self.vector}[{format_duration(self.range_ms)}]"


@dataclass(frozen=True)
class ParenExpr:
    """Parentheses are kept in the tree so printing reproduces the grouping the user wrote."""

    expr: Expr

    @property
    def type(self) -> ValueType:
        return self.expr.type

    def __str__(self) -> str:
        return f"({self.expr})"


@dataclass(frozen=True)
class UnaryExpr:
    """``-expr`` or ``+expr`` on a scalar or instant vector."""

    op: Literal["-", "+"]
    expr: Expr

    @property
    def type(self) -> ValueType:
        return self.expr.type

    def __str__(self) -> str:
        return f"{self.op}{self.expr}"


@dataclass(frozen=True)
class VectorMatching:
    """How the two sides of a vector-vector operation pair up (``on``/``ignoring``/``group_*``)."""

    card: Cardinality
    on: bool = False
    labels: tuple[str, ...] = ()
    include: tuple[str, ...] = ()

    def __str__(self) -> str:
        grouped = self.card in ("many-to-one", "one-to-many")
        if not (self.on or self.labels or grouped):
            return ""
        out = f" {'on' if self.on else 'ignoring'} {_label_list(self.labels)}"
        if grouped:
            side = "left" if self.card == "many-to-one" else "right"
            out += f" group_{side} {_label_list(self.include)}"
        return out


@dataclass(frozen=True)
class BinaryExpr:
    """``lhs op [bool] [on|ignoring (...)] [group_left|group_right (...)] rhs``.

    ``matching`` is set exactly when both operands are instant vectors.
    """

    op: str
    lhs: Expr
    rhs: Expr
    matching: VectorMatching | None = None
    return_bool: bool = False

    @property
    def type(self) -> ValueType:
        both_scalar = self.lhs.type == "scalar" and self.rhs.type == "scalar"
        return "scalar" if both_scalar else "vector"

    def __str__(self) -> str:
        modifiers = (" bool" if self.return_bool else "") + str(self.matching or "")
        return f"{self.lhs} {self.op}{modifiers} {self.rhs}"


@dataclass(frozen=True)
class AggregateExpr:
    """``op [by|without (labels)] (expr)``."""

    op: str
    expr: Expr
    grouping: tuple[str, ...] = ()
    without: bool = False

    @property
    def type(self) -> ValueType:
        return "vector"

    def __str__(self) -> str:
        if self.without:
            return f"{self.op} without {_label_list(self.grouping)} ({self.expr})"
        if self.grouping:
            return f"{self.op} by {_label_list(self.grouping)} ({self.expr})"
        return f"{self.op}({self.expr})"


@dataclass(frozen=True)
class Call:
    """A function call; ``return_type`` comes from the function table when parsing."""

    func: str
    args: tuple[Expr, ...]
    return_type: ValueType

    @property
    def type(self) -> ValueType:
        return self.return_type

    def __str__(self) -> str:
        return f"{self.func}({', '.join(str(a) for a in self.args)})"


Expr = (
    NumberLiteral
    | StringLiteral
    | VectorSelector
    | MatrixSelector
    | ParenExpr
    | UnaryExpr
    | BinaryExpr
    | AggregateExpr
    | Call
)
