"""Protobuf field numbers of the kinds in :mod:`kemu.api.schema_objects`.

kubectl 1.32's typed clients send ``kubectl create secret|serviceaccount|
role|rolebinding|clusterrole|quota|ingress|priorityclass|token`` and ``kubectl
auth can-i`` as protobuf (``application/vnd.kubernetes.protobuf``). A decoder
of those bodies needs, for each message, the field number of each JSON field:
these are the facts of ``k8s.io/api``'s ``generated.proto`` files
(``core/v1``, ``rbac/v1``, ``networking/v1``, ``scheduling/v1``,
``authorization/v1``, ``authentication/v1``), keyed by the same OpenAPI
definition names the schema uses, so the table can be joined with the schema
field for field (a unit test checks that every schema field has a number).

Two quirks of the wire format, as ``generated.proto`` has them:

- ``IngressRule``'s ``http`` is not a field of ``IngressRule``: it sits in the
  embedded ``IngressRuleValue`` (field 2), whose ``http`` is field 1;
  :data:`EMBEDDED` says so;
- ``map<string, bytes>`` (``Secret.data``) and ``map<string, string>``
  (``stringData``, ``ResourceList``) are repeated entries with key 1, value 2,
  as for every protobuf map; a ``Quantity`` is a message with its string in
  field 1.

``metav1.ObjectMeta`` and the other meta/v1 types are shared with every kind
and are not repeated here.
"""

from __future__ import annotations

__all__ = ["EMBEDDED", "FIELD_NUMBERS"]

_CORE = "io.k8s.api.core.v1."
_RBAC = "io.k8s.api.rbac.v1."
_NET = "io.k8s.api.networking.v1."
_SCHED = "io.k8s.api.scheduling.v1."
_AUTHZ = "io.k8s.api.authorization.v1."
_AUTHN = "io.k8s.api.authentication.v1."

