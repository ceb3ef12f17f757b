"""The apiserver as a real process: CRUD, concurrency, selectors, status,
deletion, and what a bad request gets back."""

from __future__ import annotations

import pytest

from kemu import testing
from kemu.api.errors import ApiError
from kemu.client import Client
from kemu.testing import container
from kemu.types import Obj

pytestmark = pytest.mark.timeout(60)


def deployment(name: str = "web", replicas: int = 2, **spec: object) -> Obj:
    return testing.deployment(name, replicas=replicas, object_labels=True, containers=[container("nginx")], **spec)


def pod(name: str | None = "p", *, labels: dict[str, str] | None = None, node: str | None = None,
        generate: str | None = None) -> Obj:
    return testing.pod(name, containers=[container("main", "busybox:1.36", command=["sleep", "100"])],
                       labels=labels or {}, node=node, generate_name=generate)


SAMPLES = {
    "Namespace": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}},
    "Node": {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-9", "labels": {"kubernetes.io/hostname": "node-9"}}},
    "Pod": pod("p1"),
    "ReplicaSet": {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "rs1"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "rs1"}},
            "template": {"metadata": {"labels": {"app": "rs1"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    },
    "Deployment": deployment("d1"),
    "Service": {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc1"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    },
    "Endpoints": {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "ep1"},
        "subsets": [{"addresses": [{"ip": "127.244.1.2"}], "ports": [{"port": 80}]}],
    },
    "Event": {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "ev1"},
        "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "default"},
        "reason": "Scheduled",
        "message": "Successfully assigned default/p1 to node-1",
        "type": "Normal",
    },
    "Lease": {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "node-9", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "node-9", "leaseDurationSeconds": 40},
    },
    "ConfigMap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm1"}, "data": {"a": "1"}},
}


class TestCrud:
    @pytest.mark.parametrize("kind", sorted(SAMPLES))
    def test_create_get_update_delete_every_kind(self, client: Client, kind: str) -> None:
        """Each kind goes through its whole life: create, get, list, update, delete."""
        obj = SAMPLES[kind]
        created = client.create(obj)
        meta = created["metadata"]
        assert meta["uid"] and meta["creationTimestamp"] and int(meta["resourceVersion"]) > 0
        ns = meta.get("namespace")
        got = client.get(kind, meta["name"], ns)
        assert got == created
        names = [o["metadata"]["name"] for o in client.list(kind, ns)["items"]]
        assert meta["name"] in names
        changed = dict(got)
        changed["metadata"] = dict(meta, labels={"changed": "yes"})
        updated = client.update(changed)
        assert updated["metadata"]["labels"]["changed"] == "yes"
        assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
        client.delete(kind, meta["name"], ns, grace_period_seconds=0)
        if kind == "Namespace":  # the namespace controller empties it, then it goes
            assert client.get(kind, meta["name"])["status"]["phase"] == "Terminating"
            return
        with pytest.raises(ApiError) as exc:
            client.get(kind, meta["name"], ns)
        assert exc.value.code == 404

    def test_system_namespaces_exist(self, client: Client) -> None:
        """A new cluster has default, kube-system, kube-public and kube-node-lease."""
        names = {o["metadata"]["name"] for o in client.list("Namespace")["items"]}
        assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names

    def test_create_twice_is_already_exists(self, client: Client) -> None:
        """A second create of the same name is 409 AlreadyExists."""
        client.create(deployment())
        with pytest.raises(ApiError) as exc:
            client.create(deployment())
        assert (exc.value.code, exc.value.reason) == (409, "AlreadyExists")
        assert exc.value.message == 'deployments.apps "web" already exists'

    def test_get_missing_is_not_found(self, client: Client) -> None:
        """A missing object is 404 NotFound in Kubernetes' words."""
        with pytest.raises(ApiError) as exc:
            client.get("Pod", "nope")
        assert exc.value.code == 404
        assert exc.value.message == 'pods "nope" not found'

    def test_missing_namespace_is_not_found(self, client: Client) -> None:
        """Creating into a namespace that does not exist is 404 for the namespace."""
        with pytest.raises(ApiError) as exc:
            client.create(pod("x"), namespace="nowhere")
        assert exc.value.code == 404
        assert exc.value.message == 'namespaces "nowhere" not found'

    def test_generate_name(self, client: Client) -> None:
        """generateName gets a five-character random suffix."""
        created = client.create(pod(None, generate="web-"))
        name = created["metadata"]["name"]
        assert name.startswith("web-") and len(name) == len("web-") + 5

    def test_defaults_are_applied(self, client: Client) -> None:
        """A Deployment gets Kubernetes' defaults."""
        created = client.create(deployment())
        spec = created["spec"]
        assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
        assert spec["revisionHistoryLimit"] == 10
        assert spec["progressDeadlineSeconds"] == 600
        assert spec["template"]["spec"]["restartPolicy"] == "Always"

    def test_pod_gets_default_tolerations(self, client: Client) -> None:
        """DefaultTolerationSeconds admission adds not-ready and unreachable tolerations."""
        created = client.create(pod("t"))
        keys = {(t["key"], t["effect"]) for t in created["spec"]["tolerations"]}
        assert keys == {
            ("node.kubernetes.io/not-ready", "NoExecute"),
            ("node.kubernetes.io/unreachable", "NoExecute"),
        }


