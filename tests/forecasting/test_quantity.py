"""Quantities: formatting what the HPA reads back with MilliValue(), in canonical DecimalSI form, and
the one parser, for the adapter's answers and for HPA manifests alike."""

from __future__ import annotations

import math
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, localcontext

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from forecasting.quantity import format_quantity, parse_quantity

FORMAT = [
    # the documented examples
    (1.5, "1500m"),
    (12, "12"),
    (3000, "3k"),
    (1500, "1500"),
    (0.0004, "1m"),
    (0, "0"),
    (-1.5, "-1500m"),
    (2.5e6, "2500k"),
    (1e18, "1E"),
    # binary noise is dropped before rounding up
    (0.30000000000000004, "300m"),
    (0.1 + 0.2, "300m"),
    (0.1, "100m"),
    (1.1 * 3, "3300m"),
    (2.675, "2675m"),
    (1.0000000001, "1001m"),  # the HPA reads the ceiling of a milli
    # rounding up to milli
    (0.001, "1m"),
    (0.0011, "2m"),
    (0.0019999, "2m"),
    (1.0001, "1001m"),
    (999.9995, "1k"),
    (999.9994, "1k"),
    (999.999, "999999m"),
    (1e-10, "1m"),
    (5e-324, "1m"),
    # exact thousands take the larger suffix
    (1, "1"),
    (1000, "1k"),
    (1e6, "1M"),
    (1e9, "1G"),
    (1e12, "1T"),
    (1e15, "1P"),
    (2e18, "2E"),
    (999, "999"),
    (1001, "1001"),
    (1000.5, "1000500m"),
    (12000.0, "12k"),
    (12_300_000, "12300k"),
    (1_000_001_000, "1000001k"),
    # beyond E the mantissa grows
    (1e21, "1000E"),
    # the largest float keeps its exact digits: rounding away float noise never lowers a value
    (1.7976931348623157e308, "179769313486232" + "0" * 276 + "E"),
    (123456789.4, "123456789400m"),
    # many significant digits: kept, never rounded down
    (123456789.123, "123456789123m"),
    (1234567891, "1234567891"),
    (2**53, "9007199254740992"),
    # negatives round towards +infinity, so small ones become zero
    (-0.0, "0"),
    (-0.0004, "0"),
    (-1e-10, "0"),
    (-0.0015, "-1m"),
    (-3000, "-3k"),
    (-2.5e6, "-2500k"),
    (-1e18, "-1E"),
    (-1e21, "-1000E"),
]


@pytest.mark.parametrize(("value", "text"), FORMAT)
def test_format_quantity(value: float, text: str) -> None:
    assert format_quantity(value) == text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="cannot be represented"):
        format_quantity(value)


PARSE = [
    ("0", Decimal(0)),
    ("12", Decimal(12)),
    ("1500m", Decimal("1.5")),
    ("-1500m", Decimal("-1.5")),
    ("+3M", Decimal(3_000_000)),
    ("5n", Decimal("5e-9")),
    ("5u", Decimal("5e-6")),
    ("2k", Decimal(2000)),
    ("3G", Decimal(3 * 10**9)),
    ("7T", Decimal(7 * 10**12)),
    ("1.5P", Decimal(15 * 10**14)),
    ("1E", Decimal(10**18)),
    ("1Ki", Decimal(1024)),
    ("2Mi", Decimal(2 * 2**20)),
    ("1.5Gi", Decimal(1_610_612_736)),
    ("1Ti", Decimal(2**40)),
    ("1Pi", Decimal(2**50)),
    ("1Ei", Decimal(2**60)),
    ("1.5Ei", Decimal(3 * 2**59)),
    ("12345678901234567890123456789012345Ki", Decimal(12345678901234567890123456789012345 * 1024)),  # exact
    ("1e3", Decimal(1000)),
    ("1E3", Decimal(1000)),
    ("1e-3", Decimal("0.001")),
    ("2.5e+6", Decimal(2_500_000)),
    (".5", Decimal("0.5")),
    ("1.", Decimal(1)),
    ("0.000", Decimal(0)),
]


@pytest.mark.parametrize(("text", "value"), PARSE)
def test_parse_quantity(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text",
    ["", " 1", "1 ", "abc", "k", "1e", "1KiB", "1Ki3", "1K", "1.2.3", "--1", "1x", "1_000", "NaN", "inf"]
    + ["\u0661", "1e9999999"],
)
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_quantity(text)
    assert repr(text) in str(raised.value)


@pytest.mark.parametrize(("number", "value"), [(8, Decimal(8)), (0.25, Decimal("0.25")), (1e-05, Decimal("0.00001")),
                                               (-3, Decimal(-3))])
def test_a_manifests_yaml_numbers_are_quantities_too(number: float, value: Decimal) -> None:
    assert parse_quantity(number) == value


@pytest.mark.parametrize("value", [True, None, [1], math.inf, math.nan])
def test_what_is_neither_text_nor_a_finite_number_is_no_quantity(value: object) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(value)


@pytest.mark.parametrize(("value", "text"), FORMAT)
def test_formatted_text_parses_back(value: float, text: str) -> None:
    noise_free = Context(prec=15).create_decimal(value).scaleb(3).to_integral_value(rounding=ROUND_CEILING)
    with localcontext(prec=2500):
        floor = Decimal(value).scaleb(3).to_integral_value(rounding=ROUND_FLOOR)
    assert parse_quantity(text) == max(noise_free, floor).scaleb(-3)


_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_CANONICAL = re.compile(r"(-?)([1-9][0-9]*)(m|k|M|G|T|P|E|)")


@settings(deadline=None)
@given(_FINITE)
@example(0.30000000000000004)
@example(999.9995)
@example(5e-324)
@example(-5e-324)
@example(1.7976931348623157e308)
def test_never_below_and_less_than_a_milli_above(value: float) -> None:
    measured = Decimal(value)
    reported = parse_quantity(format_quantity(value))
    with localcontext(prec=2500):
        noise = abs(measured) * Decimal("5e-15")  # half a unit in the 15th significant digit
        assert reported >= Context(prec=15).create_decimal(value) or reported >= measured
        assert reported >= measured - noise
        assert reported < measured + Decimal("0.001") + noise


@settings(deadline=None)
@given(_FINITE)
def test_mantissa_is_an_integer_with_the_canonical_suffix(value: float) -> None:
    text = format_quantity(value)
    if text == "0":
        assert format_quantity(abs(value)) in ("0", "1m")
        return
    match = _CANONICAL.fullmatch(text)
    assert match is not None, text
    sign, digits, suffix = match.groups()
    assert (sign == "-") == (value < 0)
    if suffix != "E":
        assert not digits.endswith("000"), text


@settings(deadline=None)
@given(st.integers(min_value=-(10**9) + 1, max_value=10**9 - 1))
def test_exact_decimals_are_not_inflated(milli: int) -> None:
    assert parse_quantity(format_quantity(milli / 1000)) == Decimal(milli).scaleb(-3)
    assert parse_quantity(format_quantity(milli)) == milli
