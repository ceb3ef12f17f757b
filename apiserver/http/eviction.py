"""``pods/<name>/eviction``: what ``kubectl drain`` asks for each pod.

The Eviction API (``policy/v1 Eviction``, ``registry/core/pod/storage/eviction.go``)
is a delete with a reason: before the pod is deleted with the eviction's
``deleteOptions``, it gets the ``DisruptionTarget`` condition (reason
``EvictionByEvictionAPI``), so a controller, a user or the pod's own
preStop hook can tell an eviction from any other delete. kemu has no
PodDisruptionBudgets, so no eviction is refused as ``429 TooManyRequests``.

A pod already being deleted is not deleted again (the answer is still
success), a dry run writes nothing, and an Eviction naming another pod than
the URL is a 400, as on a real apiserver.
"""

from __future__ import annotations

from typing import Any

from kemu.api import errors
from kemu.client import Client
from kemu.clock import rfc3339
from kemu.types import Obj

__all__ = ["DISRUPTION_TARGET", "disruption_condition", "evict"]

DISRUPTION_TARGET = "DisruptionTarget"
"""The pod condition that says the pod is about to be deleted by a disruption."""


def disruption_condition(now: float) -> Obj:
    """The condition an eviction adds (``EvictionByEvictionAPI``)."""
    return {
        "type": DISRUPTION_TARGET,
        "status": "True",
        "reason": "EvictionByEvictionAPI",
        "message": "Eviction API: evicting",
        "lastTransitionTime": rfc3339(now),
    }


def check_eviction(body: Any, name: str) -> None:
    """Refuse what a real apiserver refuses before evicting: a body that is
    not an Eviction, or one that names another pod."""
    if not isinstance(body, dict):
        raise errors.bad_request("an Eviction must be an object")
    if body.get("kind") not in (None, "Eviction"):
        raise errors.bad_request(f"the kind in the data ({body['kind']}) does not match the expected kind (Eviction)")
    meta = body.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise errors.bad_request("an Eviction's metadata must be an object")
    named = (meta or {}).get("name")
    if named not in (None, "") and named != name:
        raise errors.bad_request("name in URL does not match name in Eviction object")
    if body.get("deleteOptions") is not None and not isinstance(body["deleteOptions"], dict):
        raise errors.bad_request("an Eviction's deleteOptions must be an object")


def evict(client: Client, namespace: str, name: str, delete_options: Obj, *, now: float) -> None:
    """Mark the pod ``DisruptionTarget`` and delete it with ``delete_options``
    (:meth:`kemu.client.Client.delete`'s keywords). Raises the pod's 404."""
    pod = client.get("Pod", name, namespace)
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return  # already going: the eviction has nothing left to do
    if not delete_options.get("dry_run"):
        try:
            client.patch(
                "Pod", name, {"status": {"conditions": [disruption_condition(now)]}}, namespace,
                patch_type="strategic", subresource="status",
            )
        except errors.ApiError as exc:
            if exc.code == 404:
                raise
            # The condition is informative: a conflict must not stop the drain.
    options = dict(delete_options)
    if options.get("preconditions") is None and meta.get("uid"):
        # Delete the pod that was marked, not a namesake created meanwhile.
        options["preconditions"] = {"uid": meta["uid"]}
    client.delete("Pod", name, namespace, **options)