class TestConcurrency:
    def test_stale_update_is_conflict(self, client: Client) -> None:
        """An update carrying an old resourceVersion is refused with 409 Conflict."""
        first = client.create(deployment())
        fresh = client.update({**first, "metadata": {**first["metadata"], "labels": {"v": "2"}}})
        with pytest.raises(ApiError) as exc:
            client.update({**first, "metadata": {**first["metadata"], "labels": {"v": "3"}}})
        assert exc.value.code == 409 and exc.value.reason == "Conflict"
        assert "the object has been modified" in exc.value.message
        assert client.get("Deployment", "web")["metadata"]["labels"] == fresh["metadata"]["labels"]

    def test_generation_moves_with_spec_only(self, client: Client) -> None:
        """generation is bumped by spec changes, not by metadata or status changes."""
        d = client.create(deployment())
        assert d["metadata"]["generation"] == 1
        d = client.update({**d, "metadata": {**d["metadata"], "labels": {"x": "y"}}})
        assert d["metadata"]["generation"] == 1
        d = client.update({**d, "spec": {**d["spec"], "replicas": 5}})
        assert d["metadata"]["generation"] == 2
        d = client.update_status({**d, "status": {"replicas": 5}})
        assert d["metadata"]["generation"] == 2

    def test_noop_update_keeps_resource_version(self, client: Client) -> None:
        """Writing an object unchanged does not produce a new revision."""
        d = client.create(deployment())
        again = client.update(d)
        assert again["metadata"]["resourceVersion"] == d["metadata"]["resourceVersion"]


class TestStatusSubresource:
    def test_status_write_leaves_spec(self, client: Client) -> None:
        """update_status changes status only, even if the body carries a new spec."""
        d = client.create(deployment())
        out = client.update_status({**d, "spec": {**d["spec"], "replicas": 9}, "status": {"replicas": 2}})
        assert out["spec"]["replicas"] == 2
        assert out["status"] == {"replicas": 2}

    def test_spec_write_leaves_status(self, client: Client) -> None:
        """A normal update cannot change status."""
        d = client.create(deployment())
        d = client.update_status({**d, "status": {"replicas": 2}})
        out = client.update({**d, "status": {"replicas": 7}})
        assert out["status"] == {"replicas": 2}


