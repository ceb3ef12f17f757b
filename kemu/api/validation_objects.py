"""Validation of Secret, ServiceAccount, ResourceQuota, the RBAC kinds,
Ingress and PriorityClass, worded as ``pkg/apis/*/validation`` words it.

These are the rules that matter to someone typing ``kubectl create``: names,
required fields, the per-type keys of a Secret (``tls.crt``/``tls.key``,
``.dockerconfigjson`` ...), the 1 MiB Secret limit, ``immutable``, a
binding's ``roleRef`` that may not change, an Ingress path's ``pathType``.
They are merged into :mod:`kemu.api.validation`'s kind table when this module
is imported, which :mod:`kemu.api` does first thing. The access reviews are not here: they are never stored, and
:mod:`kemu.api.reviews` checks them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from typing import Any

from kemu.api import quantity
from kemu.api.validation import (
    FIELD_IMMUTABLE,
    IS_NEGATIVE,
    ErrorList,
    GoLiteral,
    Path,
    _dicts,
    _is_set,
    _KIND_RULES,
    _KindRules,
    _map,
    _prune,
    _rules,
    _str,
    _strs,
    is_config_map_key,
)
from kemu.apimachinery import is_dns1035_label, is_dns1123_subdomain, is_qualified_name, name_is_dns_subdomain
from kemu.apimachinery import is_wildcard_dns1123_subdomain

__all__ = [
    "MAX_SECRET_SIZE",
    "OBJECT_KIND_RULES",
    "SECRET_TYPES",
    "name_is_path_segment",
    "secret_data_bytes",
]

MAX_SECRET_SIZE = 1024 * 1024
"""``corev1.MaxSecretSize``: the decoded bytes of all of a Secret's data."""

SECRET_TYPE_OPAQUE = "Opaque"
SECRET_TYPE_SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
SECRET_TYPE_DOCKERCFG = "kubernetes.io/dockercfg"
SECRET_TYPE_DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
SECRET_TYPE_BASIC_AUTH = "kubernetes.io/basic-auth"
SECRET_TYPE_SSH_AUTH = "kubernetes.io/ssh-auth"
SECRET_TYPE_TLS = "kubernetes.io/tls"
SECRET_TYPE_BOOTSTRAP_TOKEN = "bootstrap.kubernetes.io/token"

SECRET_TYPES: dict[str, tuple[str, ...]] = {
    SECRET_TYPE_OPAQUE: (),
    SECRET_TYPE_SERVICE_ACCOUNT_TOKEN: (),
    SECRET_TYPE_DOCKERCFG: (".dockercfg",),
    SECRET_TYPE_DOCKER_CONFIG_JSON: (".dockerconfigjson",),
    SECRET_TYPE_BASIC_AUTH: (),
    SECRET_TYPE_SSH_AUTH: ("ssh-privatekey",),
    SECRET_TYPE_TLS: ("tls.crt", "tls.key"),
    SECRET_TYPE_BOOTSTRAP_TOKEN: (),
}
"""The well-known Secret types and the data keys each requires."""

SERVICE_ACCOUNT_NAME_KEY = "kubernetes.io/service-account.name"
_REDACTED = "<secret contents redacted>"
_RBAC_GROUP = "rbac.authorization.k8s.io"


# --- names --------------------------------------------------------------------------


def name_is_path_segment(name: str, prefix: bool) -> list[str]:
    """``path.IsValidPathSegmentName`` (RBAC object names: ``system:viewer`` is fine)."""
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    out = []
    for bad in ("/", "%"):
        if bad in name:
            out.append(f"may not contain '{bad}'")
    return out


# --- Secret ---------------------------------------------------------------------------


def secret_data_bytes(secret: dict[str, Any]) -> dict[str, bytes]:
    """A Secret's ``data`` decoded (values the strict decoder already checked
    are base64); undecodable values are left out."""
    out: dict[str, bytes] = {}
    for key, value in _map(secret.get("data")).items():
        if isinstance(value, bytes):
            out[str(key)] = value
            continue
        try:
            out[str(key)] = base64.b64decode(_str(value), validate=True)
        except (binascii.Error, ValueError):
            continue
    return out


