"""Answers the apiserver computes rather than stores: the access reviews of
``kubectl auth can-i`` and the tokens of ``kubectl create token``.

kemu has one user, the admin its kubeconfig names, and no authorization
layer yet: every request that passes the bearer-token check may do
everything. So:

- a ``SelfSubjectAccessReview`` (``kubectl auth can-i create pods``) is
  always allowed, for any verb and resource, and says why in ``reason``;
- a ``SelfSubjectRulesReview`` (``kubectl auth can-i --list``) lists the
  rules of Kubernetes' ``cluster-admin`` role: ``*`` verbs on ``*``
  resources of ``*`` groups, and ``*`` on every non-resource URL;
- a ``SelfSubjectReview`` (``kubectl auth whoami``) names that admin,
  ``kubernetes-admin`` in ``system:masters``;
- a ``TokenRequest`` (``serviceaccounts/<name>/token``) gets a JWT signed
  with HMAC-SHA256, carrying the claims a real service-account token
  carries (``iss``, ``sub`` = ``system:serviceaccount:<ns>:<name>``,
  ``aud``, ``exp``, the ``kubernetes.io`` block). It grants nothing: kemu
  authenticates its one admin token and nothing else, so the token is a
  faithful shape for clients that parse it, not a credential.

Both review kinds are create-only (discovery lists only ``create``); nothing
is stored and the review comes back with its ``status`` filled in, as the
apiserver's ``SelfSubjectAccessReview`` REST storage does. Every function
here is pure: time and the signing key are arguments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

from kemu.api import errors
from kemu.clock import rfc3339
from kemu.types import Obj

__all__ = [
    "ADMIN_REASON",
    "DEFAULT_AUDIENCE",
    "DEFAULT_TOKEN_EXPIRATION_SECONDS",
    "REVIEW_KINDS",
    "decode_token_claims",
    "evaluate",
    "issue_token",
]


REVIEW_KINDS = ("SelfSubjectAccessReview", "SelfSubjectRulesReview", "SelfSubjectReview")
ADMIN_USER: dict[str, Any] = {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]}
"""Who the bearer token's holder is, for ``kubectl auth whoami``: the name
and groups kubeadm gives a cluster's admin."""
ADMIN_REASON = "kemu has no authorization: its single admin user may do everything"
DEFAULT_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
"""The apiserver's ``--api-audiences`` default (its issuer)."""
DEFAULT_TOKEN_EXPIRATION_SECONDS = 3600
_MIN_EXPIRATION_SECONDS = 600
_MAX_EXPIRATION_SECONDS = 1 << 32
_BOUND_KINDS = ("Pod", "Secret", "Node")


def _meta_is_empty(meta: Any) -> bool:
    """True for ``{}`` and for what Go's encoder writes for an empty
    ObjectMeta (``{"creationTimestamp": null}``)."""
    return not isinstance(meta, dict) or all(v in (None, "", {}, []) for v in meta.values())


