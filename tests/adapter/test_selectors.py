"""Label selectors: Kubernetes parsing rules, canonical form, matching and safe PromQL rendering."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapter.kubernetes.errors import BadRequest
from adapter.kubernetes.selectors import (
    LabelSelector,
    Requirement,
    kube_state_metrics_label,
    parse_selector,
    prometheus_label,
    promql_matchers,
    promql_string,
)

R = Requirement
NAME_63 = "a" + "b" * 61 + "c"
PREFIX_253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])

# --- parsing: valid selectors ------------------------------------------------------------------

VALID = [
    # (text, canonical str(), requirements in canonical order)
    ("", "", ()),
    ("   \t\n", "", ()),
    (
        "!canary,gpu in (a100,h100),queue=jobs",
        "!canary,gpu in (a100,h100),queue=jobs",
        (R("canary", "!"), R("gpu", "in", ("a100", "h100")), R("queue", "=", ("jobs",))),
    ),
    (
        "queue=jobs, gpu in (h100, a100), !canary",
        "!canary,gpu in (a100,h100),queue=jobs",
        (R("canary", "!"), R("gpu", "in", ("a100", "h100")), R("queue", "=", ("jobs",))),
    ),
    ("model=llama,pool=a100", "model=llama,pool=a100", (R("model", "=", ("llama",)), R("pool", "=", ("a100",)))),
    ("pool=a100,model=llama", "model=llama,pool=a100", (R("model", "=", ("llama",)), R("pool", "=", ("a100",)))),
    ("model==llama", "model=llama", (R("model", "=", ("llama",)),)),
    ("  model  ==  llama  ", "model=llama", (R("model", "=", ("llama",)),)),
    ("\tmodel\n!=\rllama\n", "model!=llama", (R("model", "!=", ("llama",)),)),
    ("gpu notin(a100)", "gpu notin (a100)", (R("gpu", "notin", ("a100",)),)),
    ("gpu in(h100,a100,h100)", "gpu in (a100,h100)", (R("gpu", "in", ("a100", "h100")),)),
    ("gpu in ( a100 , h100 )", "gpu in (a100,h100)", (R("gpu", "in", ("a100", "h100")),)),
    ("tier", "tier", (R("tier", "exists"),)),
    ("! tier", "!tier", (R("tier", "!"),)),
    ("tier,!canary", "!canary,tier", (R("canary", "!"), R("tier", "exists"))),
    ("app.kubernetes.io/name=llama", "app.kubernetes.io/name=llama", (R("app.kubernetes.io/name", "=", ("llama",)),)),
    (
        "example.com/GPU-Type=A100_80GB.sxm",
        "example.com/GPU-Type=A100_80GB.sxm",
        (R("example.com/GPU-Type", "=", ("A100_80GB.sxm",)),),
    ),
    # empty values, as Kubernetes allows them
    ("a=", "a=", (R("a", "=", ("",)),)),
    ("a!=,b", "a!=,b", (R("a", "!=", ("",)), R("b", "exists"))),
    ("a in ()", "a in ()", (R("a", "in", ("",)),)),
    ("a in (,)", "a in ()", (R("a", "in", ("",)),)),
    ("a in (,b)", "a in (,b)", (R("a", "in", ("", "b")),)),
    ("a notin (b,)", "a notin (,b)", (R("a", "notin", ("", "b")),)),
    ("a in (b,,c)", "a in (,b,c)", (R("a", "in", ("", "b", "c")),)),
    # "in" and "notin" are identifiers wherever a key or value is expected
    (
        "in in (in),notin notin (notin)",
        "in in (in),notin notin (notin)",
        (R("in", "in", ("in",)), R("notin", "notin", ("notin",))),
    ),
    ("a=in", "a=in", (R("a", "=", ("in",)),)),
    # requirements sharing a key keep their written order (stable sort by key)
    ("b=1,a=2,b!=3", "a=2,b=1,b!=3", (R("a", "=", ("2",)), R("b", "=", ("1",)), R("b", "!=", ("3",)))),
    # length limits are inclusive
    (f"{NAME_63}={NAME_63}", f"{NAME_63}={NAME_63}", (R(NAME_63, "=", (NAME_63,)),)),
    (f"{PREFIX_253}/{NAME_63}", f"{PREFIX_253}/{NAME_63}", (R(f"{PREFIX_253}/{NAME_63}", "exists"),)),
]


@pytest.mark.parametrize(("text", "canonical", "requirements"), VALID)
def test_parse_valid(text: str, canonical: str, requirements: tuple[Requirement, ...]) -> None:
    selector = parse_selector(text)
    assert selector.requirements == requirements
    assert str(selector) == canonical
    assert parse_selector(canonical) == selector
    assert selector.is_empty == (not requirements)


def test_none_selects_everything() -> None:
    assert parse_selector(None) == LabelSelector()
    assert parse_selector(None).is_empty
    assert parse_selector(None).matches({"any": "thing"})


# --- parsing: invalid selectors ----------------------------------------------------------------

INVALID = [
    # (text, fragment the message must contain)
    ("a in b", "expected '(' after \"in\", found \"b\""),
    ("a notin", "expected '(' after \"notin\", found end of selector"),
    ("a in (b", "expected ',' or ')' after value \"b\", found end of selector"),
    ("a in (b c)", "expected ',' or ')' after value \"b\", found \"c\""),
    ("a in (b,=)", "expected a value or ',' in the value list, found \"=\""),
    ("a in (=)", "expected a value, ',' or ')' after '(', found \"=\""),
    ("a=b c", "expected ',' or end of selector after \"a=b\", found \"c\""),
    ("a=b=c", "expected ',' or end of selector after \"a=b\", found \"=\""),
    ("!a=b", "expected ',' or end of selector after \"!a\", found \"=\""),
    ("a,", "expected a label key or '!' after ',', found end of selector"),
    ("a,,b", "expected a label key or '!' after ',', found \",\""),
    (",", "expected a label key or '!', found \",\""),
    ("=b", "expected a label key or '!', found \"=\""),
    ("(a)", "expected a label key or '!', found \"(\""),
    ("!", "expected a label key after '!', found end of selector"),
    ("!!a", "expected a label key after '!', found \"!\""),
    ("a b", "expected an operator (=, ==, !=, in, notin) after key \"a\", found \"b\""),
    ("a!b", "expected an operator (=, ==, !=, in, notin) after key \"a\", found \"!\""),
    ("a=(", "expected a value after \"=\", found \"(\""),
    ("a>1", "operator \">\" after key \"a\" is not supported"),
    ("a<1", "operator \"<\" after key \"a\" is not supported"),
    ("-a=b", "key \"-a\": name part must consist of alphanumeric characters"),
    ("a-=b", "key \"a-\": name part must"),
    ("A/b=c", "key \"A/b\": prefix part must be a lowercase RFC 1123 subdomain"),
    ("a_b/c", "key \"a_b/c\": prefix part"),
    ("/b=c", "key \"/b\": prefix part must be non-empty"),
    ("a/=c", "key \"a/\": name part must be non-empty"),
    ("a/b/c=d", "key \"a/b/c\": must be a name with an optional DNS subdomain prefix"),
    (f"{NAME_63}x", f"key \"{NAME_63}x\": name part must be no more than 63 characters"),
    (f"{PREFIX_253}x/a", "prefix part must be no more than 253 characters"),
    ("a=-b", "value \"-b\" for key \"a\": must be empty or consist of alphanumeric characters"),
    ("a in (b,c-)", "value \"c-\" for key \"a\""),
    (f"a={NAME_63}x", "must be no more than 63 characters"),
    ("a=\"b\"", "value \"\\\"b\\\"\" for key \"a\""),
    ("a=b\x00", "value \"b\\u0000\" for key \"a\""),
    ("é=b", "key \"\\u00e9\""),
    ("a=b\u00a0", "value \"b\\u00a0\""),
    ("a=b\x0b", "value \"b\\u000b\""),
    ("a=b}", "value \"b}\""),
    ("a=b\"} or vector(1) #", "value \"b\\\"}\""),
]


@pytest.mark.parametrize(("text", "fragment"), INVALID)
def test_parse_invalid(text: str, fragment: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_selector(text)
    message = raised.value.message
    assert message.startswith("invalid label selector ")
    assert fragment in message
    assert message.isascii()


def test_long_selector_is_truncated_in_message() -> None:
    with pytest.raises(BadRequest) as raised:
        parse_selector("a=b," * 500 + "?")
    assert len(raised.value.message) < 600


# --- canonical form and construction ------------------------------------------------------------


def test_str_sorts_by_key_and_values() -> None:
    selector = LabelSelector((R("z", "in", ("y", "x", "y")), R("a", "exists"), R("m", "!")))
    assert str(selector) == "a,!m,z in (x,y)"
    assert selector.requirements[2].values == ("x", "y")


@pytest.mark.parametrize(
    ("key", "operator", "values"),
    [
        ("a", "=", ()),
        ("a", "!=", ("x", "y")),
        ("a", "in", ()),
        ("a", "exists", ("x",)),
        ("a", "!", ("x",)),
        ("a", ">", ("1",)),
    ],
)
def test_requirement_rejects_wrong_shape(key: str, operator: str, values: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        Requirement(key, operator, values)  # type: ignore[arg-type]


# --- matching ------------------------------------------------------------------------------------

MATCHES = [
    ("", {}, True),
    ("", {"a": "b"}, True),
    ("model=llama", {"model": "llama"}, True),
    ("model=llama", {"model": "qwen"}, False),
    ("model=llama", {}, False),
    ("model!=llama", {}, True),
    ("model!=llama", {"model": "qwen"}, True),
    ("model!=llama", {"model": "llama"}, False),
    ("gpu in (a100,h100)", {"gpu": "h100"}, True),
    ("gpu in (a100,h100)", {"gpu": "l4"}, False),
    ("gpu in (a100,h100)", {}, False),
    ("gpu notin (a100)", {}, True),
    ("gpu notin (a100)", {"gpu": "a100"}, False),
    ("gpu notin (a100)", {"gpu": "l4"}, True),
    ("canary", {"canary": ""}, True),
    ("canary", {}, False),
    ("!canary", {}, True),
    ("!canary", {"canary": "true"}, False),
    ("a=", {"a": ""}, True),
    ("a=", {}, False),
    ("!canary,gpu in (a100,h100),queue=jobs", {"gpu": "a100", "queue": "jobs"}, True),
    ("!canary,gpu in (a100,h100),queue=jobs", {"gpu": "a100", "queue": "jobs", "canary": "1"}, False),
    ("!canary,gpu in (a100,h100),queue=jobs", {"gpu": "a100", "queue": "batch"}, False),
]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCHES)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(text).matches(labels) is expected


# --- PromQL rendering ---------------------------------------------------------------------------

PROMQL = [
    ("", []),
    ("model=llama,pool=a100", ['model="llama"', 'pool="a100"']),
    ("model==llama", ['model="llama"']),
    ("model!=llama", ['model!="llama"']),
    ("!canary,gpu in (a100,h100),queue=jobs", ['canary=""', 'gpu=~"a100|h100"', 'queue="jobs"']),
    ("gpu notin (a100)", ['gpu!~"a100"']),
    ("tier", ['tier!=""']),
    ("version in (v1.2,v1.3)", [r'version=~"v1\\.2|v1\\.3"']),
    ("a in (,b)", ['a=~"|b"']),
    ("a=", ['a=""']),
]


@pytest.mark.parametrize(("text", "expected"), PROMQL)
def test_promql_matchers(text: str, expected: list[str]) -> None:
    assert promql_matchers(parse_selector(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app.kubernetes.io/name=llama", ['label_app_kubernetes_io_name="llama"']),
        ("!canary,gpu in (a100,h100)", ['label_canary=""', 'label_gpu=~"a100|h100"']),
        ("example.com/GPU-Type", ['label_example_com_gpu_type!=""']),
    ],
)
def test_promql_matchers_for_kube_state_metrics(text: str, expected: list[str]) -> None:
    assert promql_matchers(parse_selector(text), label_name=kube_state_metrics_label) == expected


def test_label_name_mapper_cannot_inject_query_text() -> None:
    with pytest.raises(ValueError, match="not a Prometheus label name"):
        promql_matchers(parse_selector("a=b"), label_name=lambda key: key + '="x"} or up{a')


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("app", "label_app"),
        ("app.kubernetes.io/name", "label_app_kubernetes_io_name"),
        ("pod-template-hash", "label_pod_template_hash"),
        ("appName", "label_app_name"),
        ("a1B", "label_a1_b"),
        ("aBC", "label_a_bc"),
        ("ABC", "label_abc"),
        ("topology.kubernetes.io/zone", "label_topology_kubernetes_io_zone"),
        ("naïve", "label_na_ve"),
    ],
)
def test_kube_state_metrics_label(key: str, label: str) -> None:
    assert kube_state_metrics_label(key) == label


@pytest.mark.parametrize("key", ["model", "_private", "Model_2", "a"])
def test_prometheus_label_accepts_label_names(key: str) -> None:
    assert prometheus_label(key) == key


@pytest.mark.parametrize("key", ["app.kubernetes.io/name", "pod-hash", "2x", "__name__", "__x", "", "é"])
def test_prometheus_label_rejects_other_keys(key: str) -> None:
    with pytest.raises(BadRequest, match="cannot be matched against Prometheus series labels"):
        prometheus_label(key)


def test_prefixed_key_cannot_be_matched_directly() -> None:
    with pytest.raises(BadRequest, match='"app.kubernetes.io/name" cannot be matched'):
        promql_matchers(parse_selector("app.kubernetes.io/name=llama"))


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("", '""'),
        ("plain", '"plain"'),
        ('a"b', r'"a\"b"'),
        ("a\\b", r'"a\\b"'),
        ("a\nb", r'"a\nb"'),
        ("\t\r\a\b\f\v", r'"\t\r\a\b\f\v"'),
        ("\x00\x1b\x7f\x85", r'"\u0000\u001b\u007f\u0085"'),
        ("\u2028\u200b", r'"\u2028\u200b"'),
        ("\U000e0001", r'"\U000e0001"'),
        ("'`", "\"'`\""),
        ("é😀", '"é😀"'),
        ('"} or vector(1) #', r'"\"} or vector(1) #"'),
    ],
)
def test_promql_string(value: str, literal: str) -> None:
    assert promql_string(value) == literal


def test_promql_string_rejects_lone_surrogate() -> None:
    with pytest.raises(BadRequest, match="surrogate"):
        promql_string("a\ud800")


# --- properties ---------------------------------------------------------------------------------

_SELECTOR_PIECES = st.sampled_from(
    ["a", "b", "x.y/z", "in", "notin", "=", "==", "!=", "!", "(", ")", ",", " ", "\t", ">", "<", "-", "é", "\x00", ""]
)
_SELECTOR_LIKE_TEXT = st.lists(_SELECTOR_PIECES, max_size=12).map("".join)


@settings(deadline=None)
@given(st.one_of(st.text(), _SELECTOR_LIKE_TEXT))
@example("a in (b")
@example("\ud800")
def test_parse_only_ever_raises_bad_request(text: str) -> None:
    try:
        selector = parse_selector(text)
    except BadRequest as error:
        assert error.message.startswith("invalid label selector ")
        assert error.message.isascii()
    else:
        assert parse_selector(str(selector)) == selector


_NAME = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", fullmatch=True)
_DNS_LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)
_PREFIX = st.lists(_DNS_LABEL, min_size=1, max_size=4).map(".".join)
_KEY = st.one_of(_NAME, st.tuples(_PREFIX, _NAME).map("/".join), st.sampled_from(["in", "notin"]))
_VALUE = st.one_of(st.just(""), _NAME, st.sampled_from(["in", "notin"]))
_REQUIREMENT = st.one_of(
    st.builds(Requirement, _KEY, st.sampled_from(["=", "!="]), st.tuples(_VALUE)),
    st.builds(Requirement, _KEY, st.sampled_from(["in", "notin"]), st.lists(_VALUE, min_size=1, max_size=4).map(tuple)),
    st.builds(Requirement, _KEY, st.sampled_from(["exists", "!"])),
)
_SELECTOR = st.lists(_REQUIREMENT, max_size=6).map(lambda requirements: LabelSelector(tuple(requirements)))


def _spaced(selector: LabelSelector) -> str:
    """The same selector written with whitespace around every token."""
    parts = []
    for requirement in selector.requirements:
        key, operator, values = requirement.key, requirement.operator, requirement.values
        if operator == "exists":
            parts.append(f" {key} ")
        elif operator == "!":
            parts.append(f" ! {key} ")
        elif operator in ("in", "notin"):
            parts.append(f"\t{key} {operator} ( {' , '.join(values)} )\n")
        else:
            parts.append(f" {key} {'==' if operator == '=' else operator} {values[0]} ")
    return ",".join(parts)


@settings(deadline=None)
@given(_SELECTOR)
def test_canonical_form_round_trips(selector: LabelSelector) -> None:
    assert parse_selector(str(selector)) == selector
    assert parse_selector(_spaced(selector)) == selector


_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def unquote_promql(literal: str) -> str:
    """Decode a double-quoted PromQL string literal as Prometheus does.

    Fails unless the literal opens with '"', ends at its first unescaped '"', and contains no raw
    control character: anything after the closing quote would be query syntax.
    """
    assert literal.startswith('"')
    decoded: list[str] = []
    position = 1
    while True:
        char = literal[position]
        assert char.isprintable(), f"raw non-printable {char!r} in {literal!r}"
        if char == '"':
            assert position == len(literal) - 1, f"text after the closing quote in {literal!r}"
            return "".join(decoded)
        if char != "\\":
            decoded.append(char)
            position += 1
            continue
        escape = literal[position + 1]
        if escape in _SIMPLE_ESCAPES:
            decoded.append(_SIMPLE_ESCAPES[escape])
            position += 2
        else:
            width = {"u": 4, "U": 8}[escape]
            digits = literal[position + 2 : position + 2 + width]
            assert re.fullmatch(f"[0-9a-f]{{{width}}}", digits)
            decoded.append(chr(int(digits, 16)))
            position += 2 + width


_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)(=|!=|=~|!~)(".*")', re.DOTALL)
_LABEL_NAME = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,10}", fullmatch=True)
_NASTY_CHARS = st.sampled_from(list('"\\\n\r{}()[]|.*+?^$,=!~#`\'\x00\x7f\u2028'))
_NASTY_TEXT = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), _NASTY_CHARS), max_size=12)


def _split(matcher: str) -> tuple[str, str, str]:
    match = _MATCHER.fullmatch(matcher)
    assert match is not None, matcher
    assert "\n" not in matcher
    name, operator, literal = match.groups()
    return name, operator, unquote_promql(literal)


@settings(deadline=None)
@given(_LABEL_NAME, st.sampled_from(["=", "!="]), _NASTY_TEXT)
def test_exact_values_cannot_change_query_structure(name: str, operator: str, value: str) -> None:
    requirement = Requirement(name, operator, (value,))  # type: ignore[arg-type]
    (matcher,) = promql_matchers(LabelSelector((requirement,)))
    assert _split(matcher) == (name, operator, value)


@settings(deadline=None)
@given(_LABEL_NAME, st.sampled_from(["in", "notin"]), st.lists(_NASTY_TEXT, min_size=1, max_size=4))
def test_set_values_cannot_change_query_structure(name: str, operator: str, values: list[str]) -> None:
    requirement = Requirement(name, operator, tuple(values))  # type: ignore[arg-type]
    (matcher,) = promql_matchers(LabelSelector((requirement,)))
    rendered_name, rendered_operator, regex = _split(matcher)
    assert (rendered_name, rendered_operator) == (name, "=~" if operator == "in" else "!~")
    for value in values:
        assert re.fullmatch(f"(?:{regex})", value)


_REGEX_TEXT = st.text(alphabet=st.sampled_from(list("ab.|*+?()[]{}^$\\-")), max_size=5)


@settings(deadline=None)
@given(st.lists(st.one_of(_REGEX_TEXT, _NASTY_TEXT), min_size=1, max_size=4), st.lists(_REGEX_TEXT, max_size=10))
def test_set_regex_matches_exactly_the_listed_values(values: list[str], others: list[str]) -> None:
    (matcher,) = promql_matchers(LabelSelector((Requirement("gpu", "in", tuple(values)),)))
    regex = _split(matcher)[2]
    # Prometheus anchors the regex at both ends; fullmatch is Go's ^(?:...)$ (no newline leeway).
    candidates = set(others) | set(values)
    candidates |= {a + b for a in values for b in values}
    candidates |= {value[:-1] for value in values} | {value + "a" for value in values}
    candidates |= {value.replace(".", "a").replace("\\", "") for value in values}
    for candidate in candidates:
        assert bool(re.fullmatch(f"(?:{regex})", candidate)) == (candidate in values), candidate