def _validate_secret(obj: dict[str, Any], errs: ErrorList) -> None:
    """``ValidateSecret``: key names, the size limit, and the keys each type needs."""
    data_path = Path("data")
    data = secret_data_bytes(obj)
    total = 0
    for key in _map(obj.get("data")):
        errs.invalids(data_path.key(_str(key)), key, is_config_map_key(_str(key)))
    for value in data.values():
        total += len(value)
    if total > MAX_SECRET_SIZE:
        errs.too_long(data_path, MAX_SECRET_SIZE)
    kind = _str(obj.get("type"))
    if kind == SECRET_TYPE_SERVICE_ACCOUNT_TOKEN:
        annotations = _map(_map(obj.get("metadata")).get("annotations"))
        if not _is_set(annotations.get(SERVICE_ACCOUNT_NAME_KEY)):
            errs.required(Path("metadata", "annotations").key(SERVICE_ACCOUNT_NAME_KEY))
    elif kind in (SECRET_TYPE_DOCKERCFG, SECRET_TYPE_DOCKER_CONFIG_JSON):
        key = SECRET_TYPES[kind][0]
        if key not in data:
            errs.required(data_path.key(key))
        else:
            try:
                json.loads(data[key])
            except ValueError as exc:
                errs.invalid(data_path.key(key), _REDACTED, _go_json_error(exc))
    elif kind == SECRET_TYPE_BASIC_AUTH:
        if "username" not in data and "password" not in data:
            errs.required(data_path.key("username"))
            errs.required(data_path.key("password"))
    elif kind in (SECRET_TYPE_SSH_AUTH, SECRET_TYPE_TLS):
        for key in SECRET_TYPES[kind]:
            if key not in data:
                errs.required(data_path.key(key))


def _go_json_error(exc: ValueError) -> str:
    """The decoder's complaint, close to Go's ``json.Unmarshal`` wording."""
    return f"invalid JSON: {exc}"


def _validate_secret_update(obj: dict[str, Any], old: dict[str, Any], errs: ErrorList) -> None:
    if _str(obj.get("type")) != _str(old.get("type")):
        errs.invalid("type", _str(obj.get("type")), FIELD_IMMUTABLE)
    if old.get("immutable") is not True:
        return
    if obj.get("immutable") is not True:
        errs.forbidden("immutable", "field is immutable when `immutable` is set")
    if _prune(obj.get("data")) != _prune(old.get("data")):
        errs.forbidden("data", "field is immutable when `immutable` is set")


# --- ServiceAccount --------------------------------------------------------------------


def _validate_service_account(obj: dict[str, Any], errs: ErrorList) -> None:
    """``ValidateServiceAccount``: the object name is all that is checked
    beyond metadata; the secret references must name something."""
    for i, ref in _dicts(obj.get("secrets")):
        if ref.get("name") in (None, ""):
            errs.required(Path("secrets").index(i).child("name"))
    for i, ref in _dicts(obj.get("imagePullSecrets")):
        if ref.get("name") in (None, ""):
            errs.required(Path("imagePullSecrets").index(i).child("name"))


# --- ResourceQuota -------------------------------------------------------------------------

_STANDARD_QUOTA_RESOURCES = frozenset(
    {
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
        "cpu",
        "memory",
        "ephemeral-storage",
        "storage",
        "requests.cpu",
        "requests.memory",
        "requests.storage",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
    }
)
_QUOTA_SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity")
_INTEGER_QUOTA_RESOURCES = frozenset(
    {"pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
     "persistentvolumeclaims", "services.nodeports", "services.loadbalancers"}
)


def is_standard_quota_resource(name: str) -> bool:
    return (
        name in _STANDARD_QUOTA_RESOURCES
        or name.startswith(("hugepages-", "requests.hugepages-"))
    )


