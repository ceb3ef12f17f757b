"""The apiserver: the only process that owns cluster state.

``store`` keeps objects durable in SQLite; ``registry`` gives each kind its
Kubernetes semantics; ``server`` runs the ZeroMQ request loop and publishes
watch events. ``python -m apiserver --data-dir DIR`` runs it.
"""
