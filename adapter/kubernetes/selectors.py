"""Kubernetes label selectors, parsed strictly and rendered as PromQL label matchers.

An HPA passes a ``metricSelector`` (external metrics) or ``labelSelector`` (custom metrics) as the
string form of a Kubernetes label selector. :func:`parse_selector` accepts exactly the grammar of
``k8s.io/apimachinery/pkg/labels.Parse`` and validates keys and values as the API server does, so a
selector that ``kubectl`` would reject is rejected here with a :class:`~adapter.kubernetes.errors.BadRequest`
naming the offending part, and no other exception can escape for any input string.

:func:`promql_matchers` turns a parsed selector into PromQL matchers. Every value is emitted as an
escaped string literal (:func:`promql_string`) and every key is either checked to be a plain
Prometheus label name (:func:`prometheus_label`) or mapped onto one (:func:`kube_state_metrics_label`),
so selector text can never close the braces, add a binary operator or otherwise change the shape of
the query.

Namespace invariant: the caller always puts its own ``namespace="..."`` matcher in front of the
matchers produced here. PromQL ANDs all matchers of one vector selector, so a label selector can
only narrow the series chosen inside that namespace and never widen it, not even with a requirement
on the key ``namespace`` itself.

Prometheus treats an empty label value as an absent label; requirements that mention the empty value
(``a=``, ``a in (,x)``, ``a notin ()``) therefore match series lacking the label differently from
Kubernetes, where a present-but-empty label is distinct from a missing one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, auto
from typing import Literal, NamedTuple, get_args

from adapter.kubernetes.errors import BadRequest

__all__ = [
    "LabelSelector",
    "Operator",
    "Requirement",
    "kube_state_metrics_label",
    "parse_selector",
    "prometheus_label",
    "promql_matchers",
    "promql_string",
]

Operator = Literal["=", "!=", "in", "notin", "exists", "!"]

_OPERATORS: frozenset[str] = frozenset(get_args(Operator))
_SET_OPERATORS = ("in", "notin")
_EXACT_OPERATORS = ("=", "!=")
_UNARY_OPERATORS = ("exists", "!")


@dataclass(frozen=True)
class Requirement:
    """One ``key <operator> values`` term of a selector.

    Construction checks only the shape (operator known, number of values right) and keeps ``in`` /
    ``notin`` values sorted and de-duplicated, as Kubernetes stores them as a set; key and value
    syntax is checked by :func:`parse_selector`, so tests can build requirements with any text.
    """

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.operator not in _OPERATORS:
            raise ValueError(f"unknown selector operator {self.operator!r}")
        values = tuple(self.values)
        count = len(values)
        if self.operator in _SET_OPERATORS:
            if count == 0:
                raise ValueError(f"operator {self.operator!r} needs at least one value")
            values = tuple(sorted(set(values)))
        elif self.operator in _EXACT_OPERATORS and count != 1:
            raise ValueError(f"operator {self.operator!r} needs exactly one value, got {count}")
        elif self.operator in _UNARY_OPERATORS and count != 0:
            raise ValueError(f"operator {self.operator!r} takes no values, got {count}")
        object.__setattr__(self, "values", values)

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return "!" + self.key
        if self.operator in _SET_OPERATORS:
            return f"{self.key} {self.operator} ({','.join(self.values)})"
        return f"{self.key}{self.operator}{self.values[0]}"

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Kubernetes semantics: ``!=`` and ``notin`` also match objects without the label."""
        present = self.key in labels
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements, kept sorted by key as ``labels.Parse`` leaves them.

    The sort is stable, so requirements sharing a key keep their written order; that makes
    ``str()`` canonical and ``parse_selector(str(s)) == s``.
    """

    requirements: tuple[Requirement, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.requirements, key=lambda requirement: requirement.key))
        object.__setattr__(self, "requirements", ordered)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with these labels is selected; the empty selector selects everything."""
        return all(requirement.matches(labels) for requirement in self.requirements)

    @property
    def is_empty(self) -> bool:
        """True when nothing narrows the query beyond the caller's own matchers."""
        return not self.requirements


# --- validation (k8s.io/apimachinery/pkg/util/validation) -------------------------------------

_QUALIFIED_NAME_MAX = 63
_LABEL_VALUE_MAX = 63
_DNS1123_SUBDOMAIN_MAX = 253
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME_RULE = (
    "consist of alphanumeric characters, '-', '_' or '.', "
    "and start and end with an alphanumeric character"
)
_SUBDOMAIN_RULE = (
    "must be a lowercase RFC 1123 subdomain: lowercase alphanumeric characters, '-' or '.', "
    "starting and ending with an alphanumeric character"
)


