"""kemu's apimachinery: the one place for the rules on names, labels and times.

Kubernetes keeps the small rules every API type shares in one repository,
``k8s.io/apimachinery``, apart from the types themselves (``k8s.io/api``).
kemu does the same: this module is the only copy of

- the format checks of ``pkg/util/validation`` (``IsQualifiedName``,
  ``IsValidLabelValue``, ``IsDNS1123Label``, ``IsDNS1123Subdomain``,
  ``IsDNS1035Label``, ``IsWildcardDNS1123Subdomain``) and the object-name
  checks of ``pkg/api/validation`` (``NameIsDNSSubdomain`` ...), each
  returning the list of reasons a value is malformed (empty when it is fine),
  worded as the v1.32 apiserver words them (``must be no more than 63
  characters``, ``a qualified name must consist of ...``). Lengths are Go's
  ``len()``, that is UTF-8 bytes: these rules only admit ASCII, so a non-ASCII
  value fails its pattern anyway, and counting bytes also gives the length
  error exactly when Go gives it;
- ``metav1.Time`` and ``metav1.MicroTime``: :func:`format_time` /
  :func:`format_micro_time` write them (UTC, ``Z``, whole seconds or six
  digits, truncated), :func:`parse_time` / :func:`parse_micro_time` read them
  exactly as Go's ``time.Parse`` reads ``time.RFC3339`` and
  ``"2006-01-02T15:04:05.000000Z07:00"``: the same texts are accepted (a
  fraction of any length after the seconds of a ``Time``; exactly six digits
  in a ``MicroTime``; ``Z`` or ``±hh:mm``; a one-digit hour, because Go's
  ``15`` takes one) and a refusal carries Go's own message (``parsing time
  "x" as "2006-01-02T15:04:05Z07:00": cannot parse "x" as "2006"``), which is
  what the apiserver puts in its decoding error.

Quantities are the third leg of apimachinery and stay in
:mod:`kemu.api.quantity`: that module is already the single copy, and it is
not re-exported here because this module must import nothing from
:mod:`kemu.api` — :mod:`kemu.clock`, the kubelet and the CLI use it, and
importing :mod:`kemu.api` would pull in every kind's tables (and an import
cycle through :mod:`kemu.clock`).

Everything here is pure: no I/O, no clock reads except where a caller omits
the time to format.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

__all__ = [
    # names and labels
    "DNS1123_LABEL_MAX_LENGTH",
    "DNS1123_SUBDOMAIN_MAX_LENGTH",
    "DNS1035_LABEL_MAX_LENGTH",
    "LABEL_VALUE_MAX_LENGTH",
    "QUALIFIED_NAME_MAX_LENGTH",
    "regex_error",
    "max_len_error",
    "empty_error",
    "is_qualified_name",
    "is_valid_label_value",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_dns1035_label",
    "is_wildcard_dns1123_subdomain",
    "NameFn",
    "mask_trailing_dash",
    "name_is_dns_subdomain",
    "name_is_dns_label",
    "name_is_dns1035_label",
    # times
    "RFC3339",
    "RFC3339_MICRO",
    "RFC3339_NANO",
    "Timestamp",
    "TimeParseError",
    "parse_time",
    "parse_micro_time",
    "format_time",
    "format_micro_time",
]


# ---------------------------------------------------------------------------
# Error wording (pkg/util/validation: MaxLenError, RegexError, EmptyError)
# ---------------------------------------------------------------------------


def max_len_error(length: int) -> str:
    """``MaxLenError``: ``must be no more than 63 characters`` (v1.32 says
    characters; newer releases say bytes, and always counted bytes)."""
    return f"must be no more than {length} characters"


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """``RegexError``: the rule, its examples and the regex, as Go renders them.

    >>> regex_error("must be digits", "[0-9]+", "1", "22")
    "must be digits (e.g. '1',  or '22', regex used for validation is '[0-9]+')"
    """
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def empty_error() -> str:
    """``EmptyError``."""
    return "must be non-empty"


def _too_long(value: str, limit: int) -> bool:
    """Go's ``len(value) > limit``: ``len`` of a Go string counts UTF-8 bytes."""
    return len(value) > limit or len(value.encode("utf-8", "surrogatepass")) > limit


