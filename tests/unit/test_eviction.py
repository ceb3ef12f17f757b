"""``pods/eviction`` as kubectl drain uses it: the DisruptionTarget condition,
then the delete, with a fake client."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver.http.eviction import DISRUPTION_TARGET, check_eviction, evict
from kemu.api import errors
from kemu.types import Obj


class FakeClient:
    def __init__(self, pod: Obj | None) -> None:
        self.pod = pod
        self.calls: list[tuple[str, Any]] = []

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        if self.pod is None:
            raise errors.not_found(kind, name)
        return self.pod

    def patch(self, kind: str, name: str, body: Obj, namespace: str | None = None, **opts: Any) -> Obj:
        self.calls.append(("patch", (body, opts)))
        return self.pod or {}

    def delete(self, kind: str, name: str, namespace: str | None = None, **opts: Any) -> Obj:
        self.calls.append(("delete", opts))
        return self.pod or {}


def pod(**meta: Any) -> Obj:
    return {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "default", "uid": "u1", **meta}, "status": {}}


class TestEvict:
    def test_condition_then_delete(self) -> None:
        """The pod is marked DisruptionTarget/EvictionByEvictionAPI, then deleted with the options and its uid."""
        client = FakeClient(pod())
        evict(client, "default", "web-1", {"grace_period_seconds": 5}, now=0.0)  # type: ignore[arg-type]
        (verb, (body, opts)), (verb2, delete_opts) = client.calls
        assert (verb, verb2) == ("patch", "delete")
        condition = body["status"]["conditions"][0]
        assert (condition["type"], condition["reason"], condition["status"]) == (
            DISRUPTION_TARGET, "EvictionByEvictionAPI", "True")
        assert opts["subresource"] == "status"
        assert delete_opts == {"grace_period_seconds": 5, "preconditions": {"uid": "u1"}}

    def test_dry_run_writes_nothing_but_the_dry_delete(self) -> None:
        """dryRun: no condition; the delete is a dry run too."""
        client = FakeClient(pod())
        evict(client, "default", "web-1", {"dry_run": True}, now=0.0)  # type: ignore[arg-type]
        assert [c[0] for c in client.calls] == ["delete"]
        assert client.calls[0][1]["dry_run"] is True

    def test_terminating_pod_is_left_alone(self) -> None:
        """A pod already being deleted: success, nothing written."""
        client = FakeClient(pod(deletionTimestamp="2026-01-01T00:00:00Z"))
        evict(client, "default", "web-1", {}, now=0.0)  # type: ignore[arg-type]
        assert client.calls == []

    def test_missing_pod_is_404(self) -> None:
        """Evicting a pod that does not exist answers its NotFound."""
        with pytest.raises(errors.ApiError) as caught:
            evict(FakeClient(None), "default", "web-1", {}, now=0.0)  # type: ignore[arg-type]
        assert caught.value.code == 404


class TestCheckEviction:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ([], "an Eviction must be an object"),
            ({"kind": "DeleteOptions"}, "does not match the expected kind (Eviction)"),
            ({"metadata": {"name": "other"}}, "name in URL does not match name in Eviction object"),
            ({"deleteOptions": "now"}, "deleteOptions must be an object"),
        ],
    )
    def test_bad_bodies_are_400(self, body: Any, message: str) -> None:
        """What a real apiserver refuses is a 400 naming the problem."""
        with pytest.raises(errors.ApiError) as caught:
            check_eviction(body, "web-1")
        assert caught.value.code == 400 and message in caught.value.message

    def test_good_body(self) -> None:
        """The body kubectl drain sends passes."""
        check_eviction({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-1"},
                        "deleteOptions": {"gracePeriodSeconds": 3}}, "web-1")