def _key_problems(key: str) -> list[str]:
    """``IsQualifiedName``: an optional DNS-1123 subdomain prefix and '/', then a name."""
    parts = key.split("/")
    if len(parts) > 2:
        return ["must be a name with an optional DNS subdomain prefix and one '/'"]
    problems: list[str] = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        elif len(prefix) > _DNS1123_SUBDOMAIN_MAX:
            problems.append(f"prefix part must be no more than {_DNS1123_SUBDOMAIN_MAX} characters")
        elif not _DNS1123_SUBDOMAIN.fullmatch(prefix):
            problems.append("prefix part " + _SUBDOMAIN_RULE)
    name = parts[-1]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > _QUALIFIED_NAME_MAX:
        problems.append(f"name part must be no more than {_QUALIFIED_NAME_MAX} characters")
    elif not _QUALIFIED_NAME.fullmatch(name):
        problems.append("name part must " + _QUALIFIED_NAME_RULE)
    return problems


def _value_problem(value: str) -> str | None:
    """``IsValidLabelValue``: empty, or a qualified name of at most 63 characters."""
    if len(value) > _LABEL_VALUE_MAX:
        return f"must be no more than {_LABEL_VALUE_MAX} characters"
    if value and not _QUALIFIED_NAME.fullmatch(value):
        return "must be empty or " + _QUALIFIED_NAME_RULE
    return None


# --- lexer (k8s.io/apimachinery/pkg/labels/selector.go) ---------------------------------------


class _Tok(Enum):
    END = auto()
    OPEN = auto()
    CLOSE = auto()
    COMMA = auto()
    NOT = auto()
    EQ = auto()
    DOUBLE_EQ = auto()
    NOT_EQ = auto()
    GT = auto()
    LT = auto()
    IN = auto()
    NOTIN = auto()
    ID = auto()


class _Token(NamedTuple):
    kind: _Tok
    text: str


_SYMBOLS = {
    "==": _Tok.DOUBLE_EQ,
    "!=": _Tok.NOT_EQ,
    "=": _Tok.EQ,
    "!": _Tok.NOT,
    "(": _Tok.OPEN,
    ")": _Tok.CLOSE,
    ",": _Tok.COMMA,
    ">": _Tok.GT,
    "<": _Tok.LT,
}
_KEYWORDS = {"in": _Tok.IN, "notin": _Tok.NOTIN}
_WHITESPACE = " \t\r\n"
_SPECIAL = "=!(),><"
_MESSAGE_ECHO_MAX = 200


def _lex(text: str) -> list[_Token]:
    """Split into tokens as the Kubernetes lexer does.

    Only the four ASCII whitespace characters separate tokens; any other run of characters that are
    neither whitespace nor one of ``=!(),><`` is an identifier (and then fails validation if it is
    not a valid key or value). Go's lexer stops at a NUL byte; here NUL is an ordinary character,
    so it is rejected by validation instead of silently truncating the selector.
    """
    tokens: list[_Token] = []
    pos, end = 0, len(text)
    while pos < end:
        char = text[pos]
        if char in _WHITESPACE:
            pos += 1
        elif char in _SPECIAL:
            symbol = text[pos : pos + 2] if text[pos : pos + 2] in _SYMBOLS else char
            tokens.append(_Token(_SYMBOLS[symbol], symbol))
            pos += len(symbol)
        else:
            start = pos
            while pos < end and text[pos] not in _WHITESPACE and text[pos] not in _SPECIAL:
                pos += 1
            word = text[start:pos]
            tokens.append(_Token(_KEYWORDS.get(word, _Tok.ID), word))
    tokens.append(_Token(_Tok.END, ""))
    return tokens


def _quote(text: str) -> str:
    """Echo user text in a message: double-quoted, ASCII-only, and bounded in length."""
    if len(text) > _MESSAGE_ECHO_MAX:
        text = text[:_MESSAGE_ECHO_MAX] + "..."
    return json.dumps(text)


def _describe(token: _Token) -> str:
    return "end of selector" if token.kind is _Tok.END else _quote(token.text)


