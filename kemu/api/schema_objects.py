"""Field schemas of the kinds kubectl and clients expect to exist besides
workloads: Secret, ServiceAccount, ResourceQuota, the RBAC kinds, Ingress,
PriorityClass, the access reviews of ``kubectl auth can-i`` and the
``TokenRequest`` of ``serviceaccounts/token``.

Built with :mod:`kemu.api.schema`'s DSL, field for field as ``k8s.io/api``
declares them (``core/v1``, ``rbac/v1``, ``networking/v1``, ``scheduling/v1``,
``authorization/v1``, ``authentication/v1``), and merged into
:data:`kemu.api.schema.SCHEMAS`, so that strict
decoding, defaulting and OpenAPI treat them like every other kind. The merge
happens when this module is imported, which :mod:`kemu.api` does first thing.
"""

from __future__ import annotations

from kemu.api.schema import (
    ANY,
    SCHEMAS,
    BOOL,
    INT32,
    INT64,
    LABEL_SELECTOR,
    LABELS,
    LOCAL_OBJECT_REFERENCE,
    OBJECT_META,
    OBJECT_REFERENCE,
    RESOURCE_LIST,
    STRING,
    STRINGS,
    TIME,
    BYTES,
    Struct,
    list_of,
    map_of,
    struct,
    top_level,
)

__all__ = ["OBJECT_SCHEMAS", "TOKEN_REQUEST"]

_CORE = "io.k8s.api.core.v1."
_RBAC = "io.k8s.api.rbac.v1."
_NET = "io.k8s.api.networking.v1."
_SCHED = "io.k8s.api.scheduling.v1."
_AUTHZ = "io.k8s.api.authorization.v1."
_AUTHN = "io.k8s.api.authentication.v1."

# --- core/v1 ----------------------------------------------------------------

SECRET = top_level(
    struct(
        _CORE + "Secret",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        immutable=BOOL,
        data=map_of(BYTES),
        stringData=LABELS,
        type=STRING,
    ),
    "",
    "v1",
    "Secret",
)
SERVICE_ACCOUNT = top_level(
    struct(
        _CORE + "ServiceAccount",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        secrets=list_of(OBJECT_REFERENCE),
        imagePullSecrets=list_of(LOCAL_OBJECT_REFERENCE),
        automountServiceAccountToken=BOOL,
    ),
    "",
    "v1",
    "ServiceAccount",
)
RESOURCE_QUOTA = top_level(
    struct(
        _CORE + "ResourceQuota",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        spec=struct(
            _CORE + "ResourceQuotaSpec",
            hard=RESOURCE_LIST,
            scopes=STRINGS,
            scopeSelector=struct(
                _CORE + "ScopeSelector",
                matchExpressions=list_of(
                    struct(
                        _CORE + "ScopedResourceSelectorRequirement",
                        required=("scopeName", "operator"),
                        scopeName=STRING,
                        operator=STRING,
                        values=STRINGS,
                    )
                ),
            ),
        ),
        status=struct(_CORE + "ResourceQuotaStatus", hard=RESOURCE_LIST, used=RESOURCE_LIST),
    ),
    "",
    "v1",
    "ResourceQuota",
)

# --- rbac.authorization.k8s.io/v1 ---------------------------------------------

POLICY_RULE = struct(
    _RBAC + "PolicyRule",
    required=("verbs",),
    verbs=STRINGS,
    apiGroups=STRINGS,
    resources=STRINGS,
    resourceNames=STRINGS,
    nonResourceURLs=STRINGS,
)
SUBJECT = struct(_RBAC + "Subject", required=("kind", "name"), kind=STRING, apiGroup=STRING, name=STRING, namespace=STRING)
ROLE_REF = struct(_RBAC + "RoleRef", required=("apiGroup", "kind", "name"), apiGroup=STRING, kind=STRING, name=STRING)

ROLE = top_level(struct(_RBAC + "Role", apiVersion=STRING, kind=STRING, metadata=OBJECT_META, rules=list_of(POLICY_RULE)),
                 "rbac.authorization.k8s.io", "v1", "Role")
