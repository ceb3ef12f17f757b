"""kemu.apimachinery: names, labels and times with Kubernetes' (v1.32) rules and words."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kemu import apimachinery
from kemu.api import selectors, validation
from kemu.api.defaults import apply_defaults
from kemu.api.errors import ApiError
from kemu.api.selectors import LabelSelector
from kemu.apimachinery import (
    TimeParseError,
    Timestamp,
    format_micro_time,
    format_time,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    is_wildcard_dns1123_subdomain,
    name_is_dns_label,
    name_is_dns_subdomain,
    parse_micro_time,
    parse_time,
)

# The messages below are copied from k8s.io/apimachinery v0.32 (util/validation), the
# release kemu's apiserver reports; note Go's double space before " or ".
QNAME_REGEX = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_REGEX = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
DNS1123_LABEL_REGEX = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_REGEX = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_REGEX = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
assert len(SUBDOMAIN_253) == 253


class TestQualifiedName:
    @pytest.mark.parametrize(
        "key",
        ["a", "A", "1", "MyName", "my.name", "123-abc", "a_b", "x" * 63, "example.com/MyName",
         f"{SUBDOMAIN_253}/app", "kubernetes.io/os"],
    )
    def test_valid(self, key: str) -> None:
        """Qualified names, with and without a DNS-subdomain prefix, pass."""
        assert is_qualified_name(key) == []

    @pytest.mark.parametrize(
        ("key", "errors"),
        [
            ("x" * 64, ["name part must be no more than 63 characters"]),
            ("", ["name part must be non-empty", "name part " + QNAME_REGEX]),
            ("/a", ["prefix part must be non-empty"]),
            ("a/", ["name part must be non-empty", "name part " + QNAME_REGEX]),
            ("-app", ["name part " + QNAME_REGEX]),
            ("app-", ["name part " + QNAME_REGEX]),
            ("a b", ["name part " + QNAME_REGEX]),
            ("app\n", ["name part " + QNAME_REGEX]),
            ("Example.com/app", ["prefix part " + DNS1123_SUBDOMAIN_REGEX]),
            (f"{SUBDOMAIN_253}x/app", ["prefix part must be no more than 253 characters"]),
            ("a/b/c", ["a qualified name " + QNAME_REGEX
                       + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]),
        ],
    )
    def test_invalid(self, key: str, errors: list[str]) -> None:
        """Each broken rule is one message, in apimachinery's order and words."""
        assert is_qualified_name(key) == errors

    def test_length_is_counted_in_bytes(self) -> None:
        """32 two-byte characters are 64 bytes: too long for Go's len(), and not ASCII either."""
        assert is_qualified_name("é" * 32) == ["name part must be no more than 63 characters", "name part " + QNAME_REGEX]
        assert is_qualified_name("é" * 31) == ["name part " + QNAME_REGEX]


class TestLabelValue:
    @pytest.mark.parametrize("value", ["", "a", "MyValue", "my_value", "12345", "a.b-c_d", "x" * 63])
    def test_valid(self, value: str) -> None:
        """Empty, or alphanumeric at both ends, at most 63."""
        assert is_valid_label_value(value) == []

    @pytest.mark.parametrize(
        ("value", "errors"),
        [
            ("x" * 64, ["must be no more than 63 characters"]),
            ("-a", [LABEL_VALUE_REGEX]),
            ("a-", [LABEL_VALUE_REGEX]),
            ("a/b", [LABEL_VALUE_REGEX]),
            ("web@1", [LABEL_VALUE_REGEX]),
            ("é" * 32, ["must be no more than 63 characters", LABEL_VALUE_REGEX]),
        ],
    )
    def test_invalid(self, value: str, errors: list[str]) -> None:
        """Bad values get the length and the pattern message."""
        assert is_valid_label_value(value) == errors


