"""Defaults of Secret, PriorityClass and the RBAC bindings, merged into
:mod:`kemu.api.defaults`'s table when this module is imported (which
:mod:`kemu.api` does first thing).

A Secret's ``stringData`` is folded into ``data`` here, which is where the
apiserver does it (the v1 -> internal conversion): every key of
``stringData`` overwrites the same key of ``data``, base64-encoded, and
``stringData`` itself is never stored nor returned. Because defaulting runs
on every create, update and patch, a ``kubectl apply`` whose manifest has
``stringData`` writes the values every time, as on a real cluster.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from kemu.api.defaults import _DEFAULTERS

__all__ = ["OBJECT_DEFAULTERS", "fold_string_data"]

_RBAC_GROUP = "rbac.authorization.k8s.io"


def fold_string_data(secret: dict[str, Any]) -> None:
    """Move ``stringData`` into ``data`` (base64), as the apiserver's conversion does.

    >>> s = {"data": {"a": "eA=="}, "stringData": {"a": "y", "b": "z"}}
    >>> fold_string_data(s); s
    {'data': {'a': 'eQ==', 'b': 'eg=='}}
    """
    string_data = secret.pop("stringData", None)
    if not isinstance(string_data, dict) or not string_data:
        return
    data = secret.get("data")
    if not isinstance(data, dict):
        data = secret["data"] = {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value if value is not None else "").encode()).decode()


def _default_secret(obj: dict[str, Any]) -> None:
    """``SetDefaults_Secret``: type ``Opaque``; then ``stringData`` folded in."""
    if obj.get("type") in (None, ""):
        obj["type"] = "Opaque"
    fold_string_data(obj)


def _default_priority_class(obj: dict[str, Any]) -> None:
    """``SetDefaults_PriorityClass``: preemption allowed unless said otherwise."""
    if obj.get("preemptionPolicy") in (None, ""):
        obj["preemptionPolicy"] = "PreemptLowerPriority"


def _default_binding(obj: dict[str, Any]) -> None:
    """``SetDefaults_Subject``: users and groups live in the RBAC group,
    service accounts in the core group; ``SetDefaults_RoleBinding`` likewise
    for ``roleRef.apiGroup``."""
    for subject in obj.get("subjects") or []:
        if isinstance(subject, dict) and subject.get("apiGroup") in (None, ""):
            if subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = _RBAC_GROUP
            elif subject.get("kind") == "ServiceAccount":
                subject["apiGroup"] = ""
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and ref.get("apiGroup") in (None, ""):
        ref["apiGroup"] = _RBAC_GROUP


OBJECT_DEFAULTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "Secret": _default_secret,
    "PriorityClass": _default_priority_class,
    "RoleBinding": _default_binding,
    "ClusterRoleBinding": _default_binding,
}
"""Kind -> defaulter, merged into :mod:`kemu.api.defaults`'s table."""

_DEFAULTERS.update(OBJECT_DEFAULTERS)