class TestSelectors:
    def test_label_selectors(self, client: Client) -> None:
        """Equality and set-based label selectors filter lists."""
        client.create(pod("a", labels={"app": "web", "tier": "front"}))
        client.create(pod("b", labels={"app": "web", "tier": "back"}))
        client.create(pod("c", labels={"app": "db"}))

        def names(sel: str) -> list[str]:
            return [o["metadata"]["name"] for o in client.list("Pod", label_selector=sel)["items"]]

        assert names("app=web") == ["a", "b"]
        assert names("app=web,tier!=back") == ["a"]
        assert names("app in (db, cache)") == ["c"]
        assert names("!tier") == ["c"]
        assert names("tier") == ["a", "b"]

    def test_field_selectors(self, client: Client) -> None:
        """metadata.name, spec.nodeName and status.phase field selectors filter pods."""
        client.create(pod("a", node="node-1"))
        client.create(pod("b", node="node-2"))
        client.create(pod("c"))

        def names(sel: str) -> list[str]:
            return [o["metadata"]["name"] for o in client.list("Pod", field_selector=sel)["items"]]

        assert names("spec.nodeName=node-1") == ["a"]
        assert names("spec.nodeName=") == ["c"]
        assert names("metadata.name=b") == ["b"]
        assert names("status.phase=Pending") == ["a", "b", "c"]
        assert names("status.phase!=Pending") == []

    def test_unsupported_field_selector_is_bad_request(self, client: Client) -> None:
        """A field the kind cannot be selected by is 400 BadRequest."""
        with pytest.raises(ApiError) as exc:
            client.list("Pod", field_selector="spec.foo=bar")
        assert exc.value.code == 400
        assert "field label not supported: spec.foo" in exc.value.message

    def test_pagination(self, client: Client) -> None:
        """limit and continue page through a list in name order."""
        for i in range(5):
            client.create(pod(f"p{i}"))
        first = client.list("Pod", limit=2)
        assert [o["metadata"]["name"] for o in first["items"]] == ["p0", "p1"]
        second = client.list("Pod", limit=10, continue_token=first["metadata"]["continue"])
        assert [o["metadata"]["name"] for o in second["items"]] == ["p2", "p3", "p4"]


class TestDeletion:
    def test_pod_on_node_is_only_marked(self, client: Client) -> None:
        """Deleting a pod bound to a node sets deletionTimestamp; the kubelet's grace-0 delete removes it."""
        client.create(pod("a", node="node-1"))
        marked = client.delete("Pod", "a")
        assert marked["metadata"]["deletionTimestamp"]
        assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
        assert client.get("Pod", "a")["metadata"]["deletionTimestamp"]
        client.delete("Pod", "a", grace_period_seconds=0)
        with pytest.raises(ApiError):
            client.get("Pod", "a")

    def test_unscheduled_pod_is_deleted_at_once(self, client: Client) -> None:
        """A pod no node runs has nobody to wait for."""
        client.create(pod("a"))
        client.delete("Pod", "a")
        with pytest.raises(ApiError) as exc:
            client.get("Pod", "a")
        assert exc.value.code == 404

    def test_finalizers_hold_deletion(self, client: Client) -> None:
        """An object with finalizers stays, marked, until the last finalizer is removed."""
        cm = dict(SAMPLES["ConfigMap"])
        cm["metadata"] = {"name": "held", "finalizers": ["example.com/hold"]}
        client.create(cm)
        marked = client.delete("ConfigMap", "held")
        assert marked["metadata"]["deletionTimestamp"]
        live = client.get("ConfigMap", "held")
        live["metadata"]["finalizers"] = []
        client.update(live)
        with pytest.raises(ApiError) as exc:
            client.get("ConfigMap", "held")
        assert exc.value.code == 404

    def test_orphan_propagation_adds_finalizer(self, client: Client) -> None:
        """propagationPolicy=Orphan adds the orphan finalizer for the garbage collector."""
        client.create(deployment())
        marked = client.delete("Deployment", "web", propagation_policy="Orphan")
        assert "orphan" in marked["metadata"]["finalizers"]

    def test_stale_precondition_is_conflict(self, client: Client) -> None:
        """A delete with a stale resourceVersion precondition is refused."""
        d = client.create(deployment())
        client.update({**d, "metadata": {**d["metadata"], "labels": {"v": "2"}}})
        with pytest.raises(ApiError) as exc:
            client.delete("Deployment", "web", preconditions={"resourceVersion": d["metadata"]["resourceVersion"]})
        assert exc.value.code == 409

    def test_default_namespace_cannot_be_deleted(self, client: Client) -> None:
        """As in Kubernetes, the default namespace is protected."""
        with pytest.raises(ApiError) as exc:
            client.delete("Namespace", "default")
        assert exc.value.code == 403