class TestDNSNames:
    @pytest.mark.parametrize(
        ("value", "errors"),
        [
            ("my-name", []),
            ("123-abc", []),
            ("a" * 63, []),
            ("a" * 64, ["must be no more than 63 characters"]),
            ("My-name", [DNS1123_LABEL_REGEX]),
            ("name-", [DNS1123_LABEL_REGEX]),
            ("-name", [DNS1123_LABEL_REGEX]),
            ("a.b", ["must not contain dots"]),
            ("", [DNS1123_LABEL_REGEX]),
        ],
    )
    def test_dns1123_label(self, value: str, errors: list[str]) -> None:
        """IsDNS1123Label: lower case, no dots, alphanumeric at both ends."""
        assert is_dns1123_label(value) == errors

    @pytest.mark.parametrize(
        ("value", "errors"),
        [
            ("example.com", []),
            ("a", []),
            (SUBDOMAIN_253, []),
            (SUBDOMAIN_253 + "x", ["must be no more than 253 characters"]),
            ("Example.com", [DNS1123_SUBDOMAIN_REGEX]),
            ("a..b", [DNS1123_SUBDOMAIN_REGEX]),
            ("a.-b", [DNS1123_SUBDOMAIN_REGEX]),
            ("web-", [DNS1123_SUBDOMAIN_REGEX]),
        ],
    )
    def test_dns1123_subdomain(self, value: str, errors: list[str]) -> None:
        """IsDNS1123Subdomain: dot-separated labels, at most 253."""
        assert is_dns1123_subdomain(value) == errors

    @pytest.mark.parametrize(
        ("value", "errors"),
        [("my-name", []), ("abc-123", []), ("1abc", [DNS1035_REGEX]), ("a" * 64, ["must be no more than 63 characters"])],
    )
    def test_dns1035_label(self, value: str, errors: list[str]) -> None:
        """IsDNS1035Label: a DNS-1123 label that starts with a letter."""
        assert is_dns1035_label(value) == errors

    @pytest.mark.parametrize(("value", "ok"), [("*.example.com", True), ("*.*.example.com", False), ("*", False),
                                                ("f*.example.com", False), ("example.com", False)])
    def test_wildcard_subdomain(self, value: str, ok: bool) -> None:
        """IsWildcardDNS1123Subdomain: exactly one leading '*.'."""
        assert (is_wildcard_dns1123_subdomain(value) == []) is ok

    def test_generate_name_may_end_in_a_dash(self) -> None:
        """A generateName prefix may end in '-' (maskTrailingDash); a name may not."""
        assert name_is_dns_subdomain("web-", True) == []
        assert name_is_dns_subdomain("web-", False) == [DNS1123_SUBDOMAIN_REGEX]
        assert name_is_dns_label("ns-", True) == []
        assert name_is_dns_subdomain("-", True) == [DNS1123_SUBDOMAIN_REGEX]


# -- one rule, every caller --------------------------------------------------------------


def _pod_with_labels(labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": labels},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
    }


def _admission_causes(obj: dict[str, Any]) -> list[str]:
    validation.check_schema(obj)
    apply_defaults(obj)
    with pytest.raises(ApiError) as info:
        validation.validate(obj, None)
    return [cause["message"] for cause in info.value.causes]


BAD_KEYS = ["x" * 64, "/a", "a/", "-app", "a/b/c", "Example.com/app", f"{SUBDOMAIN_253}x/app", "a@b"]
BAD_VALUES = ["x" * 64, "-a", "web@1", "a/b"]


class TestSelectorsAndValidationAgree:
    @pytest.mark.parametrize("key", [*BAD_KEYS, "app", "example.com/tier", "é" * 32])
    def test_same_key_verdict(self, key: str) -> None:
        """selectors and validation judge a label key with one function, so with one answer."""
        assert selectors.validate_label_key(key) == validation.is_qualified_name(key) == is_qualified_name(key)

    @pytest.mark.parametrize("value", [*BAD_VALUES, "", "web", "é" * 32])
    def test_same_value_verdict(self, value: str) -> None:
        """The same holds for label values."""
        assert selectors.validate_label_value(value) == validation.is_valid_label_value(value)

    @pytest.mark.parametrize("key", BAD_KEYS)
    def test_same_message_for_a_bad_key(self, key: str) -> None:
        """A bad key reads the same in `-l key=x` as in an object's metadata.labels."""
        problems = is_qualified_name(key)
        assert problems
        with pytest.raises(ValueError) as info:
            LabelSelector.parse(f"{key}=x")
        assert str(info.value).endswith(f'Invalid value: "{key}": ' + "; ".join(problems))
        assert _admission_causes(_pod_with_labels({key: "x"})) == [
            f'metadata.labels: Invalid value: "{key}": {problem}' for problem in problems
        ]

    @pytest.mark.parametrize("value", BAD_VALUES)
    def test_same_message_for_a_bad_value(self, value: str) -> None:
        """A bad value too: the selector's message carries the same detail as the 422's cause."""
        problems = is_valid_label_value(value)
        with pytest.raises(ValueError) as info:
            LabelSelector.from_labels({"app": value}) if "/" in value else LabelSelector.parse(f"app={value}")
        assert str(info.value).endswith(f'Invalid value: "{value}": ' + "; ".join(problems))
        assert _admission_causes(_pod_with_labels({"app": value})) == [
            f'metadata.labels: Invalid value: "{value}": {problem}' for problem in problems
        ]


