"""Tests for kemu.api.patch, with the examples of RFC 7386, RFC 6902, the
Kubernetes task "Update API Objects in Place Using kubectl patch" and the
strategic merge patch design doc."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kemu.api.patch import (
    PatchMeta,
    create_merge_patch,
    create_strategic_merge_patch,
    create_three_way_merge_patch,
    json_patch,
    merge_patch,
    patch_schema,
    strategic_merge_patch,
)


def _deployment(containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "patch-demo"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": containers, **spec},
            },
        },
    }


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


class TestMergePatch:
    @pytest.mark.parametrize(
        ("original", "patch", "result"),
        [
            ({"a": "b"}, {"a": "c"}, {"a": "c"}),
            ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
            ({"a": "b"}, {"a": None}, {}),
            ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
            ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
            ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
            ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
            ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
            (["a", "b"], ["c", "d"], ["c", "d"]),
            ({"a": "b"}, ["c"], ["c"]),
            ({"a": "foo"}, None, None),
            ({"a": "foo"}, "bar", "bar"),
            ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
            ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
            ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
        ],
    )
    def test_rfc7386_appendix_a(self, original: Any, patch: Any, result: Any) -> None:
        """Every row of RFC 7386's test table gives the listed result."""
        assert merge_patch(original, patch) == result

    def test_rfc7386_section_3_example(self) -> None:
        """The RFC's worked example: replace, add, delete nested, replace a list."""
        target = {
            "title": "Goodbye!",
            "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"],
            "content": "This will be unchanged",
        }
        patch = {
            "title": "Hello!",
            "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": None},
            "tags": ["example"],
        }
        assert merge_patch(target, patch) == {
            "title": "Hello!",
            "author": {"givenName": "John"},
            "tags": ["example"],
            "content": "This will be unchanged",
            "phoneNumber": "+01-123-456-7890",
        }

    def test_inputs_are_not_mutated(self) -> None:
        """Neither the target nor the patch changes, and the result shares nothing with them."""
        target = {"a": {"b": [1]}, "c": 1}
        patch = {"a": {"d": {"e": 1}}, "c": None}
        before_target, before_patch = copy.deepcopy(target), copy.deepcopy(patch)
        result = merge_patch(target, patch)
        result["a"]["b"].append(2)
        result["a"]["d"]["e"] = 2
        assert (target, patch) == (before_target, before_patch)

    def test_merge_patch_replaces_container_list(self) -> None:
        """A merge patch replaces lists, so the docs' container patch drops nginx."""
        deployment = _deployment([{"name": "patch-demo-ctr", "image": "nginx"}])
        patch = {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "patch-demo-ctr-3", "image": "gcr.io/google-samples/hello-app:2.0"}]
                    }
                }
            }
        }
        assert _pod_spec(merge_patch(deployment, patch))["containers"] == [
            {"name": "patch-demo-ctr-3", "image": "gcr.io/google-samples/hello-app:2.0"}
        ]


class TestCreateMergePatch:
    @pytest.mark.parametrize(
        ("original", "modified", "patch"),
        [
            ({"a": 1}, {"a": 1}, {}),
            ({"a": 1}, {"a": 2}, {"a": 2}),
            ({"a": 1}, {}, {"a": None}),
            ({}, {"a": {"b": 1}}, {"a": {"b": 1}}),
            ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}, {"a": {"c": 3}}),
            ({"a": [1, 2]}, {"a": [1]}, {"a": [1]}),
            ({"a": True}, {"a": 1}, {"a": 1}),
            ({"a": 1}, {"a": 1.0}, {}),
            ({"a": 1}, ["x"], ["x"]),
        ],
    )
    def test_diff(self, original: Any, modified: Any, patch: Any) -> None:
        """Only differences go into the patch; removed keys become null."""
        assert create_merge_patch(original, modified) == patch

    def test_round_trip(self) -> None:
        """Applying the computed patch to the original gives the modified document."""
        original = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1, "ports": [80]}}
        modified = {"metadata": {"labels": {"a": "1", "c": "3"}}, "spec": {"ports": [80, 443]}}
        assert merge_patch(original, create_merge_patch(original, modified)) == modified


