"""kemu: a Kubernetes emulator that is a real distributed system.

The ``kemu`` package is the shared machinery every component stands on: API
objects and validation (:mod:`kemu.api`), the ZeroMQ wire (:mod:`kemu.wire`),
the request client (:mod:`kemu.client`), informers and work queues
(:mod:`kemu.informer`, :mod:`kemu.workqueue`), logging (:mod:`kemu.log`) and
the command line (:mod:`kemu.cli`). Components (``apiserver``, ``scheduler``,
``controllermanager``, ``kubelet``, ``kubeproxy``) import from here and never
from each other.
"""

__version__ = "0.1.0"