# -- times ---------------------------------------------------------------------------------

T0 = 1795634028  # 2026-11-25T19:13:48Z


class TestParseTime:
    @pytest.mark.parametrize(
        ("text", "stamp"),
        [
            ("2026-11-25T19:13:48Z", Timestamp(T0, 0)),
            ("2026-11-25T19:13:48.5Z", Timestamp(T0, 500_000_000)),
            ("2026-11-25T19:13:48.123456Z", Timestamp(T0, 123_456_000)),
            ("2026-11-25T19:13:48.123456789Z", Timestamp(T0, 123_456_789)),
            ("2026-11-25T19:13:48.1234567891Z", Timestamp(T0, 123_456_789)),  # Go drops digits past the ninth
            ("2026-11-25T19:13:48,25Z", Timestamp(T0, 250_000_000)),  # Go takes a comma too
            ("2026-11-25T20:13:48+01:00", Timestamp(T0, 0)),
            ("2026-11-25T18:43:48-00:30", Timestamp(T0, 0)),
            ("2026-11-26T19:13:48+24:00", Timestamp(T0, 0)),  # Go's offset test is > 24, not >= 24
            ("2026-11-25T9:13:48Z", Timestamp(T0 - 10 * 3600, 0)),  # Go's "15" takes a one-digit hour
            ("2024-02-29T00:00:00Z", Timestamp(1709164800, 0)),
            ("1969-12-31T23:59:59.5Z", Timestamp(-1, 500_000_000)),
            ("0000-01-01T00:00:00Z", Timestamp(-62167219200, 0)),
        ],
    )
    def test_accepted(self, text: str, stamp: Timestamp) -> None:
        """What time.Parse(time.RFC3339, ...) accepts, to the nanosecond."""
        assert parse_time(text) == stamp

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("garbage", 'as "2006-01-02T15:04:05Z07:00": cannot parse "garbage" as "2006"'),
            ("", 'as "2006-01-02T15:04:05Z07:00": cannot parse "" as "2006"'),
            ("2024-05-01 10:00", 'as "2006-01-02T15:04:05Z07:00": cannot parse " 10:00" as "T"'),
            ("2024-05-01", 'as "2006-01-02T15:04:05Z07:00": cannot parse "" as "T"'),
            ("2024-05-01t10:00:00z", 'as "2006-01-02T15:04:05Z07:00": cannot parse "t10:00:00z" as "T"'),
            ("2024-05-01T10:00:00z", 'as "2006-01-02T15:04:05Z07:00": cannot parse "z" as "Z07:00"'),
            ("2024-05-01T10:00:00", 'as "2006-01-02T15:04:05Z07:00": cannot parse "" as "Z07:00"'),
            ("2024-05-01T10:00:00+0100", 'as "2006-01-02T15:04:05Z07:00": cannot parse "+0100" as "Z07:00"'),
            ("2024-5-01T10:00:00Z", 'as "2006-01-02T15:04:05Z07:00": cannot parse "5-01T10:00:00Z" as "01"'),
            ("2024-05-01T10:00:00.Z", 'as "2006-01-02T15:04:05Z07:00": cannot parse ".Z" as "Z07:00"'),
            ("2024-13-01T10:00:00Z", ": month out of range"),
            ("2024-02-30T10:00:00Z", ": day out of range"),
            ("2023-02-29T10:00:00Z", ": day out of range"),
            ("2024-05-01T24:00:00Z", ": hour out of range"),
            ("2024-05-01T10:60:00Z", ": minute out of range"),
            ("2024-05-01T10:00:60Z", ": second out of range"),
            ("2024-05-01T10:00:00+25:00", ": time zone offset hour out of range"),
            ("2024-05-01T10:00:00Zjunk", ': extra text: "junk"'),
            ("2024-05-01T10:00:00Z\n", ': extra text: "\\x0a"'),
            ("2024-05-01T10:00:00é", 'as "2006-01-02T15:04:05Z07:00": cannot parse "\\xc3\\xa9" as "Z07:00"'),
        ],
    )
    def test_refused_with_gos_message(self, text: str, message: str) -> None:
        """A refusal is a ValueError with Go's time.ParseError text, which names the part that failed."""
        with pytest.raises(TimeParseError) as info:
            parse_time(text)
        quoted = '"' + text.replace("\n", "\\x0a").replace("é", "\\xc3\\xa9") + '"'
        assert str(info.value) == f"parsing time {quoted}" + (" " + message if message.startswith("as") else message)
        assert isinstance(info.value, ValueError)

    def test_not_a_string(self) -> None:
        """A number is no time either, and says so rather than crashing."""
        with pytest.raises(TimeParseError, match="must be a string"):
            parse_time(1795634028)  # type: ignore[arg-type]


