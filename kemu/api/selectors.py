"""Label selectors and field selectors, as the Kubernetes API defines them.

Label selectors
    A :class:`LabelSelector` is an AND of :class:`Requirement` s. It comes
    from one of three places, each with Kubernetes' own rules:

    - the string syntax of ``kubectl -l`` and ``?labelSelector=``
      (:meth:`LabelSelector.parse`): ``app=web,tier!=db,env in (a,b),
      env notin (c),!legacy,has``. The parser is a port of apimachinery's
      ``labels.Parse`` (same tokens, same error wording), so a user who typed
      a bad selector reads the message kubectl would print;
    - the API shape ``{matchLabels: {...}, matchExpressions: [...]}`` of a
      ReplicaSet's or Deployment's ``spec.selector``
      (:meth:`LabelSelector.from_dict`, which is
      ``metav1.LabelSelectorAsSelector``);
    - a plain label map such as a Service's ``spec.selector``
      (:meth:`LabelSelector.from_labels`).

    Two selectors are special and easy to confuse: :data:`Everything` (an
    empty selector, ``{}`` or ``""``) matches every object, while
    :data:`Nothing` (what a *missing* selector in an API object means)
    matches none. :func:`selector_matches` applies that rule to a raw
    ``selector`` field.

    An informer index can serve a selector from its equality terms:
    :meth:`LabelSelector.equality_terms` returns the labels that a match must
    carry with exactly one value (``app=web``, ``tier in (db)``); the other
    requirements are then checked with :meth:`LabelSelector.matches` on the
    candidates.

Field selectors
    A :class:`FieldSelector` (``metadata.name=x,spec.nodeName!=,
    status.phase=Running``) is an AND of ``=``/``==``/``!=`` terms over a
    small, per-kind set of fields (:func:`supported_fields`). Values compare
    as strings, a missing field reads as ``""``, booleans as
    ``"true"``/``"false"`` and numbers in decimal, as the apiserver's
    ``ToSelectableFields`` functions do (:func:`selectable_fields`).
    :meth:`FieldSelector.validate` rejects a field the kind does not support
    with the real apiserver's wording.

Everything here is pure and immutable; selectors are safe to share between
threads and to use as dict keys.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kemu.apimachinery import is_qualified_name, is_valid_label_value

__all__ = [
    "Operator",
    "Requirement",
    "LabelSelector",
    "Everything",
    "Nothing",
    "selector_matches",
    "validate_label_key",
    "validate_label_value",
    "FieldOperator",
    "FieldRequirement",
    "FieldSelector",
    "supported_fields",
    "selectable_fields",
    "field_value",
]


# -- label key and value validation ---------------------------------------
#
# One copy of apimachinery's rules (kemu.apimachinery), so a bad label key
# reads the same in a selector as in an object's metadata.labels.

validate_label_key = is_qualified_name
"""Problems with a label key (``[prefix/]name``, ``example.com/tier``); empty when valid."""
validate_label_value = is_valid_label_value
"""Problems with a label value; empty when valid (``""`` is valid)."""


def _invalid(path: str, value: Any, detail: str) -> str:
    shown = f'"{value}"' if isinstance(value, str) else json.dumps(value)
    prefix = f"{path}: " if path else ""
    return f"{prefix}Invalid value: {shown}: {detail}"


# -- requirements -----------------------------------------------------------


class Operator(str, enum.Enum):
    """A label requirement's operator; the values are apimachinery's ``selection.Operator``."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_SET_OPERATORS = (Operator.IN, Operator.NOT_IN)
_EXACT_OPERATORS = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS)
_UNARY_OPERATORS = (Operator.EXISTS, Operator.DOES_NOT_EXIST)
_NUMERIC_OPERATORS = (Operator.GREATER_THAN, Operator.LESS_THAN)