class TestStrategicMergePatchDocs:
    """The Kubernetes task page "Update API Objects in Place Using kubectl patch"."""

    def test_containers_merge_by_name(self) -> None:
        """Patching in a second container keeps the first; the new one comes first, as the docs show."""
        deployment = _deployment([{"name": "patch-demo-ctr", "image": "nginx"}])
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "patch-demo-ctr-2", "image": "redis"}]}}}}
        assert _pod_spec(strategic_merge_patch(deployment, patch, "Deployment"))["containers"] == [
            {"name": "patch-demo-ctr-2", "image": "redis"},
            {"name": "patch-demo-ctr", "image": "nginx"},
        ]

    def test_tolerations_are_replaced(self) -> None:
        """Tolerations have no patch strategy, so the patch's list replaces the old one."""
        deployment = _deployment(
            [{"name": "nginx", "image": "nginx"}],
            tolerations=[{"effect": "NoSchedule", "key": "dedicated", "value": "test-team"}],
        )
        patch = {
            "spec": {
                "template": {"spec": {"tolerations": [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]}}
            }
        }
        assert _pod_spec(strategic_merge_patch(deployment, patch))["tolerations"] == [
            {"effect": "NoSchedule", "key": "disktype", "value": "ssd"}
        ]

    def test_retain_keys_switches_strategy(self) -> None:
        """$retainKeys clears rollingUpdate when the strategy becomes Recreate."""
        deployment = _deployment([{"name": "nginx", "image": "nginx"}])
        deployment["spec"]["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
        }
        patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
        assert strategic_merge_patch(deployment, patch)["spec"]["strategy"] == {"type": "Recreate"}

    def test_without_retain_keys_rolling_update_stays(self) -> None:
        """Without $retainKeys the old rollingUpdate survives (and the apiserver would reject it)."""
        deployment = _deployment([])
        deployment["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}
        patch = {"spec": {"strategy": {"type": "Recreate"}}}
        assert strategic_merge_patch(deployment, patch)["spec"]["strategy"] == {
            "type": "Recreate",
            "rollingUpdate": {"maxSurge": "25%"},
        }


class TestStrategicMergePatchKubectl:
    """Patches the kubectl verbs send."""

    def test_set_image(self) -> None:
        """kubectl set image changes one container's image in place."""
        deployment = _deployment(
            [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}, {"name": "c", "image": "c:1"}]
        )
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}}
        assert _pod_spec(strategic_merge_patch(deployment, patch))["containers"] == [
            {"name": "a", "image": "a:1"},
            {"name": "b", "image": "b:2"},
            {"name": "c", "image": "c:1"},
        ]

    def test_scale(self) -> None:
        """kubectl scale sets spec.replicas."""
        assert strategic_merge_patch(_deployment([]), {"spec": {"replicas": 5}})["spec"]["replicas"] == 5

    def test_rollout_restart(self) -> None:
        """kubectl rollout restart adds the restartedAt annotation to the template."""
        patch = {
            "spec": {
                "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-25T19:13:48Z"}}}
            }
        }
        result = strategic_merge_patch(_deployment([]), patch)
        assert result["spec"]["template"]["metadata"] == {
            "labels": {"app": "nginx"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-25T19:13:48Z"},
        }

    @pytest.mark.parametrize(
        ("patch", "labels"),
        [
            ({"metadata": {"labels": {"env": "prod"}}}, {"app": "web", "env": "prod"}),
            ({"metadata": {"labels": {"app": None}}}, {}),
            ({"metadata": {"labels": {"app": "api"}}}, {"app": "api"}),
        ],
    )
    def test_label(self, patch: dict[str, Any], labels: dict[str, str]) -> None:
        """kubectl label adds, overwrites and (with key-) removes labels."""
        pod = {"kind": "Pod", "metadata": {"name": "p", "labels": {"app": "web"}}}
        assert strategic_merge_patch(pod, patch)["metadata"]["labels"] == labels

    def test_annotate_without_annotations(self) -> None:
        """kubectl annotate on an object without annotations creates the map."""
        pod = {"kind": "Pod", "metadata": {"name": "p"}}
        assert strategic_merge_patch(pod, {"metadata": {"annotations": {"note": "hi"}}})["metadata"] == {
            "name": "p",
            "annotations": {"note": "hi"},
        }

    def test_edit_reorders_and_deletes(self) -> None:
        """A patch computed as kubectl edit does (with $setElementOrder) reproduces the edited object."""
        original = _deployment([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}])
        edited = _deployment([{"name": "c", "image": "c:1"}, {"name": "a", "image": "a:2"}])
        patch = create_strategic_merge_patch(original, edited)
        assert patch["spec"]["template"]["spec"]["$setElementOrder/containers"] == [{"name": "c"}, {"name": "a"}]
        assert strategic_merge_patch(original, patch) == edited