FIELD_NUMBERS: dict[str, dict[str, int]] = {
    # core/v1
    _CORE + "Secret": {"metadata": 1, "data": 2, "type": 3, "stringData": 4, "immutable": 5},
    _CORE + "ServiceAccount": {"metadata": 1, "secrets": 2, "imagePullSecrets": 3, "automountServiceAccountToken": 4},
    _CORE + "ResourceQuota": {"metadata": 1, "spec": 2, "status": 3},
    _CORE + "ResourceQuotaSpec": {"hard": 1, "scopes": 2, "scopeSelector": 3},
    _CORE + "ResourceQuotaStatus": {"hard": 1, "used": 2},
    _CORE + "ScopeSelector": {"matchExpressions": 1},
    _CORE + "ScopedResourceSelectorRequirement": {"scopeName": 1, "operator": 2, "values": 3},
    _CORE + "ObjectReference": {
        "kind": 1, "namespace": 2, "name": 3, "uid": 4, "apiVersion": 5, "resourceVersion": 6, "fieldPath": 7,
    },
    _CORE + "LocalObjectReference": {"name": 1},
    _CORE + "TypedLocalObjectReference": {"apiGroup": 1, "kind": 2, "name": 3},
    # rbac.authorization.k8s.io/v1
    _RBAC + "Role": {"metadata": 1, "rules": 2},
    _RBAC + "ClusterRole": {"metadata": 1, "rules": 2, "aggregationRule": 3},
    _RBAC + "RoleBinding": {"metadata": 1, "subjects": 2, "roleRef": 3},
    _RBAC + "ClusterRoleBinding": {"metadata": 1, "subjects": 2, "roleRef": 3},
    _RBAC + "PolicyRule": {"verbs": 1, "apiGroups": 2, "resources": 3, "resourceNames": 4, "nonResourceURLs": 5},
    _RBAC + "Subject": {"kind": 1, "apiGroup": 2, "name": 3, "namespace": 4},
    _RBAC + "RoleRef": {"apiGroup": 1, "kind": 2, "name": 3},
    _RBAC + "AggregationRule": {"clusterRoleSelectors": 1},
    # networking.k8s.io/v1
    _NET + "Ingress": {"metadata": 1, "spec": 2, "status": 3},
    _NET + "IngressSpec": {"defaultBackend": 1, "tls": 2, "rules": 3, "ingressClassName": 4},
    _NET + "IngressBackend": {"resource": 3, "service": 4},
    _NET + "IngressServiceBackend": {"name": 1, "port": 2},
    _NET + "ServiceBackendPort": {"name": 1, "number": 2},
    _NET + "IngressTLS": {"hosts": 1, "secretName": 2},
    _NET + "IngressRule": {"host": 1, "http": 2},
    _NET + "HTTPIngressRuleValue": {"paths": 1},
    _NET + "HTTPIngressPath": {"path": 1, "backend": 2, "pathType": 3},
    _NET + "IngressStatus": {"loadBalancer": 1},
    _NET + "IngressLoadBalancerStatus": {"ingress": 1},
    _NET + "IngressLoadBalancerIngress": {"ip": 1, "hostname": 2, "ports": 4},
    _NET + "IngressPortStatus": {"port": 1, "protocol": 2, "error": 3},
    # scheduling.k8s.io/v1
    _SCHED + "PriorityClass": {"metadata": 1, "value": 2, "globalDefault": 3, "description": 4, "preemptionPolicy": 5},
    # authorization.k8s.io/v1
    _AUTHZ + "SelfSubjectAccessReview": {"metadata": 1, "spec": 2, "status": 3},
    _AUTHZ + "SelfSubjectAccessReviewSpec": {"resourceAttributes": 1, "nonResourceAttributes": 2},
    _AUTHZ + "ResourceAttributes": {
        "namespace": 1, "verb": 2, "group": 3, "version": 4, "resource": 5, "subresource": 6, "name": 7,
        "fieldSelector": 8, "labelSelector": 9,
    },
    _AUTHZ + "NonResourceAttributes": {"path": 1, "verb": 2},
    _AUTHZ + "SubjectAccessReviewStatus": {"allowed": 1, "reason": 2, "evaluationError": 3, "denied": 4},
    _AUTHZ + "SelfSubjectRulesReview": {"metadata": 1, "spec": 2, "status": 3},
    _AUTHZ + "SelfSubjectRulesReviewSpec": {"namespace": 1},
    _AUTHZ + "SubjectRulesReviewStatus": {"resourceRules": 1, "nonResourceRules": 2, "incomplete": 3, "evaluationError": 4},
    _AUTHZ + "ResourceRule": {"verbs": 1, "apiGroups": 2, "resources": 3, "resourceNames": 4},
    _AUTHZ + "NonResourceRule": {"verbs": 1, "nonResourceURLs": 2},
    # authentication.k8s.io/v1 (kubectl auth whoami, serviceaccounts/token)
    _AUTHN + "SelfSubjectReview": {"metadata": 1, "status": 2},
    _AUTHN + "SelfSubjectReviewStatus": {"userInfo": 1},
    _AUTHN + "UserInfo": {"username": 1, "uid": 2, "groups": 3, "extra": 4},
    _AUTHN + "TokenRequest": {"metadata": 1, "spec": 2, "status": 3},
    _AUTHN + "TokenRequestSpec": {"audiences": 1, "boundObjectRef": 3, "expirationSeconds": 4},
    _AUTHN + "TokenRequestStatus": {"token": 1, "expirationTimestamp": 2},
    _AUTHN + "BoundObjectReference": {"kind": 1, "apiVersion": 2, "name": 3, "uid": 4},
}
"""OpenAPI definition name -> JSON field name -> protobuf field number."""

EMBEDDED: dict[tuple[str, str], tuple[int, int]] = {
    (_NET + "IngressRule", "http"): (2, 1),
}
"""``(message, json field) -> (outer number, inner number)`` where a JSON field
lives inside an embedded message on the wire (``IngressRule.http`` is
``IngressRule.ingressRuleValue(2).http(1)``)."""
