"""ReplicationControllers: Kubernetes' defaults and validation wording, the
protobuf body, printing, the Scale, and the replication manager (the
ReplicaSet controller for another kind) driven with fakes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import kemu.api  # noqa: F401 - registers the kinds' schema, defaults and validation
from apiserver.http.app import scale_of
from controllermanager.base import ControllerContext, ControllerOptions
from controllermanager.replicationcontroller import ReplicationManager
from kemu.api import errors, protobuf
from kemu.api.defaults import apply_defaults
from kemu.api.kinds import resolve
from kemu.api.replicationcontrollers import label_selector_of
from kemu.api.validation import check_schema, validate
from kemu.cli.printers import table_columns, table_row
from kemu.clock import FakeClock
from datetime import UTC
from kemu.types import Obj


def rc(**spec: Any) -> Obj:
    body: Obj = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "nginx", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]},
            },
        },
    }
    body["spec"].update(spec)
    return body


def invalid_messages(obj: Obj) -> list[str]:
    apply_defaults(obj)
    with pytest.raises(errors.ApiError) as caught:
        validate(obj)
    assert caught.value.code == 422
    return [c["message"] for c in caught.value.status["details"]["causes"]]


class TestKind:
    def test_names(self) -> None:
        """``rc``, ``replicationcontrollers`` and the kind resolve to the core/v1 kind."""
        for word in ("rc", "replicationcontrollers", "ReplicationController"):
            info = resolve(word)
            assert (info.kind, info.api_version, info.namespaced, info.has_status) == (
                "ReplicationController", "v1", True, True)


class TestDefaults:
    def test_selector_and_labels_from_the_template(self) -> None:
        """An empty selector and empty object labels take the template's labels; one replica."""
        obj = rc()
        del obj["spec"]["replicas"]
        apply_defaults(obj)
        assert obj["spec"]["selector"] == {"app": "nginx"}
        assert obj["metadata"]["labels"] == {"app": "nginx"}
        assert obj["spec"]["replicas"] == 1
        assert obj["spec"]["template"]["spec"]["restartPolicy"] == "Always"

    def test_given_selector_and_labels_are_kept(self) -> None:
        """Defaults never overwrite what the manifest says."""
        obj = rc(selector={"app": "nginx"})
        obj["metadata"]["labels"] = {"team": "a"}
        obj["spec"]["template"]["metadata"]["labels"]["tier"] = "web"
        apply_defaults(obj)
        assert obj["spec"]["selector"] == {"app": "nginx"}
        assert obj["metadata"]["labels"] == {"team": "a"}

    def test_zero_replicas_stay_zero(self) -> None:
        """``replicas: 0`` is a value, not a missing field."""
        obj = rc(replicas=0)
        apply_defaults(obj)
        assert obj["spec"]["replicas"] == 0


class TestValidation:
    def test_valid(self) -> None:
        """The manifest of Kubernetes' docs passes."""
        obj = rc(selector={"app": "nginx"})
        check_schema(obj)
        apply_defaults(obj)
        validate(obj)

    def test_selector_must_match_template(self) -> None:
        """A selector the template's labels do not satisfy is refused as Kubernetes words it."""
        assert invalid_messages(rc(selector={"app": "other"})) == [
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"nginx\"}: "
            "`selector` does not match template `labels`"
        ]

    def test_no_selector_no_template(self) -> None:
        """Without a template nothing defaults the selector: both are required."""
        obj = rc()
        del obj["spec"]["template"]
        assert invalid_messages(obj) == ["spec.selector: Required value", "spec.template: Required value"]

    def test_restart_policy_and_deadline(self) -> None:
        """Pods of a controller restart Always and have no active deadline."""
        obj = rc()
        obj["spec"]["template"]["spec"].update(restartPolicy="OnFailure", activeDeadlineSeconds=5)
        assert invalid_messages(obj) == [
            'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"',
            "spec.template.spec.activeDeadlineSeconds: Invalid value: 5: "
            "activeDeadlineSeconds in ReplicationController is not Supported",
        ]

    def test_negative_replicas(self) -> None:
        """Negative counts are refused."""
        assert invalid_messages(rc(replicas=-1)) == ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]

    def test_selector_is_a_map(self) -> None:
        """A ReplicaSet-style selector is a type error (400), as strict decoding says."""
        with pytest.raises(errors.ApiError) as caught:
            check_schema(rc(selector={"matchLabels": {"app": "nginx"}}))
        assert caught.value.code == 400

    def test_selector_may_change(self) -> None:
        """Unlike a ReplicaSet's, an RC's selector is mutable."""
        old = rc(selector={"app": "nginx"})
        apply_defaults(old)
        new = copy.deepcopy(old)
        new["spec"]["selector"] = {"app": "nginx", "tier": "web"}
        new["spec"]["template"]["metadata"]["labels"]["tier"] = "web"
        validate(new, old)


