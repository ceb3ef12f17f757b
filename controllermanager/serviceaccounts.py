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
"""

from __future__ import annotations

from controllermanager.base import ControllerContext, Handlers, Obj, QueueController
from kemu.api import errors

__all__ = ["DEFAULT_SERVICE_ACCOUNTS", "ServiceAccountsController"]

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