class TestMergeKeys:
    @pytest.mark.parametrize(
        ("kind", "obj", "patch", "path", "result"),
        [
            (
                "Pod",
                {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 80, "name": "http"}]}]}},
                {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 443, "name": "https"}]}]}},
                ("spec", "containers", 0, "ports"),
                [{"containerPort": 443, "name": "https"}, {"containerPort": 80, "name": "http"}],
            ),
            (
                "Pod",
                {
                    "spec": {
                        "containers": [
                            {"name": "app", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
                        ]
                    }
                },
                {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "3"}]}]}},
                ("spec", "containers", 0, "env"),
                [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}],
            ),
            (
                "Pod",
                {"spec": {"containers": [{"name": "app", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                {
                    "spec": {
                        "containers": [
                            {"name": "app", "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}]}
                        ]
                    }
                },
                ("spec", "containers", 0, "volumeMounts"),
                [{"name": "data", "mountPath": "/data", "readOnly": True}],
            ),
            (
                "Pod",
                {"spec": {"initContainers": [{"name": "init", "image": "busybox:1.36"}]}},
                {"spec": {"initContainers": [{"name": "init", "image": "busybox:1.37"}]}},
                ("spec", "initContainers"),
                [{"name": "init", "image": "busybox:1.37"}],
            ),
            (
                "Pod",
                {"spec": {"volumes": [{"name": "a", "emptyDir": {}}]}},
                {"spec": {"volumes": [{"name": "b", "emptyDir": {}}]}},
                ("spec", "volumes"),
                [{"name": "b", "emptyDir": {}}, {"name": "a", "emptyDir": {}}],
            ),
            (
                "Pod",
                {"spec": {"imagePullSecrets": [{"name": "a"}]}},
                {"spec": {"imagePullSecrets": [{"name": "a"}, {"name": "b"}]}},
                ("spec", "imagePullSecrets"),
                [{"name": "a"}, {"name": "b"}],
            ),
            (
                "Pod",
                {"spec": {"hostAliases": [{"ip": "127.0.0.1", "hostnames": ["a"]}]}},
                {"spec": {"hostAliases": [{"ip": "127.0.0.1", "hostnames": ["b"]}]}},
                ("spec", "hostAliases"),
                [{"ip": "127.0.0.1", "hostnames": ["b"]}],
            ),
            (
                "Pod",
                {
                    "status": {
                        "conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]
                    }
                },
                {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                ("status", "conditions"),
                [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
            ),
            (
                "Service",
                {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}},
                {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
                ("spec", "ports"),
                [{"port": 80, "targetPort": 9090}],
            ),
            (
                "Node",
                {
                    "status": {
                        "addresses": [
                            {"type": "InternalIP", "address": "127.0.1.1"},
                            {"type": "Hostname", "address": "n1"},
                        ]
                    }
                },
                {"status": {"addresses": [{"type": "InternalIP", "address": "127.0.1.2"}]}},
                ("status", "addresses"),
                [{"type": "InternalIP", "address": "127.0.1.2"}, {"type": "Hostname", "address": "n1"}],
            ),
            (
                "ReplicaSet",
                {"metadata": {"ownerReferences": [{"uid": "u1", "name": "web"}]}},
                {"metadata": {"ownerReferences": [{"uid": "u1", "controller": True}]}},
                ("metadata", "ownerReferences"),
                [{"uid": "u1", "name": "web", "controller": True}],
            ),
            (
                "ConfigMap",
                {"metadata": {"finalizers": ["a"]}},
                {"metadata": {"finalizers": ["b", "a"]}},
                ("metadata", "finalizers"),
                ["b", "a"],
            ),
        ],
    )
    def test_merged_lists(
        self, kind: str, obj: dict[str, Any], patch: dict[str, Any], path: tuple[Any, ...], result: Any
    ) -> None:
        """Lists with a patch merge key merge element by element, per Kubernetes' struct tags."""
        value: Any = strategic_merge_patch({"kind": kind, **obj}, patch)
        for step in path:
            value = value[step]
        assert value == result

    def test_replica_set_template_containers(self) -> None:
        """A ReplicaSet's pod template uses the Pod schema."""
        rs = {"kind": "ReplicaSet", "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}]}}}}
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "2"}]}}}}
        assert strategic_merge_patch(rs, patch)["spec"]["template"]["spec"]["containers"] == [
            {"name": "a", "image": "2"}
        ]

    def test_unknown_kind_replaces_lists(self) -> None:
        """A kind without a schema replaces its lists (but still merges metadata.finalizers)."""
        obj = {"kind": "Widget", "spec": {"items": [{"name": "a"}]}, "metadata": {"finalizers": ["x"]}}
        patch = {"spec": {"items": [{"name": "b"}]}, "metadata": {"finalizers": ["y"]}}
        result = strategic_merge_patch(obj, patch)
        assert result["spec"]["items"] == [{"name": "b"}]
        assert result["metadata"]["finalizers"] == ["y", "x"]

    def test_schema_lookup(self) -> None:
        """patch_schema() exposes the table: containers merge by name."""
        containers = patch_schema("Pod")["spec"].fields["containers"]
        assert (containers.merge, containers.merge_key) == (True, "name")
        assert isinstance(patch_schema("Lease")["metadata"], PatchMeta)