class TestWire:
    def test_protobuf_round_trip(self) -> None:
        """The RC messages of the generated table carry the map selector and template."""
        obj = rc(selector={"app": "nginx"})
        decoded = protobuf.decode_object(protobuf.encode_object(obj))
        assert decoded["kind"] == "ReplicationController"
        assert decoded["spec"]["selector"] == {"app": "nginx"}
        assert decoded["spec"]["replicas"] == 3
        assert decoded["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"

    def test_scale_selector(self) -> None:
        """The Scale's status.selector is the map as a selector string."""
        obj = rc(selector={"tier": "web", "app": "nginx"})
        obj["metadata"]["uid"] = "u"
        obj["status"] = {"replicas": 2}
        scale = scale_of(obj)
        assert scale["spec"] == {"replicas": 3}
        assert scale["status"] == {"replicas": 2, "selector": "app=nginx,tier=web"}

    def test_label_selector_of(self) -> None:
        """An empty or missing map is the empty selector."""
        assert label_selector_of({}) == {} and label_selector_of("x") == {}


class TestPrinting:
    def test_columns_and_row(self) -> None:
        """``kubectl get rc`` columns; ``-o wide`` adds containers, images and the selector."""
        obj = rc(selector={"app": "nginx"})
        obj["status"] = {"replicas": 3, "readyReplicas": 2}
        assert table_columns("ReplicationController", False) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        row = table_row(obj, wide=True, now=0.0)
        assert row[:4] == ["nginx", "3", "3", "2"]
        assert row[5:] == ["nginx", "nginx", "app=nginx"]


# -- the replication manager with fakes ------------------------------------------------------


class FakeInformer:
    def __init__(self) -> None:
        self.items: dict[str, Obj] = {}

    def add_handler(self, handler: Any) -> None:
        pass

    def get(self, key: str) -> Obj | None:
        return self.items.get(key)

    def list(self) -> list[Obj]:
        return list(self.items.values())

    def by_index(self, index: str, value: str) -> list[Obj]:
        if index == "namespace":
            return [o for o in self.items.values() if o["metadata"].get("namespace") == value]
        assert index == "owner"
        return [o for o in self.items.values() if value in [r["uid"] for r in o["metadata"].get("ownerReferences", [])]]


class FakeClient:
    def __init__(self, rcs: FakeInformer) -> None:
        self.rcs = rcs
        self.created: list[Obj] = []
        self.patched: list[tuple[str, str, Obj]] = []
        self.statuses: list[Obj] = []

    def create(self, obj: Obj) -> Obj:
        out = copy.deepcopy(obj)
        out["metadata"].update(name=f"{obj['metadata']['generateName']}{len(self.created)}", uid=f"p{len(self.created)}",
                               resourceVersion="1")
        self.created.append(out)
        return out

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        assert kind == "ReplicationController"
        return self.rcs.items[f"{namespace}/{name}"]

    def patch(self, kind: str, name: str, body: Obj, namespace: str | None = None, **_: Any) -> Obj:
        self.patched.append((kind, name, body))
        return {"metadata": {"name": name, "resourceVersion": "2"}}

    def update_status(self, obj: Obj) -> Obj:
        self.statuses.append(obj)
        return obj


class FakeRecorder:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        self.reasons.append(reason)

    def close(self, timeout: float = 0) -> None:
        pass


class FakeContext(ControllerContext):
    def __init__(self) -> None:
        self.fakes = {"ReplicationController": FakeInformer(), "Pod": FakeInformer()}
        self.fake_client = FakeClient(self.fakes["ReplicationController"])
        self.fake_recorder = FakeRecorder()
        super().__init__(self.fake_client, options=ControllerOptions(concurrent_rc_syncs=1), clock=FakeClock())  # type: ignore[arg-type]

    def informer(self, kind: str) -> Any:
        return self.fakes[kind]

    def recorder(self, component: str) -> Any:
        assert component == "replication-controller"
        return self.fake_recorder


@pytest.fixture
def manager() -> Any:
    ctx = FakeContext()
    controller = ReplicationManager(ctx)
    try:
        yield ctx, controller
    finally:
        controller.stop()


def stored_rc(replicas: int) -> Obj:
    obj = rc(replicas=replicas, selector={"app": "nginx"})
    obj["metadata"].update(uid="rc-uid", resourceVersion="5", generation=1)
    return obj


class TestReplicationManager:
    def test_creates_pods_owned_by_the_rc(self, manager: Any) -> None:
        """Missing replicas are created from the template, controlled by the RC."""
        ctx, controller = manager
        ctx.fakes["ReplicationController"].items["default/nginx"] = stored_rc(2)
        controller.sync("default/nginx")
        created = ctx.fake_client.created
        assert len(created) == 2
        ref = created[0]["metadata"]["ownerReferences"][0]
        assert (ref["apiVersion"], ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
            "v1", "ReplicationController", "nginx", "rc-uid", True)
        assert created[0]["metadata"]["generateName"] == "nginx-"
        assert ctx.fake_recorder.reasons == ["SuccessfulCreate", "SuccessfulCreate"]
        assert ctx.fake_client.statuses[-1]["status"]["observedGeneration"] == 1

    def test_adopts_matching_orphan(self, manager: Any) -> None:
        """An orphan pod matching the map selector is adopted, not duplicated."""
        ctx, controller = manager
        ctx.fakes["ReplicationController"].items["default/nginx"] = stored_rc(1)
        ctx.fakes["Pod"].items["default/lone"] = {
            "kind": "Pod", "metadata": {"name": "lone", "namespace": "default", "uid": "lone-uid", "labels": {"app": "nginx"}},
            "spec": {}, "status": {"phase": "Running"},
        }
        controller.sync("default/nginx")
        assert ctx.fake_client.created == []
        kind, name, body = ctx.fake_client.patched[0]
        assert (kind, name) == ("Pod", "lone")
        assert body["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController"

    def test_other_pods_are_left_alone(self, manager: Any) -> None:
        """Equality selection: a pod with another value of the key is not the RC's."""
        ctx, controller = manager
        ctx.fakes["ReplicationController"].items["default/nginx"] = stored_rc(0)
        ctx.fakes["Pod"].items["default/other"] = {
            "kind": "Pod", "metadata": {"name": "other", "namespace": "default", "uid": "o", "labels": {"app": "web"}},
            "spec": {}, "status": {"phase": "Running"},
        }
        controller.sync("default/nginx")
        assert ctx.fake_client.patched == [] and ctx.fake_client.created == []


class TestDescribe:
    def test_page_as_kubectl_prints_it(self) -> None:
        """``kemu describe rc``: kubectl's ReplicationController page (the map selector as app=nginx)."""

        from kemu.cli.describe import describe

        obj = rc(selector={"app": "nginx"})
        obj["metadata"].update(uid="rc-uid", labels={"app": "nginx"})
        obj["status"] = {"replicas": 2}
        pods = [{"kind": "Pod", "metadata": {"name": f"nginx-{i}", "namespace": "default",
                                             "ownerReferences": [{"kind": "ReplicationController", "uid": "rc-uid",
                                                                  "controller": True, "name": "nginx"}]},
                 "status": {"phase": phase}} for i, phase in enumerate(("Running", "Pending"))]
        text = describe(obj, events=[], related={"Pod": pods}, now=0.0, tz=UTC)
        assert text.splitlines()[:7] == [
            "Name:         nginx",
            "Namespace:    default",
            "Selector:     app=nginx",
            "Labels:       app=nginx",
            "Annotations:  <none>",
            "Replicas:     2 current / 3 desired",
            "Pods Status:  1 Running / 1 Waiting / 0 Succeeded / 0 Failed",
        ]