# ---------------------------------------------------------------------------
# Names and labels (pkg/util/validation/validation.go, v0.32)
# ---------------------------------------------------------------------------

QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_MAX_LENGTH = 63

_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_WILDCARD_DNS1123_SUBDOMAIN_FMT = "\\*\\." + _DNS1123_SUBDOMAIN_FMT
_WILDCARD_DNS1123_SUBDOMAIN_MSG = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist "
    "of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character"
)

# Go anchors these as "^...$", and Go's "$" is the end of the text; Python's
# "$" would also match before a final newline, so fullmatch() is the port.
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)
_WILDCARD_DNS1123_SUBDOMAIN_RE = re.compile(_WILDCARD_DNS1123_SUBDOMAIN_FMT)


def is_qualified_name(value: str) -> list[str]:
    """``IsQualifiedName``: a label key, an annotation key, a finalizer ...:
    ``[prefix/]name``, the prefix a DNS-1123 subdomain, the name at most 63
    alphanumerics, ``-``, ``_`` or ``.`` that start and end alphanumeric.

    >>> is_qualified_name("example.com/MyName")
    []
    >>> is_qualified_name("/a")
    ['prefix part must be non-empty']
    """
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + msg for msg in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + empty_error())
    elif _too_long(name, QUALIFIED_NAME_MAX_LENGTH):
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errs.append("name part " + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """``IsValidLabelValue``: empty, or at most 63 alphanumerics, ``-``, ``_``
    or ``.`` that start and end alphanumeric."""
    errs = [max_len_error(LABEL_VALUE_MAX_LENGTH)] if _too_long(value, LABEL_VALUE_MAX_LENGTH) else []
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def is_dns1123_label(value: str) -> list[str]:
    """``IsDNS1123Label``: a namespace, a container or port name: at most 63
    of ``[-a-z0-9]``, alphanumeric at both ends. A valid subdomain that is not
    a label can only have dots in it, and is told so."""
    errs = [max_len_error(DNS1123_LABEL_MAX_LENGTH)] if _too_long(value, DNS1123_LABEL_MAX_LENGTH) else []
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """``IsDNS1123Subdomain``: most object names: at most 253 characters,
    dot-separated DNS-1123 labels."""
    errs = [max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH)] if _too_long(value, DNS1123_SUBDOMAIN_MAX_LENGTH) else []
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    """``IsDNS1035Label``: a Service's name: like a DNS-1123 label, but it
    must start with a letter."""
    errs = [max_len_error(DNS1035_LABEL_MAX_LENGTH)] if _too_long(value, DNS1035_LABEL_MAX_LENGTH) else []
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    """``IsWildcardDNS1123Subdomain``: ``*.`` and a subdomain (an Ingress host
    such as ``*.example.com``)."""
    errs = [max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH)] if _too_long(value, DNS1123_SUBDOMAIN_MAX_LENGTH) else []
    if not _WILDCARD_DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(regex_error(_WILDCARD_DNS1123_SUBDOMAIN_MSG, _WILDCARD_DNS1123_SUBDOMAIN_FMT, "*.example.com"))
    return errs


# -- object names (pkg/api/validation/generic.go) ----------------------------

NameFn = Callable[[str, bool], list[str]]
"""``ValidateNameFunc``: ``(name, prefix) -> problems``; ``prefix`` is true
when the name is a ``generateName``, which may end in ``-``."""


