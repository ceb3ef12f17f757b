"""Query parameters, read with the apiserver's rules.

kube-apiserver decodes a request's query into typed options (``ListOptions``,
``PodLogOptions`` ...) with Go's parsers; :class:`Query` gives the front
door's handlers the same reading, so a malformed value is a ``400`` in the
apiserver's words whichever handler reads it.
"""

from __future__ import annotations

from multidict import MultiMapping

from kemu.api import errors

__all__ = ["Query"]

_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


class Query:
    """Typed access to query parameters, with the apiserver's parsing rules
    (Go's ``strconv.ParseBool`` for booleans)."""

    def __init__(self, params: MultiMapping[str]):
        self.params = params

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value is None else str(value)

    def flag(self, name: str) -> bool:
        value = self.params.get(name)
        if value is None or value == "":
            return False
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise errors.bad_request(f'{name}: Invalid value: "{value}": not a boolean')

    def values(self, name: str) -> list[str]:
        """Every value of a repeated parameter (``command=sh&command=-c``)."""
        return [str(v) for v in self.params.getall(name, [])]

    def number(self, name: str) -> int | None:
        value = self.params.get(name)
        if value is None or value == "":
            return None
        try:
            number = int(value)
        except ValueError:
            raise errors.bad_request(f'{name}: Invalid value: "{value}": not an integer') from None
        if not -(1 << 63) <= number < (1 << 63):  # Go parses these as int64
            raise errors.bad_request(
                f'{name}: Invalid value: "{value:.40}": strconv.ParseInt: parsing "{value:.40}": value out of range'
            )
        return number

    def dry_run(self) -> bool:
        values = self.params.getall("dryRun", [])
        for value in values:
            if value != "All":
                raise errors.bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
        return bool(values)