# --- parser -----------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the token list, mirroring ``labels.Parser`` rule for rule.

    Where Kubernetes looks tokens up "in the values context", the keywords ``in`` and ``notin``
    count as identifiers, which is why ``in in (in)`` is a valid selector.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.position = 0

    def fail(self, detail: str) -> BadRequest:
        return BadRequest(f"invalid label selector {_quote(self.text)}: {detail}")

    def peek(self) -> _Token:
        token = self.tokens[self.position]
        return _Token(_Tok.ID, token.text) if token.kind in (_Tok.IN, _Tok.NOTIN) else token

    def next(self, *, keywords: bool = False) -> _Token:
        token = self.tokens[self.position]
        if token.kind is not _Tok.END:
            self.position += 1
        if not keywords and token.kind in (_Tok.IN, _Tok.NOTIN):
            return _Token(_Tok.ID, token.text)
        return token

    def selector(self) -> LabelSelector:
        requirements: list[Requirement] = []
        while True:
            token = self.peek()
            if token.kind is _Tok.END:
                break
            if token.kind not in (_Tok.ID, _Tok.NOT):
                raise self.fail(f"expected a label key or '!', found {_describe(token)}")
            requirement = self.requirement()
            requirements.append(requirement)
            separator = self.next()
            if separator.kind is _Tok.END:
                break
            if separator.kind is not _Tok.COMMA:
                raise self.fail(
                    f"expected ',' or end of selector after {_quote(str(requirement))}, "
                    f"found {_describe(separator)}"
                )
            if self.peek().kind not in (_Tok.ID, _Tok.NOT):
                raise self.fail(f"expected a label key or '!' after ',', found {_describe(self.peek())}")
        return LabelSelector(tuple(requirements))

    def requirement(self) -> Requirement:
        token = self.next()
        negated = token.kind is _Tok.NOT
        if negated:
            token = self.next()
        if token.kind is not _Tok.ID:
            where = " after '!'" if negated else ""
            raise self.fail(f"expected a label key{where}, found {_describe(token)}")
        key = token.text
        problems = _key_problems(key)
        if problems:
            raise self.fail(f"key {_quote(key)}: {'; '.join(problems)}")
        if negated:
            return Requirement(key, "!")
        if self.peek().kind in (_Tok.END, _Tok.COMMA):
            return Requirement(key, "exists")
        operator = self.next(keywords=True)
        if operator.kind in (_Tok.IN, _Tok.NOTIN):
            values = self.checked(key, self.value_set(operator.text))
            return Requirement(key, "in" if operator.kind is _Tok.IN else "notin", values)
        if operator.kind in (_Tok.EQ, _Tok.DOUBLE_EQ, _Tok.NOT_EQ):
            values = self.checked(key, (self.exact_value(operator.text),))
            return Requirement(key, "!=" if operator.kind is _Tok.NOT_EQ else "=", values)
        if operator.kind in (_Tok.GT, _Tok.LT):
            raise self.fail(
                f"operator {_quote(operator.text)} after key {_quote(key)} is not supported; "
                "use =, ==, !=, in or notin"
            )
        raise self.fail(
            f"expected an operator (=, ==, !=, in, notin) after key {_quote(key)}, "
            f"found {_describe(operator)}"
        )

    def checked(self, key: str, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            problem = _value_problem(value)
            if problem:
                raise self.fail(f"value {_quote(value)} for key {_quote(key)}: {problem}")
        return values

    def exact_value(self, operator: str) -> str:
        """``a=`` and ``a=,b=c`` are valid: the value is then the empty string."""
        if self.peek().kind in (_Tok.END, _Tok.COMMA):
            return ""
        token = self.next()
        if token.kind is not _Tok.ID:
            raise self.fail(f"expected a value after {_quote(operator)}, found {_describe(token)}")
        return token.text

    def value_set(self, operator: str) -> tuple[str, ...]:
        """A parenthesised list; ``()`` means the empty string, and so does a missing list item."""
        token = self.next()
        if token.kind is not _Tok.OPEN:
            raise self.fail(f"expected '(' after {_quote(operator)}, found {_describe(token)}")
        first = self.peek()
        if first.kind is _Tok.CLOSE:
            self.next()
            return ("",)
        if first.kind not in (_Tok.ID, _Tok.COMMA):
            raise self.fail(f"expected a value, ',' or ')' after '(', found {_describe(first)}")
        values = self.value_list()
        self.next()  # value_list returns only when ')' is next
        return tuple(values)

    def value_list(self) -> list[str]:
        values: list[str] = []
        while True:
            token = self.next()
            if token.kind is _Tok.ID:
                values.append(token.text)
                following = self.peek()
                if following.kind is _Tok.CLOSE:
                    return values
                if following.kind is not _Tok.COMMA:
                    raise self.fail(
                        f"expected ',' or ')' after value {_quote(token.text)}, "
                        f"found {_describe(following)}"
                    )
            elif token.kind is _Tok.COMMA:
                if not values:
                    values.append("")
                following = self.peek()
                if following.kind is _Tok.CLOSE:
                    values.append("")
                    return values
                if following.kind is _Tok.COMMA:
                    self.next()
                    values.append("")
            else:
                raise self.fail(f"expected a value or ',' in the value list, found {_describe(token)}")


def parse_selector(text: str | None) -> LabelSelector:
    """Parse the string form of a Kubernetes label selector; ``None`` or ``""`` selects everything.

    Raises :class:`BadRequest`, and nothing else, for any string that ``labels.Parse`` rejects,
    and for ``>`` / ``<`` requirements, which have no PromQL matcher equivalent.
    """
    if not text:
        return LabelSelector()
    return _Parser(text).selector()


# --- PromQL rendering -------------------------------------------------------------------------

_PROMETHEUS_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_KSM_INVALID_CHAR = re.compile(r"[^a-zA-Z0-9_]")
_KSM_CAMEL_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])")
_RE2_METACHARACTERS = frozenset("\\.+*?()|[]{}^$")
_SHORT_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _escape_char(char: str) -> str:
    escaped = _SHORT_ESCAPES.get(char)
    if escaped is not None:
        return escaped
    if char.isprintable():
        return char
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        raise BadRequest(
            f"a selector value contains the lone surrogate U+{code:04X}, which Prometheus cannot accept"
        )
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def promql_string(value: str) -> str:
    """A double-quoted PromQL string literal denoting exactly ``value``.

    Backslash and ``"`` are escaped, control and other non-printable characters become ``\\n``-style
    or ``\\uXXXX`` escapes (which PromQL decodes like Go), printable non-ASCII stays as UTF-8; the
    result therefore holds no raw quote, newline or control character. A lone surrogate has no
    UTF-8 form and raises :class:`BadRequest`.
    """
    return '"' + "".join(_escape_char(char) for char in value) + '"'