def evaluate(obj: Obj) -> Obj:
    """The review ``obj`` with its ``status``; raises ``422``/``400`` for a
    review Kubernetes would refuse."""
    kind = obj.get("kind")
    name = ""
    if not _meta_is_empty(obj.get("metadata")):
        raise errors.invalid(
            str(kind), name, [errors.Cause("metadata", "FieldValueInvalid", "metadata: Invalid value: \"...\": must be empty")]
        )
    raw_spec = obj.get("spec")
    spec: Obj = raw_spec if isinstance(raw_spec, dict) else {}
    out: Obj = {
        "kind": kind,
        "apiVersion": obj.get("apiVersion"),
        "metadata": {"creationTimestamp": None},
        "spec": spec,
    }
    if kind == "SelfSubjectAccessReview":
        resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if resource is None and non_resource is None:
            raise errors.invalid(
                str(kind),
                name,
                [
                    errors.Cause(
                        "spec.resourceAttributes",
                        "FieldValueRequired",
                        "spec.resourceAttributes: Required value: exactly one of nonResourceAttributes or "
                        "resourceAttributes must be specified",
                    )
                ],
            )
        if resource is not None and non_resource is not None:
            raise errors.invalid(
                str(kind),
                name,
                [
                    errors.Cause(
                        "spec.nonResourceAttributes",
                        "FieldValueInvalid",
                        "spec.nonResourceAttributes: Invalid value: \"...\": cannot be specified in combination "
                        "with resourceAttributes",
                    )
                ],
            )
        out["status"] = {"allowed": True, "reason": ADMIN_REASON}
        return out
    if kind == "SelfSubjectReview":
        out.pop("spec")
        out["status"] = {"userInfo": dict(ADMIN_USER)}
        return out
    if kind == "SelfSubjectRulesReview":
        if not spec.get("namespace"):
            raise errors.bad_request("no namespace on request")
        out["status"] = {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
        return out
    raise errors.bad_request(f"{kind} is not a review kemu answers")


# --- tokens ----------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token_spec(request: Obj, sa_name: str) -> Obj:
    """The request's spec with the apiserver's defaults, validated as
    ``ValidateTokenRequest`` does."""
    raw = request.get("spec")
    if raw is not None and not isinstance(raw, dict):
        raise errors.bad_request("spec of a TokenRequest must be an object")
    spec = dict(raw or {})
    audiences = spec.get("audiences") or [DEFAULT_AUDIENCE]
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise errors.bad_request("spec.audiences must be a list of strings")
    seconds = spec.get("expirationSeconds")
    if seconds is None:
        seconds = DEFAULT_TOKEN_EXPIRATION_SECONDS
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise errors.bad_request("spec.expirationSeconds must be an integer")
    causes = []
    if seconds < _MIN_EXPIRATION_SECONDS:
        causes.append(
            errors.Cause(
                "spec.expirationSeconds",
                "FieldValueInvalid",
                f"spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration less than 10 minutes",
            )
        )
    elif seconds > _MAX_EXPIRATION_SECONDS:
        causes.append(
            errors.Cause(
                "spec.expirationSeconds",
                "FieldValueTooLong",
                f"spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds",
            )
        )
    bound = spec.get("boundObjectRef")
    if isinstance(bound, dict) and bound and bound.get("kind") not in _BOUND_KINDS:
        causes.append(
            errors.Cause(
                "spec.boundObjectRef.kind",
                "FieldValueNotSupported",
                f'spec.boundObjectRef.kind: Unsupported value: "{bound.get("kind")}": supported values: '
                + ", ".join(f'"{k}"' for k in _BOUND_KINDS),
            )
        )
    if causes:
        raise errors.invalid("TokenRequest", sa_name, causes)
    spec["audiences"] = audiences
    spec["expirationSeconds"] = seconds
    spec.setdefault("boundObjectRef", None)
    return spec


def issue_token(service_account: Obj, request: Obj, *, now: float, key: bytes, issuer: str = DEFAULT_AUDIENCE) -> Obj:
    """The ``TokenRequest`` answer for ``request`` against ``service_account``:
    ``status.token`` is an HS256 JWT with a service-account token's claims,
    ``status.expirationTimestamp`` when it expires."""
    meta = service_account.get("metadata") or {}
    ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    spec = _token_spec(request, name)
    issued = int(now)
    expires = issued + int(spec["expirationSeconds"])
    private: Obj = {"namespace": ns, "serviceaccount": {"name": name, "uid": meta.get("uid", "")}}
    bound = spec.get("boundObjectRef")
    if isinstance(bound, dict) and bound.get("kind") in _BOUND_KINDS:
        private[str(bound["kind"]).lower()] = {"name": bound.get("name", ""), "uid": bound.get("uid", "")}
    claims = {
        "aud": spec["audiences"],
        "exp": expires,
        "iat": issued,
        "iss": issuer,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": private,
        "nbf": issued,
        "sub": f"system:serviceaccount:{ns}:{name}",
    }
    header = {"alg": "HS256", "kid": hashlib.sha256(key).hexdigest()[:16], "typ": "JWT"}
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":"), sort_keys=True).encode()) for part in (header, claims)
    )
    signature = _b64url(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": rfc3339(now)},
        "spec": spec,
        "status": {"token": f"{signing_input}.{signature}", "expirationTimestamp": rfc3339(expires)},
    }


def decode_token_claims(token: str, key: bytes) -> Obj:
    """The claims of a token :func:`issue_token` made with ``key``; raises
    ``ValueError`` when the token is malformed or its signature is wrong."""
    try:
        header, payload, signature = token.split(".")
    except ValueError:
        raise ValueError("a JWT has three dot-separated parts") from None
    expected = _b64url(hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        raise ValueError("the token's signature does not match")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if not isinstance(claims, dict):
        raise ValueError("the token's payload is not a JSON object")
    return claims
