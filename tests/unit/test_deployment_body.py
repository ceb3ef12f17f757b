"""The body of a Deployment's new ReplicaSet (:func:`controllermanager.rollout.new_replica_set`)
checked against what Kubernetes' deployment controller creates
(``getNewReplicaSet`` in ``pkg/controller/deployment/sync.go``): the
template and selector gain ``pod-template-hash``, the name is
``<deployment>-<hash>``, the labels are the template's, one controller
ownerReference, ``minReadySeconds`` copied, the Deployment's annotations
(minus the skipped ones) plus revision/desired/max-replicas, and
``spec.replicas`` from ``NewRSNewReplicas``."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controllermanager.rollout import (
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    POD_TEMPLATE_HASH_LABEL,
    REVISION_ANNOTATION,
    new_replica_set,
    pod_template_hash,
)
from kemu.types import Obj


DEFAULT_ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
"""``spec.strategy`` as the apiserver defaults it."""

OWNER = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "name": "nginx-deployment",
    "uid": "6f1a0c1e-0000-4000-8000-000000000001",
    "controller": True,
    "blockOwnerDeletion": True,
}


def deployment(**spec: Any) -> Obj:
    """The Deployment of Kubernetes' "Creating a Deployment" example."""
    base: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "nginx-deployment",
            "namespace": "shop",
            "uid": OWNER["uid"],
            "labels": {"app": "nginx", "tier": "front"},
            "annotations": {
                "kubernetes.io/change-cause": "kubectl apply --filename=nginx.yaml",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                REVISION_ANNOTATION: "7",
            },
        },
        "spec": {
            "replicas": 3,
            "selector": {
                "matchLabels": {"app": "nginx"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}],
            },
            "template": {
                "metadata": {"labels": {"app": "nginx", "tier": "front"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]}]},
            },
        },
    }
    base["spec"].update(spec)
    return base


def body(d: Obj, *, desired: int = 3, max_replicas: int = 4, current_total: int = 0, revision: int = 1) -> Obj:
    return new_replica_set(
        d, new_revision=revision, desired=desired, max_replicas=max_replicas, current_total=current_total,
        owner_ref=OWNER,
    )


def test_identity_is_the_template_hash() -> None:
    d = deployment()
    rs = body(d)
    pod_hash = pod_template_hash(d["spec"]["template"])
    assert rs["apiVersion"] == "apps/v1" and rs["kind"] == "ReplicaSet"
    assert rs["metadata"]["name"] == f"nginx-deployment-{pod_hash}"
    assert rs["metadata"]["namespace"] == "shop"


def test_collision_count_changes_the_hash_and_the_name() -> None:
    d = deployment()
    d["status"] = {"collisionCount": 2}
    rs = body(d)
    pod_hash = pod_template_hash(d["spec"]["template"], 2)
    assert pod_hash != pod_template_hash(d["spec"]["template"])
    assert rs["metadata"]["name"] == f"nginx-deployment-{pod_hash}"
    assert rs["spec"]["template"]["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] == pod_hash


def test_template_selector_and_labels_gain_the_hash_label() -> None:
    d = deployment()
    rs = body(d)
    pod_hash = rs["metadata"]["name"].rsplit("-", 1)[1]
    labels = {"app": "nginx", "tier": "front", POD_TEMPLATE_HASH_LABEL: pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"] == labels
    assert rs["spec"]["template"]["spec"] == d["spec"]["template"]["spec"]
    # CloneSelectorAndAddLabel: matchLabels gain the key, matchExpressions stay.
    assert rs["spec"]["selector"] == {
        "matchLabels": {"app": "nginx", POD_TEMPLATE_HASH_LABEL: pod_hash},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}],
    }
    # ObjectMeta.Labels are the new template's labels, not the Deployment's own.
    assert rs["metadata"]["labels"] == labels


def test_deployment_is_left_unchanged() -> None:
    d = deployment()
    before = copy.deepcopy(d)
    rs = body(d)
    assert d == before
    rs["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    rs["spec"]["selector"]["matchLabels"]["x"] = "y"
    assert d == before


def test_one_controller_owner_reference() -> None:
    rs = body(deployment())
    assert rs["metadata"]["ownerReferences"] == [OWNER]
    assert rs["metadata"]["ownerReferences"][0] is not OWNER


def test_min_ready_seconds_is_copied_and_defaults_to_zero() -> None:
    assert body(deployment(minReadySeconds=10))["spec"]["minReadySeconds"] == 10
    assert body(deployment())["spec"]["minReadySeconds"] == 0


def test_annotations_as_set_new_replica_set_annotations() -> None:
    rs = body(deployment(), revision=8, desired=3, max_replicas=4)
    assert rs["metadata"]["annotations"] == {
        "kubernetes.io/change-cause": "kubectl apply --filename=nginx.yaml",
        REVISION_ANNOTATION: "8",
        DESIRED_REPLICAS_ANNOTATION: "3",
        MAX_REPLICAS_ANNOTATION: "4",
    }


@pytest.mark.parametrize(
    ("strategy", "desired", "current_total", "expected"),
    [
        # A first rollout: nothing else runs, the new set gets everything.
        (DEFAULT_ROLLING, 3, 0, 3),
        # 10 replicas running in the old set, the defaulted maxSurge 25% (rounds up to 3).
        (DEFAULT_ROLLING, 10, 10, 3),
        # maxSurge 0 with every pod still in the old sets: the new set starts empty.
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}, 4, 4, 0),
        # Recreate: the old sets are already at zero; the new one gets all of them.
        ({"type": "Recreate"}, 5, 5, 5),
        # A strategy without a type is a rolling update.
        ({"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}, 10, 10, 3),
    ],
)
def test_replicas_are_new_rs_new_replicas(strategy: Obj, desired: int, current_total: int, expected: int) -> None:
    d = deployment(replicas=desired, strategy=strategy)
    assert body(d, desired=desired, current_total=current_total)["spec"]["replicas"] == expected