class TestBinding:
    def test_bind_sets_node_once(self, client: Client) -> None:
        """bind assigns a node and the PodScheduled condition; a second bind is a Conflict."""
        client.create(pod("a"))
        bound = client.bind("default", "a", "node-1")
        assert bound["spec"]["nodeName"] == "node-1"
        assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in bound["status"]["conditions"])
        with pytest.raises(ApiError) as exc:
            client.bind("default", "a", "node-2")
        assert exc.value.code == 409


class TestValidation:
    def test_invalid_is_422_with_field_paths(self, client: Client) -> None:
        """A bad replica count and a selector that misses the template are both reported."""
        bad = deployment("bad", replicas=-1)
        bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
        with pytest.raises(ApiError) as exc:
            client.create(bad)
        assert exc.value.code == 422 and exc.value.reason == "Invalid"
        fields = {c["field"] for c in exc.value.causes}
        assert {"spec.replicas", "spec.template.metadata.labels"} <= fields
        assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in exc.value.message

    def test_unknown_field_is_bad_request(self, client: Client) -> None:
        """Strict field validation names the unknown field."""
        bad = deployment("bad")
        bad["spec"]["replica"] = 3
        with pytest.raises(ApiError) as exc:
            client.create(bad)
        assert exc.value.code == 400
        assert 'unknown field "spec.replica"' in exc.value.message

    def test_wrong_type_is_bad_request(self, client: Client) -> None:
        """A string where an integer belongs is refused, naming the field."""
        bad = deployment("bad")
        bad["spec"]["replicas"] = "three"
        with pytest.raises(ApiError) as exc:
            client.create(bad)
        assert exc.value.code == 400
        assert "spec.replicas" in exc.value.message

    def test_selector_is_immutable(self, client: Client) -> None:
        """A Deployment's selector cannot change."""
        d = client.create(deployment())
        d["spec"]["selector"] = {"matchLabels": {"app": "web", "x": "y"}}
        d["spec"]["template"]["metadata"]["labels"] = {"app": "web", "x": "y"}
        with pytest.raises(ApiError) as exc:
            client.update(d)
        assert exc.value.code == 422
        assert any(c["field"] == "spec.selector" for c in exc.value.causes)

    def test_non_object_body_is_bad_request(self, client: Client) -> None:
        """A body that is not a map gets 400, not a crash."""
        with pytest.raises(ApiError) as exc:
            client.call("create", "Pod", "default", None, ["not", "a", "pod"])
        assert exc.value.code == 400


class TestPatch:
    def test_merge_patch(self, client: Client) -> None:
        """A JSON merge patch sets and removes fields."""
        client.create(deployment())
        out = client.patch("Deployment", "web", {"metadata": {"labels": {"app": None, "team": "a"}}, "spec": {"replicas": 4}})
        assert out["metadata"]["labels"] == {"team": "a"}
        assert out["spec"]["replicas"] == 4

    def test_strategic_merge_patch_merges_containers_by_name(self, client: Client) -> None:
        """kubectl set image's patch changes one container and keeps the others."""
        d = deployment()
        d["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox", "command": ["sleep", "1"]})
        client.create(d)
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.26"}]}}}}
        out = client.patch("Deployment", "web", patch, patch_type="strategic")
        images = {c["name"]: c["image"] for c in out["spec"]["template"]["spec"]["containers"]}
        assert images == {"nginx": "nginx:1.26", "side": "busybox"}

    def test_status_patch(self, client: Client) -> None:
        """A patch on the status subresource changes status only."""
        client.create(deployment())
        out = client.patch("Deployment", "web", {"status": {"readyReplicas": 1}, "spec": {"replicas": 9}}, subresource="status")
        assert out["status"]["readyReplicas"] == 1 and out["spec"]["replicas"] == 2
