"""Admission checks, worded as a real apiserver words them.

Two public entry points, run by the apiserver in this order on a create
(``check_schema`` -> ``apply_defaults`` -> ``validate``) and on an update
(``check_schema`` -> ``apply_defaults`` -> ``validate(new, old)``):

- :func:`check_schema` is the strict JSON decoder: a value of the wrong type
  or an unknown field is a ``400 BadRequest`` (``Deployment in version "v1"
  cannot be handled as a Deployment: strict decoding error: unknown field
  "spec.replica"``);
- :func:`validate` is the registry strategy's ``Validate``/``ValidateUpdate``:
  every problem found is one cause of a single ``422 Invalid``, each with
  Kubernetes' exact text (``spec.replicas: Invalid value: -1: must be greater
  than or equal to 0``).

How the second is built mirrors ``k8s.io/apimachinery/pkg/util/validation/field``:
a :class:`Path` names a field (``spec.containers[0].ports[1].name``), and an
:class:`ErrorList` collects :class:`FieldError` s through one-line builders
(``errs.required(path)``, ``errs.invalid(path, value, detail)``,
``errs.not_supported(path, value, supported)`` ...) that render the message
the way Go's ``field.Error`` does, bad value included (``"web"``,
``map[string]string{"app":"x"}``, ``-1``). Validators are small functions, one
per API type, composed per kind through a table; each takes the decoded dict,
a path and the list to append to, and never raises.

Where kemu departs from Kubernetes on purpose, it says so next to the code:
pod IPs live in ``127.0.0.0/8``, so loopback endpoint addresses are accepted;
a negative ``terminationGracePeriodSeconds`` is an error rather than a warning.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from kemu.api import errors, quantity, schema
from kemu.api.kinds import lookup_kind
from kemu.apimachinery import (  # the one copy of apimachinery's format checks, re-exported here for callers
    NameFn,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
)
from kemu.apimachinery import max_len_error as _max_len_error
from kemu.apimachinery import regex_error as _regex_error

__all__ = [
    "check_schema",
    "validate",
    "Path",
    "FieldError",
    "ErrorList",
    "GoLiteral",
    "go_repr",
    "SERVICE_NODE_PORT_RANGE",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_dns1035_label",
    "is_qualified_name",
    "is_valid_label_value",
    "is_valid_port_name",
    "is_valid_port_num",
    "is_config_map_key",
]

SERVICE_NODE_PORT_RANGE: tuple[int, int] = (30000, 32767)
"""The apiserver's ``--service-node-port-range``."""

# ---------------------------------------------------------------------------
# Field paths and errors (k8s.io/apimachinery/pkg/util/validation/field)
# ---------------------------------------------------------------------------


class Path:
    """A field path, rendered as Kubernetes renders it:
    ``Path("spec").child("containers").index(0).child("resources", "limits").key("cpu")``
    is ``spec.containers[0].resources.limits[cpu]``."""

    __slots__ = ("_text",)

    def __init__(self, *names: str) -> None:
        self._text = ".".join(names)

    @classmethod
    def _raw(cls, text: str) -> Path:
        path = cls()
        path._text = text
        return path

    def child(self, *names: str) -> Path:
        text = self._text
        for name in names:
            text = f"{text}.{name}" if text else name
        return Path._raw(text)

    def index(self, i: int) -> Path:
        return Path._raw(f"{self._text}[{i}]")

    def key(self, key: str) -> Path:
        return Path._raw(f"{self._text}[{key}]")

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Path({self._text!r})"


class GoLiteral(str):
    """A bad value already rendered the Go way; printed as is (an
    ``IntOrString`` as ``25%``, a struct as ``v1.LabelSelector{...}``)."""


_OMIT = object()


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_float(value: float) -> str:
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def _go_map(value: dict[str, Any]) -> str:
    if all(isinstance(v, str) for v in value.values()):
        items = ", ".join(f"{go_quote(str(k))}:{go_quote(v)}" for k, v in sorted(value.items()))
        return f"map[string]string{{{items}}}"
    items = ", ".join(f"{go_quote(str(k))}:{go_repr(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
    return f"map[string]interface {{}}{{{items}}}"


def _go_slice(value: Sequence[Any]) -> str:
    if all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
    return "[]interface {}{" + ", ".join(go_repr(v) for v in value) + "}"


def go_repr(value: Any) -> str:
    """A bad value as ``field.Error`` prints it: strings quoted, numbers and
    booleans bare, ``nil`` as ``null``, maps and slices as Go literals."""
    if isinstance(value, GoLiteral):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, dict):
        return _go_map(value)
    if isinstance(value, (list, tuple)):
        return _go_slice(value)
    return str(value)


@dataclass(frozen=True, slots=True)
class _ErrorType:
    reason: str
    """The ``Status`` cause type: ``FieldValueInvalid``."""
    label: str
    """The words in the message: ``Invalid value``."""
    shows_value: bool
    """Whether the bad value is printed after the label."""


REQUIRED = _ErrorType("FieldValueRequired", "Required value", False)
INVALID = _ErrorType("FieldValueInvalid", "Invalid value", True)
NOT_SUPPORTED = _ErrorType("FieldValueNotSupported", "Unsupported value", True)
DUPLICATE = _ErrorType("FieldValueDuplicate", "Duplicate value", True)
FORBIDDEN = _ErrorType("FieldValueForbidden", "Forbidden", False)
TOO_LONG = _ErrorType("FieldValueTooLong", "Too long", False)
NOT_FOUND = _ErrorType("FieldValueNotFound", "Not found", True)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field, as ``field.Error``."""

    type: _ErrorType
    field: str
    value: Any
    detail: str

    @property
    def body(self) -> str:
        """The message without the field: ``Invalid value: -1: must be ...``."""
        text = self.type.label
        if self.type.shows_value and self.value is not _OMIT:
            text += ": " + go_repr(self.value)
        if self.detail:
            text += ": " + self.detail
        return text

    @property
    def message(self) -> str:
        return f"{self.field}: {self.body}"

    def to_cause(self) -> errors.Cause:
        return errors.Cause(field=self.field, reason=self.type.reason, message=self.message)


class ErrorList(list[FieldError]):
    """Collected :class:`FieldError` s, with one builder per error type."""

    def add(self, kind: _ErrorType, path: Path | str, value: Any, detail: str = "") -> None:
        self.append(FieldError(kind, str(path), value, detail))

    def required(self, path: Path | str, detail: str = "") -> None:
        self.add(REQUIRED, path, _OMIT, detail)

    def invalid(self, path: Path | str, value: Any, detail: str) -> None:
        self.add(INVALID, path, value, detail)

    def invalids(self, path: Path | str, value: Any, details: Iterable[str]) -> None:
        """One ``Invalid value`` per message of a format check."""
        for detail in details:
            self.invalid(path, value, detail)

    def not_supported(self, path: Path | str, value: Any, supported: Sequence[str]) -> None:
        detail = "supported values: " + ", ".join(go_quote(v) for v in supported) if supported else ""
        self.add(NOT_SUPPORTED, path, value, detail)

    def duplicate(self, path: Path | str, value: Any, detail: str = "") -> None:
        self.add(DUPLICATE, path, value, detail)

    def forbidden(self, path: Path | str, detail: str) -> None:
        self.add(FORBIDDEN, path, _OMIT, detail)

    def too_long(self, path: Path | str, max_bytes: int) -> None:
        self.add(TOO_LONG, path, _OMIT, f"must have at most {max_bytes} bytes")

    def not_found(self, path: Path | str, value: Any, detail: str = "") -> None:
        self.add(NOT_FOUND, path, value, detail)

    def causes(self) -> list[errors.Cause]:
        """The errors as ``Status`` causes, duplicates (same message) dropped."""
        seen: set[str] = set()
        out: list[errors.Cause] = []
        for error in self:
            if error.message not in seen:
                seen.add(error.message)
                out.append(error.to_cause())
        return out


# ---------------------------------------------------------------------------
# Format checks (k8s.io/apimachinery/pkg/util/validation): each returns the
# list of reasons a value is malformed, empty when it is fine.
# ---------------------------------------------------------------------------


def inclusive_range_error(low: int, high: int) -> str:
    return f"must be between {low} and {high}, inclusive"


def _blen(text: str) -> int:
    return len(text.encode())


_PERCENT_FMT = "[0-9]+%"
_CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
_HTTP_HEADER_FMT = "[-A-Za-z0-9]+"

_PERCENT_RE = re.compile(_PERCENT_FMT)
_CONFIG_MAP_KEY_RE = re.compile(_CONFIG_MAP_KEY_FMT)
_HTTP_HEADER_RE = re.compile(_HTTP_HEADER_FMT)

IS_NEGATIVE = "must be greater than or equal to 0"
FIELD_IMMUTABLE = "field is immutable"
_FILE_MODE = "must be a number between 0 and 0777 (octal), both inclusive"


def is_valid_port_num(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


def is_valid_port_name(port: str) -> list[str]:
    """An IANA_SVC_NAME: at most 15 of ``[-a-z0-9]``, at least one letter,
    no leading, trailing or doubled hyphen."""
    out = [_max_len_error(15)] if len(port) > 15 else []
    if not re.fullmatch("[-a-z0-9]+", port):
        out.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", port):
        out.append("must contain at least one letter (a-z)")
    if "--" in port:
        out.append("must not contain consecutive hyphens")
    if port.startswith("-") or port.endswith("-"):
        out.append("must not begin or end with a hyphen")
    return out


def is_valid_percent(value: str) -> list[str]:
    if _PERCENT_RE.fullmatch(value):
        return []
    return [
        _regex_error(
            "a valid percent string must be a numeric string followed by an ending '%'", _PERCENT_FMT, "1%", "93%"
        )
    ]


def _chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_config_map_key(value: str) -> list[str]:
    out = [_max_len_error(253)] if _blen(value) > 253 else []
    if not _CONFIG_MAP_KEY_RE.fullmatch(value):
        out.append(
            _regex_error(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                _CONFIG_MAP_KEY_FMT,
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    return out + _chdir_prefix(value)


def is_env_var_name(value: str) -> list[str]:
    """Relaxed environment variable names (the default since Kubernetes 1.32):
    printable ASCII other than ``=``."""
    if not value:
        return ["environment variable name must be non-empty"]
    if any(ord(ch) > 126 or ord(ch) < 32 or ch == "=" for ch in value):
        return ["a valid environment variable name must consist only of printable ASCII characters other than '='"]
    return []


def is_http_header_name(value: str) -> list[str]:
    if _HTTP_HEADER_RE.fullmatch(value):
        return []
    return [
        _regex_error(
            "a valid HTTP header must consist of alphanumeric characters or '-'", _HTTP_HEADER_FMT, "X-Header-Name"
        )
    ]


def _parse_ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _validate_ip(value: Any, path: Path, errs: ErrorList) -> bool:
    if _parse_ip(value) is None:
        errs.invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
        return False
    return True


def _validate_cidr(value: Any, path: Path, errs: ErrorList) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
        ok = isinstance(value, str) and "/" in value
    except (ValueError, TypeError):
        ok = False
    if not ok:
        errs.invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")
    return ok


# ---------------------------------------------------------------------------
# Tolerant readers: validate() may see an object check_schema never checked.
# ---------------------------------------------------------------------------


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(index, item)`` for the dict items of a list."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield i, item


def _strs(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _is_set(value: Any) -> bool:
    """Present and not Go's zero value."""
    return value not in (None, "", [], {})


