"""controllermanager: kube-controller-manager in kemu, many controllers in one process.

``python -m controllermanager --server ADDR [--controllers ...]`` runs the
controllers that turn declared state into objects: ReplicaSets and
ReplicationControllers into pods, Deployments into ReplicaSets, Services
into Endpoints, ownerReferences into cascading deletion, plus node
lifecycle and IPAM, namespace cleanup, pod GC, service accounts and
resource quotas. :mod:`controllermanager.manager` names them and shares
their informer caches; :mod:`controllermanager.base` is the one controller
shape (informers, work queue, workers, events); each other module is one
controller, with its decisions as pure functions where they are
arithmetic (:mod:`controllermanager.rollout` for Deployments).
"""
