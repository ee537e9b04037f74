"""Kubernetes ``resource.Quantity`` values: what the metrics APIs serve and HPA manifests hold.

The one parser and formatter of quantities, for the adapter's wire format and for the HPA
manifests the replay reads. The HPA reads every value with ``Quantity.MilliValue()``, which rounds up, so :func:`format_quantity`
emits exactly what the HPA will read: it rounds the float to 15 significant digits (what a double
holds) to drop binary noise (``0.30000000000000004`` is 0.3), then rounds up to a whole milli-unit,
and never goes below the exact value's whole milli-units. Rounding up rather than to nearest means a
reported load is never below the measured one, so the HPA can only err towards one replica too
many, and the noise step keeps exact decimals such as 0.3 from turning into 301m.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal

__all__ = ["format_quantity", "parse_quantity"]

_SIGNIFICANT_DIGITS = 15
_NOISE = Context(prec=_SIGNIFICANT_DIGITS, rounding=ROUND_HALF_EVEN)

# DecimalSI suffixes for exponents -3, 0, 3, ..., 18; larger values keep "E" with a longer mantissa.
_CANONICAL_SUFFIXES = ("m", "", "k", "M", "G", "T", "P", "E")

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[eE](?P<exponent>[+-]?[0-9]+)|[numkMGTPE])?"
)
_DECIMAL_EXPONENTS = {"": 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_POWERS = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_MAX_EXPONENT_DIGITS = 6


def format_quantity(value: float) -> str:
    """Canonical DecimalSI form of ``value`` after noise rounding and rounding up to milli.

    The mantissa is an integer and the suffix the largest of m, "", k, M, G, T, P, E that keeps it
    one (``1.5`` is ``"1500m"``, ``3000`` is ``"3k"``, ``2.5e6`` is ``"2500k"``). NaN and
    infinities raise :class:`ValueError`: they have no quantity form and callers choose the policy.
    """
    significant = _NOISE.create_decimal(value)
    if not significant.is_finite():
        raise ValueError(f"{value!r} cannot be represented as a Kubernetes quantity")
    exact_millis = Decimal(value).scaleb(3)
    # Noise rounding may only remove float noise below a milli, never a measured milli: a value
    # with more significant digits than a double holds keeps at least its exact floor.
    mantissa = max(
        int(significant.scaleb(3, context=_NOISE).to_integral_value(rounding=ROUND_CEILING)),
        int(exact_millis.to_integral_value(rounding=ROUND_FLOOR)),
    )
    if mantissa == 0:
        return "0"
    index = 0
    while index < len(_CANONICAL_SUFFIXES) - 1 and mantissa % 1000 == 0:
        mantissa //= 1000
        index += 1
    return f"{mantissa}{_CANONICAL_SUFFIXES[index]}"


def parse_quantity(value: object) -> Decimal:
    """The exact value of a quantity such as ``"1500m"``, ``"2.5Gi"``, ``"1e3"``, or a YAML number
    (``8``, ``0.25``).

    Accepts the DecimalSI suffixes n u m k M G T P E, the binary suffixes Ki Mi Gi Ti Pi Ei and
    decimal exponents (``e``/``E`` followed by an integer). Unlike the API server it does not round
    to nano precision, so tests can compare values exactly. Anything else raises :class:`ValueError`.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a quantity")
    text = value if isinstance(value, str) else repr(value)
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid quantity {text!r}: expected a number with an optional suffix")
    number, suffix, exponent = match.group("number", "suffix", "exponent")
    if suffix in _BINARY_POWERS:
        factor = 2 ** _BINARY_POWERS[suffix]
        exact = Context(prec=len(number) + len(str(factor)))
        return exact.multiply(Decimal(number), Decimal(factor))
    if exponent is not None:
        if len(exponent.lstrip("+-").lstrip("0")) > _MAX_EXPONENT_DIGITS:
            raise ValueError(f"invalid quantity {text!r}: exponent out of range")
        return Decimal(f"{number}E{int(exponent)}")
    return Decimal(f"{number}E{_DECIMAL_EXPONENTS[suffix or '']}")