CLUSTER_ROLE = top_level(
    struct(
        _RBAC + "ClusterRole",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        rules=list_of(POLICY_RULE),
        aggregationRule=struct(_RBAC + "AggregationRule", clusterRoleSelectors=list_of(LABEL_SELECTOR)),
    ),
    "rbac.authorization.k8s.io",
    "v1",
    "ClusterRole",
)
ROLE_BINDING = top_level(
    struct(_RBAC + "RoleBinding", required=("roleRef",), apiVersion=STRING, kind=STRING, metadata=OBJECT_META,
           subjects=list_of(SUBJECT), roleRef=ROLE_REF),
    "rbac.authorization.k8s.io",
    "v1",
    "RoleBinding",
)
CLUSTER_ROLE_BINDING = top_level(
    struct(
        _RBAC + "ClusterRoleBinding", required=("roleRef",), apiVersion=STRING, kind=STRING, metadata=OBJECT_META,
        subjects=list_of(SUBJECT), roleRef=ROLE_REF
    ),
    "rbac.authorization.k8s.io",
    "v1",
    "ClusterRoleBinding",
)

# --- networking.k8s.io/v1 -------------------------------------------------------

INGRESS_BACKEND = struct(
    _NET + "IngressBackend",
    service=struct(
        _NET + "IngressServiceBackend",
        required=("name",),
        name=STRING,
        port=struct(_NET + "ServiceBackendPort", name=STRING, number=INT32),
    ),
    resource=struct(
        _CORE + "TypedLocalObjectReference", required=("kind", "name"), apiGroup=STRING, kind=STRING, name=STRING
    ),
)
INGRESS = top_level(
    struct(
        _NET + "Ingress",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        spec=struct(
            _NET + "IngressSpec",
            ingressClassName=STRING,
            defaultBackend=INGRESS_BACKEND,
            tls=list_of(struct(_NET + "IngressTLS", hosts=STRINGS, secretName=STRING)),
            rules=list_of(
                struct(
                    _NET + "IngressRule",
                    host=STRING,
                    http=struct(
                        _NET + "HTTPIngressRuleValue",
                        required=("paths",),
                        paths=list_of(
                            struct(
                                _NET + "HTTPIngressPath",
                                required=("pathType", "backend"),
                                path=STRING,
                                pathType=STRING,
                                backend=INGRESS_BACKEND,
                            )
                        ),
                    ),
                )
            ),
        ),
        status=struct(
            _NET + "IngressStatus",
            loadBalancer=struct(
                _NET + "IngressLoadBalancerStatus",
                ingress=list_of(
                    struct(
                        _NET + "IngressLoadBalancerIngress",
                        ip=STRING,
                        hostname=STRING,
                        ports=list_of(
                            struct(
                                _NET + "IngressPortStatus",
                                required=("port", "protocol"),
                                port=INT32,
                                protocol=STRING,
                                error=STRING,
                            )
                        ),
                    )
                ),
            ),
        ),
    ),
    "networking.k8s.io",
    "v1",
    "Ingress",
)

# --- scheduling.k8s.io/v1 -------------------------------------------------------

PRIORITY_CLASS = top_level(
    struct(
        _SCHED + "PriorityClass",
        required=("value",),
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        value=INT32,
        globalDefault=BOOL,
        description=STRING,
        preemptionPolicy=STRING,
    ),
    "scheduling.k8s.io",
    "v1",
    "PriorityClass",
)

# --- authorization.k8s.io/v1 ------------------------------------------------------

