"""A kubelet whose Node was deleted (``kubectl delete node``) tells that
404 from others, waits for the pod GC, and registers a new Node with a new
Lease: with a fake client, no process."""

from __future__ import annotations

from typing import Any

import pytest
import structlog

from kemu.api import errors
from kemu.clock import FakeClock
from kubelet.kubelet import may_register_again
from kubelet.node import NodeAgent, NodeConfig
from kemu.types import Obj


class FakeClient:
    """Nodes and Leases in dicts; every call recorded as ``(verb, kind, name)``."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Obj] = {}
        self.calls: list[tuple[str, str, str]] = []
        self._uid = 0

    def _key(self, obj: Obj) -> tuple[str, str]:
        return obj["kind"], obj["metadata"]["name"]

    def create(self, obj: Obj) -> Obj:
        self.calls.append(("create", obj["kind"], obj["metadata"]["name"]))
        if self._key(obj) in self.objects:
            raise errors.already_exists(obj["kind"], obj["metadata"]["name"])
        self._uid += 1
        stored = {**obj, "metadata": {**obj["metadata"], "uid": f"uid-{self._uid}", "resourceVersion": str(self._uid)}}
        self.objects[self._key(stored)] = stored
        return stored

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        self.calls.append(("get", kind, name))
        if (kind, name) not in self.objects:
            raise errors.not_found(kind, name)
        return self.objects[(kind, name)]

    def patch(self, kind: str, name: str, body: Obj, namespace: str | None = None, **_: Any) -> Obj:
        self.calls.append(("patch", kind, name))
        obj = self.get(kind, name)
        obj.update({k: v for k, v in body.items() if k != "metadata"})
        return obj

    def update(self, obj: Obj) -> Obj:
        self.calls.append(("update", obj["kind"], obj["metadata"]["name"]))
        self.get(obj["kind"], obj["metadata"]["name"])
        self.objects[self._key(obj)] = obj
        return obj

    def delete(self, kind: str, name: str, namespace: str | None = None, **_: Any) -> Obj:
        self.calls.append(("delete", kind, name))
        if (kind, name) not in self.objects:
            raise errors.not_found(kind, name)
        return self.objects.pop((kind, name))


def _agent(client: FakeClient) -> NodeAgent:
    return NodeAgent(client, NodeConfig(name="node-1", ip="127.0.9.1"), FakeClock(), structlog.get_logger())  # type: ignore[arg-type]


class TestMayRegisterAgain:
    def test_waits_while_pods_are_left(self) -> None:
        """Pods still bound to the old Node: not yet, the pod GC has not run."""
        assert may_register_again(1.0, pods_left=3, wait=10.0) is False

    def test_registers_once_pods_are_gone(self) -> None:
        """No pod left: register at once."""
        assert may_register_again(0.3, pods_left=0, wait=10.0) is True

    def test_registers_after_the_wait_anyway(self) -> None:
        """No pod GC running: the wait bounds it."""
        assert may_register_again(10.0, pods_left=3, wait=10.0) is True


class TestNodeMissing:
    def test_own_node_not_found(self) -> None:
        """A 404 naming nodes is the Node gone."""
        agent = _agent(FakeClient())
        assert agent.node_missing(errors.not_found("Node", "node-1")) is True

    def test_lease_not_found_is_not_the_node(self) -> None:
        """A missing Lease is the lease code's business, not a deleted Node."""
        agent = _agent(FakeClient())
        assert agent.node_missing(errors.not_found("Lease", "node-1")) is False

    def test_other_errors_are_not_the_node(self) -> None:
        """A conflict is retried, not a re-registration."""
        agent = _agent(FakeClient())
        assert agent.node_missing(errors.conflict("Node", "node-1", "stale")) is False


class TestReregister:
    def test_new_node_and_lease_owned_by_it(self) -> None:
        """After a delete, the agent creates a new Node and a Lease whose owner is the new uid."""
        client = FakeClient()
        agent = _agent(client)
        agent.register()
        agent.renew_lease()
        old_uid = client.objects[("Node", "node-1")]["metadata"]["uid"]
        del client.objects[("Node", "node-1")]  # kubectl delete node; the Lease is still there

        agent.reregister(pods_left=0)

        node = client.objects[("Node", "node-1")]
        lease = client.objects[("Lease", "node-1")]
        assert node["metadata"]["uid"] != old_uid
        assert [o["uid"] for o in lease["metadata"]["ownerReferences"]] == [node["metadata"]["uid"]]
        assert ("delete", "Lease", "node-1") in client.calls

    def test_refresh_propagates_the_404(self) -> None:
        """refresh() leaves the decision to register again to the heartbeat."""
        client = FakeClient()
        agent = _agent(client)
        agent.register()
        del client.objects[("Node", "node-1")]
        with pytest.raises(errors.ApiError) as caught:
            agent.refresh()
        assert agent.node_missing(caught.value)
