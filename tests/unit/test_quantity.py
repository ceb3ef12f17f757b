"""Resource quantities: parsing, canonical form, conversions, display."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemu.api.quantity import (
    ERR_FORMAT_WRONG,
    ERR_NUMERIC,
    ERR_SUFFIX,
    canonicalize,
    cpu_millis,
    format_cpu,
    format_memory,
    memory_bytes,
    parse_quantity,
)


class TestParseQuantity:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("500m", Fraction(1, 2)),
            ("2", Fraction(2)),
            ("0.1", Fraction(1, 10)),
            ("128Mi", Fraction(128 * 2**20)),
            ("1.5Gi", Fraction(1610612736)),
            ("1G", Fraction(10**9)),
            ("1e3", Fraction(1000)),
            ("5e-3", Fraction(5, 1000)),
            ("1E+2", Fraction(100)),
            ("100u", Fraction(1, 10000)),
            ("3n", Fraction(3, 10**9)),
            ("2E", Fraction(2 * 10**18)),
            ("+1k", Fraction(1000)),
            ("-1", Fraction(-1)),
            (".5", Fraction(1, 2)),
            ("5.", Fraction(5)),
            (" 1 ", Fraction(1)),
            (2, Fraction(2)),
            (0.25, Fraction(1, 4)),
            (0.1, Fraction(1, 10)),
        ],
    )
    def test_exact_value(self, text: str | int | float, expected: Fraction) -> None:
        """Every suffix family parses to the exact value Kubernetes means."""
        assert parse_quantity(text) == expected

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", ERR_FORMAT_WRONG),
            ("abc", ERR_FORMAT_WRONG),
            ("1.2.3", ERR_FORMAT_WRONG),
            ("1 Gi", ERR_FORMAT_WRONG),
            (True, ERR_FORMAT_WRONG),
            ([1], ERR_FORMAT_WRONG),
            (".", ERR_NUMERIC),
            ("5K", ERR_SUFFIX),
            ("3mi", ERR_SUFFIX),
            ("1e", ERR_SUFFIX),
            ("1m3", ERR_SUFFIX),
        ],
    )
    def test_rejects_with_apimachinery_wording(self, text: object, message: str) -> None:
        """Malformed quantities fail with ParseQuantity's own messages."""
        with pytest.raises(ValueError) as info:
            parse_quantity(text)  # type: ignore[arg-type]
        assert str(info.value) == message

    def test_format_message_is_the_real_one(self) -> None:
        """The format error quotes the apiserver's regular expression."""
        assert ERR_FORMAT_WRONG == (
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )


class TestCanonicalize:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("0.5", "500m"),
            ("2000m", "2"),
            ("1500m", "1500m"),
            ("1.5", "1500m"),
            ("2000", "2k"),
            ("1500", "1500"),
            ("1024Mi", "1Gi"),
            ("1000Mi", "1000Mi"),
            ("1.5Gi", "1536Mi"),
            ("1.5Ki", "1536"),
            ("512", "512"),
            ("1e3", "1e3"),
            ("1.5e3", "1500"),
            ("1E", "1E"),
            ("1000P", "1E"),
            ("0", "0"),
            ("-1", "-1"),
            (1, "1"),
            (0.25, "250m"),
        ],
    )
    def test_serializes_as_the_apiserver(self, text: str | int | float, expected: str) -> None:
        """The suffix family is kept and the mantissa is the smallest exact integer."""
        assert canonicalize(text) == expected

    @pytest.mark.parametrize(("text", "expected"), [("100u", "1m"), ("1500u", "2m"), ("0.0001", "1m"), ("2", "2")])
    def test_round_to_milli(self, text: str, expected: str) -> None:
        """Resource lists are rounded up to 1m, as SetDefaults_ResourceList does."""
        assert canonicalize(text, round_to_milli=True) == expected

    @given(
        st.integers(min_value=-(10**12), max_value=10**12),
        st.sampled_from(["", "n", "u", "m", "k", "M", "G", "Ki", "Mi", "Gi", "e3", "e-2"]),
    )
    def test_canonical_form_keeps_the_value(self, mantissa: int, suffix: str) -> None:
        """Canonicalizing never changes the value, and is idempotent."""
        text = f"{mantissa}{suffix}"
        canonical = canonicalize(text)
        assert parse_quantity(canonical) == parse_quantity(text)
        assert canonicalize(canonical) == canonical

    def test_sub_milli_kept_without_rounding(self) -> None:
        """Without rounding, micro quantities keep their suffix."""
        assert canonicalize("100u") == "100u"


class TestConversions:
    @pytest.mark.parametrize(
        ("text", "millis"), [("500m", 500), ("2", 2000), ("0.1", 100), ("1.5", 1500), ("100u", 1), (1, 1000)]
    )
    def test_cpu_millis_rounds_up(self, text: str | int, millis: int) -> None:
        """Millicores round up, like Quantity.MilliValue."""
        assert cpu_millis(text) == millis

    @pytest.mark.parametrize(
        ("text", "size"),
        [("128Mi", 134217728), ("1G", 10**9), ("1e3", 1000), ("512Ki", 524288), ("0.5", 1), ("1Gi", 2**30)],
    )
    def test_memory_bytes_rounds_up(self, text: str, size: int) -> None:
        """Bytes round up, like Quantity.Value."""
        assert memory_bytes(text) == size

    def test_cpu_millis_of_bad_quantity_raises(self) -> None:
        """A malformed quantity is a ValueError, not a number."""
        with pytest.raises(ValueError):
            cpu_millis("one")


class TestDisplay:
    @pytest.mark.parametrize(("millis", "text"), [(2000, "2"), (1500, "1500m"), (250, "250m"), (0, "0")])
    def test_format_cpu(self, millis: int, text: str) -> None:
        """Whole cores print bare, the rest in millicores."""
        assert format_cpu(millis) == text

    @pytest.mark.parametrize(
        ("size", "text"),
        [(134217728, "128Mi"), (2**30, "1Gi"), (10**9, "1G"), (1500, "1500"), (0, "0"), (3 * 2**40, "3Ti")],
    )
    def test_format_memory(self, size: int, text: str) -> None:
        """Memory prints in the largest exact unit, binary first."""
        assert format_memory(size) == text