def mask_trailing_dash(name: str) -> str:
    """``maskTrailingDash``: a ``generateName`` may end in ``-`` (the random
    suffix follows), so the last two characters become ``a`` before the name
    is checked.

    >>> mask_trailing_dash("web-"), mask_trailing_dash("-")
    ('wea', '-')
    """
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    """``NameIsDNSSubdomain``: the name rule of most kinds (Pod, Deployment, ConfigMap ...)."""
    return is_dns1123_subdomain(mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    """``NameIsDNSLabel``: the name rule of a Namespace."""
    return is_dns1123_label(mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    """``NameIsDNS1035Label``: the name rule of a Service."""
    return is_dns1035_label(mask_trailing_dash(name) if prefix else name)


# ---------------------------------------------------------------------------
# Times (metav1.Time, metav1.MicroTime; Go's time.Parse for their layouts)
# ---------------------------------------------------------------------------

RFC3339 = "2006-01-02T15:04:05Z07:00"
"""Go's ``time.RFC3339``, the layout of ``metav1.Time``."""
RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"
"""``metav1.RFC3339Micro``, the layout of ``metav1.MicroTime``."""
RFC3339_NANO = "2006-01-02T15:04:05.999999999Z07:00"
"""Go's ``time.RFC3339Nano`` (log lines, ``sinceTime``): parses as :data:`RFC3339` does."""

# Each layout as Go's nextStdChunk splits it: (literal prefix, std element).
_LAYOUTS: dict[str, tuple[tuple[str, str], ...]] = {
    layout: (("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05"))
    + ((("", frac),) if frac else ())
    + (("", "Z07:00"),)
    for layout, frac in ((RFC3339, ""), (RFC3339_MICRO, ".000000"), (RFC3339_NANO, ".999999999"))
}


class TimeParseError(ValueError):
    """Go's ``time.ParseError``; ``str()`` is its ``Error()`` text."""


class Timestamp(NamedTuple):
    """A point in time as Go's ``time.Time`` holds it: whole seconds since the
    epoch (UTC) and nanoseconds within that second (0 to 999999999)."""

    seconds: int
    nanos: int = 0

    @classmethod
    def from_epoch(cls, ts: float) -> Timestamp:
        """The timestamp of ``ts`` epoch seconds (a float, to the microsecond)."""
        whole = int(ts // 1)
        return cls(whole, min(round((ts - whole) * 1_000_000), 999_999) * 1000)

    @classmethod
    def from_datetime(cls, when: datetime) -> Timestamp:
        """The timestamp of an aware ``datetime`` (a naive one is taken as UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delta = when - datetime(1970, 1, 1, tzinfo=UTC)
        return cls(delta.days * 86400 + delta.seconds, delta.microseconds * 1000)

    @property
    def epoch(self) -> float:
        """Seconds since the epoch as a float (nanoseconds beyond a float's reach are lost)."""
        return self.seconds + self.nanos / 1e9

    @property
    def unix_nano(self) -> int:
        """Go's ``UnixNano``: nanoseconds since the epoch, exactly."""
        return self.seconds * 1_000_000_000 + self.nanos

    def to_datetime(self) -> datetime:
        """An aware UTC ``datetime`` (microseconds, truncated)."""
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=self.seconds, microseconds=self.nanos // 1000)


def _go_quote(text: str) -> str:
    """Go's ``time.quote``: double quotes; ``"`` and ``\\`` escaped; a byte of
    a control or non-ASCII character as ``\\xNN``."""
    out = ['"']
    for ch in text:
        if ch < " " or ord(ch) >= 0x80:
            out.extend(f"\\x{byte:02x}" for byte in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    out.append('"')
    return "".join(out)


def _parse_error(layout: str, value: str, layout_elem: str, value_elem: str, message: str = "") -> TimeParseError:
    if message:
        return TimeParseError(f"parsing time {_go_quote(value)}{message}")
    return TimeParseError(
        f"parsing time {_go_quote(value)} as {_go_quote(layout)}: cannot parse {_go_quote(value_elem)} "
        f"as {_go_quote(layout_elem)}"
    )


def _digit(text: str, i: int) -> bool:
    return i < len(text) and "0" <= text[i] <= "9"


def _getnum(text: str, fixed: bool) -> tuple[int, str] | None:
    """Go's ``getnum``: one or two leading digits (exactly two when ``fixed``)."""
    if not _digit(text, 0):
        return None
    if not _digit(text, 1):
        return None if fixed else (int(text[0]), text[1:])
    return int(text[:2]), text[2:]


def _atoi(text: str) -> int | None:
    """Go's ``time.atoi``: an optional sign, then only digits."""
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text[1:] if text[:1] == "+" else text)
    if not digits or not all("0" <= ch <= "9" for ch in digits):
        return None
    return sign * int(digits)


def _nanoseconds(text: str, nbytes: int) -> tuple[int, str]:
    """Go's ``parseNanoseconds``: ``text[:nbytes]`` is a separator and digits;
    digits past the ninth are dropped. Returns (nanos, range error) or raises
    ``ValueError`` for a malformed fraction."""
    if text[:1] not in (".", ","):
        raise ValueError(text)
    nbytes = min(nbytes, 10)
    ns = _atoi(text[1:nbytes])
    if ns is None:
        raise ValueError(text)
    if ns < 0:
        return 0, "fractional second"
    return ns * 10 ** (10 - nbytes), ""


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date, year 0 included
    (Go accepts ``0000``; Python's ``date`` starts at year 1)."""
    era_year = year - (month <= 2)
    era = era_year // 400
    yoe = era_year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _go_parse(layout: str, value: str) -> Timestamp:
    """Go's ``time.parse`` for one of the RFC 3339 layouts in :data:`_LAYOUTS`."""
    year = month = day = hour = minute = sec = nsec = offset = 0
    rest = value
    for prefix, std in _LAYOUTS[layout]:
        for ch in prefix:  # Go's skip(): the literal must be there
            if not rest or rest[0] != ch:
                raise _parse_error(layout, value, prefix, rest)
            rest = rest[1:]
        hold, range_err, bad = rest, "", False
        if std == "2006":
            if len(rest) < 4 or not _digit(rest, 0) or (parsed := _atoi(rest[:4])) is None:
                bad = True
            else:
                year, rest = parsed, rest[4:]
        elif std in ("01", "02", "15", "04"):
            got = _getnum(rest, fixed=std != "15")
            if got is None:
                bad = True
            else:
                number, rest = got
                if std == "01":
                    month, range_err = number, "" if 1 <= number <= 12 else "month"
                elif std == "02":
                    day = number  # checked against the month once all is parsed, as Go does
                elif std == "15":
                    hour, range_err = number, "" if number < 24 else "hour"
                else:
                    minute, range_err = number, "" if number < 60 else "minute"
        elif std == "05":
            got = _getnum(rest, fixed=True)
            if got is None:
                bad = True
            else:
                sec, rest = got
                if sec >= 60:
                    range_err = "second"
                elif layout == RFC3339 and len(rest) >= 2 and rest[0] in ".," and _digit(rest, 1):
                    # A fraction the layout does not name is still taken, any length.
                    n = 2
                    while _digit(rest, n):
                        n += 1
                    nsec, range_err = _nanoseconds(rest, n)
                    rest = rest[n:]
        elif std == ".000000":
            try:
                if len(rest) < 7:
                    raise ValueError(rest)
                nsec, range_err = _nanoseconds(rest, 7)
                rest = rest[7:]
            except ValueError:
                bad = True
        elif std == ".999999999":
            if len(rest) >= 2 and rest[0] in ".," and _digit(rest, 1):
                n = 2
                while _digit(rest, n):
                    n += 1
                nsec, range_err = _nanoseconds(rest, n)
                rest = rest[n:]
        else:  # "Z07:00"
            if rest[:1] == "Z":
                rest, offset = rest[1:], 0
            elif len(rest) < 6 or rest[3] != ":":
                bad = True
            else:
                sign, hh, mm, rest = rest[0], rest[1:3], rest[4:6], rest[6:]
                got_h = _getnum(hh, True)
                got_m = _getnum(mm, True) if got_h is not None else None
                bad = got_h is None or got_m is None or sign not in "+-"
                hours, minutes = (got_h[0] if got_h else 0), (got_m[0] if got_m else 0)
                if hours > 24:  # Go's test is >, not >=, on purpose
                    range_err = "time zone offset hour"
                if minutes > 60:
                    range_err = "time zone offset minute"
                offset = (hours * 60 + minutes) * 60 * (-1 if sign == "-" else 1)
        if range_err:
            raise _parse_error(layout, value, std, rest, f": {range_err} out of range")
        if bad:
            raise _parse_error(layout, value, std, hold)
    if rest:
        raise _parse_error(layout, value, "", rest, f": extra text: {_go_quote(rest)}")
    if day < 1 or day > _days_in(month, year):
        raise _parse_error(layout, value, "", rest, ": day out of range")
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + sec - offset
    return Timestamp(seconds, nsec)


def parse_time(text: str) -> Timestamp:
    """Read a ``metav1.Time`` (``creationTimestamp``, ``lastTransitionTime``,
    ``sinceTime`` ...) as the apiserver does: Go's ``time.Parse(time.RFC3339,
    text)``. A fraction of any length is accepted (and kept to the
    nanosecond), so ``RFC3339Nano`` texts parse too.

    Raises :class:`TimeParseError` (a ``ValueError``) with Go's message.

    >>> parse_time("1970-01-01T01:00:00.5+01:00")
    Timestamp(seconds=0, nanos=500000000)
    >>> parse_time("2024-05-01 10:00")
    Traceback (most recent call last):
    ...
    kemu.apimachinery.TimeParseError: parsing time "2024-05-01 10:00" as "2006-01-02T15:04:05Z07:00": \
cannot parse " 10:00" as "T"
    """
    if not isinstance(text, str):
        raise TimeParseError(f"a time must be a string, not {type(text).__name__}")
    return _go_parse(RFC3339, text)


def parse_micro_time(text: str) -> Timestamp:
    """Read a ``metav1.MicroTime`` (a Lease's ``renewTime``, an Event's
    ``eventTime``) as the apiserver does: Go's ``time.Parse`` with
    ``2006-01-02T15:04:05.000000Z07:00``, so exactly six fractional digits.

    >>> parse_micro_time("2026-11-25T19:13:48.000001Z").nanos
    1000
    >>> parse_micro_time("2026-11-25T19:13:48Z")
    Traceback (most recent call last):
    ...
    kemu.apimachinery.TimeParseError: parsing time "2026-11-25T19:13:48Z" as "2006-01-02T15:04:05.000000Z07:00": \
cannot parse "Z" as ".000000"
    """
    if not isinstance(text, str):
        raise TimeParseError(f"a time must be a string, not {type(text).__name__}")
    return _go_parse(RFC3339_MICRO, text)


def _timestamp(when: float | Timestamp | datetime | None) -> Timestamp:
    if when is None:
        return Timestamp.from_epoch(time.time())
    if isinstance(when, Timestamp):
        return when
    if isinstance(when, datetime):
        return Timestamp.from_datetime(when)
    return Timestamp.from_epoch(when)


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """The inverse of :func:`_days_from_civil`: (year, month, day)."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _format_date_time(seconds: int) -> str:
    days, rem = divmod(seconds, 86400)
    year, month, day = _civil_from_days(days)
    return f"{year:04d}-{month:02d}-{day:02d}T{rem // 3600:02d}:{rem // 60 % 60:02d}:{rem % 60:02d}"


def format_time(when: float | Timestamp | datetime | None = None) -> str:
    """``metav1.Time`` as the apiserver writes it: UTC, whole seconds
    (truncated), ``Z``; ``when`` is epoch seconds, a :class:`Timestamp` or a
    ``datetime``, the current wall time when omitted.

    >>> format_time(0.9), format_time(Timestamp(1795634028, 999_999_999))
    ('1970-01-01T00:00:00Z', '2026-11-25T19:13:48Z')
    """
    return _format_date_time(_timestamp(when).seconds) + "Z"


def format_micro_time(when: float | Timestamp | datetime | None = None) -> str:
    """``metav1.MicroTime`` as the apiserver writes it: UTC, six fractional
    digits (truncated), ``Z``.

    >>> format_micro_time(Timestamp(1795634028, 123_456_789))
    '2026-11-25T19:13:48.123456Z'
    """
    stamp = _timestamp(when)
    return f"{_format_date_time(stamp.seconds)}.{stamp.nanos // 1000:06d}Z"
