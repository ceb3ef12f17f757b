"""kubelet: one emulated worker node per process (or per object), whose pods' containers are real processes.

``python -m kubelet --node NAME --server ADDR`` registers the node, keeps
its Lease and status fresh, and runs the pods bound to it.
:mod:`kubelet.kubelet` composes the parts: :mod:`kubelet.node`
(registration, heartbeat), :mod:`kubelet.pods` (pod workers, restarts,
status via :mod:`kubelet.status`), :mod:`kubelet.probes`,
:mod:`kubelet.podenv` (environment and volumes), :mod:`kubelet.sandbox`
(per-pod namespaces), the container runtime (:mod:`kubelet.runtime`, a
facade over :mod:`kubelet.plan`, :mod:`kubelet.mounts`,
:mod:`kubelet.processes`, :mod:`kubelet.cgroups`, :mod:`kubelet.containers`
and :mod:`kubelet.container_exec`; each container is owned by a
:mod:`kubelet.shim` process), logs (:mod:`kubelet.logs`), metrics
(:mod:`kubelet.stats`), and the kubelet's own server for logs, exec and
attach (:mod:`kubelet.server`, :mod:`kubelet.streams`). Server images run
:mod:`kubelet.servers`.
"""