class TestDirectives:
    """The directives of the strategic merge patch design doc."""

    POD: ClassVar[dict[str, Any]] = {
        "kind": "Pod",
        "metadata": {"name": "p", "finalizers": ["a", "b", "c"]},
        "spec": {
            "containers": [{"name": "nginx", "image": "nginx-1.0"}, {"name": "log-tailer", "image": "log-tailer-1.0"}]
        },
    }

    def test_replace_map(self) -> None:
        """$patch: replace in a map takes the map literally."""
        patch = {"spec": {"$patch": "replace", "containers": [{"name": "nginx", "image": "nginx-2.0"}]}}
        assert strategic_merge_patch(self.POD, patch)["spec"] == {
            "containers": [{"name": "nginx", "image": "nginx-2.0"}]
        }

    def test_replace_list(self) -> None:
        """A $patch: replace element replaces the whole merged list with the other elements."""
        patch = {"spec": {"containers": [{"name": "sidecar", "image": "s"}, {"$patch": "replace"}]}}
        assert strategic_merge_patch(self.POD, patch)["spec"]["containers"] == [{"name": "sidecar", "image": "s"}]

    def test_delete_list_element(self) -> None:
        """A $patch: delete element removes the elements with that merge key."""
        patch = {
            "spec": {
                "containers": [{"name": "nginx", "image": "nginx-1.0"}, {"$patch": "delete", "name": "log-tailer"}]
            }
        }
        assert strategic_merge_patch(self.POD, patch)["spec"]["containers"] == [{"name": "nginx", "image": "nginx-1.0"}]

    def test_delete_map(self) -> None:
        """$patch: delete in a map deletes it, like null."""
        deployment = {
            "kind": "Deployment",
            "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
        }
        patch = {"spec": {"strategy": {"rollingUpdate": {"$patch": "delete"}}}}
        assert strategic_merge_patch(deployment, patch)["spec"]["strategy"] == {"type": "RollingUpdate"}

    def test_merge_directive_is_accepted(self) -> None:
        """$patch: merge is the default and changes nothing."""
        patch = {"metadata": {"$patch": "merge", "labels": {"a": "1"}}}
        assert strategic_merge_patch(self.POD, patch)["metadata"]["labels"] == {"a": "1"}

    def test_delete_from_primitive_list(self) -> None:
        """$deleteFromPrimitiveList/finalizers removes those strings."""
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "c"]}}
        assert strategic_merge_patch(self.POD, patch)["metadata"]["finalizers"] == ["a"]

    def test_set_element_order_primitives(self) -> None:
        """$setElementOrder/finalizers reorders a list of strings."""
        patch = {"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"]}}
        assert strategic_merge_patch(self.POD, patch)["metadata"]["finalizers"] == ["b", "c", "a"]

    def test_set_element_order_maps(self) -> None:
        """$setElementOrder/containers reorders a list of maps by merge key."""
        patch = {"spec": {"$setElementOrder/containers": [{"name": "log-tailer"}, {"name": "nginx"}]}}
        names = [c["name"] for c in strategic_merge_patch(self.POD, patch)["spec"]["containers"]]
        assert names == ["log-tailer", "nginx"]

    def test_set_element_order_with_additions(self) -> None:
        """A new element goes where $setElementOrder puts it, not first."""
        patch = {
            "spec": {
                "$setElementOrder/containers": [{"name": "nginx"}, {"name": "log-tailer"}, {"name": "new"}],
                "containers": [{"name": "new", "image": "new-1.0"}],
            }
        }
        names = [c["name"] for c in strategic_merge_patch(self.POD, patch)["spec"]["containers"]]
        assert names == ["nginx", "log-tailer", "new"]

    def test_set_element_order_keeps_unmentioned_in_place(self) -> None:
        """A live element the order list omits goes before the first listed element that followed it live."""
        pod = {"kind": "Pod", "spec": {"containers": [{"name": n} for n in ("a", "b", "c")]}}
        patch = {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}]}}
        names = [c["name"] for c in strategic_merge_patch(pod, patch)["spec"]["containers"]]
        assert names == ["b", "c", "a"]

    def test_retain_keys_union(self) -> None:
        """The design doc's union example: fields missing from $retainKeys are cleared."""
        obj = {"kind": "Deployment", "spec": {"strategy": {"foo": "a", "other": "b"}}}
        patch = {"spec": {"strategy": {"$retainKeys": ["another", "bar"], "another": "d", "bar": "c"}}}
        assert strategic_merge_patch(obj, patch)["spec"]["strategy"] == {"another": "d", "bar": "c"}

    def test_volume_source_switch_with_retain_keys(self) -> None:
        """Volumes merge by name and honour $retainKeys inside an element."""
        pod = {"kind": "Pod", "spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}
        patch = {
            "spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "configMap"], "configMap": {"name": "cm"}}]}
        }
        assert strategic_merge_patch(pod, patch)["spec"]["volumes"] == [{"name": "v", "configMap": {"name": "cm"}}]


class TestStrategicMergePatchRules:
    def test_inputs_are_not_mutated(self) -> None:
        """strategic_merge_patch() copies; the result shares nothing with its inputs."""
        pod = {"kind": "Pod", "spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}}
        patch = {"spec": {"containers": [{"name": "b", "env": [{"name": "Y", "value": "2"}]}]}}
        before_pod, before_patch = copy.deepcopy(pod), copy.deepcopy(patch)
        result = strategic_merge_patch(pod, patch)
        for container in result["spec"]["containers"]:
            container["env"].append({"name": "Z"})
        assert (pod, patch) == (before_pod, before_patch)

    def test_nulls_in_new_element_are_dropped(self) -> None:
        """Nulls inside an added subtree do not land in the result."""
        assert strategic_merge_patch({"kind": "Pod"}, {"metadata": {"labels": {"a": None, "b": "1"}}}) == {
            "kind": "Pod",
            "metadata": {"labels": {"b": "1"}},
        }

    def test_kind_defaults_to_target(self) -> None:
        """Without a kind argument the target's kind picks the schema."""
        pod = {"kind": "Pod", "spec": {"containers": [{"name": "a"}]}}
        assert len(strategic_merge_patch(pod, {"spec": {"containers": [{"name": "b"}]}})["spec"]["containers"]) == 2

    @pytest.mark.parametrize(
        ("patch", "message"),
        [
            ({"spec": {"containers": [{"image": "x"}]}}, "does not contain declared merge key: name"),
            ({"spec": {"containers": [{"$patch": "delete"}]}}, "does not contain declared merge key: name"),
            ({"spec": {"$patch": "explode"}}, "unknown patch type: explode"),
            ({"spec": {"$frobnicate": 1}}, "unknown strategic merge patch directive: $frobnicate"),
            ({"spec": {"$retainKeys": ["a"], "b": 1}}, 'invalid patch format of retainKeys: "b"'),
            ({"spec": {"$retainKeys": "a"}}, "invalid patch format of retainKeys"),
            (
                {"spec": {"$setElementOrder/containers": {"name": "a"}}},
                "invalid patch format of $setElementOrder/containers",
            ),
            (
                {
                    "spec": {
                        "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                        "containers": [{"name": "b"}, {"name": "a"}],
                    }
                },
                "does not match its $setElementOrder/containers list",
            ),
            ({"metadata": {"finalizers": [{"a": 1}]}}, "cannot merge lists without merge key"),
        ],
    )
    def test_malformed_patches(self, patch: dict[str, Any], message: str) -> None:
        """Malformed patches raise ValueError with a message for a 400 reply."""
        pod = {"kind": "Pod", "metadata": {"finalizers": ["x"]}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
        with pytest.raises(ValueError) as info:
            strategic_merge_patch(pod, patch)
        assert message in str(info.value)

    def test_patch_must_be_an_object(self) -> None:
        """A non-object patch is refused."""
        with pytest.raises(ValueError, match="must be a JSON object"):
            strategic_merge_patch({}, [])  # type: ignore[arg-type]


class TestCreateStrategicMergePatch:
    def test_primitive_list_diff(self) -> None:
        """A finalizers change becomes additions, a deletion list and an order list."""
        original = {"kind": "Pod", "metadata": {"finalizers": ["a", "b", "c"]}}
        modified = {"kind": "Pod", "metadata": {"finalizers": ["c", "d", "a"]}}
        assert create_strategic_merge_patch(original, modified) == {
            "metadata": {
                "finalizers": ["d"],
                "$deleteFromPrimitiveList/finalizers": ["b"],
                "$setElementOrder/finalizers": ["c", "d", "a"],
            }
        }

    def test_list_of_maps_diff(self) -> None:
        """A containers change becomes element patches, delete directives and an order list."""
        original = {"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}}
        modified = {"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "2"}]}}
        assert create_strategic_merge_patch(original, modified) == {
            "spec": {
                "containers": [{"image": "2", "name": "a"}, {"$patch": "delete", "name": "b"}],
                "$setElementOrder/containers": [{"name": "a"}],
            }
        }

    def test_no_change_is_empty(self) -> None:
        """Equal objects give an empty patch."""
        pod = {"kind": "Pod", "spec": {"containers": [{"name": "a"}]}}
        assert create_strategic_merge_patch(pod, copy.deepcopy(pod)) == {}

    def test_retain_keys_directive(self) -> None:
        """Switching a Deployment's strategy adds $retainKeys, as kubectl does."""
        original = {
            "kind": "Deployment",
            "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
        }
        modified = {"kind": "Deployment", "spec": {"strategy": {"type": "Recreate"}}}
        patch = create_strategic_merge_patch(original, modified)
        assert patch == {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None, "$retainKeys": ["type"]}}}
        assert strategic_merge_patch(original, patch) == modified

    @settings(max_examples=150, deadline=None)
    @given(
        st.lists(st.sampled_from("abcde"), unique=True),
        st.lists(st.sampled_from("abcde"), unique=True),
        st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from(["1", "2"])), unique_by=lambda t: t[0]),
        st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from(["1", "2"])), unique_by=lambda t: t[0]),
    )
    def test_round_trip(
        self, fin_a: list[str], fin_b: list[str], ctr_a: list[tuple[str, str]], ctr_b: list[tuple[str, str]]
    ) -> None:
        """Applying the two-way patch to the original always gives the modified object, order included."""
        original = {
            "kind": "Pod",
            "metadata": {"finalizers": fin_a},
            "spec": {"containers": [{"name": n, "image": i} for n, i in ctr_a]},
        }
        modified = {
            "kind": "Pod",
            "metadata": {"finalizers": fin_b},
            "spec": {"containers": [{"name": n, "image": i} for n, i in ctr_b]},
        }
        assert strategic_merge_patch(original, create_strategic_merge_patch(original, modified)) == modified