def _validate_resource_quota(obj: dict[str, Any], errs: ErrorList) -> None:
    """``ValidateResourceQuota``: resource names standard or fully qualified,
    quantities non-negative (whole numbers for object counts), known scopes."""
    spec = _map(obj.get("spec"))
    for section, values in (("spec", _map(spec.get("hard"))), ("status", _map(_map(obj.get("status")).get("hard")))):
        path = Path(section, "hard")
        for name, value in values.items():
            key_path = path.key(_str(name))
            name = _str(name)
            if not is_standard_quota_resource(name):
                problems = is_qualified_name(name)
                if problems:
                    errs.invalids(key_path, name, problems)
                elif "/" not in name:
                    errs.invalid(key_path, name, "must be a standard resource type or fully qualified")
            try:
                amount = quantity.parse_quantity(value)
            except ValueError:
                continue  # the strict decoder reports it
            if amount < 0:
                errs.invalid(key_path, GoLiteral(_str(value)), IS_NEGATIVE)
            elif (name in _INTEGER_QUOTA_RESOURCES or name.startswith("count/")) and amount != int(amount):
                errs.invalid(key_path, GoLiteral(_str(value)), "must be an integer")
    for i, scope in enumerate(_strs(spec.get("scopes"))):
        if scope not in _QUOTA_SCOPES:
            errs.not_supported(Path("spec", "scopes").index(i), scope, _QUOTA_SCOPES)
    for i, req in _dicts(_map(spec.get("scopeSelector")).get("matchExpressions")):
        path = Path("spec", "scopeSelector", "matchExpressions").index(i)
        if _str(req.get("scopeName")) not in _QUOTA_SCOPES:
            errs.not_supported(path.child("scopeName"), _str(req.get("scopeName")), _QUOTA_SCOPES)
        if _str(req.get("operator")) not in ("In", "NotIn", "Exists", "DoesNotExist"):
            errs.not_supported(path.child("operator"), _str(req.get("operator")), ("In", "NotIn", "Exists", "DoesNotExist"))


# --- RBAC ------------------------------------------------------------------------------------


def _validate_policy_rules(obj: dict[str, Any], errs: ErrorList, *, namespaced: bool) -> None:
    """``ValidatePolicyRule`` for every rule of a Role or ClusterRole."""
    for i, rule in _dicts(obj.get("rules")):
        path = Path("rules").index(i)
        if not _strs(rule.get("verbs")):
            errs.required(path.child("verbs"), "verbs must contain at least one value")
        urls = _strs(rule.get("nonResourceURLs"))
        if urls:
            if namespaced:
                errs.invalid(path.child("nonResourceURLs"), urls, "namespaced rules cannot apply to non-resource URLs")
            if _strs(rule.get("apiGroups")) or _strs(rule.get("resources")) or _strs(rule.get("resourceNames")):
                errs.invalid(
                    path.child("nonResourceURLs"), urls, "rules cannot apply to both regular resources and non-resource URLs"
                )
            continue
        if not isinstance(rule.get("apiGroups"), list) or not rule.get("apiGroups"):
            errs.required(path.child("apiGroups"), "resource rules must supply at least one api group")
        if not _strs(rule.get("resources")):
            errs.required(path.child("resources"), "resource rules must supply at least one resource")


def _validate_role(obj: dict[str, Any], errs: ErrorList) -> None:
    _validate_policy_rules(obj, errs, namespaced=True)


def _validate_cluster_role(obj: dict[str, Any], errs: ErrorList) -> None:
    if _is_set(obj.get("aggregationRule")) and not _map(obj.get("aggregationRule")).get("clusterRoleSelectors"):
        errs.required(
            Path("aggregationRule", "clusterRoleSelectors"), "at least one clusterRoleSelector required if aggregationRule is non-nil"
        )
    _validate_policy_rules(obj, errs, namespaced=False)


def _validate_subjects(obj: dict[str, Any], errs: ErrorList, *, cluster: bool) -> None:
    """``ValidateRoleBindingSubject``: a kind, a name, the group each kind lives in."""
    for i, subject in _dicts(obj.get("subjects")):
        path = Path("subjects").index(i)
        name, kind, group = _str(subject.get("name")), _str(subject.get("kind")), _str(subject.get("apiGroup"))
        if not name:
            errs.required(path.child("name"))
        if kind == "ServiceAccount":
            if group:
                errs.not_supported(path.child("apiGroup"), group, ("",))
            if name:
                errs.invalids(path.child("name"), name, is_dns1123_subdomain(name))
            if cluster and not _is_set(subject.get("namespace")):
                errs.required(path.child("namespace"))
        elif kind in ("User", "Group"):
            if group != _RBAC_GROUP:
                errs.not_supported(path.child("apiGroup"), group, (_RBAC_GROUP,))
            if kind == "Group" and name:
                errs.invalids(path.child("name"), name, name_is_path_segment(name, False))
        else:
            errs.not_supported(path.child("kind"), kind, ("ServiceAccount", "User", "Group"))


