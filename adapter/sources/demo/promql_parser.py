"""Lexer and precedence-climbing parser for the embedded demo's PromQL subset.

Produces the typed tree of :mod:`adapter.sources.demo.promql_ast` and type-checks it the way Prometheus's
parser does (argument types, scalar comparisons need ``bool``, set operators need vectors, ...).
Operator precedence, lowest first: ``or``; ``and unless``; comparisons; ``+ -``; ``* / %``; ``^``
(right-associative). Unary minus binds like ``*``, so ``-2 ^ 2`` is ``-(2 ^ 2)``.

Recognised but rejected with a :class:`PromQLError` naming the feature: ``offset``, ``@``,
subqueries, ``atan2``, ``topk``-style aggregations and every function outside :data:`FUNCTIONS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal, cast

from adapter.sources.demo.promql_ast import (
    TYPE_NAMES,
    AggregateExpr,
    BinaryExpr,
    Call,
    Cardinality,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    PromQLError,
    StringLiteral,
    UnaryExpr,
    ValueType,
    VectorMatching,
    VectorSelector,
)
from adapter.sources.demo.tsdb import METRIC_NAME, Matcher, MatchOp

__all__ = ["AGGREGATIONS", "FUNCTIONS", "parse"]

# name -> (argument types, result type)
FUNCTIONS: Final[dict[str, tuple[tuple[ValueType, ...], ValueType]]] = {
    "rate": (("matrix",), "vector"),
    "increase": (("matrix",), "vector"),
    "irate": (("matrix",), "vector"),
    "avg_over_time": (("matrix",), "vector"),
    "max_over_time": (("matrix",), "vector"),
    "min_over_time": (("matrix",), "vector"),
    "sum_over_time": (("matrix",), "vector"),
    "histogram_quantile": (("scalar", "vector"), "vector"),
    "label_replace": (("vector", "string", "string", "string", "string"), "vector"),
    "clamp_min": (("vector", "scalar"), "vector"),
    "clamp_max": (("vector", "scalar"), "vector"),
    "abs": (("vector",), "vector"),
    "vector": (("scalar",), "vector"),
    "scalar": (("vector",), "scalar"),
    "time": ((), "scalar"),
}
AGGREGATIONS: Final = frozenset({"sum", "avg", "min", "max", "count"})
_UNSUPPORTED_AGGREGATIONS: Final = frozenset(
    {"topk", "bottomk", "quantile", "count_values", "stddev", "stdvar", "group", "limitk", "limit_ratio"}
)
_KEYWORDS: Final = frozenset(
    {"and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left", "group_right",
     "bool", "offset"}
)
_PRECEDENCE: Final = {
    "or": 1, "and": 2, "unless": 2,
    "==": 3, "!=": 3, "<=": 3, "<": 3, ">=": 3, ">": 3,
    "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "atan2": 5, "^": 6,
}
_UNARY_OPERAND_PRECEDENCE: Final = _PRECEDENCE["*"] + 1
COMPARISONS: Final = frozenset({"==", "!=", "<=", "<", ">=", ">"})
SET_OPERATORS: Final = frozenset({"and", "or", "unless"})

_TOKEN_RE: Final = re.compile(
    r"""(?P<space>[ \t\r\n]+|\#[^\n]*)
      | (?P<duration>(?:[0-9]+(?:ms|[smhdwy]))+)
      | (?P<number>0[xX][0-9a-fA-F]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
      | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
      | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
      | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^(){}\[\],=<>:@])""",
    re.VERBOSE,
)
_DURATION_RE: Final = re.compile(
    r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?"
    r"(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?"
)
_DURATION_MS: Final = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1_000, 1)
_LABEL_NAME_RE: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SIMPLE_ESCAPES: Final = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                          "v": "\v", "\\": "\\"}
_ESCAPE_RE: Final = re.compile(
    r"\\(?:(?P<simple>[abfnrtv\\'\"])|x(?P<hex>[0-9a-fA-F]{2})|(?P<oct>[0-7]{3})"
    r"|u(?P<u4>[0-9a-fA-F]{4})|U(?P<u8>[0-9a-fA-F]{8}))"
)

TokenKind = Literal["space", "duration", "number", "ident", "string", "op", "eof"]


@dataclass(frozen=True)
class _Token:
    kind: TokenKind
    text: str
    pos: int

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of input"
        return f"{self.kind} {self.text!r}" if self.kind != "op" else repr(self.text)


def _parse_error(text: str, pos: int, message: str) -> PromQLError:
    """A :class:`PromQLError` whose message names the 1-based line and column of ``pos``."""
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return PromQLError(f"parse error at line {line}, column {column}: {message}", pos)


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            if text[pos] in "\"'`":
                raise _parse_error(text, pos, "unterminated quoted string")
            raise _parse_error(text, pos, f"unexpected character {text[pos]!r}")
        kind = cast(TokenKind, m.lastgroup)
        if kind in ("number", "duration") and re.match(r"[a-zA-Z0-9_.]", text[m.end() : m.end() + 1]):
            raise _parse_error(text, pos, "bad number or duration syntax")
        if kind != "space":
            tokens.append(_Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Token("eof", "", len(text)))
    return tokens


def _parse_number(text: str) -> float:
    """Go's ``ParseInt(s, 0, 64)`` then ``ParseFloat``: hex and leading-zero octal integers count."""
    if text[:2].lower() == "0x":
        return float(int(text, 16))
    if re.fullmatch(r"0[0-7]+", text):
        return float(int(text, 8))
    return float(text)