class TestThreeWayMergePatch:
    def test_apply_keeps_fields_of_other_writers(self) -> None:
        """kubectl apply deletes what the last config had and the new one drops, and keeps the rest."""
        last_applied = {
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "old": "x"}},
            "spec": {"replicas": 2},
        }
        new_config = {
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 3},
        }
        live = {
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "old": "x", "team": "blue"}, "uid": "u1"},
            "spec": {"replicas": 2, "paused": False},
            "status": {"replicas": 2},
        }
        patch = create_three_way_merge_patch(last_applied, new_config, live)
        assert strategic_merge_patch(live, patch) == {
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "team": "blue"}, "uid": "u1"},
            "spec": {"replicas": 3, "paused": False},
            "status": {"replicas": 2},
        }

    def test_apply_keeps_injected_container(self) -> None:
        """A container another writer added survives apply; one dropped from the config goes."""

        def pod(*names: str) -> dict[str, Any]:
            return {"kind": "Pod", "spec": {"containers": [{"name": n, "image": n} for n in names]}}

        patch = create_three_way_merge_patch(pod("app", "old"), pod("app", "new"), pod("app", "old", "injected"))
        names = [c["name"] for c in strategic_merge_patch(pod("app", "old", "injected"), patch)["spec"]["containers"]]
        assert sorted(names) == ["app", "injected", "new"]

    def test_first_apply(self) -> None:
        """Without a last-applied configuration nothing is deleted."""
        live = {"kind": "ConfigMap", "metadata": {"name": "c", "uid": "u"}, "data": {"a": "1"}}
        patch = create_three_way_merge_patch(
            None, {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"b": "2"}}, live
        )
        assert strategic_merge_patch(live, patch)["data"] == {"a": "1", "b": "2"}