def _validate_role_ref(obj: dict[str, Any], errs: ErrorList, *, cluster: bool) -> None:
    ref = _map(obj.get("roleRef"))
    path = Path("roleRef")
    group, kind, name = _str(ref.get("apiGroup")), _str(ref.get("kind")), _str(ref.get("name"))
    if group != _RBAC_GROUP:
        errs.not_supported(path.child("apiGroup"), group, (_RBAC_GROUP,))
    kinds = ("ClusterRole",) if cluster else ("Role", "ClusterRole")
    if kind not in kinds:
        errs.not_supported(path.child("kind"), kind, kinds)
    if not name:
        errs.required(path.child("name"))
    else:
        errs.invalids(path.child("name"), name, name_is_path_segment(name, False))


def _validate_role_binding(obj: dict[str, Any], errs: ErrorList) -> None:
    _validate_role_ref(obj, errs, cluster=False)
    _validate_subjects(obj, errs, cluster=False)


def _validate_cluster_role_binding(obj: dict[str, Any], errs: ErrorList) -> None:
    _validate_role_ref(obj, errs, cluster=True)
    _validate_subjects(obj, errs, cluster=True)


def _validate_binding_update(obj: dict[str, Any], old: dict[str, Any], errs: ErrorList) -> None:
    if _prune(obj.get("roleRef")) != _prune(old.get("roleRef")):
        errs.invalid("roleRef", GoLiteral(_role_ref_literal(_map(obj.get("roleRef")))), "cannot change roleRef")


def _role_ref_literal(ref: dict[str, Any]) -> str:
    return (
        f'rbac.RoleRef{{APIGroup:"{_str(ref.get("apiGroup"))}", Kind:"{_str(ref.get("kind"))}", '
        f'Name:"{_str(ref.get("name"))}"}}'
    )


# --- Ingress ---------------------------------------------------------------------------------

_PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")


def _validate_ingress_backend(backend: Any, path: Path, errs: ErrorList) -> None:
    """``validateIngressBackend``: a service (name and one of port name or
    number) or a resource, never both."""
    backend = _map(backend)
    service, resource = backend.get("service"), backend.get("resource")
    if _is_set(service) and _is_set(resource):
        errs.invalid(path, GoLiteral("networking.IngressBackend{...}"), "cannot set both resource and service backends")
        return
    if _is_set(resource):
        ref = _map(resource)
        for key in ("kind", "name"):
            if not _is_set(ref.get(key)):
                errs.required(path.child("resource", key))
        return
    if not _is_set(service):
        errs.invalid(path, GoLiteral("networking.IngressBackend{...}"), "resource or service backend is required")
        return
    svc = _map(service)
    name = _str(svc.get("name"))
    if not name:
        errs.required(path.child("service", "name"))
    else:
        errs.invalids(path.child("service", "name"), name, is_dns1035_label(name))
    port = _map(svc.get("port"))
    port_name, number = port.get("name"), port.get("number")
    port_path = path.child("service", "port")
    if _is_set(port_name) and _is_set(number):
        errs.invalid(port_path, GoLiteral("networking.ServiceBackendPort{...}"), "cannot specify both port name and port number")
    elif _is_set(port_name):
        pass
    elif isinstance(number, int) and not isinstance(number, bool):
        if not 1 <= number <= 65535:
            errs.invalid(port_path.child("number"), number, "must be between 1 and 65535, inclusive")
    else:
        errs.required(port_path, "port name or number is required")


def _validate_ingress_host(host: str, path: Path, errs: ErrorList) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        errs.invalid(path, host, "must be a DNS name, not an IP address")
        return
    if "*" in host:  # a wildcard host, as networking's ValidateIngressSpec tells them apart
        errs.invalids(path, host, is_wildcard_dns1123_subdomain(host))
        return
    errs.invalids(path, host, is_dns1123_subdomain(host))