RESOURCE_ATTRIBUTES = struct(
    _AUTHZ + "ResourceAttributes",
    namespace=STRING,
    verb=STRING,
    group=STRING,
    version=STRING,
    resource=STRING,
    subresource=STRING,
    name=STRING,
    fieldSelector=ANY,
    labelSelector=ANY,
)
NON_RESOURCE_ATTRIBUTES = struct(_AUTHZ + "NonResourceAttributes", path=STRING, verb=STRING)
SUBJECT_ACCESS_REVIEW_STATUS = struct(
    _AUTHZ + "SubjectAccessReviewStatus",
    required=("allowed",),
    allowed=BOOL,
    denied=BOOL,
    reason=STRING,
    evaluationError=STRING,
)
SELF_SUBJECT_ACCESS_REVIEW = top_level(
    struct(
        _AUTHZ + "SelfSubjectAccessReview",
        required=("spec",),
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        spec=struct(
            _AUTHZ + "SelfSubjectAccessReviewSpec",
            resourceAttributes=RESOURCE_ATTRIBUTES,
            nonResourceAttributes=NON_RESOURCE_ATTRIBUTES,
        ),
        status=SUBJECT_ACCESS_REVIEW_STATUS,
    ),
    "authorization.k8s.io",
    "v1",
    "SelfSubjectAccessReview",
)
SELF_SUBJECT_RULES_REVIEW = top_level(
    struct(
        _AUTHZ + "SelfSubjectRulesReview",
        required=("spec",),
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        spec=struct(_AUTHZ + "SelfSubjectRulesReviewSpec", namespace=STRING),
        status=struct(
            _AUTHZ + "SubjectRulesReviewStatus",
            required=("resourceRules", "nonResourceRules", "incomplete"),
            resourceRules=list_of(
                struct(
                    _AUTHZ + "ResourceRule",
                    required=("verbs",),
                    verbs=STRINGS,
                    apiGroups=STRINGS,
                    resources=STRINGS,
                    resourceNames=STRINGS,
                )
            ),
            nonResourceRules=list_of(
                struct(_AUTHZ + "NonResourceRule", required=("verbs",), verbs=STRINGS, nonResourceURLs=STRINGS)
            ),
            incomplete=BOOL,
            evaluationError=STRING,
        ),
    ),
    "authorization.k8s.io",
    "v1",
    "SelfSubjectRulesReview",
)

# --- authentication.k8s.io/v1 (kubectl auth whoami, serviceaccounts/token) ------------

USER_INFO = struct(
    _AUTHN + "UserInfo", username=STRING, uid=STRING, groups=STRINGS, extra=map_of(STRINGS)
)
SELF_SUBJECT_REVIEW = top_level(
    struct(
        _AUTHN + "SelfSubjectReview",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        status=struct(_AUTHN + "SelfSubjectReviewStatus", userInfo=USER_INFO),
    ),
    "authentication.k8s.io",
    "v1",
    "SelfSubjectReview",
)

TOKEN_REQUEST: Struct = top_level(
    struct(
        _AUTHN + "TokenRequest",
        required=("spec",),
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        spec=struct(
            _AUTHN + "TokenRequestSpec",
            required=("audiences",),
            audiences=STRINGS,
            expirationSeconds=INT64,
            boundObjectRef=struct(
                _AUTHN + "BoundObjectReference", kind=STRING, apiVersion=STRING, name=STRING, uid=STRING
            ),
        ),
        status=struct(
            _AUTHN + "TokenRequestStatus",
            required=("token", "expirationTimestamp"),
            token=STRING,
            expirationTimestamp=TIME,
        ),
    ),
    "authentication.k8s.io",
    "v1",
    "TokenRequest",
)
"""Not a stored kind: the body and answer of ``serviceaccounts/token``."""

OBJECT_SCHEMAS: dict[str, Struct] = {
    s.gvk[2]: s
    for s in (
        SECRET,
        SERVICE_ACCOUNT,
        RESOURCE_QUOTA,
        ROLE,
        CLUSTER_ROLE,
        ROLE_BINDING,
        CLUSTER_ROLE_BINDING,
        INGRESS,
        PRIORITY_CLASS,
        SELF_SUBJECT_ACCESS_REVIEW,
        SELF_SUBJECT_RULES_REVIEW,
        SELF_SUBJECT_REVIEW,
    )
    if s.gvk is not None
}
"""Kind -> top-level schema, merged into :data:`kemu.api.schema.SCHEMAS`."""

SCHEMAS.update(OBJECT_SCHEMAS)