@dataclass(frozen=True, slots=True)
class Requirement:
    """One term of a label selector: ``key``, ``operator`` and the ``values``
    (sorted and de-duplicated; empty for Exists/DoesNotExist).

    Build it with :meth:`make`, which validates as ``labels.NewRequirement`` does.
    """

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    @classmethod
    def make(cls, key: str, operator: Operator | str, values: Iterable[str] = (), *, path: str = "") -> Requirement:
        """A validated requirement; raises ``ValueError`` naming the bad part.

        ``path`` prefixes the field paths in the message (``matchExpressions[0]``).
        """
        op = Operator(operator)
        vals: list[object] = list(values)  # from a manifest: check, do not trust, the type
        sub = f"{path}." if path else ""
        errors = [_invalid(f"{sub}key", key, "; ".join(e)) for e in [validate_label_key(key)] if e]
        if op in _SET_OPERATORS and not vals:
            errors.append(_invalid(f"{sub}values", vals, "for 'in', 'notin' operators, values set can't be empty"))
        elif op in _EXACT_OPERATORS and len(vals) != 1:
            errors.append(_invalid(f"{sub}values", vals, "exact-match compatibility requires one single value"))
        elif op in _UNARY_OPERATORS and vals:
            errors.append(_invalid(f"{sub}values", vals, "values set must be empty for exists and does not exist"))
        elif op in _NUMERIC_OPERATORS:
            if len(vals) != 1:
                errors.append(_invalid(f"{sub}values", vals, "for 'Gt', 'Lt' operators, exactly one value is required"))
            errors.extend(
                _invalid(f"{sub}values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer")
                for i, v in enumerate(vals)
                if not _is_int(v)
            )
        for i, value in enumerate(vals):
            if not isinstance(value, str):
                errors.append(_invalid(f"{sub}values[{i}]", value, "must be a string"))
            elif problems := validate_label_value(value):
                errors.append(_invalid(f"{sub}values[{i}][{key}]", value, "; ".join(problems)))
        if errors:
            raise ValueError(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
        return cls(key, op, tuple(sorted({v for v in vals if isinstance(v, str)})))  # all are, by now

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this term. A missing key satisfies
        ``!=``, ``notin`` and ``!key``, and nothing else."""
        op = self.operator
        if op is Operator.EXISTS:
            return self.key in labels
        if op is Operator.DOES_NOT_EXIST:
            return self.key not in labels
        value = labels.get(self.key)
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return value is not None and value in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return value is None or value not in self.values
        if value is None or not _is_int(value) or len(self.values) != 1 or not _is_int(self.values[0]):
            return False
        if op is Operator.GREATER_THAN:
            return int(value) > int(self.values[0])
        return int(value) < int(self.values[0])

    def to_string(self) -> str:
        """The string syntax: ``tier!=db``, ``env in (a,b)``, ``!legacy``."""
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        joined = ",".join(self.values)
        if op in _SET_OPERATORS:
            return f"{self.key} {op.value} ({joined})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{joined}"

    def exact_value(self) -> str | None:
        """The single value this term pins its key to (``=``, ``==``, or
        ``in`` with one value), or None."""
        if self.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN) and len(self.values) == 1:
            return self.values[0]
        return None

    def __str__(self) -> str:
        return self.to_string()


def _is_int(text: object) -> bool:
    return isinstance(text, str) and re.fullmatch(r"[+-]?\d+", text) is not None


# -- the string syntax ---------------------------------------------------------

_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_KEYWORDS = {
    ")": "CLOSE",
    ",": "COMMA",
    "!": "NOT",
    "==": "DOUBLE_EQUALS",
    "=": "EQUALS",
    ">": "GT",
    "in": "IN",
    "<": "LT",
    "!=": "NOT_EQUALS",
    "notin": "NOT_IN",
    "(": "OPEN",
}
_BINARY_WORDS = "in, notin, =, ==, !=, gt, lt"


def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens of a selector string, as ``(kind, literal)``, ending with ``("END", "")``."""
    tokens: list[tuple[str, str]] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= n:
            tokens.append(("END", ""))
            return tokens
        if text[pos] in _SPECIAL:
            # Longest run of special characters that is still an operator.
            buffer, best = "", None
            while pos < n and text[pos] in _SPECIAL:
                if buffer + text[pos] in _KEYWORDS:
                    buffer += text[pos]
                    best = buffer
                    pos += 1
                elif best is not None:
                    break
                else:
                    buffer += text[pos]
                    pos += 1
            if best is None:
                tokens.append(("ERROR", f"error expected: keyword found '{buffer}'"))
            else:
                tokens.append((_KEYWORDS[best], best))
            continue
        start = pos
        while pos < n and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
            pos += 1
        word = text[start:pos]
        tokens.append((_KEYWORDS.get(word, "ID"), word))


class _Parser:
    """A recursive-descent parser over :func:`_lex` tokens, after apimachinery's."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, *, values: bool = True) -> tuple[str, str]:
        return self._as_value(self.tokens[self.pos], values)

    def take(self, *, values: bool = True) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return self._as_value(token, values)

    @staticmethod
    def _as_value(token: tuple[str, str], values: bool) -> tuple[str, str]:
        # "in" and "notin" are ordinary words where a key or value is expected.
        if values and token[0] in ("IN", "NOT_IN"):
            return "ID", token[1]
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, literal = self.peek()
            if kind == "END":
                return requirements
            if kind not in ("ID", "NOT"):
                raise ValueError(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except ValueError as exc:
                raise ValueError(f"unable to parse requirement: {exc}") from None
            kind, literal = self.take()
            if kind == "END":
                return requirements
            if kind != "COMMA":
                raise ValueError(f"found '{literal}', expected: ',' or 'end of string'")
            kind, literal = self.peek()
            if kind not in ("ID", "NOT"):
                raise ValueError(f"found '{literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        operator: Operator | None = None
        kind, key = self.take()
        if kind == "NOT":
            operator = Operator.DOES_NOT_EXIST
            kind, key = self.take()
        if kind != "ID":
            raise ValueError(f"found '{key}', expected: identifier")
        if problems := validate_label_key(key):
            raise ValueError(_invalid("", key, "; ".join(problems)))
        if operator is Operator.DOES_NOT_EXIST or self.peek()[0] in ("END", "COMMA"):
            # A bare key; in "!key=value" the caller then trips over the "=".
            return Requirement.make(key, operator or Operator.EXISTS)
        operator = self.operator()
        values = self.value_set() if operator in _SET_OPERATORS else self.exact_value()
        return Requirement.make(key, operator, values)

    def operator(self) -> Operator:
        kind, literal = self.take(values=False)
        operators = {
            "IN": Operator.IN,
            "NOT_IN": Operator.NOT_IN,
            "EQUALS": Operator.EQUALS,
            "DOUBLE_EQUALS": Operator.DOUBLE_EQUALS,
            "NOT_EQUALS": Operator.NOT_EQUALS,
            "GT": Operator.GREATER_THAN,
            "LT": Operator.LESS_THAN,
        }
        if kind not in operators:
            raise ValueError(f"found '{literal}', expected: {_BINARY_WORDS}")
        return operators[kind]

    def value_set(self) -> list[str]:
        kind, literal = self.take()
        if kind != "OPEN":
            raise ValueError(f"found '{literal}' expected: '('")
        kind, literal = self.peek()
        if kind == "CLOSE":  # "()" is the set holding the empty string
            self.take()
            return [""]
        if kind not in ("ID", "COMMA"):
            raise ValueError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self.identifiers()
        kind, literal = self.take()
        if kind != "CLOSE":
            raise ValueError(f"found '{literal}', expected: ')'")
        return values

    def identifiers(self) -> list[str]:
        values: list[str] = []
        while True:
            kind, literal = self.take()
            if kind == "ID":
                values.append(literal)
                following, text = self.peek()
                if following == "COMMA":
                    continue
                if following == "CLOSE":
                    return values
                raise ValueError(f"found '{text}', expected: ',' or ')'")
            if kind == "COMMA":  # empty values: "(,a)", "(a,)", "(a,,b)"
                if not values or self.peek()[0] in ("CLOSE", "COMMA"):
                    values.append("")
                if self.peek()[0] == "CLOSE":
                    return values
                continue
            raise ValueError(f"found '{literal}', expected: ',', or identifier")

    def exact_value(self) -> list[str]:
        kind, _ = self.peek()
        if kind in ("END", "COMMA"):
            return [""]
        kind, literal = self.take()
        if kind == "ID":
            return [literal]
        raise ValueError(f"found '{literal}', expected: identifier")


# -- label selectors --------------------------------------------------------------

_SELECTOR_FIELDS = frozenset({"matchLabels", "matchExpressions"})
_API_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """An AND of label requirements (sorted by key), or the selector that
    matches nothing.

    ``LabelSelector()`` is :data:`Everything`; ``LabelSelector(nothing=True)``
    is :data:`Nothing`.
    """

    requirements: tuple[Requirement, ...] = ()
    """The terms, sorted by key (stable), as apimachinery keeps them."""
    nothing: bool = field(default=False, kw_only=True)
    """True for the selector that matches no object at all."""

    # -- construction --------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """The selector written in ``text`` (``"app=web,env in (a,b),!legacy"``).

        An empty or blank string selects everything. Bad syntax raises
        ``ValueError`` with apimachinery's message, e.g. ``found ')', expected:
        !, identifier, or 'end of string'`` or ``unable to parse requirement:
        found '', expected: ',' or ')'``.
        """
        if not isinstance(text, str):
            raise ValueError(f"a label selector must be a string, not {type(text).__name__}")
        return cls._sorted(_Parser(text).parse())

    @classmethod
    def from_dict(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """The selector an API object's ``selector`` field means
        (``metav1.LabelSelectorAsSelector``): None matches nothing, ``{}``
        matches everything, otherwise ``matchLabels`` AND ``matchExpressions``.

        Raises ``ValueError`` for an unknown operator, In/NotIn without
        values, Exists/DoesNotExist with values, or a bad key or value.
        """
        if selector is None:
            return Nothing
        if not isinstance(selector, Mapping):
            raise ValueError(f"a label selector must be an object, not {type(selector).__name__}")
        unknown = sorted(set(selector) - _SELECTOR_FIELDS)
        if unknown:
            raise ValueError(f'unknown field "{unknown[0]}" in a label selector (want matchLabels, matchExpressions)')
        match_labels = selector.get("matchLabels") or {}
        expressions = selector.get("matchExpressions") or []
        if not isinstance(match_labels, Mapping):
            raise ValueError(_invalid("matchLabels", match_labels, "must be an object of label keys to values"))
        if not isinstance(expressions, list):
            raise ValueError(_invalid("matchExpressions", expressions, "must be a list"))
        requirements = [
            Requirement.make(key, Operator.EQUALS, [value], path=f"matchLabels[{key}]")
            for key, value in match_labels.items()
        ]
        requirements.extend(_expression(expr, f"matchExpressions[{i}]") for i, expr in enumerate(expressions))
        return cls._sorted(requirements)

    @classmethod
    def from_labels(cls, labels: Mapping[str, str] | None) -> LabelSelector:
        """The selector matching exactly these labels (``labels.SelectorFromSet``),
        as a Service's ``spec.selector`` map means. None or ``{}`` selects
        everything, as in apimachinery; a Service with no selector is a
        decision for its controller, not for this function."""
        if not labels:
            return Everything
        return cls._sorted(Requirement.make(k, Operator.EQUALS, [v]) for k, v in labels.items())

    @classmethod
    def _sorted(cls, requirements: Iterable[Requirement]) -> LabelSelector:
        return cls(tuple(sorted(requirements, key=lambda r: r.key)))

    # -- use -----------------------------------------------------------

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (it is :data:`Everything`)."""
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these ``labels`` (None means none) is selected."""
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The one value a selected object must have for label ``key``, or None."""
        for requirement in self.requirements:
            if requirement.key == key:
                return requirement.exact_value()
        return None

    def equality_terms(self) -> dict[str, str]:
        """The labels every selected object carries with exactly one value
        (from ``k=v``, ``k==v`` and ``k in (v)``), for an index lookup."""
        terms: dict[str, str] = {}
        for requirement in self.requirements:
            value = requirement.exact_value()
            if value is not None:
                terms.setdefault(requirement.key, value)
        return terms

    def to_string(self) -> str:
        """The string syntax, terms sorted by key: ``app=web,env in (a,b)``.
        Both Everything and Nothing print as ``""``, as in apimachinery."""
        return ",".join(r.to_string() for r in self.requirements)

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        if self.nothing:
            return "LabelSelector(nothing=True)"
        return f"LabelSelector({self.to_string()!r})"


