"""The ReplicationController (``core/v1``): field schema, defaults and
validation, merged into the shared tables when this module is imported
(which :mod:`kemu.api` does first thing).

The ReplicationController is the ReplicaSet's ancestor, kept by Kubernetes
for old manifests and by the official Python client's e2e tests. It differs
from a ReplicaSet in its API, not in what it does:

- ``spec.selector`` is a plain ``map[string]string`` (equality only), not a
  ``LabelSelector``; :func:`label_selector_of` turns it into one, so the
  controller, scale subresource and printers reuse the ReplicaSet's code;
- defaulting (``SetDefaults_ReplicationController``) copies the template's
  labels into an empty selector *and* into empty object labels, and sets
  ``replicas: 1``;
- the selector may change after creation (a ReplicaSet's may not);
- ``spec.template`` is optional in the schema, but required by validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kemu.api.defaults import _DEFAULTERS, _default_template
from kemu.api.schema import (
    INT32,
    INT64,
    LABELS,
    OBJECT_META,
    POD_TEMPLATE_SPEC,
    SCHEMAS,
    STRING,
    TIME,
    list_of,
    struct,
    top_level,
)
from kemu.api.validation import (
    _KIND_RULES,
    ErrorList,
    Path,
    _map,
    _nonnegative,
    _rules,
    _str,
    _validate_labels,
    _validate_pod_template,
)
from kemu.apimachinery import name_is_dns_subdomain

__all__ = ["REPLICATION_CONTROLLER", "label_selector_of", "default_replication_controller"]

_CORE = "io.k8s.api.core.v1."

REPLICATION_CONTROLLER = top_level(
    struct(
        _CORE + "ReplicationController",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        spec=struct(
            _CORE + "ReplicationControllerSpec",
            replicas=INT32,
            minReadySeconds=INT32,
            selector=LABELS,
            template=POD_TEMPLATE_SPEC,
        ),
        status=struct(
            _CORE + "ReplicationControllerStatus",
            required=("replicas",),
            replicas=INT32,
            fullyLabeledReplicas=INT32,
            readyReplicas=INT32,
            availableReplicas=INT32,
            observedGeneration=INT64,
            conditions=list_of(
                struct(
                    _CORE + "ReplicationControllerCondition",
                    required=("type", "status"),
                    type=STRING,
                    status=STRING,
                    lastTransitionTime=TIME,
                    reason=STRING,
                    message=STRING,
                )
            ),
        ),
    ),
    "",
    "v1",
    "ReplicationController",
)


def label_selector_of(selector: Any) -> dict[str, Any]:
    """A ReplicationController's map selector as the ``LabelSelector`` a
    ReplicaSet carries (``{"app": "web"}`` -> ``{"matchLabels": {"app": "web"}}``);
    anything but a non-empty map is the empty selector.

    >>> label_selector_of({"app": "web"})
    {'matchLabels': {'app': 'web'}}
    >>> label_selector_of(None)
    {}
    """
    if not isinstance(selector, Mapping) or not selector:
        return {}
    return {"matchLabels": {str(k): str(v) for k, v in selector.items()}}


def default_replication_controller(obj: dict[str, Any]) -> None:
    """``SetDefaults_ReplicationController``: the template's labels become the
    selector when it is empty, and the object's labels when they are empty;
    one replica unless told otherwise.

    >>> rc = {"spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {}}}}
    >>> default_replication_controller(rc)
    >>> rc["spec"]["selector"], rc["metadata"]["labels"], rc["spec"]["replicas"]
    ({'app': 'web'}, {'app': 'web'}, 1)
    """
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    template = spec.get("template")
    labels = ((template.get("metadata") or {}).get("labels") if isinstance(template, dict) else None) or None
    if isinstance(labels, dict):
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _default_template(spec)


def _validate_replication_controller(obj: dict[str, Any], errs: ErrorList) -> None:
    """``ValidateReplicationControllerSpec`` and ``ValidatePodTemplateSpecForRC``."""
    spec, path = _map(obj.get("spec")), Path("spec")
    _nonnegative(spec.get("minReadySeconds"), path.child("minReadySeconds"), errs)
    selector = _map(spec.get("selector"))
    if not selector:
        errs.required(path.child("selector"))
    else:
        _validate_labels(selector, path.child("selector"), errs)
    _nonnegative(spec.get("replicas"), path.child("replicas"), errs)
    template_path = path.child("template")
    template = spec.get("template")
    if not isinstance(template, dict):
        errs.required(template_path)
        return
    labels = _map(_map(template.get("metadata")).get("labels"))
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        errs.invalid(template_path.child("metadata", "labels"), labels, "`selector` does not match template `labels`")
    _validate_pod_template(template, template_path, errs)
    template_spec = _map(template.get("spec"))
    restart = template_spec.get("restartPolicy")
    if restart != "Always":
        errs.not_supported(template_path.child("spec", "restartPolicy"), _str(restart), ("Always",))
    if template_spec.get("activeDeadlineSeconds") is not None:
        errs.invalid(
            template_path.child("spec", "activeDeadlineSeconds"),
            template_spec["activeDeadlineSeconds"],
            "activeDeadlineSeconds in ReplicationController is not Supported",
        )


SCHEMAS["ReplicationController"] = REPLICATION_CONTROLLER
_DEFAULTERS["ReplicationController"] = default_replication_controller
_KIND_RULES["ReplicationController"] = _rules(
    "ReplicationController", name_is_dns_subdomain, _validate_replication_controller
)