class TestParseMicroTime:
    def test_six_digits(self) -> None:
        """MicroTime's layout has exactly six fractional digits."""
        assert parse_micro_time("2026-11-25T19:13:48.000001Z") == Timestamp(T0, 1000)
        assert parse_micro_time("2026-11-25T20:13:48.123456+01:00") == Timestamp(T0, 123_456_000)

    @pytest.mark.parametrize(
        ("text", "elem", "layout_elem"),
        [
            ("2026-11-25T19:13:48Z", "Z", ".000000"),
            ("2026-11-25T19:13:48.123Z", ".123Z", ".000000"),
            ("2026-11-25T19:13:48.1234567Z", "7Z", "Z07:00"),
        ],
    )
    def test_other_precisions_refused(self, text: str, elem: str, layout_elem: str) -> None:
        """Whole seconds or another number of digits is refused, as by the apiserver."""
        with pytest.raises(TimeParseError) as info:
            parse_micro_time(text)
        assert str(info.value) == (
            f'parsing time "{text}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "{elem}" as "{layout_elem}"'
        )


class TestFormat:
    @pytest.mark.parametrize(
        ("when", "text"),
        [
            (0, "1970-01-01T00:00:00Z"),
            (T0 + 0.999, "2026-11-25T19:13:48Z"),
            (-0.5, "1969-12-31T23:59:59Z"),
            (Timestamp(T0, 999_999_999), "2026-11-25T19:13:48Z"),
            (datetime(2026, 11, 25, 20, 13, 48, tzinfo=timezone(timedelta(hours=1))), "2026-11-25T19:13:48Z"),
            (Timestamp(-62167219200, 0), "0000-01-01T00:00:00Z"),
        ],
    )
    def test_time_is_utc_whole_seconds(self, when: Any, text: str) -> None:
        """metav1.Time: UTC, the fraction truncated, 'Z'."""
        assert format_time(when) == text

    @pytest.mark.parametrize(
        ("when", "text"),
        [
            (0, "1970-01-01T00:00:00.000000Z"),
            (T0 + 0.123456, "2026-11-25T19:13:48.123456Z"),
            (Timestamp(T0, 123_456_789), "2026-11-25T19:13:48.123456Z"),
            (datetime(2026, 11, 25, 19, 13, 48, 7, tzinfo=UTC), "2026-11-25T19:13:48.000007Z"),
        ],
    )
    def test_micro_time_keeps_six_digits(self, when: Any, text: str) -> None:
        """metav1.MicroTime: six digits, truncated."""
        assert format_micro_time(when) == text

    @pytest.mark.parametrize("text", ["2026-11-25T19:13:48.000001Z", "2000-02-29T23:59:59.999999Z"])
    def test_micro_round_trip(self, text: str) -> None:
        """Formatting a parsed MicroTime gives the same text back."""
        assert format_micro_time(parse_micro_time(text)) == text

    def test_timestamp_views(self) -> None:
        """A Timestamp reads as a float, as nanoseconds and as a datetime."""
        stamp = parse_time("2026-11-25T19:13:48.123456789Z")
        assert stamp.unix_nano == T0 * 10**9 + 123_456_789
        assert stamp.epoch == pytest.approx(T0 + 0.123456789)
        assert stamp.to_datetime() == datetime(2026, 11, 25, 19, 13, 48, 123456, tzinfo=UTC)
        assert Timestamp.from_datetime(stamp.to_datetime()) == Timestamp(T0, 123_456_000)


def test_doctests() -> None:
    """The examples in the module's docstrings hold."""
    assert doctest.testmod(apimachinery).failed == 0