def _re2_literal(value: str) -> str:
    """Escape every RE2 metacharacter, as Go's ``regexp.QuoteMeta`` does."""
    return "".join("\\" + char if char in _RE2_METACHARACTERS else char for char in value)


def prometheus_label(key: str) -> str:
    """Use a selector key as a Prometheus label name unchanged, if it can be one.

    Prefixed (``example.com/x``) or dotted/dashed keys, and the reserved ``__`` names, cannot name
    a Prometheus label, so matching on them is refused rather than silently matching nothing.
    """
    if not _PROMETHEUS_LABEL.fullmatch(key) or key.startswith("__"):
        raise BadRequest(
            f"label selector key {_quote(key)} cannot be matched against Prometheus series labels: "
            "a label name must match [a-zA-Z_][a-zA-Z0-9_]* and must not start with '__'"
        )
    return key


def kube_state_metrics_label(key: str) -> str:
    """The label under which kube-state-metrics v2 exports the pod label ``key`` in ``kube_pod_labels``.

    kube-state-metrics replaces every character outside ``[a-zA-Z0-9_]`` with ``_``
    (``SanitizeLabelName``), then converts camelCase to snake_case by inserting ``_`` between a
    lowercase letter or digit and an uppercase letter and lowercasing the result, and prefixes
    ``label_``: ``app.kubernetes.io/name`` becomes ``label_app_kubernetes_io_name`` and ``appName``
    becomes ``label_app_name``. When two labels of one pod map to the same name, kube-state-metrics
    appends ``_conflictN`` to both; such names depend on the pod and cannot be predicted from the key.
    Only labels allowed by ``--metric-labels-allowlist`` are exported at all.
    """
    sanitized = _KSM_INVALID_CHAR.sub("_", key)
    return "label_" + _KSM_CAMEL_BOUNDARY.sub(r"\1_\2", sanitized).lower()


def _matcher(name: str, requirement: Requirement) -> str:
    operator, values = requirement.operator, requirement.values
    if operator in _EXACT_OPERATORS:
        return f"{name}{operator}{promql_string(values[0])}"
    if operator in _SET_OPERATORS:
        regex = "|".join(_re2_literal(value) for value in values)
        return f"{name}{'=~' if operator == 'in' else '!~'}{promql_string(regex)}"
    return f'{name}!=""' if operator == "exists" else f'{name}=""'


def promql_matchers(
    selector: LabelSelector, *, label_name: Callable[[str], str] = prometheus_label
) -> list[str]:
    """One PromQL matcher per requirement, in the selector's canonical order.

    ``a=b`` gives ``a="b"``, ``a in (x,y)`` gives ``a=~"x|y"`` (Prometheus anchors regexes),
    ``a`` gives ``a!=""`` and ``!a`` gives ``a=""``. ``label_name`` maps a selector key to the
    series label to match, e.g. :func:`kube_state_metrics_label` when joining ``kube_pod_labels``;
    whatever it returns is checked to be a plain label name, so no mapper can inject query text.
    """
    matchers = []
    for requirement in selector.requirements:
        name = label_name(requirement.key)
        if not _PROMETHEUS_LABEL.fullmatch(name):
            raise ValueError(f"label_name returned {name!r}, which is not a Prometheus label name")
        matchers.append(_matcher(name, requirement))
    return matchers
