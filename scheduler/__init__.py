"""scheduler: kube-scheduler in kemu, binding pending pods to nodes.

``python -m scheduler --server ADDR`` watches unscheduled pods and nodes
through informers and binds one pod at a time to the best feasible node
(``pods/binding``), or records why none fits (``FailedScheduling``).
Modules: :mod:`scheduler.filters` (pure: which nodes can run a pod, with
Kubernetes' reasons), :mod:`scheduler.scores` (pure: ranking, the choice,
the FailedScheduling message), :mod:`scheduler.scheduler` (the queue,
the scheduling thread and the binders), ``__main__`` (flags, signals).
"""