def _duration_ms(token: _Token, text: str) -> int:
    m = _DURATION_RE.fullmatch(token.text)
    if m is None:
        raise _parse_error(text, token.pos, f"not a valid duration string: {token.text!r}")
    return sum(int(g) * unit for g, unit in zip(m.groups(), _DURATION_MS, strict=True) if g)


def _unquote(token: _Token, text: str) -> str:
    """Decode a string literal with Go's escape rules (a quote is escapable only inside its own kind)."""
    quote_char, body = token.text[0], token.text[1:-1]
    if quote_char == "`":
        return body
    out = bytearray()
    pos = 0
    for m in re.finditer(r"\\", body):
        if m.start() < pos:
            continue
        out += body[pos : m.start()].encode()
        esc = _ESCAPE_RE.match(body, m.start())
        if esc is None or esc["simple"] in ("'", '"') and esc["simple"] != quote_char:
            raise _parse_error(text, token.pos + 1 + m.start(), "invalid escape sequence in string")
        out += _decode_escape(esc, token.pos + 1 + m.start(), text)
        pos = esc.end()
    out += body[pos:].encode()
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise _parse_error(text, token.pos, "string is not valid UTF-8") from None


def _decode_escape(esc: re.Match[str], pos: int, text: str) -> bytes:
    if esc["simple"] is not None:
        return _SIMPLE_ESCAPES.get(esc["simple"], esc["simple"]).encode()
    if esc["hex"] is not None:
        return bytes([int(esc["hex"], 16)])
    if esc["oct"] is not None:
        value = int(esc["oct"], 8)
        if value > 255:
            raise _parse_error(text, pos, "octal escape value > 255")
        return bytes([value])
    code = int(esc["u4"] or esc["u8"], 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise _parse_error(text, pos, "escape sequence is an invalid Unicode code point")
    return chr(code).encode()


class _Parser:
    """Recursive descent for primaries, precedence climbing for binary operators."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._tokens = _lex(text)
        self._i = 0

    def parse(self) -> Expr:
        expr = self._expr(0)
        self._expect_kind("eof")
        return expr

    # -- token helpers -------------------------------------------------------------------------

    def _peek(self) -> _Token:
        return self._tokens[self._i]

    def _next(self) -> _Token:
        tok = self._tokens[self._i]
        self._i += 1
        return tok

    def _at(self, text: str) -> bool:
        tok = self._peek()
        return tok.kind == "op" and tok.text == text

    def _at_keyword(self, *words: str) -> bool:
        tok = self._peek()
        return tok.kind == "ident" and tok.text.lower() in words

    def _error(self, tok: _Token, message: str) -> PromQLError:
        return _parse_error(self._text, tok.pos, message)

    def _unexpected(self, tok: _Token, context: str = "") -> PromQLError:
        return self._error(tok, f"unexpected {tok.describe()}{context}")

    def _expect(self, text: str, context: str = "") -> _Token:
        if not self._at(text):
            raise self._unexpected(self._peek(), context or f", expected {text!r}")
        return self._next()

    def _expect_kind(self, kind: TokenKind, context: str = "") -> _Token:
        if self._peek().kind != kind:
            raise self._unexpected(self._peek(), context)
        return self._next()

    # -- expressions ---------------------------------------------------------------------------

    def _expr(self, min_precedence: int) -> Expr:
        lhs = self._unary()
        while (op := self._binary_op()) is not None and _PRECEDENCE[op] >= min_precedence:
            op_token = self._next()
            if op == "atan2":
                raise self._error(op_token, "the atan2 operator is not supported")
            return_bool, matching = self._binary_modifiers()
            rhs = self._expr(_PRECEDENCE[op] + (0 if op == "^" else 1))
            lhs = self._binary(op_token, op, lhs, rhs, return_bool, matching)
        return lhs

    def _binary_op(self) -> str | None:
        tok = self._peek()
        if tok.kind == "op" and tok.text in _PRECEDENCE:
            return tok.text
        if tok.kind == "ident" and tok.text.lower() in _PRECEDENCE:
            return tok.text.lower()
        return None

    def _unary(self) -> Expr:
        if not (self._at("-") or self._at("+")):
            return self._postfix(self._primary())
        op_token = self._next()
        operand = self._expr(_UNARY_OPERAND_PRECEDENCE)
        if operand.type not in ("scalar", "vector"):
            raise self._error(
                op_token, f"unary expression only allowed on expressions of type scalar or instant "
                f"vector, got {TYPE_NAMES[operand.type]}"
            )
        if isinstance(operand, NumberLiteral):
            return NumberLiteral(-operand.value if op_token.text == "-" else operand.value)
        return UnaryExpr(cast(Literal["-", "+"], op_token.text), operand)

    def _postfix(self, expr: Expr) -> Expr:
        if self._at_keyword("offset"):
            raise self._error(self._peek(), "the offset modifier is not supported")
        if self._at("@"):
            raise self._error(self._peek(), "the @ modifier is not supported")
        if not self._at("["):
            return expr
        bracket = self._next()
        if not isinstance(expr, VectorSelector):
            raise self._error(
                bracket, "ranges are only allowed for vector selectors (subqueries are not supported)"
            )
        duration = self._expect_kind("duration", ", expected a duration such as 5m")
        if self._peek().text.startswith(":"):
            raise self._error(self._peek(), "subqueries are not supported")
        self._expect("]")
        range_ms = _duration_ms(duration, self._text)
        if range_ms <= 0:
            raise self._error(duration, "range duration must be greater than 0")
        return self._postfix(MatrixSelector(expr, range_ms))

    def _primary(self) -> Expr:
        tok = self._next()
        if tok.kind == "number":
            return NumberLiteral(_parse_number(tok.text))
        if tok.kind == "string":
            return StringLiteral(_unquote(tok, self._text))
        if tok.kind == "op" and tok.text == "(":
            inner = self._expr(0)
            self._expect(")")
            return ParenExpr(inner)
        if tok.kind == "op" and tok.text == "{":
            return self._selector(tok, "")
        if tok.kind != "ident":
            raise self._unexpected(tok)
        word = tok.text.lower()
        if word in ("inf", "nan"):
            return NumberLiteral(float(word))
        if word in AGGREGATIONS or word in _UNSUPPORTED_AGGREGATIONS:
            return self._aggregate(tok, word)
        if word in _KEYWORDS:
            raise self._error(tok, f"unexpected keyword {tok.text!r}")
        if self._at("("):
            return self._call(tok)
        return self._selector(tok, tok.text)

    # -- selectors -------------------------------------------------------------------------------

    def _selector(self, start: _Token, name: str) -> VectorSelector:
        matchers: list[Matcher] = [Matcher(METRIC_NAME, "=", name)] if name else []
        if start.kind == "op" or self._at("{"):
            if start.kind != "op":
                self._next()
            matchers += self._label_matchers(name)
        if not any(not m.matches({}) for m in matchers):
            raise self._error(start, "vector selector must contain at least one non-empty matcher")
        return VectorSelector(name, tuple(matchers))

    def _label_matchers(self, name: str) -> list[Matcher]:
        """Matchers up to the closing brace (the opening one is consumed); trailing comma allowed."""
        out: list[Matcher] = []
        while not self._at("}"):
            label = self._label_name("in label matcher")
            op = self._next()
            if op.kind != "op" or op.text not in ("=", "!=", "=~", "!~"):
                raise self._unexpected(op, " in label matching, expected one of '=', '!=', '=~', '!~'")
            value = self._expect_kind("string", " in label matching, expected string")
            if label.text == METRIC_NAME and name:
                raise self._error(
                    label, f"metric name must not be set twice: {name!r} and {METRIC_NAME}"
                )
            try:
                out.append(Matcher(label.text, cast(MatchOp, op.text), _unquote(value, self._text)))
            except ValueError as exc:
                raise self._error(value, str(exc)) from None
            if not self._at("}"):
                self._expect(",", ", expected ',' or '}' in label matching")
        self._next()
        return out

    def _label_name(self, context: str) -> _Token:
        tok = self._next()
        if tok.kind != "ident" or not _LABEL_NAME_RE.fullmatch(tok.text):
            raise self._unexpected(tok, f" {context}, expected a label name")
        return tok

    def _label_list(self) -> tuple[str, ...]:
        """``(a, b,)``: the label lists of ``by``/``without``/``on``/``ignoring``/``group_*``."""
        self._expect("(")
        names: list[str] = []
        while not self._at(")"):
            names.append(self._label_name("in grouping").text)
            if not self._at(")"):
                self._expect(",", ", expected ',' or ')' in grouping")
        self._next()
        return tuple(names)

    # -- calls and aggregations ----------------------------------------------------------------

    def _arguments(self) -> list[tuple[_Token, Expr]]:
        self._expect("(")
        args: list[tuple[_Token, Expr]] = []
        while not self._at(")"):
            args.append((self._peek(), self._expr(0)))
            if not self._at(")"):
                self._expect(",", ", expected ',' or ')' in argument list")
        self._next()
        return args

    def _call(self, name: _Token) -> Call:
        if name.text not in FUNCTIONS:
            raise self._error(name, f"function {name.text!r} is unknown or not supported by the demo")
        arg_types, result = FUNCTIONS[name.text]
        args = self._arguments()
        if len(args) != len(arg_types):
            raise self._error(
                name, f"expected {len(arg_types)} argument(s) in call to {name.text!r}, got {len(args)}"
            )
        for (tok, arg), want in zip(args, arg_types, strict=True):
            if arg.type != want:
                raise self._error(
                    tok, f"expected type {TYPE_NAMES[want]} in call to function {name.text!r}, "
                    f"got {TYPE_NAMES[arg.type]}"
                )
        return Call(name.text, tuple(arg for _, arg in args), result)

    def _aggregate(self, op: _Token, word: str) -> AggregateExpr:
        if word in _UNSUPPORTED_AGGREGATIONS:
            raise self._error(op, f"the {word} aggregation is not supported by the demo")
        prefix = self._at_keyword("by", "without")
        without, grouping = self._grouping() if prefix else (False, ())
        args = self._arguments()
        if not prefix and self._at_keyword("by", "without"):
            without, grouping = self._grouping()
        if len(args) != 1:
            raise self._error(
                op, f"wrong number of arguments for aggregate expression provided, expected 1, "
                f"got {len(args)}"
            )
        tok, arg = args[0]
        if arg.type != "vector":
            raise self._error(
                tok, f"expected type instant vector in aggregation expression, got {TYPE_NAMES[arg.type]}"
            )
        return AggregateExpr(word, arg, grouping, without)

    def _grouping(self) -> tuple[bool, tuple[str, ...]]:
        """``by (...)`` or ``without (...)``; returns whether it was ``without``, and the labels."""
        without = self._next().text.lower() == "without"
        return without, self._label_list()

    # -- binary operators ------------------------------------------------------------------------

    def _binary_modifiers(self) -> tuple[bool, VectorMatching | None]:
        """``[bool] [on|ignoring (...) [group_left|group_right [(...)]]]`` after an operator."""
        return_bool = self._at_keyword("bool")
        if return_bool:
            self._next()
        if not self._at_keyword("on", "ignoring"):
            return return_bool, None
        on = self._next().text.lower() == "on"
        labels = self._label_list()
        card: Cardinality = "one-to-one"
        include: tuple[str, ...] = ()
        if self._at_keyword("group_left", "group_right"):
            card = "many-to-one" if self._next().text.lower() == "group_left" else "one-to-many"
            include = self._label_list() if self._at("(") else ()
        return return_bool, VectorMatching(card, on, labels, include)

    def _binary(
        self,
        tok: _Token,
        op: str,
        lhs: Expr,
        rhs: Expr,
        return_bool: bool,
        matching: VectorMatching | None,
    ) -> BinaryExpr:
        """Build and type-check a binary expression with Prometheus's parser rules."""
        if return_bool and op not in COMPARISONS:
            raise self._error(tok, "bool modifier can only be used on comparison operators")
        for side in (lhs, rhs):
            if side.type not in ("scalar", "vector"):
                raise self._error(
                    tok, "binary expression must contain only scalar and instant vector types"
                )
        if op in COMPARISONS and not return_bool and lhs.type == rhs.type == "scalar":
            raise self._error(tok, "comparisons between scalars must use BOOL modifier")
        if lhs.type != "vector" or rhs.type != "vector":
            if op in SET_OPERATORS:
                raise self._error(tok, f"set operator {op!r} not allowed in binary scalar expression")
            if matching is not None and matching.labels:
                raise self._error(tok, "vector matching only allowed between instant vectors")
            return BinaryExpr(op, lhs, rhs, None, return_bool)
        if matching is None:
            matching = VectorMatching("many-to-many" if op in SET_OPERATORS else "one-to-one")
        elif op in SET_OPERATORS:
            if matching.card != "one-to-one":
                raise self._error(tok, f"no grouping allowed for {op!r} operation")
            matching = VectorMatching("many-to-many", matching.on, matching.labels)
        for label in matching.include:
            if matching.on and label in matching.labels:
                raise self._error(tok, f"label {label!r} must not occur in ON and GROUP clause at once")
        return BinaryExpr(op, lhs, rhs, matching, return_bool)


@lru_cache(maxsize=512)
def parse(text: str) -> Expr:
    """Parse a PromQL query into a tree; cached, since the demo re-evaluates the same queries."""
    return _Parser(text).parse()