def _prune(value: Any) -> Any:
    """``value`` without unset fields, for semantic comparison (Kubernetes
    treats nil and empty lists and maps as equal)."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if _is_set(_prune(v))}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _nonnegative(value: Any, path: Path, errs: ErrorList) -> None:
    number = _int(value)
    if number is not None and number < 0:
        errs.invalid(path, value, IS_NEGATIVE)


def _enum(value: Any, path: Path, supported: Sequence[str], errs: ErrorList) -> None:
    """Required, and one of ``supported`` (in the order Kubernetes lists them)."""
    if value in (None, ""):
        errs.required(path)
    elif value not in supported:
        errs.not_supported(path, value, supported)


def _optional_enum(value: Any, path: Path, supported: Sequence[str], errs: ErrorList) -> None:
    if value not in (None, "") and value not in supported:
        errs.not_supported(path, value, supported)


def _named(value: Any, path: Path, name_fn: NameFn, errs: ErrorList, *, prefix: bool = False) -> None:
    """Each reason ``name_fn`` finds against a set name, as an invalid value."""
    if _is_set(value):
        errs.invalids(path, value, name_fn(_str(value), prefix))


# ---------------------------------------------------------------------------
# ObjectMeta, labels, annotations, label selectors
# ---------------------------------------------------------------------------

_TOTAL_ANNOTATION_SIZE = 256 * (1 << 10)
_STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def _validate_label_name(key: Any, path: Path, errs: ErrorList) -> None:
    errs.invalids(path, key, is_qualified_name(_str(key)))


def _validate_labels(labels: Any, path: Path, errs: ErrorList) -> None:
    for key, value in _map(labels).items():
        _validate_label_name(key, path, errs)
        errs.invalids(path, value, is_valid_label_value(_str(value)))


def _validate_annotations(annotations: Any, path: Path, errs: ErrorList) -> None:
    total = 0
    for key, value in _map(annotations).items():
        errs.invalids(path, key, is_qualified_name(_str(key).lower()))
        total += _blen(_str(key)) + _blen(_str(value))
    if total > _TOTAL_ANNOTATION_SIZE:
        errs.too_long(path, _TOTAL_ANNOTATION_SIZE)


def _validate_owner_references(refs: Any, path: Path, errs: ErrorList) -> None:
    controllers: list[str] = []
    for _, ref in _dicts(refs):
        api_version = _str(ref.get("apiVersion"))
        if not api_version.rsplit("/", 1)[-1]:
            errs.invalid(path.child("apiVersion"), api_version, "version must not be empty")
        for field_name in ("kind", "name", "uid"):
            if not ref.get(field_name):
                errs.invalid(path.child(field_name), _str(ref.get(field_name)), "must not be empty")
        if api_version == "v1" and ref.get("kind") == "Event":
            errs.invalid(path, GoLiteral(go_repr(ref)), "/v1, Kind=Event is disallowed from being an owner")
        if ref.get("controller") is True:
            controllers.append(f"{_str(ref.get('kind'))}/{_str(ref.get('name'))}")
    if len(controllers) > 1:
        detail = (
            'Only one reference can have Controller set to true. Found "true" in references for '
            f"{controllers[0]} and {controllers[1]}"
        )
        errs.invalid(path, GoLiteral(go_repr(refs)), detail)


def _validate_finalizers(finalizers: Any, path: Path, errs: ErrorList, *, kube: bool) -> None:
    names = _strs(finalizers)
    for i, name in enumerate(names):
        errs.invalids(path, name, is_qualified_name(name))
        if kube and "/" not in name and name not in _STANDARD_FINALIZERS:
            errs.invalid(path.index(i), name, "name is neither a standard finalizer name nor is it fully qualified")
    if "orphan" in names and "foregroundDeletion" in names:
        errs.invalid(path, names, "finalizer orphan and foregroundDeletion cannot be both set")


def _validate_managed_fields(entries: Any, path: Path, errs: ErrorList) -> None:
    for i, entry in _dicts(entries):
        if entry.get("operation") not in ("Apply", "Update"):
            errs.invalid(path.index(i).child("operation"), _str(entry.get("operation")), "must be `Apply` or `Update`")
        if entry.get("fieldsType") not in (None, "", "FieldsV1"):
            errs.invalid(path.index(i).child("fieldsType"), entry.get("fieldsType"), "must be `FieldsV1`")


@dataclass(frozen=True, slots=True)
class _MetaRules:
    """How a kind's ObjectMeta is checked."""

    name_fn: NameFn
    namespaced: bool
    kube_finalizers: bool = True


def _validate_object_meta(meta: dict[str, Any], rules: _MetaRules, errs: ErrorList) -> None:
    """``ValidateObjectMeta``: names, namespace, labels, annotations, owners."""
    path = Path("metadata")
    name, generate_name = meta.get("name"), meta.get("generateName")
    _named(generate_name, path.child("generateName"), rules.name_fn, errs, prefix=True)
    if _is_set(name):
        _named(name, path.child("name"), rules.name_fn, errs)
    elif not _is_set(generate_name):
        # The store generates the name from generateName after validation.
        errs.required(path.child("name"), "name or generateName is required")
    namespace = meta.get("namespace")
    if rules.namespaced and not _is_set(namespace):
        errs.required(path.child("namespace"))
    elif rules.namespaced:
        _named(namespace, path.child("namespace"), name_is_dns_label, errs)
    elif _is_set(namespace):
        errs.forbidden(path.child("namespace"), "not allowed on this type")
    _nonnegative(meta.get("generation"), path.child("generation"), errs)
    _validate_labels(meta.get("labels"), path.child("labels"), errs)
    _validate_annotations(meta.get("annotations"), path.child("annotations"), errs)
    _validate_owner_references(meta.get("ownerReferences"), path.child("ownerReferences"), errs)
    _validate_finalizers(meta.get("finalizers"), path.child("finalizers"), errs, kube=rules.kube_finalizers)
    _validate_managed_fields(meta.get("managedFields"), path.child("managedFields"), errs)


def _validate_object_meta_update(meta: dict[str, Any], old: dict[str, Any], errs: ErrorList) -> None:
    """``ValidateObjectMetaUpdate``, minus what the store owns (resourceVersion,
    generation, timestamps): name and namespace never change, nor a uid both
    sides carry."""
    path = Path("metadata")
    for field_name in ("name", "namespace"):
        if _str(meta.get(field_name)) != _str(old.get(field_name)):
            errs.invalid(path.child(field_name), _str(meta.get(field_name)), FIELD_IMMUTABLE)
    if _is_set(meta.get("uid")) and _is_set(old.get("uid")) and meta.get("uid") != old.get("uid"):
        errs.invalid(path.child("uid"), _str(meta.get("uid")), FIELD_IMMUTABLE)


# --- label selectors --------------------------------------------------------

_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _validate_label_selector(selector: Any, path: Path, errs: ErrorList) -> None:
    """``ValidateLabelSelector`` (label values in expressions must be valid)."""
    selector = _map(selector)
    _validate_labels(selector.get("matchLabels"), path.child("matchLabels"), errs)
    for i, requirement in _dicts(selector.get("matchExpressions")):
        req_path = path.child("matchExpressions").index(i)
        operator, values = requirement.get("operator"), _strs(requirement.get("values"))
        if operator in ("In", "NotIn") and not values:
            errs.required(req_path.child("values"), "must be specified when `operator` is 'In' or 'NotIn'")
        elif operator in ("Exists", "DoesNotExist") and values:
            errs.forbidden(
                req_path.child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            )
        elif operator not in _SELECTOR_OPERATORS:
            errs.invalid(req_path.child("operator"), _str(operator), "not a valid selector operator")
        _validate_label_name(_str(requirement.get("key")), req_path.child("key"), errs)
        for j, value in enumerate(values):
            errs.invalids(req_path.child("values").index(j), value, is_valid_label_value(value))


def _selector_is_malformed(selector: dict[str, Any]) -> bool:
    """Whether ``LabelSelectorAsSelector`` would refuse ``selector``."""
    for _, requirement in _dicts(selector.get("matchExpressions")):
        operator, values = requirement.get("operator"), requirement.get("values") or []
        if operator not in _SELECTOR_OPERATORS:
            return True
        if (operator in ("In", "NotIn")) != bool(values):
            return True
    return False


def _selector_is_empty(selector: dict[str, Any]) -> bool:
    return not _map(selector.get("matchLabels")) and not list(_dicts(selector.get("matchExpressions")))


