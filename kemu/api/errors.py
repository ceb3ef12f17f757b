"""Kubernetes ``Status`` errors.

Every error that crosses the wire is a ``metav1.Status`` dict, the same shape
a real apiserver writes::

    {"kind": "Status", "apiVersion": "v1", "metadata": {},
     "status": "Failure", "message": "...", "reason": "Invalid",
     "details": {"name": "web", "kind": "deployments",
                 "causes": [{"reason": "FieldValueInvalid",
                             "message": "Invalid value: -1: must be ...",
                             "field": "spec.replicas"}]},
     "code": 422}

:class:`ApiError` carries one such dict; the helpers below build the common
ones with the real apiserver's wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ApiError",
    "Cause",
    "status_dict",
    "bad_request",
    "not_found",
    "already_exists",
    "conflict",
    "invalid",
    "gone",
    "method_not_allowed",
    "internal_error",
    "too_large",
    "forbidden",
    "service_unavailable",
    "timeout",
]


@dataclass(frozen=True, slots=True)
class Cause:
    """One field error: ``field`` is the path (``spec.template.spec.containers[0].image``),
    ``reason`` Kubernetes' cause type (``FieldValueInvalid``, ``FieldValueRequired``,
    ``FieldValueNotSupported``, ``FieldValueDuplicate``, ``FieldValueForbidden``,
    ``FieldValueTooLong``, ``FieldValueTypeInvalid``), ``message`` the full text
    including the field, as Kubernetes prints it (``spec.replicas: Invalid value: -1: ...``)."""

    field: str
    reason: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def status_dict(
    code: int,
    reason: str,
    message: str,
    *,
    name: str | None = None,
    kind: str | None = None,
    group: str | None = None,
    causes: list[Cause] | None = None,
    retry_after: int | None = None,
) -> dict[str, Any]:
    """A ``Status`` dict for a failure."""
    details: dict[str, Any] = {}
    if name is not None:
        details["name"] = name
    if group:
        details["group"] = group
    if kind is not None:
        details["kind"] = kind
    if causes:
        details["causes"] = [c.to_dict() for c in causes]
    if retry_after is not None:
        details["retryAfterSeconds"] = retry_after
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        status["details"] = details
    return status


class ApiError(Exception):
    """An error with a Kubernetes ``Status``: raised by the store and handlers,
    carried over the wire, and raised again by the client."""

    status: dict[str, Any]

    def __init__(self, status: dict[str, Any]):
        super().__init__(status.get("message", ""))
        self.status = status

    @property
    def code(self) -> int:
        return int(self.status.get("code", 500))

    @property
    def reason(self) -> str:
        return str(self.status.get("reason", ""))

    @property
    def message(self) -> str:
        return str(self.status.get("message", ""))

    @property
    def causes(self) -> list[dict[str, str]]:
        return list(self.status.get("details", {}).get("causes", []))

    def __repr__(self) -> str:
        return f"ApiError({self.code} {self.reason}: {self.message})"


def _res(kind: str | None) -> str | None:
    # Status.details.kind is the resource's plural in a real apiserver ("pods").
    if kind is None:
        return None
    from kemu.api.kinds import lookup_kind

    info = lookup_kind(kind)
    return info.plural if info else kind.lower()


def _qualified(kind: str) -> str:
    from kemu.api.kinds import lookup_kind

    info = lookup_kind(kind)
    if info is None:
        return kind.lower()
    return f"{info.plural}.{info.group}" if info.group else info.plural


def bad_request(message: str) -> ApiError:
    return ApiError(status_dict(400, "BadRequest", message))


def not_found(kind: str, name: str) -> ApiError:
    return ApiError(
        status_dict(404, "NotFound", f'{_qualified(kind)} "{name}" not found', name=name, kind=_res(kind))
    )


def already_exists(kind: str, name: str) -> ApiError:
    return ApiError(
        status_dict(
            409, "AlreadyExists", f'{_qualified(kind)} "{name}" already exists', name=name, kind=_res(kind)
        )
    )


def conflict(kind: str, name: str, why: str) -> ApiError:
    return ApiError(
        status_dict(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {_qualified(kind)} "{name}": {why}',
            name=name,
            kind=_res(kind),
        )
    )


def invalid(kind: str, name: str, causes: list[Cause]) -> ApiError:
    """422 Invalid: ``Deployment.apps "web" is invalid: spec.replicas: Invalid value: ...``."""
    from kemu.api.kinds import lookup_kind

    info = lookup_kind(kind)
    qual = f"{kind}.{info.group}" if info and info.group else kind
    joined = ", ".join(c.message for c in causes)
    if len(causes) > 1:
        joined = "[" + joined + "]"
    return ApiError(
        status_dict(422, "Invalid", f'{qual} "{name}" is invalid: {joined}', name=name, kind=kind, causes=causes)
    )


def gone(message: str) -> ApiError:
    return ApiError(status_dict(410, "Expired", message))


def method_not_allowed(message: str) -> ApiError:
    return ApiError(status_dict(405, "MethodNotAllowed", message))


def forbidden(message: str, *, kind: str | None = None, name: str | None = None) -> ApiError:
    return ApiError(status_dict(403, "Forbidden", message, kind=_res(kind), name=name))


def internal_error(message: str) -> ApiError:
    return ApiError(status_dict(500, "InternalError", f"Internal error occurred: {message}"))


def too_large(message: str) -> ApiError:
    return ApiError(status_dict(413, "RequestEntityTooLarge", message))


def service_unavailable(message: str) -> ApiError:
    return ApiError(status_dict(503, "ServiceUnavailable", message))


def timeout(message: str) -> ApiError:
    return ApiError(status_dict(504, "Timeout", message))
