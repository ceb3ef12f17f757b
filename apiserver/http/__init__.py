"""kemu's HTTP front door: the Kubernetes REST API, for kubectl and the
official clients.

``python -m apiserver.http --server tcp://127.0.0.1:7100 --listen 127.0.0.1:6443``
runs it as its own process beside the apiserver. It owns no state: every
request becomes one or a few calls on the apiserver's ZeroMQ request API
(:class:`kemu.client.Client`), and every watch is served from the apiserver's
PUB socket. Killing it loses nothing; restarting it is enough.

Design in brief (each module's docstring has the details):

- :mod:`~apiserver.http.app`: an asyncio (aiohttp) application. The event
  loop parses requests and writes responses; blocking ``Client`` calls and
  JSON encoding run in a thread pool, one DEALER socket per pool thread.
- :mod:`~apiserver.http.watch`: watches are served from one shared watch
  cache per kind, fed by one :class:`kemu.informer.Informer` of that kind
  (the process's informer hub: gaps filled with ``events_since``, a relist
  on ``410`` ending the watchers with ``410``; a ring of recent changes for
  resumes), fanned out to every HTTP watcher with its own selectors and
  starting point, like the apiserver's cacher.
- :mod:`~apiserver.http.discovery`: ``/version``, legacy and aggregated
  discovery, OpenAPI v2 and v3, all derived from :mod:`kemu.api.kinds` and
  :mod:`kemu.api.schema`.
- :mod:`~apiserver.http.tables`: ``Table`` output for ``kubectl get``, with
  ``kemu get``'s columns.
- :mod:`~apiserver.http.kubeletproxy`: ``pods/log`` (a text stream of the
  kubelet's long polls) and ``pods/exec`` (the WebSocket remote-command
  protocol, ``v5.channel.k8s.io``), proxied to the pod's kubelet through
  :mod:`kemu.kubeletclient`.
- :mod:`~apiserver.http.query`: query parameters read with the apiserver's rules.
- :mod:`~apiserver.http.kubeconfig`: a kubeconfig for the front door.
- :mod:`~apiserver.http.testing`: the front door as a test process.

Authentication is one optional bearer token. kubectl (client-go's kubeconfig
loader) only sends tokens over HTTPS, so a token goes with ``--tls-cert`` and
``--tls-key``; over plain HTTP on loopback, run without one.
"""

from __future__ import annotations

from apiserver.http.app import HttpConfig, create_app
from kemu.kubeconfig import kubeconfig, write_kubeconfig

__all__ = ["HttpConfig", "create_app", "kubeconfig", "write_kubeconfig"]