def _selector_matches(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    """Whether a (well-formed) LabelSelector selects ``labels``."""
    for label, value in _map(selector.get("matchLabels")).items():
        if labels.get(label) != value:
            return False
    for _, requirement in _dicts(selector.get("matchExpressions")):
        key, operator = _str(requirement.get("key")), requirement.get("operator")
        values = set(_strs(requirement.get("values")))
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _go_string_map(value: Any) -> str:
    if not isinstance(value, dict):
        return "map[string]string(nil)"
    return _go_map({str(k): _str(v) for k, v in value.items()})


def _go_strings(value: Any) -> str:
    return _go_slice(_strs(value)) if isinstance(value, list) else "[]string(nil)"


def go_label_selector(selector: Any) -> GoLiteral:
    """A LabelSelector printed as ``field.Error`` prints ``*metav1.LabelSelector``."""
    if not isinstance(selector, dict):
        return GoLiteral("null")
    expressions = selector.get("matchExpressions")
    if isinstance(expressions, list):
        items = ", ".join(
            "v1.LabelSelectorRequirement{"
            f"Key:{go_quote(_str(r.get('key')))}, Operator:{go_quote(_str(r.get('operator')))}, "
            f"Values:{_go_strings(r.get('values'))}}}"
            for _, r in _dicts(expressions)
        )
        rendered = f"[]v1.LabelSelectorRequirement{{{items}}}"
    else:
        rendered = "[]v1.LabelSelectorRequirement(nil)"
    return GoLiteral(
        f"v1.LabelSelector{{MatchLabels:{_go_string_map(selector.get('matchLabels'))}, MatchExpressions:{rendered}}}"
    )


# ---------------------------------------------------------------------------
# Resources and quantities
# ---------------------------------------------------------------------------

_STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_STANDARD_RESOURCES = frozenset(
    _STANDARD_CONTAINER_RESOURCES
    + tuple(f"{scope}.{name}" for scope in ("requests", "limits") for name in _STANDARD_CONTAINER_RESOURCES)
    + (
        "storage",
        "requests.storage",
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
    )
)


def _is_huge_pages(name: str) -> bool:
    return name.startswith("hugepages-")


def _is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _is_extended_resource(name: str) -> bool:
    if _is_native_resource(name) or name.startswith("requests."):
        return False
    return not is_qualified_name("requests." + name)


def _overcommit_allowed(name: str) -> bool:
    return _is_native_resource(name) and not _is_huge_pages(name)


def _validate_container_resource_name(name: str, path: Path, errs: ErrorList) -> None:
    """``validateContainerResourceName``: ``cpu``, ``memory``,
    ``ephemeral-storage``, ``hugepages-*`` or a fully qualified extended resource."""
    reasons = is_qualified_name(name)
    errs.invalids(path, name, reasons)
    if not reasons and "/" not in name and name not in _STANDARD_RESOURCES and not _is_huge_pages(name):
        errs.invalid(path, name, "must be a standard resource type or fully qualified")
    if "/" not in name:
        if name not in _STANDARD_CONTAINER_RESOURCES and not _is_huge_pages(name):
            errs.invalid(path, name, "must be a standard resource for containers")
    elif not _is_native_resource(name) and not _is_extended_resource(name):
        errs.invalid(path, name, "doesn't follow extended resource name standard")


def _quantity(value: Any, path: Path, errs: ErrorList) -> Fraction | None:
    try:
        return quantity.parse_quantity(value)
    except ValueError as exc:
        errs.invalid(path, value, str(exc))
        return None


def _canonical(value: Any) -> str:
    try:
        return quantity.canonicalize(value)
    except ValueError:
        return _str(value)


def _validate_resource_quantity(name: str, value: Any, path: Path, errs: ErrorList) -> Fraction | None:
    """``ValidateResourceQuantityValue``: parseable, not negative, whole where
    the resource counts things."""
    amount = _quantity(value, path, errs)
    if amount is None:
        return None
    if amount < 0:
        errs.invalid(path, _canonical(value), IS_NEGATIVE)
    if _is_extended_resource(name) and (amount * 1000) % 1000 != 0:
        errs.invalid(path, GoLiteral(_canonical(value)), "must be an integer")
    return amount


def _validate_resource_list(values: Any, path: Path, errs: ErrorList) -> dict[str, Fraction]:
    parsed: dict[str, Fraction] = {}
    for name, value in _map(values).items():
        _validate_container_resource_name(_str(name), path.key(_str(name)), errs)
        amount = _validate_resource_quantity(_str(name), value, path.key(_str(name)), errs)
        if amount is not None:
            parsed[name] = amount
    return parsed


def _validate_resources(resources: Any, path: Path, errs: ErrorList) -> None:
    """``ValidateResourceRequirements``: names, quantities, requests <= limits."""
    resources = _map(resources)
    limits_path, requests_path = path.child("limits"), path.child("requests")
    limits = _validate_resource_list(resources.get("limits"), limits_path, errs)
    requests = _validate_resource_list(resources.get("requests"), requests_path, errs)
    raw_limits, raw_requests = _map(resources.get("limits")), _map(resources.get("requests"))
    for name, amount in requests.items():
        if name in limits:
            limit, shown = limits[name], _canonical(raw_limits[name])
            if amount != limit and not _overcommit_allowed(name):
                errs.invalid(requests_path, _canonical(raw_requests[name]), f"must be equal to {name} limit of {shown}")
            elif amount > limit:
                errs.invalid(
                    requests_path,
                    _canonical(raw_requests[name]),
                    f"must be less than or equal to {name} limit of {shown}",
                )
        elif name not in raw_limits and not _overcommit_allowed(name):
            errs.required(limits_path, "Limit must be set for non overcommitable resources")
    names = set(raw_limits) | set(raw_requests)
    if any(_is_huge_pages(n) for n in names) and not names & {"cpu", "memory"}:
        errs.forbidden(path, "HugePages require cpu or memory")


# ---------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------

_PROTOCOLS = ("SCTP", "TCP", "UDP")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_ENV_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
_VOLUME_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid")
_CONVERTIBLE_FIELD_PATHS = frozenset(
    _ENV_FIELD_PATHS + _VOLUME_FIELD_PATHS + ("spec.restartPolicy", "spec.schedulerName", "status.phase")
)
_RESOURCE_FIELD_PATHS = (
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
)
_SUBSCRIPTED = re.compile(r"^(.*)\['(.*)'\]$")


def _validate_port_num_or_name(port: Any, path: Path, errs: ErrorList) -> None:
    """An ``IntOrString`` port: a number 1-65535 or an IANA service name."""
    if isinstance(port, str):
        errs.invalids(path, port, is_valid_port_name(port))
    else:
        number = _int(port) or 0
        errs.invalids(path, number, is_valid_port_num(number))


def _validate_container_ports(ports: Any, path: Path, errs: ErrorList) -> None:
    names: set[str] = set()
    for i, port in _dicts(ports):
        port_path = path.index(i)
        name = port.get("name")
        if _is_set(name):
            reasons = is_valid_port_name(_str(name))
            errs.invalids(port_path.child("name"), name, reasons)
            if not reasons and name in names:
                errs.duplicate(port_path.child("name"), name)
            names.add(_str(name))
        container_port = _int(port.get("containerPort")) or 0
        if container_port == 0:
            errs.required(port_path.child("containerPort"))
        else:
            errs.invalids(port_path.child("containerPort"), container_port, is_valid_port_num(container_port))
        host_port = _int(port.get("hostPort")) or 0
        if host_port:
            errs.invalids(port_path.child("hostPort"), host_port, is_valid_port_num(host_port))
        _enum(port.get("protocol"), port_path.child("protocol"), _PROTOCOLS, errs)


def _host_port_conflicts(containers: list[tuple[int, dict[str, Any]]], path: Path, errs: ErrorList) -> None:
    seen: set[str] = set()
    for i, container in containers:
        for j, port in _dicts(container.get("ports")):
            host_port = _int(port.get("hostPort")) or 0
            if not host_port:
                continue
            key = f"{_str(port.get('protocol'))}/{_str(port.get('hostIP'))}/{host_port}"
            if key in seen:
                errs.duplicate(path.index(i).child("ports").index(j).child("hostPort"), key)
            seen.add(key)


def _validate_field_ref(ref: dict[str, Any], allowed: Sequence[str], path: Path, errs: ErrorList) -> None:
    """``validateObjectFieldSelector``: a downward-API ``fieldRef``."""
    api_version, field_path = _str(ref.get("apiVersion")), _str(ref.get("fieldPath"))
    if not api_version:
        errs.required(path.child("apiVersion"))
        return
    if not field_path:
        errs.required(path.child("fieldPath"))
        return
    if api_version != "v1":
        errs.invalid(
            path.child("fieldPath"), field_path, f"error converting fieldPath: unsupported pod version: {api_version}"
        )
        return
    subscripted = _SUBSCRIPTED.match(field_path)
    if subscripted:
        base, subscript = subscripted.groups()
        if base not in ("metadata.annotations", "metadata.labels"):
            errs.invalid(
                path.child("fieldPath"),
                field_path,
                f"error converting fieldPath: field label does not support subscript: {field_path}",
            )
        else:
            errs.invalids(
                path, subscript, is_qualified_name(subscript.lower() if base.endswith("annotations") else subscript)
            )
        return
    if field_path == "spec.host":
        field_path = "spec.nodeName"
    if field_path not in _CONVERTIBLE_FIELD_PATHS:
        errs.invalid(
            path.child("fieldPath"), field_path, f"error converting fieldPath: field label not supported: {field_path}"
        )
    elif field_path not in allowed:
        errs.not_supported(path.child("fieldPath"), field_path, sorted(allowed))


def _validate_resource_field_ref(ref: dict[str, Any], path: Path, errs: ErrorList, *, volume: bool) -> None:
    resource = _str(ref.get("resource"))
    if volume and not ref.get("containerName"):
        errs.required(path.child("containerName"))
    elif not resource:
        errs.required(path.child("resource"))
    elif resource not in _RESOURCE_FIELD_PATHS and not resource.startswith(
        ("requests.hugepages-", "limits.hugepages-")
    ):
        errs.not_supported(path.child("resource"), resource, _RESOURCE_FIELD_PATHS)
    divisor = ref.get("divisor")
    if divisor not in (None, "", 0, "0") and resource.endswith(".cpu") and _canonical(divisor) not in ("1m", "1"):
        errs.invalid(
            path.child("divisor"), resource, "only divisor's values 1m and 1 are supported with the cpu resource"
        )


def _validate_key_selector(ref: dict[str, Any], path: Path, errs: ErrorList) -> None:
    """``configMapKeyRef``/``secretKeyRef``: a valid object name and key."""
    errs.invalids(path.child("name"), _str(ref.get("name")), is_dns1123_subdomain(_str(ref.get("name"))))
    key = _str(ref.get("key"))
    if not key:
        errs.required(path.child("key"))
    else:
        errs.invalids(path.child("key"), key, is_config_map_key(key))


def _validate_value_from(var: dict[str, Any], path: Path, errs: ErrorList) -> None:
    source = var.get("valueFrom")
    if not isinstance(source, dict):
        return
    count = 0
    if isinstance(source.get("fieldRef"), dict):
        count += 1
        _validate_field_ref(source["fieldRef"], _ENV_FIELD_PATHS, path.child("fieldRef"), errs)
    if isinstance(source.get("resourceFieldRef"), dict):
        count += 1
        _validate_resource_field_ref(source["resourceFieldRef"], path.child("resourceFieldRef"), errs, volume=False)
    for key in ("configMapKeyRef", "secretKeyRef"):
        if isinstance(source.get(key), dict):
            count += 1
            _validate_key_selector(source[key], path.child(key), errs)
    if count == 0:
        errs.invalid(
            path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
        )
    elif _is_set(var.get("value")):
        errs.invalid(path, "", "may not be specified when `value` is not empty")
    elif count > 1:
        errs.invalid(path, "", "may not have more than one field specified at a time")


def _validate_env(env: Any, path: Path, errs: ErrorList) -> None:
    for i, var in _dicts(env):
        var_path = path.index(i)
        name = _str(var.get("name"))
        if not name:
            errs.required(var_path.child("name"))
        else:
            errs.invalids(var_path.child("name"), name, is_env_var_name(name))
        _validate_value_from(var, var_path.child("valueFrom"), errs)


def _validate_env_from(sources: Any, path: Path, errs: ErrorList) -> None:
    for i, source in _dicts(sources):
        source_path = path.index(i)
        if _is_set(source.get("prefix")):
            errs.invalids(source_path.child("prefix"), source["prefix"], is_env_var_name(_str(source["prefix"])))
        refs = [key for key in ("configMapRef", "secretRef") if isinstance(source.get(key), dict)]
        for key in refs:
            name = _str(source[key].get("name"))
            if not name:
                errs.required(source_path.child(key, "name"))
            else:
                errs.invalids(source_path.child(key, "name"), name, name_is_dns_subdomain(name, True))
        if not refs:
            errs.invalid(path, "", "must specify one of: `configMapRef` or `secretRef`")
        elif len(refs) > 1:
            errs.invalid(path, "", "may not have more than one field specified at a time")


def _validate_local_descending_path(target: str, path: Path, errs: ErrorList) -> None:
    if target.startswith("/"):
        errs.invalid(path, target, "must be a relative path")
    if ".." in target.replace("\\", "/").split("/"):
        errs.invalid(path, target, "must not contain '..'")


def _validate_local_non_reserved_path(target: str, path: Path, errs: ErrorList) -> None:
    _validate_local_descending_path(target, path, errs)
    if target.startswith("..") and not target.startswith("../"):
        errs.invalid(path, target, "must not start with '..'")


def _validate_volume_mounts(mounts: Any, volumes: set[str], path: Path, errs: ErrorList) -> None:
    mount_points: set[str] = set()
    for i, mount in _dicts(mounts):
        mount_path = path.index(i)
        name, target = _str(mount.get("name")), _str(mount.get("mountPath"))
        if not name:
            errs.required(mount_path.child("name"))
        if name not in volumes:
            errs.not_found(mount_path.child("name"), name)
        if not target:
            errs.required(mount_path.child("mountPath"))
        if target in mount_points:
            errs.invalid(mount_path.child("mountPath"), target, "must be unique")
        mount_points.add(target)
        if _is_set(mount.get("subPath")):
            # Kubernetes reports subPath problems without the mount's index.
            _validate_local_descending_path(_str(mount["subPath"]), path.child("subPath"), errs)
        if _is_set(mount.get("subPathExpr")) and _is_set(mount.get("subPath")):
            errs.invalid(
                mount_path.child("subPathExpr"), mount["subPathExpr"], "subPathExpr and subPath are mutually exclusive"
            )


# Handler actions share one signature: (action, path, errs, pod grace period).
_Action = Callable[[dict[str, Any], Path, ErrorList, "int | None"], None]


def _validate_http_get(action: dict[str, Any], path: Path, errs: ErrorList, grace: int | None = None) -> None:
    if not _is_set(action.get("path")):
        errs.required(path.child("path"))
    _validate_port_num_or_name(action.get("port"), path.child("port"), errs)
    scheme = action.get("scheme")
    if scheme not in ("HTTP", "HTTPS"):
        errs.not_supported(path.child("scheme"), _str(scheme), ("HTTP", "HTTPS"))
    for _, header in _dicts(action.get("httpHeaders")):
        name = _str(header.get("name"))
        errs.invalids(path.child("httpHeaders"), name, is_http_header_name(name))


def _validate_tcp_socket(action: dict[str, Any], path: Path, errs: ErrorList, grace: int | None = None) -> None:
    _validate_port_num_or_name(action.get("port"), path.child("port"), errs)


def _validate_grpc(action: dict[str, Any], path: Path, errs: ErrorList, grace: int | None = None) -> None:
    port = _int(action.get("port")) or 0
    errs.invalids(path.child("port"), port, is_valid_port_num(port))


def _validate_exec(action: dict[str, Any], path: Path, errs: ErrorList, grace: int | None = None) -> None:
    if not _strs(action.get("command")):
        errs.required(path.child("command"))


def _validate_sleep(action: dict[str, Any], path: Path, errs: ErrorList, grace: int | None = None) -> None:
    seconds = _int(action.get("seconds")) or 0
    if grace is not None and not 0 <= seconds <= grace:
        errs.invalid(path, seconds, f"must be non-negative and less than terminationGracePeriodSeconds ({grace})")


_HANDLERS: dict[str, _Action] = {
    "exec": _validate_exec,
    "httpGet": _validate_http_get,
    "tcpSocket": _validate_tcp_socket,
    "grpc": _validate_grpc,
    "sleep": _validate_sleep,
}


def _validate_handler(
    handler: dict[str, Any], kinds: Sequence[str], grace: int | None, path: Path, errs: ErrorList
) -> None:
    """Exactly one of ``kinds`` (``exec``, ``httpGet``, ...) must be set."""
    count = 0
    for kind in kinds:
        action = handler.get(kind)
        if not isinstance(action, dict):
            continue
        if count:
            errs.forbidden(path.child(kind), "may not specify more than 1 handler type")
            continue
        count += 1
        _HANDLERS[kind](action, path.child(kind), errs, grace)
    if count == 0:
        errs.required(path, "must specify a handler type")


_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
_PROBE_COUNTERS = ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold")


def _validate_probe(probe: Any, probe_kind: str, grace: int | None, path: Path, errs: ErrorList) -> None:
    """A liveness, readiness or startup probe."""
    if not isinstance(probe, dict):
        return
    _validate_handler(probe, _PROBE_HANDLERS, grace, path, errs)
    for counter in _PROBE_COUNTERS:
        _nonnegative(probe.get(counter), path.child(counter), errs)
    probe_grace = _int(probe.get("terminationGracePeriodSeconds"))
    if probe_grace is not None and probe_grace <= 0:
        errs.invalid(path.child("terminationGracePeriodSeconds"), probe_grace, "must be greater than 0")
    success = _int(probe.get("successThreshold")) or 0
    if probe_kind in ("livenessProbe", "startupProbe") and success != 1:
        errs.invalid(path.child("successThreshold"), success, "must be 1")
    if probe_kind == "readinessProbe" and probe_grace is not None:
        errs.invalid(path.child("terminationGracePeriodSeconds"), probe_grace, "must not be set for readinessProbes")


def _validate_lifecycle(lifecycle: Any, grace: int | None, path: Path, errs: ErrorList) -> None:
    for hook in ("postStart", "preStop"):
        handler = _map(lifecycle).get(hook)
        if isinstance(handler, dict):
            _validate_handler(handler, _LIFECYCLE_HANDLERS, grace, path.child(hook), errs)


def _validate_container_probes(container: dict[str, Any], grace: int | None, path: Path, errs: ErrorList) -> None:
    if isinstance(container.get("lifecycle"), dict):
        _validate_lifecycle(container["lifecycle"], grace, path.child("lifecycle"), errs)
    for probe_kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        _validate_probe(container.get(probe_kind), probe_kind, grace, path.child(probe_kind), errs)


_UID_RANGE = (0, 0xFFFFFFFF)


def _validate_id(value: Any, path: Path, errs: ErrorList) -> None:
    number = _int(value)
    if number is not None and not _UID_RANGE[0] <= number <= _UID_RANGE[1]:
        errs.invalid(path, number, inclusive_range_error(*_UID_RANGE))


def _validate_seccomp(profile: Any, path: Path, errs: ErrorList) -> None:
    if not isinstance(profile, dict):
        return
    kind = profile.get("type")
    if not _is_set(kind):
        errs.required(path.child("type"), "type is required when seccompProfile is set")
    elif kind not in ("Localhost", "RuntimeDefault", "Unconfined"):
        errs.not_supported(path.child("type"), kind, ("Localhost", "RuntimeDefault", "Unconfined"))
    elif kind == "Localhost" and profile.get("localhostProfile") is None:
        errs.required(path.child("localhostProfile"), "must be set when seccomp type is Localhost")


def _validate_security_context(context: Any, path: Path, errs: ErrorList) -> None:
    """A container's securityContext: user and group ids, procMount, seccomp."""
    context = _map(context)
    _validate_id(context.get("runAsUser"), path.child("runAsUser"), errs)
    _validate_id(context.get("runAsGroup"), path.child("runAsGroup"), errs)
    _optional_enum(context.get("procMount"), path.child("procMount"), ("Default", "Unmasked"), errs)
    _validate_seccomp(context.get("seccompProfile"), path.child("seccompProfile"), errs)


def _validate_container_common(container: dict[str, Any], volumes: set[str], path: Path, errs: ErrorList) -> None:
    """What every container, init or not, must satisfy."""
    name = _str(container.get("name"))
    if not name:
        errs.required(path.child("name"))
    else:
        errs.invalids(path.child("name"), name, is_dns1123_label(name))
    if not _is_set(container.get("image")):
        errs.required(path.child("image"))
    _enum(
        container.get("terminationMessagePolicy"),
        path.child("terminationMessagePolicy"),
        _TERMINATION_MESSAGE_POLICIES,
        errs,
    )
    _validate_container_ports(container.get("ports"), path.child("ports"), errs)
    _validate_env(container.get("env"), path.child("env"), errs)
    _validate_env_from(container.get("envFrom"), path.child("envFrom"), errs)
    _validate_volume_mounts(container.get("volumeMounts"), volumes, path.child("volumeMounts"), errs)
    _enum(container.get("imagePullPolicy"), path.child("imagePullPolicy"), _PULL_POLICIES, errs)
    _validate_resources(container.get("resources"), path.child("resources"), errs)
    _validate_security_context(container.get("securityContext"), path.child("securityContext"), errs)


def _validate_containers(containers: Any, volumes: set[str], grace: int | None, path: Path, errs: ErrorList) -> None:
    items = list(_dicts(containers))
    if not items:
        errs.required(path)
        return
    names: set[str] = set()
    for i, container in items:
        container_path = path.index(i)
        _validate_container_common(container, volumes, container_path, errs)
        name = _str(container.get("name"))
        if name in names:
            errs.duplicate(container_path.child("name"), name)
        names.add(name)
        _validate_container_probes(container, grace, container_path, errs)
        if container.get("restartPolicy") is not None:
            errs.forbidden(container_path.child("restartPolicy"), "may not be set for non-init containers")
    _host_port_conflicts(items, path, errs)


def _validate_init_containers(
    init_containers: Any, containers: Any, volumes: set[str], grace: int | None, path: Path, errs: ErrorList
) -> None:
    """Init containers, and sidecars (``restartPolicy: Always``); names must
    not collide with the app containers'."""
    names = {_str(c.get("name")) for _, c in _dicts(containers)}
    for i, container in _dicts(init_containers):
        container_path = path.index(i)
        _validate_container_common(container, volumes, container_path, errs)
        restart = container.get("restartPolicy")
        if restart is not None and restart != "Always":
            errs.not_supported(container_path.child("restartPolicy"), restart, ("Always",))
        name = _str(container.get("name"))
        if name in names:
            errs.duplicate(container_path.child("name"), name)
        elif name:
            names.add(name)
        _host_port_conflicts([(i, container)], path, errs)
        if restart == "Always":
            _validate_container_probes(container, grace, container_path, errs)
            continue
        for hook in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
            if container.get(hook) is not None:
                errs.forbidden(
                    container_path.child(hook), "may not be set for init containers without restartPolicy=Always"
                )


# ---------------------------------------------------------------------------
# Volumes
# ---------------------------------------------------------------------------

# Every volume source, in the order Kubernetes checks them.
_VOLUME_SOURCES = [
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs", "iscsi",
    "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs", "quobyte", "downwardAPI", "fc",
    "flexVolume", "configMap", "azureFile", "vsphereVolume", "photonPersistentDisk", "portworxVolume", "azureDisk",
    "storageos", "projected", "scaleIO", "csi", "ephemeral", "image"
]


def _validate_mode(value: Any, path: Path, errs: ErrorList) -> None:
    mode = _int(value)
    if mode is not None and not 0 <= mode <= 0o777:
        errs.invalid(path, mode, _FILE_MODE)


def _validate_key_to_paths(items: Any, path: Path, errs: ErrorList) -> None:
    for i, item in _dicts(items):
        item_path = path.index(i)
        if not _is_set(item.get("key")):
            errs.required(item_path.child("key"))
        if not _is_set(item.get("path")):
            errs.required(item_path.child("path"))
        _validate_local_non_reserved_path(_str(item.get("path")), item_path.child("path"), errs)
        _validate_mode(item.get("mode"), item_path.child("mode"), errs)


def _validate_downward_items(items: Any, path: Path, errs: ErrorList) -> None:
    for _, item in _dicts(items):
        # Kubernetes reports these without the item's index.
        if not _is_set(item.get("path")):
            errs.required(path.child("path"))
        _validate_local_non_reserved_path(_str(item.get("path")), path.child("path"), errs)
        if isinstance(item.get("fieldRef"), dict):
            _validate_field_ref(item["fieldRef"], _VOLUME_FIELD_PATHS, path.child("fieldRef"), errs)
            if item.get("resourceFieldRef") is not None:
                errs.invalid(path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously")
        elif isinstance(item.get("resourceFieldRef"), dict):
            _validate_resource_field_ref(item["resourceFieldRef"], path.child("resourceFieldRef"), errs, volume=True)
        else:
            errs.required(path, "one of fieldRef and resourceFieldRef is required")
        _validate_mode(item.get("mode"), path.child("mode"), errs)


def _require(source: dict[str, Any], key: str, path: Path, errs: ErrorList) -> None:
    if not _is_set(source.get(key)):
        errs.required(path.child(key))


def _validate_projection(source: dict[str, Any], path: Path, errs: ErrorList) -> None:
    kinds = [
        k for k in ("secret", "downwardAPI", "configMap", "serviceAccountToken") if isinstance(source.get(k), dict)
    ]
    for kind in kinds:
        body, body_path = source[kind], path.child(kind)
        if kind in ("secret", "configMap"):
            _require(body, "name", body_path, errs)
            _validate_key_to_paths(body.get("items"), body_path.child("items"), errs)
        elif kind == "downwardAPI":
            _validate_downward_items(body.get("items"), body_path.child("items"), errs)
        else:
            expiration = _int(body.get("expirationSeconds"))
            if expiration is not None and expiration < 600:
                errs.invalid(
                    body_path.child("expirationSeconds"), expiration, "may not specify a duration less than 10 minutes"
                )
            _require(body, "path", body_path, errs)
    if len(kinds) > 1:
        errs.forbidden(path, "may not specify more than 1 volume type per source")
    elif not kinds and not _is_set(source.get("clusterTrustBundle")) and not _is_set(source.get("podCertificate")):
        errs.required(path, "must specify one of: `configMap`, `secret`, `serviceAccountToken`, `downwardAPI`")


def _validate_source_body(kind: str, body: dict[str, Any], path: Path, errs: ErrorList) -> None:
    """The checks of the volume sources kemu understands."""
    if kind == "hostPath":
        _require(body, "path", path, errs)
    elif kind in ("secret", "configMap"):
        _require(body, "secretName" if kind == "secret" else "name", path, errs)
        _validate_mode(body.get("defaultMode"), path.child("defaultMode"), errs)
        _validate_key_to_paths(body.get("items"), path.child("items"), errs)
    elif kind == "persistentVolumeClaim":
        _require(body, "claimName", path, errs)
    elif kind == "downwardAPI":
        _validate_mode(body.get("defaultMode"), path.child("defaultMode"), errs)
        _validate_downward_items(body.get("items"), path, errs)
    elif kind == "projected":
        _validate_mode(body.get("defaultMode"), path.child("defaultMode"), errs)
        for i, source in _dicts(body.get("sources")):
            _validate_projection(source, path.child("sources").index(i), errs)
    elif kind == "nfs":
        _require(body, "server", path, errs)
        _require(body, "path", path, errs)
        if not _str(body.get("path")).startswith("/"):
            errs.invalid(path.child("path"), _str(body.get("path")), "must be an absolute path")
    elif kind == "emptyDir" and body.get("sizeLimit") is not None:
        amount = _quantity(body["sizeLimit"], path.child("sizeLimit"), errs)
        if amount is not None and amount < 0:
            errs.forbidden(path.child("sizeLimit"), "SizeLimit field must be a valid resource quantity")


def _validate_volume_source(volume: dict[str, Any], path: Path, errs: ErrorList) -> None:
    """Exactly one source per volume."""
    count = 0
    for kind in _VOLUME_SOURCES:
        body = volume.get(kind)
        if body is None:
            continue
        if count:
            errs.forbidden(path.child(kind), "may not specify more than 1 volume type")
            continue
        count += 1
        _validate_source_body(kind, _map(body), path.child(kind), errs)
    if count == 0:
        errs.required(path, "must specify a volume type")


def _validate_volumes(volumes: Any, path: Path, errs: ErrorList) -> set[str]:
    """The volumes, and the names of those valid enough to be mounted."""
    names: set[str] = set()
    for i, volume in _dicts(volumes):
        volume_path, found = path.index(i), ErrorList()
        _validate_volume_source(volume, volume_path, found)
        name = _str(volume.get("name"))
        if not name:
            found.required(volume_path.child("name"))
        else:
            found.invalids(volume_path.child("name"), name, is_dns1123_label(name))
        if name in names:
            found.duplicate(volume_path.child("name"), name)
        if found:
            errs.extend(found)
        else:
            names.add(name)
    return names


# ---------------------------------------------------------------------------
# Scheduling: affinity, tolerations, spread constraints
# ---------------------------------------------------------------------------

_NODE_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _validate_node_selector_requirement(
    req: dict[str, Any], path: Path, errs: ErrorList, *, strict_values: bool
) -> None:
    operator, values = req.get("operator"), _strs(req.get("values"))
    if operator in ("In", "NotIn") and not values:
        errs.required(path.child("values"), "must be specified when `operator` is 'In' or 'NotIn'")
    elif operator in ("Exists", "DoesNotExist") and values:
        errs.forbidden(path.child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
    elif operator in ("Gt", "Lt") and len(values) != 1:
        errs.required(path.child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'")
    elif operator not in _NODE_SELECTOR_OPERATORS:
        errs.invalid(path.child("operator"), _str(operator), "not a valid selector operator")
    _validate_label_name(_str(req.get("key")), path.child("key"), errs)
    if strict_values:
        for i, value in enumerate(values):
            errs.invalids(path.child("values").index(i), value, is_valid_label_value(value))


def _validate_node_field_requirement(req: dict[str, Any], path: Path, errs: ErrorList) -> None:
    if req.get("operator") in ("In", "NotIn"):
        if len(_strs(req.get("values"))) != 1:
            errs.required(
                path.child("values"),
                "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
            )
    else:
        errs.invalid(path.child("operator"), _str(req.get("operator")), "not a valid selector operator")
    if req.get("key") != "metadata.name":
        errs.invalid(path.child("key"), _str(req.get("key")), "not a valid field selector key")
    else:
        for i, value in enumerate(_strs(req.get("values"))):
            errs.invalids(path.child("values").index(i), value, is_dns1123_subdomain(value))


def _validate_node_selector_term(term: dict[str, Any], path: Path, errs: ErrorList, *, strict_values: bool) -> None:
    for j, req in _dicts(term.get("matchExpressions")):
        _validate_node_selector_requirement(
            req, path.child("matchExpressions").index(j), errs, strict_values=strict_values
        )
    for j, req in _dicts(term.get("matchFields")):
        _validate_node_field_requirement(req, path.child("matchFields").index(j), errs)


def _validate_weight(term: dict[str, Any], path: Path, errs: ErrorList) -> None:
    weight = _int(term.get("weight")) or 0
    if not 1 <= weight <= 100:
        errs.invalid(path.child("weight"), weight, "must be in the range 1-100")


def _validate_node_affinity(affinity: dict[str, Any], path: Path, errs: ErrorList) -> None:
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if isinstance(required, dict):
        terms_path = path.child("requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
        terms = list(_dicts(required.get("nodeSelectorTerms")))
        if not terms:
            errs.required(terms_path, "must have at least one node selector term")
        for i, term in terms:
            _validate_node_selector_term(term, terms_path.index(i), errs, strict_values=True)
    preferred_path = path.child("preferredDuringSchedulingIgnoredDuringExecution")
    for i, term in _dicts(affinity.get("preferredDuringSchedulingIgnoredDuringExecution")):
        _validate_weight(term, preferred_path.index(i), errs)
        preference = _map(term.get("preference"))
        _validate_node_selector_term(preference, preferred_path.index(i).child("preference"), errs, strict_values=False)


def _validate_pod_affinity_term(term: dict[str, Any], path: Path, errs: ErrorList) -> None:
    if term.get("labelSelector") is not None:
        _validate_label_selector(term["labelSelector"], path.child("labelSelector"), errs)
    if term.get("namespaceSelector") is not None:
        _validate_label_selector(term["namespaceSelector"], path.child("namespaceSelector"), errs)
    for namespace in _strs(term.get("namespaces")):
        errs.invalids(path.child("namespace"), namespace, is_dns1123_label(namespace))
    topology_key = _str(term.get("topologyKey"))
    if not topology_key:
        errs.required(path.child("topologyKey"), "can not be empty")
    _validate_label_name(topology_key, path.child("topologyKey"), errs)


def _validate_pod_affinity(affinity: dict[str, Any], path: Path, errs: ErrorList) -> None:
    required_path = path.child("requiredDuringSchedulingIgnoredDuringExecution")
    for i, term in _dicts(affinity.get("requiredDuringSchedulingIgnoredDuringExecution")):
        _validate_pod_affinity_term(term, required_path.index(i), errs)
    preferred_path = path.child("preferredDuringSchedulingIgnoredDuringExecution")
    for i, weighted in _dicts(affinity.get("preferredDuringSchedulingIgnoredDuringExecution")):
        _validate_weight(weighted, preferred_path.index(i), errs)
        term = _map(weighted.get("podAffinityTerm"))
        _validate_pod_affinity_term(term, preferred_path.index(i).child("podAffinityTerm"), errs)


def _validate_affinity(affinity: Any, path: Path, errs: ErrorList) -> None:
    affinity = _map(affinity)
    if isinstance(affinity.get("nodeAffinity"), dict):
        _validate_node_affinity(affinity["nodeAffinity"], path.child("nodeAffinity"), errs)
    for kind in ("podAffinity", "podAntiAffinity"):
        if isinstance(affinity.get(kind), dict):
            _validate_pod_affinity(affinity[kind], path.child(kind), errs)


def _validate_toleration(toleration: dict[str, Any], path: Path, errs: ErrorList) -> None:
    key, operator, value = _str(toleration.get("key")), _str(toleration.get("operator")), _str(toleration.get("value"))
    effect = _str(toleration.get("effect"))
    if key:
        _validate_label_name(key, path.child("key"), errs)
    if not key and operator != "Exists":
        errs.invalid(
            path.child("operator"),
            operator,
            'operator must be Exists when `key` is empty, which means "match all values and all keys"',
        )
    if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
        errs.invalid(path.child("effect"), effect, "effect must be 'NoExecute' when `tolerationSeconds` is set")
    if operator in ("Equal", ""):
        reasons = is_valid_label_value(value)
        if reasons:
            errs.invalid(path.child("operator"), value, ";".join(reasons))
    elif operator == "Exists":
        if value:
            errs.invalid(path.child("operator"), value, "value must be empty when `operator` is 'Exists'")
    else:
        errs.not_supported(path.child("operator"), operator, ("Equal", "Exists"))
    if effect and effect not in _TAINT_EFFECTS:
        errs.not_supported(path.child("effect"), effect, _TAINT_EFFECTS)


def _validate_tolerations(tolerations: Any, path: Path, errs: ErrorList) -> None:
    for i, toleration in _dicts(tolerations):
        _validate_toleration(toleration, path.index(i), errs)


def _validate_spread_constraint(
    constraint: dict[str, Any], rest: list[dict[str, Any]], path: Path, errs: ErrorList
) -> None:
    max_skew = _int(constraint.get("maxSkew")) or 0
    if max_skew <= 0:
        errs.invalid(path.child("maxSkew"), max_skew, "must be greater than zero")
    topology_key, when = _str(constraint.get("topologyKey")), _str(constraint.get("whenUnsatisfiable"))
    if not topology_key:
        errs.required(path.child("topologyKey"), "can not be empty")
    if when not in ("DoNotSchedule", "ScheduleAnyway"):
        errs.not_supported(path.child("whenUnsatisfiable"), when, ("DoNotSchedule", "ScheduleAnyway"))
    if any(_str(o.get("topologyKey")) == topology_key and _str(o.get("whenUnsatisfiable")) == when for o in rest):
        errs.duplicate(path.child("{topologyKey, whenUnsatisfiable}"), f"{{{topology_key}, {when}}}")
    min_domains = _int(constraint.get("minDomains"))
    if min_domains is not None and min_domains <= 0:
        errs.invalid(path.child("minDomains"), min_domains, "must be greater than zero")
    for policy in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
        _optional_enum(constraint.get(policy), path.child(policy), ("Honor", "Ignore"), errs)
    if constraint.get("labelSelector") is not None:
        _validate_label_selector(constraint["labelSelector"], path.child("labelSelector"), errs)


def _validate_spread_constraints(constraints: Any, path: Path, errs: ErrorList) -> None:
    items = list(_dicts(constraints))
    for position, (i, constraint) in enumerate(items):
        rest = [other for _, other in items[position + 1 :]]
        _validate_spread_constraint(constraint, rest, path.index(i), errs)


# ---------------------------------------------------------------------------
# PodSpec
# ---------------------------------------------------------------------------

_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_MAX_INT32 = 2**31 - 1


def _validate_pod_security_context(context: Any, path: Path, errs: ErrorList) -> None:
    context = _map(context)
    for key in ("fsGroup", "runAsUser", "runAsGroup"):
        _validate_id(context.get(key), path.child(key), errs)
    for i, gid in enumerate(context.get("supplementalGroups") or []):
        _validate_id(gid, path.child("supplementalGroups").index(i), errs)
    for i, sysctl in _dicts(context.get("sysctls")):
        if not _is_set(sysctl.get("name")):
            errs.required(path.child("sysctls").index(i).child("name"))
    _optional_enum(
        context.get("fsGroupChangePolicy"), path.child("fsGroupChangePolicy"), ("Always", "OnRootMismatch"), errs
    )
    _validate_seccomp(context.get("seccompProfile"), path.child("seccompProfile"), errs)


def _validate_dns_config(spec: dict[str, Any], path: Path, errs: ErrorList) -> None:
    config = spec.get("dnsConfig")
    if spec.get("dnsPolicy") == "None":
        if not isinstance(config, dict):
            errs.required(path, "must provide `dnsConfig` when `dnsPolicy` is None")
            return
        if not _strs(config.get("nameservers")):
            errs.required(
                path.child("nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None"
            )
            return
    if not isinstance(config, dict):
        return
    nameservers, searches = _strs(config.get("nameservers")), _strs(config.get("searches"))
    if len(nameservers) > 3:
        errs.invalid(path.child("nameservers"), nameservers, "must not have more than 3 nameservers")
    for i, server in enumerate(nameservers):
        _validate_ip(server, path.child("nameservers").index(i), errs)
    if len(searches) > 32:
        errs.invalid(path.child("searches"), searches, "must not have more than 32 search paths")
    for i, search in enumerate(searches):
        trimmed = search[:-1] if search.endswith(".") else search
        errs.invalids(path.child("searches").index(i), trimmed, is_dns1123_subdomain(trimmed))
    for i, option in _dicts(config.get("options")):
        if not _is_set(option.get("name")):
            errs.required(path.child("options").index(i), "must not be empty")


def _validate_host_network(spec: dict[str, Any], path: Path, errs: ErrorList, *, is_pod: bool) -> None:
    if spec.get("hostNetwork") is not True:
        return
    for i, container in _dicts(spec.get("containers")):
        for j, port in _dicts(container.get("ports")):
            host_port, container_port = _int(port.get("hostPort")) or 0, _int(port.get("containerPort")) or 0
            if (is_pod or host_port != 0) and host_port != container_port:
                port_path = path.child("containers").index(i).child("ports").index(j).child("hostPort")
                errs.invalid(port_path, host_port, "must match `containerPort` when `hostNetwork` is true")


def _validate_pod_spec_fields(spec: dict[str, Any], path: Path, errs: ErrorList) -> None:
    """The pod spec's scalar and small fields."""
    _enum(spec.get("restartPolicy"), path.child("restartPolicy"), _RESTART_POLICIES, errs)
    _enum(spec.get("dnsPolicy"), path.child("dnsPolicy"), _DNS_POLICIES, errs)
    _validate_labels(spec.get("nodeSelector"), path.child("nodeSelector"), errs)
    for key in ("serviceAccountName", "nodeName", "priorityClassName"):
        _named(spec.get(key), path.child(key), name_is_dns_subdomain, errs)
    for key in ("hostname", "subdomain"):
        _named(spec.get(key), path.child(key), name_is_dns_label, errs)
    deadline = _int(spec.get("activeDeadlineSeconds"))
    if deadline is not None and not 1 <= deadline <= _MAX_INT32:
        errs.invalid(path.child("activeDeadlineSeconds"), deadline, inclusive_range_error(1, _MAX_INT32))
    for i, secret in _dicts(spec.get("imagePullSecrets")):
        if set(secret) - {"name"}:
            errs.invalid(path.child("imagePullSecrets").index(i), GoLiteral(go_repr(secret)), "only name may be set")
    for i, gate in _dicts(spec.get("readinessGates")):
        condition = _str(gate.get("conditionType"))
        errs.invalids(
            path.child("readinessGates").index(i).child("conditionType"), condition, is_qualified_name(condition)
        )
    for i, alias in _dicts(spec.get("hostAliases")):
        _validate_ip(alias.get("ip"), path.child("hostAliases").index(i).child("ip"), errs)
        for j, hostname in enumerate(_strs(alias.get("hostnames"))):
            errs.invalids(
                path.child("hostAliases").index(i).child("hostnames").index(j), hostname, is_dns1123_subdomain(hostname)
            )
    if spec.get("preemptionPolicy") is not None:
        _enum(spec.get("preemptionPolicy"), path.child("preemptionPolicy"), ("PreemptLowerPriority", "Never"), errs)
    if isinstance(spec.get("os"), dict):
        os_name = _str(spec["os"].get("name"))
        if not os_name:
            errs.required(path.child("os", "name"), "cannot be empty")
        elif os_name not in ("linux", "windows"):
            errs.not_supported(path.child("os"), os_name, ("linux", "windows"))


def _validate_pod_spec(spec: dict[str, Any], path: Path, errs: ErrorList, *, is_pod: bool) -> None:
    """``ValidatePodSpec``, for a pod (``is_pod``) or a pod template."""
    grace = _int(spec.get("terminationGracePeriodSeconds"))
    if spec.get("terminationGracePeriodSeconds") is None:
        errs.required(path.child("terminationGracePeriodSeconds"))
    elif grace is not None and grace < 0:
        # Kubernetes only warns and treats it as 1; kemu refuses it.
        errs.invalid(path.child("terminationGracePeriodSeconds"), grace, IS_NEGATIVE)
    volumes = _validate_volumes(spec.get("volumes"), path.child("volumes"), errs)
    _validate_containers(spec.get("containers"), volumes, grace, path.child("containers"), errs)
    _validate_init_containers(
        spec.get("initContainers"), spec.get("containers"), volumes, grace, path.child("initContainers"), errs
    )
    _validate_host_network(spec, path, errs, is_pod=is_pod)
    _validate_pod_spec_fields(spec, path, errs)
    _validate_pod_security_context(spec.get("securityContext"), path.child("securityContext"), errs)
    _validate_affinity(spec.get("affinity"), path.child("affinity"), errs)
    _validate_dns_config(spec, path.child("dnsConfig"), errs)
    _validate_spread_constraints(spec.get("topologySpreadConstraints"), path.child("topologySpreadConstraints"), errs)
    _validate_tolerations(spec.get("tolerations"), path.child("tolerations"), errs)
    if spec.get("overhead") is not None:
        _validate_resources({"limits": spec["overhead"]}, path.child("overhead"), errs)


def _validate_pod(obj: dict[str, Any], errs: ErrorList) -> None:
    """``ValidatePodCreate``'s spec part."""
    spec, path = _map(obj.get("spec")), Path("spec")
    _validate_pod_spec(spec, path, errs, is_pod=True)
    for key in ("containers", "initContainers"):
        for i, container in _dicts(spec.get(key)):
            image = _str(container.get("image"))
            if image != image.strip():
                errs.invalid(
                    path.child(key).index(i).child("image"), image, "must not have leading or trailing whitespace"
                )
    if spec.get("ephemeralContainers"):
        errs.forbidden(path.child("ephemeralContainers"), "cannot be set on create")


def _validate_pod_template(template: Any, path: Path, errs: ErrorList) -> None:
    """``ValidatePodTemplateSpec``; note that Kubernetes reports template
    label problems at ``<path>.labels``, not ``<path>.metadata.labels``."""
    template = _map(template)
    meta = _map(template.get("metadata"))
    _validate_labels(meta.get("labels"), path.child("labels"), errs)
    _validate_annotations(meta.get("annotations"), path.child("annotations"), errs)
    spec = _map(template.get("spec"))
    _validate_pod_spec(spec, path.child("spec"), errs, is_pod=False)
    if spec.get("ephemeralContainers"):
        errs.forbidden(path.child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template")


# ---------------------------------------------------------------------------
# ReplicaSet and Deployment
# ---------------------------------------------------------------------------


def _validate_workload_selector(spec: dict[str, Any], path: Path, errs: ErrorList) -> None:
    """Selector present, non-empty, well-formed, and matching the template."""
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        errs.required(path.child("selector"))
        selector = {}
    else:
        _validate_label_selector(selector, path.child("selector"), errs)
        if _selector_is_empty(selector):
            # Kubernetes says "deployment" for ReplicaSets too.
            errs.invalid(
                path.child("selector"), go_label_selector(selector), "empty selector is invalid for deployment"
            )
    if _selector_is_malformed(selector):
        errs.invalid(path.child("selector"), go_label_selector(selector), "invalid label selector")
        return
    template = _map(spec.get("template"))
    labels = _map(_map(template.get("metadata")).get("labels"))
    if not _selector_is_empty(selector) and not _selector_matches(selector, labels):
        errs.invalid(
            path.child("template", "metadata", "labels"), labels, "`selector` does not match template `labels`"
        )


def _validate_replicated_template(spec: dict[str, Any], path: Path, errs: ErrorList) -> None:
    """``ValidatePodTemplateSpecForReplicaSet``."""
    template_path = path.child("template")
    _validate_pod_template(spec.get("template"), template_path, errs)
    template_spec = _map(_map(spec.get("template")).get("spec"))
    restart = template_spec.get("restartPolicy")
    if restart != "Always":
        errs.not_supported(template_path.child("spec", "restartPolicy"), _str(restart), ("Always",))
    if template_spec.get("activeDeadlineSeconds") is not None:
        errs.invalid(
            template_path.child("spec", "activeDeadlineSeconds"),
            template_spec["activeDeadlineSeconds"],
            "must not be specified",
        )


def _validate_replica_set(obj: dict[str, Any], errs: ErrorList) -> None:
    spec, path = _map(obj.get("spec")), Path("spec")
    _nonnegative(spec.get("replicas"), path.child("replicas"), errs)
    _nonnegative(spec.get("minReadySeconds"), path.child("minReadySeconds"), errs)
    _validate_workload_selector(spec, path, errs)
    _validate_replicated_template(spec, path, errs)


def _int_or_percent(value: Any) -> tuple[int | None, bool]:
    """``(value, is_percent)`` of an IntOrString; ``None`` when malformed."""
    if isinstance(value, str):
        return (int(value[:-1]), True) if not is_valid_percent(value) else (None, True)
    number = _int(value)
    return (number if number is not None else 0), False


def _validate_positive_int_or_percent(value: Any, path: Path, errs: ErrorList) -> None:
    if isinstance(value, str):
        errs.invalids(path, GoLiteral(value), is_valid_percent(value))
    else:
        _nonnegative(value, path, errs)


def _validate_rolling_update(rolling: dict[str, Any], path: Path, errs: ErrorList) -> None:
    max_unavailable, max_surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    _validate_positive_int_or_percent(max_unavailable, path.child("maxUnavailable"), errs)
    _validate_positive_int_or_percent(max_surge, path.child("maxSurge"), errs)
    unavailable, unavailable_is_percent = _int_or_percent(max_unavailable)
    surge, _ = _int_or_percent(max_surge)
    if unavailable == 0 and surge == 0:
        errs.invalid(
            path.child("maxUnavailable"), GoLiteral(_str(max_unavailable) or "0"), "may not be 0 when `maxSurge` is 0"
        )
    if unavailable_is_percent and unavailable is not None and unavailable > 100:
        errs.invalid(path.child("maxUnavailable"), GoLiteral(_str(max_unavailable)), "must not be greater than 100%")


def _validate_strategy(strategy: Any, path: Path, errs: ErrorList) -> None:
    strategy = _map(strategy)
    kind = strategy.get("type")
    if kind == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            errs.forbidden(path.child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")
    elif kind == "RollingUpdate":
        if not isinstance(strategy.get("rollingUpdate"), dict):
            errs.required(path.child("rollingUpdate"), "this should be defaulted and never be nil")
        else:
            _validate_rolling_update(strategy["rollingUpdate"], path.child("rollingUpdate"), errs)
    else:
        errs.not_supported(path.child("type"), _str(kind), ("Recreate", "RollingUpdate"))


def _validate_deployment(obj: dict[str, Any], errs: ErrorList) -> None:
    spec, path = _map(obj.get("spec")), Path("spec")
    _nonnegative(spec.get("replicas"), path.child("replicas"), errs)
    _validate_workload_selector(spec, path, errs)
    _validate_replicated_template(spec, path, errs)
    _validate_strategy(spec.get("strategy"), path.child("strategy"), errs)
    for key in ("minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"):
        _nonnegative(spec.get(key), path.child(key), errs)
    deadline = _int(spec.get("progressDeadlineSeconds"))
    if deadline is not None and deadline <= (_int(spec.get("minReadySeconds")) or 0):
        errs.invalid(path.child("progressDeadlineSeconds"), deadline, "must be greater than minReadySeconds")


def _validate_selector_immutable(obj: dict[str, Any], old: dict[str, Any], errs: ErrorList) -> None:
    """apps/v1 workloads keep their selector for life."""
    new_selector, old_selector = _map(obj.get("spec")).get("selector"), _map(old.get("spec")).get("selector")
    if _prune(new_selector) != _prune(old_selector):
        errs.invalid(Path("spec", "selector"), go_label_selector(new_selector), FIELD_IMMUTABLE)


# ---------------------------------------------------------------------------
# Service and Endpoints
# ---------------------------------------------------------------------------

_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_TRAFFIC_POLICIES = ("Cluster", "Local")
_IP_FAMILIES = ("IPv4", "IPv6")
_IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
_MAX_CLIENT_IP_AFFINITY_SECONDS = 86400


def _is_headless(spec: dict[str, Any]) -> bool:
    return _strs(spec.get("clusterIPs")) == ["None"]


def _go_service_port(protocol: str, port: int) -> GoLiteral:
    return GoLiteral(
        f'core.ServicePort{{Name:"", Protocol:{go_quote(protocol)}, AppProtocol:(*string)(nil), Port:{port}, '
        'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
    )


def _validate_service_port(
    port: dict[str, Any], require_name: bool, names: set[str], path: Path, errs: ErrorList
) -> None:
    name = _str(port.get("name"))
    if require_name and not name:
        errs.required(path.child("name"))
    elif name:
        errs.invalids(path.child("name"), name, is_dns1123_label(name))
        if name in names:
            errs.duplicate(path.child("name"), name)
        names.add(name)
    number = _int(port.get("port")) or 0
    errs.invalids(path.child("port"), number, is_valid_port_num(number))
    _enum(port.get("protocol"), path.child("protocol"), _PROTOCOLS, errs)
    _validate_port_num_or_name(port.get("targetPort"), path.child("targetPort"), errs)
    if port.get("appProtocol") is not None:
        errs.invalids(path.child("appProtocol"), port["appProtocol"], is_qualified_name(_str(port["appProtocol"])))


def _validate_service_ports(spec: dict[str, Any], path: Path, errs: ErrorList) -> None:
    """Names, numbers, duplicates, and node ports (allowed only for NodePort and
    LoadBalancer services, within :data:`SERVICE_NODE_PORT_RANGE`)."""
    ports = list(_dicts(spec.get("ports")))
    names: set[str] = set()
    node_ports: set[tuple[str, int]] = set()
    pairs: set[tuple[str, int]] = set()
    low, high = SERVICE_NODE_PORT_RANGE
    for i, port in ports:
        port_path = path.index(i)
        _validate_service_port(port, len(ports) > 1, names, port_path, errs)
        protocol, number, node_port = (
            _str(port.get("protocol")),
            _int(port.get("port")) or 0,
            _int(port.get("nodePort")) or 0,
        )
        if node_port and spec.get("type") == "ClusterIP":
            errs.forbidden(port_path.child("nodePort"), "may not be used when `type` is 'ClusterIP'")
        elif node_port and spec.get("type") in ("NodePort", "LoadBalancer") and not low <= node_port <= high:
            errs.invalid(
                port_path.child("nodePort"),
                node_port,
                f"provided port is not in the valid range. The range of valid ports is {low}-{high}",
            )
        if node_port and (protocol, node_port) in node_ports:
            errs.duplicate(port_path.child("nodePort"), node_port)
        node_ports.add((protocol, node_port))
        if (protocol, number) in pairs:
            errs.duplicate(port_path, _go_service_port(protocol, number))
        pairs.add((protocol, number))


def _validate_service_type(spec: dict[str, Any], path: Path, errs: ErrorList) -> None:
    kind = spec.get("type")
    if kind in ("LoadBalancer", "NodePort") and _is_headless(spec):
        errs.invalid(path.child("clusterIPs").index(0), "None", f"may not be set to 'None' for {kind} services")
    if kind == "ExternalName":
        for key in ("clusterIPs", "ipFamilies"):
            if spec.get(key):
                errs.forbidden(path.child(key), "may not be set for ExternalName services")
        if spec.get("ipFamilyPolicy") is not None:
            errs.forbidden(path.child("ipFamilyPolicy"), "may not be set for ExternalName services")
        cname = _str(spec.get("externalName"))
        cname = cname[:-1] if cname.endswith(".") else cname
        if cname:
            errs.invalids(path.child("externalName"), cname, is_dns1123_subdomain(cname))
        else:
            errs.required(path.child("externalName"))
    _enum(kind, path.child("type"), _SERVICE_TYPES, errs)


def _validate_session_affinity(spec: dict[str, Any], path: Path, errs: ErrorList) -> None:
    affinity = spec.get("sessionAffinity")
    _enum(affinity, path.child("sessionAffinity"), ("ClientIP", "None"), errs)
    config_path = path.child("sessionAffinityConfig")
    if affinity == "None" and spec.get("sessionAffinityConfig") is not None:
        errs.forbidden(config_path, "must not be set when session affinity is None")
    elif affinity == "ClientIP":
        client_ip = _map(spec.get("sessionAffinityConfig")).get("clientIP")
        timeout = _int(_map(client_ip).get("timeoutSeconds"))
        if timeout is None:
            errs.required(config_path.child("clientIP", "timeoutSeconds"), "when session affinity type is ClientIP")
        elif not 0 < timeout <= _MAX_CLIENT_IP_AFFINITY_SECONDS:
            errs.invalid(
                config_path.child("clientIP", "timeoutSeconds"),
                timeout,
                f"must be greater than 0 and less than {_MAX_CLIENT_IP_AFFINITY_SECONDS}",
            )


def _validate_cluster_ips(spec: dict[str, Any], path: Path, errs: ErrorList) -> None:
    """``ValidateServiceClusterIPsRelatedFields``."""
    if spec.get("type") == "ExternalName":
        return
    cluster_ip, cluster_ips = _str(spec.get("clusterIP")), _strs(spec.get("clusterIPs"))
    ips_path = path.child("clusterIPs")
    if cluster_ip and not cluster_ips:
        errs.required(ips_path)
    elif cluster_ip and cluster_ips[0] != cluster_ip:
        errs.invalid(ips_path, cluster_ips, "first value must match `clusterIP`")
    elif not cluster_ip and cluster_ips:
        errs.invalid(ips_path, cluster_ips, "must be empty when `clusterIP` is not specified")
    seen: set[str] = set()
    for i, family in enumerate(_strs(spec.get("ipFamilies"))):
        if family not in _IP_FAMILIES:
            errs.not_supported(path.child("ipFamilies").index(i), family, _IP_FAMILIES)
        if family in seen:
            errs.duplicate(path.child("ipFamilies").index(i), family)
        seen.add(family)
    _optional_enum(spec.get("ipFamilyPolicy"), path.child("ipFamilyPolicy"), _IP_FAMILY_POLICIES, errs)
    valid = True
    for i, ip in enumerate(cluster_ips):
        if i == 0 and ip == "None":
            if len(cluster_ips) > 1:
                valid = False
                errs.invalid(ips_path, cluster_ips, "'None' must be the first and only value")
            continue
        valid = _validate_ip(ip, ips_path.index(i), errs) and valid
    if len(cluster_ips) > 2:
        errs.invalid(ips_path, cluster_ips, "may only hold up to 2 values")
    if valid and not _is_headless(spec):
        _validate_ip_families_match(spec, cluster_ips, ips_path, errs)


def _validate_ip_families_match(spec: dict[str, Any], cluster_ips: list[str], path: Path, errs: ErrorList) -> None:
    parsed = [_parse_ip(ip) for ip in cluster_ips]
    if len(parsed) > 1 and len({p.version for p in parsed if p}) != len(parsed):
        errs.invalid(path, cluster_ips, "may specify no more than one IP for each IP family")
    families = _strs(spec.get("ipFamilies"))
    for i, (ip, address) in enumerate(zip(cluster_ips, parsed, strict=True)):
        if i >= len(families) or address is None:
            break
        wanted = 6 if families[i] == "IPv6" else 4
        if address.version != wanted:
            errs.invalid(path.index(i), ip, f"expected an IPv{wanted} value as indicated by `ipFamilies[{i}]`")


def _validate_traffic_policies(spec: dict[str, Any], path: Path, errs: ErrorList) -> None:
    kind = spec.get("type")
    external = kind in ("LoadBalancer", "NodePort") or (kind == "ClusterIP" and bool(spec.get("externalIPs")))
    policy = spec.get("externalTrafficPolicy")
    if not external and _is_set(policy):
        errs.invalid(path.child("externalTrafficPolicy"), policy, "may only be set for externally-accessible services")
    elif external:
        _enum(policy, path.child("externalTrafficPolicy"), _TRAFFIC_POLICIES, errs)
    internal = spec.get("internalTrafficPolicy")
    if internal is None and kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        errs.required(path.child("internalTrafficPolicy"))
    _optional_enum(internal, path.child("internalTrafficPolicy"), _TRAFFIC_POLICIES, errs)
    if spec.get("allocateLoadBalancerNodePorts") is not None and kind != "LoadBalancer":
        errs.forbidden(path.child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'")
    if kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        errs.required(Path("allocateLoadBalancerNodePorts"))


def _validate_service(obj: dict[str, Any], errs: ErrorList) -> None:
    """``ValidateService``."""
    spec, path = _map(obj.get("spec")), Path("spec")
    if not list(_dicts(spec.get("ports"))) and not _is_headless(spec) and spec.get("type") != "ExternalName":
        errs.required(path.child("ports"))
    _validate_service_type(spec, path, errs)
    _validate_service_ports(spec, path.child("ports"), errs)
    if spec.get("selector") is not None:
        _validate_labels(spec.get("selector"), path.child("selector"), errs)
    _validate_session_affinity(spec, path, errs)
    _validate_cluster_ips(spec, path, errs)
    for i, ip in enumerate(_strs(spec.get("externalIPs"))):
        _validate_ip(ip, path.child("externalIPs").index(i), errs)
    _validate_traffic_policies(spec, path, errs)


def _validate_service_update(obj: dict[str, Any], old: dict[str, Any], errs: ErrorList) -> None:
    """A cluster IP, once set, may not change (nor be dropped)."""
    spec, old_spec = _map(obj.get("spec")), _map(old.get("spec"))
    if "ExternalName" in (spec.get("type"), old_spec.get("type")) or (_is_headless(spec) and _is_headless(old_spec)):
        return
    new_ips, old_ips = _strs(spec.get("clusterIPs")), _strs(old_spec.get("clusterIPs"))
    path = Path("spec", "clusterIPs")
    if len(new_ips) == len(old_ips):
        for i, ip in enumerate(old_ips):
            if ip != new_ips[i]:
                errs.invalid(path.index(i), new_ips, "may not change once set")
    elif old_ips and not new_ips:
        errs.invalid(path.index(0), new_ips, "primary clusterIP can not be unset")
    elif old_ips and new_ips[0] != old_ips[0]:
        errs.invalid(path.index(0), new_ips, "may not change once set")


def _validate_endpoint_address(address: dict[str, Any], path: Path, errs: ErrorList) -> None:
    # Kubernetes also refuses loopback addresses here; kemu's pods live on 127/8.
    if _validate_ip(address.get("ip"), path.child("ip"), errs):
        ip = _parse_ip(address.get("ip"))
        if ip is not None and ip.is_unspecified:
            errs.invalid(path.child("ip"), address.get("ip"), f"may not be unspecified ({address.get('ip')})")
        if ip is not None and ip.is_link_local:
            errs.invalid(
                path.child("ip"), address.get("ip"), "may not be in the link-local range (169.254.0.0/16, fe80::/10)"
            )
    _named(address.get("hostname"), path.child("hostname"), name_is_dns_label, errs)
    _named(address.get("nodeName"), path.child("nodeName"), name_is_dns_subdomain, errs)


def _validate_endpoints(obj: dict[str, Any], errs: ErrorList) -> None:
    for i, subset in _dicts(obj.get("subsets")):
        path = Path("subsets").index(i)
        if not subset.get("addresses") and not subset.get("notReadyAddresses"):
            errs.required(path, "must specify `addresses` or `notReadyAddresses`")
        for key in ("addresses", "notReadyAddresses"):
            for j, address in _dicts(subset.get(key)):
                _validate_endpoint_address(address, path.child(key).index(j), errs)
        ports = list(_dicts(subset.get("ports")))
        for j, port in ports:
            port_path, name = path.child("ports").index(j), _str(port.get("name"))
            if len(ports) > 1 and not name:
                errs.required(port_path.child("name"))
            elif name:
                errs.invalids(port_path.child("name"), name, is_dns1123_label(name))
            number = _int(port.get("port")) or 0
            errs.invalids(port_path.child("port"), number, is_valid_port_num(number))
            _enum(port.get("protocol"), port_path.child("protocol"), _PROTOCOLS, errs)


# ---------------------------------------------------------------------------
# Node, Namespace, ConfigMap, Event, Lease
# ---------------------------------------------------------------------------


def _validate_taints(taints: Any, path: Path, errs: ErrorList) -> None:
    seen: set[tuple[str, str]] = set()
    for i, taint in _dicts(taints):
        taint_path, key, effect = path.index(i), _str(taint.get("key")), _str(taint.get("effect"))
        _validate_label_name(key, taint_path.child("key"), errs)
        reasons = is_valid_label_value(_str(taint.get("value")))
        if reasons:
            errs.invalid(taint_path.child("value"), _str(taint.get("value")), ";".join(reasons))
        _enum(effect, taint_path.child("effect"), _TAINT_EFFECTS, errs)
        if (key, effect) in seen:
            errs.duplicate(taint_path, GoLiteral(go_repr(taint)), "taints must be unique by key and effect pair")
        seen.add((key, effect))


def _validate_node(obj: dict[str, Any], errs: ErrorList) -> None:
    spec, status = _map(obj.get("spec")), _map(obj.get("status"))
    _validate_taints(spec.get("taints"), Path("spec", "taints"), errs)
    for key in ("capacity", "allocatable"):
        for name, value in _map(status.get(key)).items():
            _validate_resource_quantity(_str(name), value, Path("status", key, _str(name)), errs)
    cidrs = _strs(spec.get("podCIDRs"))
    path = Path("spec", "podCIDRs")
    results = [_validate_cidr(cidr, path.index(i), errs) for i, cidr in enumerate(cidrs)]
    valid = all(results)
    if valid and len(cidrs) > 1:
        versions = {ipaddress.ip_network(c, strict=False).version for c in cidrs}
        if len(cidrs) > 2 or len(versions) != len(cidrs):
            errs.invalid(path, cidrs, "may specify no more than one CIDR for each IP family")


def _validate_node_update(obj: dict[str, Any], old: dict[str, Any], errs: ErrorList) -> None:
    """A podCIDR and a providerID may be set once, never changed."""
    spec, old_spec = _map(obj.get("spec")), _map(old.get("spec"))
    old_cidrs = _strs(old_spec.get("podCIDRs")) or ([_str(old_spec["podCIDR"])] if old_spec.get("podCIDR") else [])
    new_cidrs = _strs(spec.get("podCIDRs")) or ([_str(spec["podCIDR"])] if spec.get("podCIDR") else [])
    if old_cidrs and old_cidrs != new_cidrs:
        errs.forbidden(Path("spec", "podCIDRs"), 'node updates may not change podCIDR except from "" to valid')
    old_provider = _str(old_spec.get("providerID"))
    if old_provider and old_provider != _str(spec.get("providerID")):
        errs.forbidden(Path("spec", "providerID"), 'node updates may not change providerID except from "" to valid')


def _validate_namespace(obj: dict[str, Any], errs: ErrorList) -> None:
    path = Path("spec", "finalizers")
    for name in _strs(_map(obj.get("spec")).get("finalizers")):
        errs.invalids(path, name, is_qualified_name(name))
        if "/" not in name and name not in _STANDARD_FINALIZERS:
            errs.invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified")


_MAX_CONFIG_MAP_SIZE = 1024 * 1024


def _validate_config_map(obj: dict[str, Any], errs: ErrorList) -> None:
    data, binary = _map(obj.get("data")), _map(obj.get("binaryData"))
    total = 0
    for key, value in data.items():
        errs.invalids(Path("data").key(_str(key)), key, is_config_map_key(_str(key)))
        if key in binary:
            errs.invalid(Path("data").key(_str(key)), key, "duplicate of key present in binaryData")
        total += _blen(_str(value))
    for key, value in binary.items():
        errs.invalids(Path("binaryData").key(_str(key)), key, is_config_map_key(_str(key)))
        total += len(_str(value)) * 3 // 4
    if total > _MAX_CONFIG_MAP_SIZE:
        errs.too_long("[]", _MAX_CONFIG_MAP_SIZE)


def _validate_config_map_update(obj: dict[str, Any], old: dict[str, Any], errs: ErrorList) -> None:
    if old.get("immutable") is not True:
        return
    if obj.get("immutable") is not True:
        errs.forbidden("immutable", "field is immutable when `immutable` is set")
    for key in ("data", "binaryData"):
        if _prune(obj.get(key)) != _prune(old.get(key)):
            errs.forbidden(key, "field is immutable when `immutable` is set")


def _validate_event(obj: dict[str, Any], errs: ErrorList) -> None:
    """``legacyValidateEvent``: the core/v1 rules, paths as Kubernetes names them."""
    namespace = _str(_map(obj.get("metadata")).get("namespace"))
    involved = _str(_map(obj.get("involvedObject")).get("namespace"))
    mismatch = "does not match event.namespace"
    if not _is_set(obj.get("eventTime")):
        if (not involved and namespace not in ("", "default")) or (involved and namespace != involved):
            errs.invalid(Path("involvedObject", "namespace"), involved, mismatch)
    else:
        if not involved and namespace not in ("default", "kube-system"):
            errs.invalid(Path("involvedObject", "namespace"), involved, mismatch)
        _validate_reported_event(obj, errs)
    if namespace:
        errs.invalids(Path("namespace"), namespace, is_dns1123_subdomain(namespace))


def _validate_reported_event(obj: dict[str, Any], errs: ErrorList) -> None:
    controller = _str(obj.get("reportingComponent"))
    if not controller:
        errs.required(Path("reportingController"))
    errs.invalids(Path("reportingController"), controller, is_qualified_name(controller))
    for key, json_key, limit in (
        ("reportingInstance", "reportingInstance", 128),
        ("action", "action", 128),
        ("reason", "reason", 128),
    ):
        value = _str(obj.get(json_key))
        if not value:
            errs.required(Path(key))
        if len(value) > limit:
            errs.invalid(Path(key), "", f"can have at most {limit} characters")
    if len(_str(obj.get("message"))) > 1024:
        errs.invalid(Path("message"), "", "can have at most 1024 characters")


def _validate_lease(obj: dict[str, Any], errs: ErrorList) -> None:
    spec, path = _map(obj.get("spec")), Path("spec")
    duration = _int(spec.get("leaseDurationSeconds"))
    if duration is not None and duration <= 0:
        errs.invalid(path.child("leaseDurationSeconds"), duration, "must be greater than 0")
    transitions = _int(spec.get("leaseTransitions"))
    if transitions is not None and transitions < 0:
        errs.invalid(path.child("leaseTransitions"), transitions, IS_NEGATIVE)
    strategy = _str(spec.get("strategy"))
    if strategy and "/" not in strategy and strategy != "OldestEmulationVersion":
        errs.not_supported(path.child("strategy", "strategy"), strategy, ("OldestEmulationVersion",))
    elif strategy:
        errs.invalids(path.child("strategy", "strategy"), strategy, is_qualified_name(strategy))
    if _is_set(spec.get("preferredHolder")) and not strategy:
        errs.forbidden(path.child("preferredHolder"), "may only be specified if `strategy` is defined")


# ---------------------------------------------------------------------------
# Pod updates
# ---------------------------------------------------------------------------

_UPDATABLE_POD_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)


def _go_field(name: str) -> str:
    return name[:1].upper() + name[1:]


def _diff_lines(old: Any, new: Any, where: str) -> Iterator[str]:
    """``- field: old`` / ``+ field: new`` lines, Go field names, like the
    ``cmp.Diff`` Kubernetes appends to the message."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            yield from _diff_lines(old.get(key), new.get(key), f"{where}.{_go_field(key)}" if where else _go_field(key))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (old_item, new_item) in enumerate(zip(old, new, strict=True)):
            yield from _diff_lines(old_item, new_item, f"{where}[{i}]")
    elif old != new:
        if old is not None:
            yield f"- \t{where}: {go_repr(old)},"
        if new is not None:
            yield f"+ \t{where}: {go_repr(new)},"


def _pod_spec_diff(old: Any, new: Any) -> str:
    return "\n".join(["  core.PodSpec{", *_diff_lines(old, new, ""), "  }"])


def _same_toleration(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("key", "operator", "value", "effect")
    return all(_str(old.get(k)) == _str(new.get(k)) for k in keys)


def _validate_active_deadline_update(
    spec: dict[str, Any], old_spec: dict[str, Any], path: Path, errs: ErrorList
) -> None:
    """``activeDeadlineSeconds`` may be set, or lowered, never raised or removed."""
    new, old = _int(spec.get("activeDeadlineSeconds")), _int(old_spec.get("activeDeadlineSeconds"))
    if new is not None:
        if not 0 <= new <= _MAX_INT32:
            errs.invalid(path, new, inclusive_range_error(0, _MAX_INT32))
        elif old is not None and old < new:
            errs.invalid(path, new, "must be less than or equal to previous value")
    elif old is not None:
        errs.invalid(path, None, "must not update from a positive integer to nil value")


def _munged_pod_spec(spec: dict[str, Any], old_spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with every field a pod update may change put back to ``old_spec``'s."""
    munged = copy.deepcopy(spec)
    for key in ("containers", "initContainers"):
        for (_, container), (_, old_container) in zip(_dicts(munged.get(key)), _dicts(old_spec.get(key)), strict=False):
            container["image"] = old_container.get("image")
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        munged.pop(key, None)
        if key in old_spec:
            munged[key] = copy.deepcopy(old_spec[key])
    old_grace = _int(old_spec.get("terminationGracePeriodSeconds"))
    if old_grace is not None and old_grace < 0 and _int(munged.get("terminationGracePeriodSeconds")) == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    return munged


def _validate_pod_update(obj: dict[str, Any], old: dict[str, Any], errs: ErrorList) -> None:
    """``ValidatePodUpdate``: a pod's spec is fixed but for a few fields."""
    spec, old_spec, path = _map(obj.get("spec")), _map(old.get("spec")), Path("spec")
    for key in ("containers", "initContainers"):
        if len(list(_dicts(spec.get(key)))) != len(list(_dicts(old_spec.get(key)))):
            errs.forbidden(path.child(key), "pod updates may not add or remove containers")
            return
    _validate_active_deadline_update(spec, old_spec, path.child("activeDeadlineSeconds"), errs)
    new_tolerations = [t for _, t in _dicts(spec.get("tolerations"))]
    for _, old_toleration in _dicts(old_spec.get("tolerations")):
        if not any(_same_toleration(old_toleration, t) for t in new_tolerations):
            errs.forbidden(
                path.child("tolerations"), "existing toleration can not be modified except its tolerationSeconds"
            )
            break
    munged, before = _prune(_munged_pod_spec(spec, old_spec)), _prune(old_spec)
    if munged != before:
        detail = "pod updates may not change fields other than " + ",".join(_UPDATABLE_POD_SPEC_FIELDS)
        errs.forbidden(path, detail + "\n" + _pod_spec_diff(before, munged))


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------

Validator = Callable[[dict[str, Any], ErrorList], None]
UpdateValidator = Callable[[dict[str, Any], dict[str, Any], ErrorList], None]


@dataclass(frozen=True, slots=True)
class _KindRules:
    """How one kind is validated."""

    meta: _MetaRules
    validate: Validator
    validate_update: UpdateValidator | None = None


def _rules(kind: str, name_fn: NameFn, validator: Validator, update: UpdateValidator | None = None) -> _KindRules:
    info = lookup_kind(kind)
    namespaced = info.namespaced if info else True
    return _KindRules(_MetaRules(name_fn, namespaced, kube_finalizers=kind != "Lease"), validator, update)


_KIND_RULES: dict[str, _KindRules] = {
    "Pod": _rules("Pod", name_is_dns_subdomain, _validate_pod, _validate_pod_update),
    "ReplicaSet": _rules("ReplicaSet", name_is_dns_subdomain, _validate_replica_set, _validate_selector_immutable),
    "Deployment": _rules("Deployment", name_is_dns_subdomain, _validate_deployment, _validate_selector_immutable),
    "Service": _rules("Service", name_is_dns1035_label, _validate_service, _validate_service_update),
    "Endpoints": _rules("Endpoints", name_is_dns_subdomain, _validate_endpoints),
    "Node": _rules("Node", name_is_dns_subdomain, _validate_node, _validate_node_update),
    "Namespace": _rules("Namespace", name_is_dns_label, _validate_namespace),
    "ConfigMap": _rules("ConfigMap", name_is_dns_subdomain, _validate_config_map, _validate_config_map_update),
    "Event": _rules("Event", name_is_dns_subdomain, _validate_event),
    "Lease": _rules("Lease", name_is_dns_subdomain, _validate_lease),
}


def _not_registered(kind: str, api_version: str) -> errors.ApiError:
    return errors.bad_request(
        f'no kind "{kind}" is registered for version "{api_version}" in scheme "pkg/api/legacyscheme/scheme.go:30"'
    )


def check_schema(obj: dict[str, Any]) -> None:
    """Decode ``obj`` strictly, as the apiserver does before anything else.

    Raises a ``400 BadRequest`` :class:`~kemu.api.errors.ApiError` for an
    unknown kind, a value of the wrong type (the first one, as Go's decoder
    reports it) or unknown fields (all of them, in document order)::

        Deployment in version "v1" cannot be handled as a Deployment:
        strict decoding error: unknown field "spec.replica"
    """
    if not isinstance(obj, dict):
        raise errors.bad_request(
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json, application/yaml, application/vnd.kubernetes.protobuf"
        )
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if not isinstance(kind, str) or not kind:
        raise errors.bad_request(f"Object 'Kind' is missing in '{json.dumps(obj, separators=(',', ':'), default=str)}'")
    info, top = lookup_kind(kind), schema.schema_for(kind)
    if info is None or top is None or (api_version is not None and api_version != info.api_version):
        raise _not_registered(kind, _str(api_version))
    problems = schema.check(obj, top)
    prefix = f'{kind} in version "{info.version}" cannot be handled as a {kind}: '
    if problems.type_error is not None:
        cause = errors.Cause(problems.type_error_field, "FieldValueTypeInvalid", problems.type_error)
        raise errors.ApiError(errors.status_dict(400, "BadRequest", prefix + problems.type_error, causes=[cause]))
    if problems.unknown_fields:
        unknown = ", ".join(f'unknown field "{path}"' for path in problems.unknown_fields)
        raise errors.bad_request(prefix + "strict decoding error: " + unknown)


def validate(obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
    """Validate ``obj`` as created, or as an update of ``old``.

    Raises ``errors.invalid(kind, name, causes)`` (``422 Invalid``) listing
    every problem found. Accepts objects with or without what the store sets
    (``uid``, ``resourceVersion``, ``creationTimestamp``) and without status.
    """
    kind = obj.get("kind")
    rules = _KIND_RULES.get(kind) if isinstance(kind, str) else None
    if rules is None:
        raise _not_registered(_str(kind), _str(obj.get("apiVersion")))
    errs = ErrorList()
    meta = _map(obj.get("metadata"))
    if old is not None:
        _validate_object_meta_update(meta, _map(old.get("metadata")), errs)
    _validate_object_meta(meta, rules.meta, errs)
    rules.validate(obj, errs)
    if old is not None and rules.validate_update is not None:
        rules.validate_update(obj, old, errs)
    if errs:
        raise errors.invalid(_str(kind), _str(meta.get("name")), errs.causes())
