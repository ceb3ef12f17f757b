"""The shapes of API objects, as the type checker sees them.

An API object is a JSON tree: :data:`Obj`, one alias for the whole project
(it was written out forty times before). Its parts that the code reads most
have :class:`~typing.TypedDict` s, so a misspelt key or a wrong type is a type
error instead of a ``KeyError`` in production: :class:`ObjectMeta`,
:class:`OwnerReference`, :class:`Condition` and the watch events
(:class:`WatchEventBody`).

The trees come from the wire and the store, where they are plain dicts; the
accessors below (:func:`meta`, :func:`owner_references`, :func:`conditions`,
:func:`find_condition`) read them into these shapes without copying, and
tolerate the missing or ``null`` parts Kubernetes allows (an object with no
``ownerReferences`` has none, not a crash).

This module depends on the standard library only: every layer, the wire
included, may import it.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias, TypedDict, cast

__all__ = [
    "JSON",
    "Obj",
    "Condition",
    "ObjectMeta",
    "OwnerReference",
    "WatchEventBody",
    "WatchEventType",
    "conditions",
    "controller_of",
    "find_condition",
    "meta",
    "owner_references",
]

Obj: TypeAlias = dict[str, Any]
"""An API object, or any JSON map inside one."""

JSON: TypeAlias = "dict[str, JSON] | list[JSON] | str | int | float | bool | None"
"""Any JSON value."""

WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]
"""The ``type`` of a Kubernetes watch event (kemu's wire carries the first three)."""


class OwnerReference(TypedDict, total=False):
    """``metadata.ownerReferences[]``: who owns the object, and whether it is
    the managing controller."""

    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool
    blockOwnerDeletion: bool


class ObjectMeta(TypedDict, total=False):
    """``metadata`` of every object."""

    name: str
    generateName: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    deletionGracePeriodSeconds: int
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]
    finalizers: list[str]


class Condition(TypedDict, total=False):
    """One entry of ``status.conditions`` (Pod, Node, Deployment, ReplicaSet,
    Job...). Each kind uses a subset of the times."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str
    lastTransitionTime: str
    lastHeartbeatTime: str
    lastProbeTime: str
    lastUpdateTime: str
    observedGeneration: int


class WatchEventBody(TypedDict):
    """One event of a Kubernetes watch stream: ``{"type": ..., "object": ...}``."""

    type: WatchEventType
    object: Obj


def meta(obj: Obj) -> ObjectMeta:
    """``obj.metadata`` (an empty one when missing or null)."""
    return cast(ObjectMeta, obj.get("metadata") or {})


def owner_references(obj: Obj) -> list[OwnerReference]:
    """``obj.metadata.ownerReferences`` (none when missing or null)."""
    return meta(obj).get("ownerReferences") or []


def controller_of(obj: Obj) -> OwnerReference | None:
    """The owner reference with ``controller: true``, as apimachinery's
    ``GetControllerOf``; None when nothing manages the object."""
    for ref in owner_references(obj):
        if ref.get("controller") is True:
            return ref
    return None


def conditions(obj: Obj) -> list[Condition]:
    """``obj.status.conditions`` (none when missing or null)."""
    return cast(list[Condition], (obj.get("status") or {}).get("conditions") or [])


def find_condition(obj: Obj, ctype: str) -> Condition | None:
    """The condition of type ``ctype`` in ``obj.status``, or None."""
    for cond in conditions(obj):
        if cond.get("type") == ctype:
            return cond
    return None