class TestJsonPatch:
    @pytest.mark.parametrize(
        ("doc", "ops", "result"),
        [
            ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
            (
                {"foo": ["bar", "baz"]},
                [{"op": "add", "path": "/foo/1", "value": "qux"}],
                {"foo": ["bar", "qux", "baz"]},
            ),
            ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
            ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
            (
                {"baz": "qux", "foo": "bar"},
                [{"op": "replace", "path": "/baz", "value": "boo"}],
                {"baz": "boo", "foo": "bar"},
            ),
            (
                {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
                [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
                {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
            ),
            (
                {"foo": ["all", "grass", "cows", "eat"]},
                [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
                {"foo": ["all", "cows", "eat", "grass"]},
            ),
            (
                {"baz": "qux", "foo": ["a", 2, "c"]},
                [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
                {"baz": "qux", "foo": ["a", 2, "c"]},
            ),
            (
                {"foo": "bar"},
                [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
                {"foo": "bar", "child": {"grandchild": {}}},
            ),
            ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}], {"foo": "bar", "baz": "qux"}),
            ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
            (
                {"foo": ["bar"]},
                [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
                {"foo": ["bar", ["abc", "def"]]},
            ),
            ({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}], {"a": {"b": 1}, "c": {"b": 1}}),
            ({"a": 1}, [{"op": "replace", "path": "", "value": [1]}], [1]),
        ],
    )
    def test_rfc6902_appendix_a(self, doc: Any, ops: list[dict[str, Any]], result: Any) -> None:
        """The RFC's examples apply as the RFC says."""
        assert json_patch(doc, ops) == result

    def test_scale_like_kubectl_patch_type_json(self) -> None:
        """kubectl patch --type json replaces spec.replicas and a container image."""
        deployment = _deployment([{"name": "nginx", "image": "nginx:1.25"}])
        ops = [
            {"op": "replace", "path": "/spec/replicas", "value": 4},
            {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.26"},
        ]
        result = json_patch(deployment, ops)
        assert (result["spec"]["replicas"], _pod_spec(result)["containers"][0]["image"]) == (4, "nginx:1.26")

    @pytest.mark.parametrize(
        ("doc", "ops", "message"),
        [
            (
                {"baz": "qux"},
                [{"op": "test", "path": "/baz", "value": "bar"}],
                'json patch operation 0 ("test") at "/baz": test failed',
            ),
            ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], 'path "/baz" does not exist'),
            ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}], "test failed"),
            (
                {"a": 1},
                [{"op": "remove", "path": "/b"}],
                'json patch operation 0 ("remove") at "/b": path "/b" does not exist',
            ),
            ({"a": [1]}, [{"op": "add", "path": "/a/2", "value": 1}], "array index 2 is out of range"),
            ({"a": [1]}, [{"op": "remove", "path": "/a/01"}], '"01" is not an array index'),
            ({"a": {}}, [{"op": "move", "from": "/a", "path": "/a/b"}], "into its own child"),
            ({"a": 1}, [{"op": "replace", "path": "/b", "value": 1}], 'path "/b" does not exist'),
            ({"a": 1}, [{"op": "add", "path": "a", "value": 1}], "is not a JSON pointer"),
            ({"a": 1}, [{"op": "add", "path": "/b"}], 'missing "value" member'),
            ({"a": 1}, [{"op": "frob", "path": "/a"}], "unknown op"),
            ({"a": 1}, [{"path": "/a"}], 'must be an object with an "op" string'),
            ({"a": True}, [{"op": "test", "path": "/a", "value": 1}], "test failed"),
        ],
    )
    def test_failures(self, doc: Any, ops: list[dict[str, Any]], message: str) -> None:
        """Failing operations raise ValueError naming the operation and path."""
        with pytest.raises(ValueError) as info:
            json_patch(doc, ops)
        assert message in str(info.value)

    def test_all_or_nothing(self) -> None:
        """A failure in a later operation leaves the input untouched."""
        doc = {"a": 1}
        with pytest.raises(ValueError, match="operation 1"):
            json_patch(doc, [{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/zzz"}])
        assert doc == {"a": 1}

    def test_ops_must_be_a_list(self) -> None:
        """A JSON patch is a list of operations."""
        with pytest.raises(ValueError, match="must be a list of operations"):
            json_patch({}, {"op": "add"})  # type: ignore[arg-type]
