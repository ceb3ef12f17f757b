"""The kinds kemu serves, and how people and clients name them.

One :class:`KindInfo` per kind: its API group and version, its plural and
short names (kubectl's ``po``, ``rs``, ``deploy`` ...), whether it lives in a
namespace, and whether it has a status subresource. Everything that turns a
user's word (``deploy``, ``deployments.apps``, ``Deployment``) into a kind goes
through :func:`resolve`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KindInfo", "KINDS", "lookup_kind", "resolve", "api_version_of", "kind_for_api"]


@dataclass(frozen=True, slots=True)
class KindInfo:
    """How one kind is served."""

    kind: str
    """The kind, as in ``kind:`` (``Deployment``)."""
    group: str
    """API group; ``""`` for the core group."""
    version: str
    """The served version (``v1``)."""
    plural: str
    """Resource name in URLs and kubectl (``deployments``)."""
    singular: str
    """Singular resource name (``deployment``)."""
    short_names: tuple[str, ...]
    """kubectl's short names (``deploy``)."""
    namespaced: bool
    """True when objects of the kind live in a namespace."""
    has_status: bool
    """True when the kind has a ``status`` subresource: spec writes leave status
    alone and status writes leave spec alone."""
    verbs: tuple[str, ...] | None = None
    """The only verbs served, for kinds that are not stored (the
    ``SelfSubjectAccessReview`` family is ``("create",)``); None: every verb."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


KINDS: dict[str, KindInfo] = {
    k.kind: k
    for k in (
        KindInfo("Namespace", "", "v1", "namespaces", "namespace", ("ns",), False, True),
        KindInfo("Node", "", "v1", "nodes", "node", ("no",), False, True),
        KindInfo("Pod", "", "v1", "pods", "pod", ("po",), True, True),
        KindInfo("Service", "", "v1", "services", "service", ("svc",), True, True),
        KindInfo("Endpoints", "", "v1", "endpoints", "endpoints", ("ep",), True, False),
        KindInfo("Event", "", "v1", "events", "event", ("ev",), True, False),
        KindInfo("ConfigMap", "", "v1", "configmaps", "configmap", ("cm",), True, False),
        # The legacy ReplicaSet (kemu.api.replicationcontrollers).
        KindInfo(
            "ReplicationController", "", "v1", "replicationcontrollers", "replicationcontroller", ("rc",), True, True,
        ),
        KindInfo("ReplicaSet", "apps", "v1", "replicasets", "replicaset", ("rs",), True, True),
        KindInfo("Deployment", "apps", "v1", "deployments", "deployment", ("deploy",), True, True),
        KindInfo("Lease", "coordination.k8s.io", "v1", "leases", "lease", (), True, False),
        # Secrets, service accounts, RBAC, quotas, ingresses, priority classes and
        # the access reviews kubectl's `auth can-i` asks for (kemu.api.objects_*).
        KindInfo("Secret", "", "v1", "secrets", "secret", (), True, False),
        KindInfo("ServiceAccount", "", "v1", "serviceaccounts", "serviceaccount", ("sa",), True, False),
        KindInfo("ResourceQuota", "", "v1", "resourcequotas", "resourcequota", ("quota",), True, True),
        KindInfo("Role", "rbac.authorization.k8s.io", "v1", "roles", "role", (), True, False),
        KindInfo("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", (), True, False),
        KindInfo("ClusterRole", "rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", (), False, False),
        KindInfo(
            "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
            (), False, False,
        ),
        KindInfo("Ingress", "networking.k8s.io", "v1", "ingresses", "ingress", ("ing",), True, True),
        KindInfo("PriorityClass", "scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", ("pc",), False, False),
        KindInfo(
            "SelfSubjectAccessReview", "authorization.k8s.io", "v1", "selfsubjectaccessreviews",
            "selfsubjectaccessreview", (), False, False, ("create",),
        ),
        KindInfo(
            "SelfSubjectRulesReview", "authorization.k8s.io", "v1", "selfsubjectrulesreviews",
            "selfsubjectrulesreview", (), False, False, ("create",),
        ),
        KindInfo(
            "SelfSubjectReview", "authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview",
            (), False, False, ("create",),
        ),
    )
}

_BY_NAME: dict[str, str] = {}
for _info in KINDS.values():
    for _word in (_info.kind.lower(), _info.plural, _info.singular, *_info.short_names):
        _BY_NAME[_word] = _info.kind
        if _info.group:
            _BY_NAME[f"{_word}.{_info.group}"] = _info.kind


def lookup_kind(kind: str) -> KindInfo | None:
    """The :class:`KindInfo` for an exact kind name (``Pod``), or None."""
    return KINDS.get(kind)


def resolve(word: str) -> KindInfo:
    """The kind a user means by ``word`` (``po``, ``pods``, ``Pod``,
    ``deployments.apps``), case-insensitively.

    Raises ``ValueError`` with kubectl's wording when nothing matches.
    """
    info = KINDS.get(word) or KINDS.get(_BY_NAME.get(word.lower(), ""))
    if info is None:
        raise ValueError(f'the server doesn\'t have a resource type "{word}"')
    return info


def api_version_of(kind: str) -> str:
    """``apps/v1`` for ``Deployment``; ``v1`` for ``Pod``."""
    return KINDS[kind].api_version


def kind_for_api(api_version: str, kind: str) -> KindInfo | None:
    """The kind served for an ``apiVersion``/``kind`` pair, or None when kemu
    does not serve that pair (``extensions/v1beta1`` Deployments, for instance)."""
    info = KINDS.get(kind)
    if info is None or info.api_version != api_version:
        return None
    return info
