"""Kubernetes resource quantities (``500m``, ``128Mi``, ``1e3``), exactly.

A quantity is a signed decimal number followed by a suffix::

    <quantity> ::= <sign><number><suffix>
    <suffix>   ::= <binarySI> | <decimalSI> | <decimalExponent>
    binarySI   = Ki | Mi | Gi | Ti | Pi | Ei             (powers of 1024)
    decimalSI  = n | u | m | "" | k | M | G | T | P | E  (powers of 1000)
    decimalExponent = e<int> | E<int>                    (powers of 10)

Values are kept as :class:`fractions.Fraction`, so ``0.1`` CPU is exactly one
tenth and ``1.5Gi`` is exactly 1610612736 bytes; nothing here touches binary
floating point except when a caller hands in a ``float``.

Like ``resource.ParseQuantity`` in apimachinery, parsing fails with the
apiserver's own words (``quantities must match the regular expression ...``),
and :func:`canonicalize` renders a quantity the way the apiserver serializes
it back (``0.5`` becomes ``500m``, ``2000m`` becomes ``2``, ``1024Mi`` becomes
``1Gi``, ``1536`` stays ``1536``): the suffix family of the input is kept, the
mantissa is the smallest exact integer.

Conversions to what kemu schedules and displays round *up*, as Kubernetes
does (``MilliValue``/``Value``): ``cpu_millis("100u") == 1``.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = [
    "ERR_FORMAT_WRONG",
    "ERR_NUMERIC",
    "ERR_SUFFIX",
    "parse_quantity",
    "canonicalize",
    "cpu_millis",
    "memory_bytes",
    "format_cpu",
    "format_memory",
]

ERR_FORMAT_WRONG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
"""apimachinery's ``ErrFormatWrong``: the text does not look like a quantity at all."""
ERR_NUMERIC = "unable to parse numeric part of quantity"
"""apimachinery's ``ErrNumeric``: the number before the suffix is not a number (``.``)."""
ERR_SUFFIX = "unable to parse quantity's suffix"
"""apimachinery's ``ErrSuffix``: the suffix is none of the known ones (``5K``, ``3mi``)."""

_FORMAT = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$")
_EXPONENT = re.compile(r"^[eE][+-]?[0-9]+$")

_BINARY: dict[str, int] = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL: dict[str, int] = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP: dict[int, str] = {exp: suffix for suffix, exp in _DECIMAL.items()}
_BINARY_BY_EXP: dict[int, str] = {exp: suffix for suffix, exp in _BINARY.items()}

_NANO = Fraction(1, 10**9)


def _split(text: str) -> tuple[str, str]:
    """Number and suffix of ``text``, or ValueError with apimachinery's wording."""
    match = _FORMAT.match(text)
    if match is None:
        raise ValueError(ERR_FORMAT_WRONG)
    number, suffix = match.groups()
    if number.count(".") > 1:
        # apimachinery reads the second dot as the start of a suffix, which no
        # suffix may contain, so the whole text is malformed.
        raise ValueError(ERR_FORMAT_WRONG)
    if not _NUMBER.match(number):
        raise ValueError(ERR_NUMERIC)
    return number, suffix