def _expression(expr: Any, path: str) -> Requirement:
    if not isinstance(expr, Mapping):
        raise ValueError(_invalid(path, expr, "must be an object with key, operator and values"))
    operator = expr.get("operator")
    if operator not in _API_OPERATORS:
        raise ValueError(f'{path}.operator: "{operator}" is not a valid label selector operator')
    values = expr.get("values") or []
    if not isinstance(values, list):
        raise ValueError(_invalid(f"{path}.values", values, "must be a list of strings"))
    return Requirement.make(str(expr.get("key", "")), _API_OPERATORS[operator], values, path=path)


Everything = LabelSelector()
"""The selector that matches every object (``{}`` or ``""``)."""

Nothing = LabelSelector(nothing=True)
"""The selector that matches no object (a missing ``selector`` field)."""


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Whether ``labels`` match an API ``selector`` field
    (``{matchLabels, matchExpressions}``): None matches nothing, ``{}``
    everything. Raises ``ValueError`` for an invalid selector."""
    return LabelSelector.from_dict(selector).matches(labels)


# -- field selectors -------------------------------------------------------------


class FieldOperator(str, enum.Enum):
    """A field selector term's operator."""

    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="


# Searched in this order at each position, so "a!=b" is "a" != "b" and
# "a==b" is not "a" = "=b".
_FIELD_OPERATORS = (FieldOperator.NOT_EQUALS, FieldOperator.DOUBLE_EQUALS, FieldOperator.EQUALS)


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One term of a field selector: ``field`` ``operator`` ``value``."""

    field: str
    operator: FieldOperator
    value: str

    def matches(self, value: str) -> bool:
        """Whether a field whose (string) value is ``value`` satisfies this term."""
        equal = value == self.value
        return not equal if self.operator is FieldOperator.NOT_EQUALS else equal

    def to_string(self) -> str:
        return f"{self.field}{self.operator.value}{_escape_field_value(self.value)}"

    def __str__(self) -> str:
        return self.to_string()


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """An AND of field terms (sorted by text, as apimachinery does); empty selects everything."""

    requirements: tuple[FieldRequirement, ...] = ()
    """The terms."""

    @classmethod
    def parse(cls, text: str) -> FieldSelector:
        """The selector written in ``text``: comma-separated ``field=value``,
        ``field==value`` or ``field!=value`` terms; ``\\,``, ``\\=`` and
        ``\\\\`` escape those characters in a value. An empty string selects
        everything. Bad syntax raises ``ValueError``."""
        if not isinstance(text, str):
            raise ValueError(f"a field selector must be a string, not {type(text).__name__}")
        requirements = []
        for term in sorted(_split_terms(text)):
            if not term:
                continue
            split = _split_term(term)
            if split is None:
                raise ValueError(f"invalid selector: '{text}'; can't understand '{term}'")
            lhs, operator, rhs = split
            requirements.append(FieldRequirement(lhs.strip(), operator, _unescape_field_value(rhs)))
        return cls(tuple(requirements))

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> FieldSelector:
        """The selector requiring each field to equal its value (``fields.SelectorFromSet``)."""
        terms = (FieldRequirement(f, FieldOperator.EQUALS, str(v)) for f, v in fields.items())
        return cls(tuple(sorted(terms, key=lambda r: r.to_string())))

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything."""
        return not self.requirements

    def fields(self) -> frozenset[str]:
        """The field paths the selector reads (``{"spec.nodeName", "status.phase"}``)."""
        return frozenset(r.field for r in self.requirements)

    def validate(self, kind: str) -> FieldSelector:
        """This selector, checked against the fields ``kind`` supports, with
        legacy names converted (a Pod's ``spec.host`` is ``spec.nodeName``).

        Raises ``ValueError`` worded as the apiserver's: ``field label not
        supported: spec.foo`` for kinds with their own field list, and
        ``"spec.foo" is not a known field selector: only "metadata.name",
        "metadata.namespace"`` for the others.
        """
        supported = supported_fields(kind)
        converted = []
        for requirement in self.requirements:
            name = _FIELD_ALIASES.get((kind, requirement.field), requirement.field)
            if name not in supported:
                if kind in _KIND_FIELDS:
                    raise ValueError(f"field label not supported: {requirement.field}")
                raise ValueError(
                    f'"{requirement.field}" is not a known field selector: only "metadata.name", "metadata.namespace"'
                )
            converted.append(FieldRequirement(name, requirement.operator, requirement.value))
        return FieldSelector(tuple(converted))

    def matches(self, obj: Mapping[str, Any], *, kind: str | None = None) -> bool:
        """Whether ``obj`` is selected. Field values are read as
        :func:`field_value` reads them; ``kind`` defaults to ``obj["kind"]``."""
        kind = kind or str(obj.get("kind", ""))
        return all(r.matches(field_value(obj, r.field, kind=kind)) for r in self.requirements)

    def requires_exact_match(self, field_path: str) -> str | None:
        """The one value a selected object must have at ``field_path``
        (``spec.nodeName=node-1`` gives ``"node-1"``), or None; for indexes."""
        for requirement in self.requirements:
            if requirement.field == field_path and requirement.operator is not FieldOperator.NOT_EQUALS:
                return requirement.value
        return None

    def to_string(self) -> str:
        return ",".join(r.to_string() for r in self.requirements)

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return f"FieldSelector({self.to_string()!r})"


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not escaped with a backslash."""
    terms, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == ",":
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return terms


def _split_term(term: str) -> tuple[str, FieldOperator, str] | None:
    for i in range(len(term)):
        for operator in _FIELD_OPERATORS:
            if term.startswith(operator.value, i):
                return term[:i], operator, term[i + len(operator.value) :]
    return None


def _unescape_field_value(value: str) -> str:
    out, escaped = [], False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise ValueError(f"invalid field selector: invalid escape sequence: \\{char}")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            raise ValueError(f"invalid field selector: unescaped character in value: {char}")
        else:
            out.append(char)
    if escaped:
        raise ValueError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


# -- which fields each kind supports, and how they read -----------------------------

_METADATA_FIELDS = frozenset({"metadata.name", "metadata.namespace"})

# Kinds with their own field label conversion in the apiserver
# (pkg/apis/core/v1/conversion.go, pkg/apis/apps/v1/conversion.go). Note that
# the cluster-scoped Node and Namespace do not accept metadata.namespace.
_KIND_FIELDS: dict[str, frozenset[str]] = {
    "Pod": _METADATA_FIELDS
    | {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
    },
    "Node": frozenset({"metadata.name", "spec.unschedulable"}),
    "Namespace": frozenset({"metadata.name", "status.phase"}),
    "Event": _METADATA_FIELDS
    | {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "Service": _METADATA_FIELDS | {"spec.clusterIP", "spec.type"},
    "Secret": _METADATA_FIELDS | {"type"},
    "ReplicaSet": _METADATA_FIELDS | {"status.replicas"},
    "ReplicationController": _METADATA_FIELDS | {"status.replicas"},
}

_FIELD_ALIASES: dict[tuple[str, str], str] = {("Pod", "spec.host"): "spec.nodeName"}


def supported_fields(kind: str) -> frozenset[str]:
    """The field paths a field selector may use for ``kind``; every other
    kind (Deployment, ConfigMap, Lease ...) supports ``metadata.name`` and
    ``metadata.namespace`` only."""
    return _KIND_FIELDS.get(kind, _METADATA_FIELDS)


def _lookup(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _as_field_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _pod_ip(obj: Mapping[str, Any]) -> Any:
    ips = _lookup(obj, "status.podIPs")
    if isinstance(ips, list) and ips and isinstance(ips[0], Mapping):
        return ips[0].get("ip")
    return _lookup(obj, "status.podIP")


def _pod_ips(obj: Mapping[str, Any]) -> Any:
    ips = _lookup(obj, "status.podIPs")
    if isinstance(ips, list):
        return ",".join(str(i.get("ip", "")) for i in ips if isinstance(i, Mapping))
    return _lookup(obj, "status.podIP")


# Fields that do not read straight from their path, as in the apiserver's
# ToSelectableFields: booleans and counts that default to false/0, an Event's
# "source" (source.component, else reportingController), and so on.
_SPECIAL_FIELDS: dict[tuple[str, str], Callable[[Mapping[str, Any]], Any]] = {
    ("Pod", "spec.hostNetwork"): lambda o: bool(_lookup(o, "spec.hostNetwork")),
    ("Pod", "status.podIP"): _pod_ip,
    ("Pod", "status.podIPs"): _pod_ips,
    ("Node", "spec.unschedulable"): lambda o: bool(_lookup(o, "spec.unschedulable")),
    ("ReplicaSet", "status.replicas"): lambda o: _lookup(o, "status.replicas") or 0,
    ("ReplicationController", "status.replicas"): lambda o: _lookup(o, "status.replicas") or 0,
    ("Event", "source"): lambda o: _lookup(o, "source.component") or o.get("reportingController"),
    ("Event", "reportingComponent"): lambda o: o.get("reportingController"),
}


def field_value(obj: Mapping[str, Any], path: str, *, kind: str | None = None) -> str:
    """The string a field selector compares for ``path`` in ``obj``: a
    missing field is ``""``, booleans ``"true"``/``"false"``, numbers decimal."""
    kind = kind or str(obj.get("kind", ""))
    special = _SPECIAL_FIELDS.get((kind, path))
    return _as_field_string(special(obj) if special else _lookup(obj, path))


def selectable_fields(obj: Mapping[str, Any], *, kind: str | None = None) -> dict[str, str]:
    """Every selectable field of ``obj`` with its value, the apiserver's
    ``ToSelectableFields``: what a watch publisher or an index keys on."""
    kind = kind or str(obj.get("kind", ""))
    return {path: field_value(obj, path, kind=kind) for path in sorted(supported_fields(kind))}
