"""The service account controller: every namespace has a ``default`` ServiceAccount.

Kubernetes' ``serviceaccounts-controller`` (``pkg/controller/serviceaccount/
serviceaccounts_controller.go``): pods run as ``default`` unless they name
another account (the ServiceAccount admission step in the apiserver sets
``spec.serviceAccountName``), so the account must exist in every namespace,
including one created a moment ago and one whose ``default`` somebody deleted.

Shape (client-go's): the Namespace informer's add and update handlers and
the ServiceAccount informer's delete handler enqueue the *namespace* name;
workers run :meth:`ServiceAccountsController.sync`, which re-reads the
namespace from the cache, skips one that is not ``Active`` (a terminating
namespace refuses new content, and its controller is emptying it), and
creates each account of ``service_accounts`` that the cache does not hold.
An ``AlreadyExists`` answer means the cache was behind: done. ``sync`` is
level-triggered and safe to run twice.

:class:`TokensController` (Kubernetes' ``serviceaccount-token`` controller)
fills the legacy token Secrets that name an account.
"""

from __future__ import annotations

import base64
import secrets

from controllermanager.base import ControllerContext, Handlers, Obj, QueueController
from kemu.api import errors
from kemu.api.reviews import issue_token

__all__ = ["DEFAULT_SERVICE_ACCOUNTS", "ServiceAccountsController", "TokensController"]

DEFAULT_SERVICE_ACCOUNTS = ("default",)
"""The accounts ensured in every namespace (``ServiceAccountsToEnsure``)."""


class ServiceAccountsController(QueueController[str]):
    """See the module doc. Keys are namespace names."""

    name = "serviceaccount"
    component = "service-account-controller"

    service_accounts: tuple[str, ...]
    """Names of the accounts every namespace gets."""

    def __init__(self, ctx: ControllerContext, *, service_accounts: tuple[str, ...] = DEFAULT_SERVICE_ACCOUNTS) -> None:
        super().__init__(ctx, workers=2)
        self.service_accounts = service_accounts
        self.namespaces = ctx.informer("Namespace")
        self.accounts = ctx.informer("ServiceAccount")
        self.namespaces.add_handler(Handlers(add=self._namespace_changed, update=lambda _old, new: self._namespace_changed(new)))
        self.accounts.add_handler(Handlers(delete=self._account_deleted))

    def _namespace_changed(self, ns: Obj) -> None:
        self.enqueue(str(ns["metadata"]["name"]))

    def _account_deleted(self, sa: Obj) -> None:
        if sa["metadata"].get("name") in self.service_accounts:
            self.enqueue(str(sa["metadata"].get("namespace", "")))

    def sync(self, key: str) -> None:
        ns = self.namespaces.get(key)
        if ns is None:
            return  # gone
        if (ns.get("status") or {}).get("phase", "Active") != "Active" or ns["metadata"].get("deletionTimestamp"):
            return  # terminating: it refuses new content, and is being emptied
        for name in self.service_accounts:
            if self.accounts.get(f"{key}/{name}") is not None:
                continue
            try:
                created = self.client.create(
                    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}, namespace=key
                )
            except errors.ApiError as exc:
                if exc.code == 409:
                    continue  # AlreadyExists: the cache is behind our (or someone's) write
                if exc.code == 403:
                    return  # the namespace began terminating since the cache saw it
                raise
            self.log.info(
                "created service account",
                kind="ServiceAccount",
                key=f"{key}/{name}",
                uid=created["metadata"].get("uid"),
                resourceVersion=created["metadata"].get("resourceVersion"),
            )


SERVICE_ACCOUNT_NAME_KEY = "kubernetes.io/service-account.name"
SERVICE_ACCOUNT_UID_KEY = "kubernetes.io/service-account.uid"
SERVICE_ACCOUNT_TOKEN_TYPE = "kubernetes.io/service-account-token"
LEGACY_TOKEN_SECONDS = 100 * 365 * 24 * 3600
"""Legacy token Secrets hold tokens that never expire; a century stands in."""


class TokensController(QueueController[str]):
    """Fills ``kubernetes.io/service-account-token`` Secrets, as Kubernetes'
    ``serviceaccount-token`` controller does for long-lived tokens: a Secret of
    that type naming an account in its ``kubernetes.io/service-account.name``
    annotation gets ``data.token`` (a JWT from :func:`kemu.api.reviews.issue_token`,
    granting nothing, like every kemu token), ``data.namespace`` and the
    account's uid annotation. A token Secret whose account does not exist is
    deleted, as Kubernetes deletes it. ``ca.crt`` is left out: the controller
    manager does not know the front door's certificate.

    Keys are ``namespace/name`` of Secrets; the ServiceAccount informer's
    delete handler enqueues the token Secrets of the deleted account.
    """

    name = "serviceaccount-token"
    component = "tokens-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=1)
        self.key = secrets.token_bytes(32)
        self.secrets = ctx.informer("Secret")
        self.accounts = ctx.informer("ServiceAccount")
        self.secrets.add_handler(Handlers(add=self._secret_changed, update=lambda _old, new: self._secret_changed(new)))
        self.accounts.add_handler(Handlers(add=self._account_changed, delete=self._account_changed))

    def _secret_changed(self, secret: Obj) -> None:
        if secret.get("type") == SERVICE_ACCOUNT_TOKEN_TYPE:
            self.enqueue_obj(secret)

    def _account_changed(self, sa: Obj) -> None:
        ns, name = sa["metadata"].get("namespace", ""), sa["metadata"].get("name")
        for secret in self.secrets.by_index("namespace", str(ns)):
            annotations = secret["metadata"].get("annotations") or {}
            if secret.get("type") == SERVICE_ACCOUNT_TOKEN_TYPE and annotations.get(SERVICE_ACCOUNT_NAME_KEY) == name:
                self.enqueue_obj(secret)

    def sync(self, key: str) -> None:
        secret = self.secrets.get(key)
        if secret is None or secret.get("type") != SERVICE_ACCOUNT_TOKEN_TYPE or secret["metadata"].get("deletionTimestamp"):
            return
        meta = secret["metadata"]
        ns, account_name = str(meta.get("namespace", "")), (meta.get("annotations") or {}).get(SERVICE_ACCOUNT_NAME_KEY)
        account = self.accounts.get(f"{ns}/{account_name}")
        if account is None:
            try:
                account = self.client.get("ServiceAccount", str(account_name), ns)  # the cache may lag a create
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
                self.client.delete("Secret", str(meta["name"]), ns, preconditions={"uid": meta.get("uid")})
                self.log.info("deleted token secret of a missing service account", kind="Secret", key=key)
                return
        uid = account["metadata"].get("uid", "")
        data = secret.get("data") or {}
        if data.get("token") and (meta.get("annotations") or {}).get(SERVICE_ACCOUNT_UID_KEY) == uid:
            return
        token = issue_token(account, {"spec": {"expirationSeconds": LEGACY_TOKEN_SECONDS}}, now=self.clock.wall(), key=self.key)
        patch = {
            "metadata": {"annotations": {SERVICE_ACCOUNT_UID_KEY: uid}, "resourceVersion": meta.get("resourceVersion")},
            "data": {
                "token": base64.b64encode(token["status"]["token"].encode()).decode(),
                "namespace": base64.b64encode(ns.encode()).decode(),
            },
        }
        written = self.client.patch("Secret", str(meta["name"]), patch, ns)
        self.log.info(
            "filled service account token secret", kind="Secret", key=key, uid=meta.get("uid"),
            resourceVersion=written["metadata"].get("resourceVersion"),
        )
