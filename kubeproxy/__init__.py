"""kube-proxy: one per node, a userspace TCP proxy for Services.

``python -m kubeproxy --server ADDR --node NAME`` follows Services and
Endpoints and listens on every Service's ClusterIP:port (and this node's
IP at every NodePort), relaying each connection to a ready endpoint.

Modules: :mod:`kubeproxy.config` (pure: API objects -> listeners and
endpoint lists), :mod:`kubeproxy.balancer` (round robin, ClientIP
affinity), :mod:`kubeproxy.proxier` (sockets, the asyncio relay),
:mod:`kubeproxy.server` (informers -> proxier), ``__main__`` (flags).
"""