def _validate_ingress(obj: dict[str, Any], errs: ErrorList) -> None:
    """``ValidateIngressSpec`` with the rules a beginner meets."""
    spec = _map(obj.get("spec"))
    spec_path = Path("spec")
    rules = spec.get("rules")
    if not _is_set(spec.get("defaultBackend")) and not _is_set(rules):
        errs.invalid(spec_path, GoLiteral("[]networking.IngressRule(nil)"), "either `defaultBackend` or `rules` must be specified")
    if _is_set(spec.get("defaultBackend")):
        _validate_ingress_backend(spec.get("defaultBackend"), spec_path.child("defaultBackend"), errs)
    class_name = spec.get("ingressClassName")
    if _is_set(class_name):
        errs.invalids(spec_path.child("ingressClassName"), class_name, is_dns1123_subdomain(_str(class_name)))
    for i, rule in _dicts(rules):
        rule_path = spec_path.child("rules").index(i)
        if _is_set(rule.get("host")):
            _validate_ingress_host(_str(rule.get("host")), rule_path.child("host"), errs)
        http = rule.get("http")
        if http is None:
            continue
        paths_path = rule_path.child("http", "paths")
        paths = _map(http).get("paths")
        if not _is_set(paths):
            errs.required(paths_path)
        for j, item in _dicts(paths):
            item_path = paths_path.index(j)
            path_type, path = item.get("pathType"), _str(item.get("path"))
            if not _is_set(path_type):
                errs.required(item_path.child("pathType"), "pathType must be specified")
            elif path_type not in _PATH_TYPES:
                errs.not_supported(item_path.child("pathType"), path_type, _PATH_TYPES)
            elif path_type in ("Exact", "Prefix"):
                if not path.startswith("/"):
                    errs.invalid(item_path.child("path"), path, "must be an absolute path")
                elif "//" in path:
                    errs.invalid(item_path.child("path"), path, "must not contain '//'")
            elif path and not path.startswith("/"):
                errs.invalid(item_path.child("path"), path, "must be an absolute path")
            _validate_ingress_backend(item.get("backend"), item_path.child("backend"), errs)
    for i, tls in _dicts(spec.get("tls")):
        for j, host in enumerate(_strs(tls.get("hosts"))):
            _validate_ingress_host(host, spec_path.child("tls").index(i).child("hosts").index(j), errs)


# --- PriorityClass ------------------------------------------------------------------------------

HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
_SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2_000_001_000, "system-cluster-critical": 2_000_000_000}
_PREEMPTION_POLICIES = ("Never", "PreemptLowerPriority")


def _validate_priority_class(obj: dict[str, Any], errs: ErrorList) -> None:
    """``ValidatePriorityClass``: ``system-`` names are reserved, user values
    at most a billion, a known preemption policy."""
    name = _str(_map(obj.get("metadata")).get("name"))
    value = obj.get("value")
    if name.startswith("system-"):
        if name not in _SYSTEM_PRIORITY_CLASSES:
            errs.invalid(Path("metadata", "name"), name, "priority class names with 'system-' prefix are reserved")
        elif value != _SYSTEM_PRIORITY_CLASSES[name]:
            errs.forbidden("value", f"value of system priority class {name} must be {_SYSTEM_PRIORITY_CLASSES[name]}")
    elif isinstance(value, int) and value > HIGHEST_USER_DEFINABLE_PRIORITY:
        errs.forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}")
    policy = obj.get("preemptionPolicy")
    if policy not in (None, "") and policy not in _PREEMPTION_POLICIES:
        errs.not_supported("preemptionPolicy", policy, _PREEMPTION_POLICIES)


def _validate_priority_class_update(obj: dict[str, Any], old: dict[str, Any], errs: ErrorList) -> None:
    if obj.get("value") != old.get("value"):
        errs.forbidden("value", "may not be changed in an update.")
    if _str(obj.get("preemptionPolicy")) != _str(old.get("preemptionPolicy")):
        errs.invalid("preemptionPolicy", _str(obj.get("preemptionPolicy")), FIELD_IMMUTABLE)


OBJECT_KIND_RULES: dict[str, _KindRules] = {
    "Secret": _rules("Secret", name_is_dns_subdomain, _validate_secret, _validate_secret_update),
    "ServiceAccount": _rules("ServiceAccount", name_is_dns_subdomain, _validate_service_account),
    "ResourceQuota": _rules("ResourceQuota", name_is_dns_subdomain, _validate_resource_quota),
    "Role": _rules("Role", name_is_path_segment, _validate_role),
    "ClusterRole": _rules("ClusterRole", name_is_path_segment, _validate_cluster_role),
    "RoleBinding": _rules("RoleBinding", name_is_path_segment, _validate_role_binding, _validate_binding_update),
    "ClusterRoleBinding": _rules(
        "ClusterRoleBinding", name_is_path_segment, _validate_cluster_role_binding, _validate_binding_update
    ),
    "Ingress": _rules("Ingress", name_is_dns_subdomain, _validate_ingress),
    "PriorityClass": _rules("PriorityClass", name_is_dns_subdomain, _validate_priority_class, _validate_priority_class_update),
}
"""Kind -> rules, merged into :mod:`kemu.api.validation`'s table."""

_KIND_RULES.update(OBJECT_KIND_RULES)
