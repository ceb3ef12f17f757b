"""clusterdns: the cluster DNS server (kube-dns/CoreDNS' ``kubernetes`` plugin, in kemu).

``python -m clusterdns --server ADDR --listen 127.96.0.10:53`` answers
``<svc>.<ns>.svc.cluster.local`` (A, SRV), pod records and reverse lookups
from informer caches, over UDP and TCP. :mod:`clusterdns.records` holds the
naming rules as pure functions; :mod:`clusterdns.server` the sockets.
"""