def _multiplier(suffix: str) -> Fraction:
    if suffix in _BINARY:
        return Fraction(2 ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return Fraction(10) ** _DECIMAL[suffix]
    if _EXPONENT.match(suffix):
        return Fraction(10) ** int(suffix[1:])
    raise ValueError(ERR_SUFFIX)


def _format_of(suffix: str) -> str:
    """``BinarySI``, ``DecimalExponent`` or ``DecimalSI``, from the input's suffix."""
    if suffix in _BINARY:
        return "BinarySI"
    if suffix in _DECIMAL:  # before the exponent test: "E" alone is exa
        return "DecimalSI"
    return "DecimalExponent"


def _parse(value: str | int | float | Fraction | Decimal) -> tuple[Fraction, str]:
    """Exact value and format family of ``value``."""
    if isinstance(value, bool):
        raise ValueError(ERR_FORMAT_WRONG)
    if isinstance(value, int):
        return Fraction(value), "DecimalSI"
    if isinstance(value, (Fraction, Decimal)):
        return Fraction(value), "DecimalSI"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(ERR_FORMAT_WRONG)
        # str() gives the shortest decimal that round-trips: 0.1 -> "0.1".
        return Fraction(Decimal(str(value))), "DecimalSI"
    if not isinstance(value, str):
        raise ValueError(ERR_FORMAT_WRONG)
    number, suffix = _split(value.strip())
    multiplier = _multiplier(suffix)
    try:
        amount = Fraction(Decimal(number))
    except InvalidOperation as exc:  # pragma: no cover - _NUMBER already guards this
        raise ValueError(ERR_NUMERIC) from exc
    return amount * multiplier, _format_of(suffix)


def parse_quantity(value: str | int | float | Fraction | Decimal) -> Fraction:
    """The exact value of a quantity.

    >>> parse_quantity("500m")
    Fraction(1, 2)
    >>> parse_quantity("1.5Gi")
    Fraction(1610612736, 1)

    Bare numbers (``2``, ``0.5``) are accepted as a YAML manifest would give
    them. Raises ``ValueError`` with apimachinery's message on bad input.
    """
    return _parse(value)[0]


def _round_up(amount: Fraction, step: Fraction) -> Fraction:
    """``amount`` rounded away from zero to a multiple of ``step``."""
    units = amount / step
    whole = math.ceil(abs(units))
    return step * (whole if units >= 0 else -whole)


def _decimal_mantissa(amount: Fraction) -> tuple[int, int]:
    """``(mantissa, exponent)`` with ``amount == mantissa * 10**exponent``,
    ``exponent`` a multiple of 3 and the mantissa as small as exactness allows."""
    amount = _round_up(amount, _NANO)
    if amount == 0:
        return 0, 0
    shift = 0
    while (amount * 10**shift).denominator != 1:
        shift += 1
    mantissa, exponent = int(amount * 10**shift), -shift
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    down = exponent % 3
    return mantissa * 10**down, exponent - down


def _binary_mantissa(amount: int) -> tuple[int, int]:
    """``(mantissa, exponent)`` with ``amount == mantissa * 1024**exponent``."""
    exponent = 0
    while amount != 0 and amount % 1024 == 0 and exponent < 6:
        amount //= 1024
        exponent += 1
    return amount, exponent


def canonicalize(value: str | int | float | Fraction, *, round_to_milli: bool = False) -> str:
    """The apiserver's serialization of a quantity (``Quantity.String()``).

    >>> canonicalize("0.5"), canonicalize("2000m"), canonicalize("1024Mi"), canonicalize("1e3")
    ('500m', '2', '1Gi', '1e3')

    ``round_to_milli`` rounds up to a multiple of ``1m`` first, as the
    apiserver does for every ``ResourceList`` (``100u`` becomes ``1m``).
    """
    amount, fmt = _parse(value)
    if round_to_milli:
        amount = _round_up(amount, Fraction(1, 1000))
    if fmt == "BinarySI" and (abs(amount) < 1024 or amount.denominator != 1):
        fmt = "DecimalSI"
    if fmt == "BinarySI":
        mantissa, exponent = _binary_mantissa(int(amount))
        return f"{mantissa}{_BINARY_BY_EXP.get(exponent * 10, '')}"
    mantissa, exponent = _decimal_mantissa(amount)
    if fmt == "DecimalExponent" or exponent not in _DECIMAL_BY_EXP:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    return f"{mantissa}{_DECIMAL_BY_EXP[exponent]}"


def cpu_millis(quantity: str | int | float | Fraction) -> int:
    """Millicores, rounded up: ``"500m"`` -> 500, ``"2"`` -> 2000, ``"0.1"`` -> 100."""
    return math.ceil(parse_quantity(quantity) * 1000)


def memory_bytes(quantity: str | int | float | Fraction) -> int:
    """Bytes, rounded up: ``"128Mi"`` -> 134217728, ``"1G"`` -> 10**9, ``"1e3"`` -> 1000."""
    return math.ceil(parse_quantity(quantity))


def format_cpu(millis: int) -> str:
    """Millicores for display: 2000 -> ``"2"``, 1500 -> ``"1500m"``, 250 -> ``"250m"``."""
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis}m"


def format_memory(num_bytes: int) -> str:
    """Bytes for display, in the largest exact unit: binary first (``"128Mi"``),
    then decimal (``"1G"``), else plain bytes (``"1500"``)."""
    if num_bytes == 0:
        return "0"
    for exp in (60, 50, 40, 30, 20, 10):
        if num_bytes % (2**exp) == 0:
            return f"{num_bytes // 2**exp}{_BINARY_BY_EXP[exp]}"
    for exp in (18, 15, 12, 9, 6, 3):
        if num_bytes % (10**exp) == 0:
            return f"{num_bytes // 10**exp}{_DECIMAL_BY_EXP[exp]}"
    return str(num_bytes)
