"""Kubernetes API objects as plain dicts: kinds, errors, validation, defaulting,
selectors and patches. Objects cross the wire as msgpack maps shaped exactly
like their JSON in a real cluster, so a dict is the honest representation."""

# The kinds beyond workloads (Secret, ServiceAccount, RBAC, ResourceQuota,
# Ingress, PriorityClass, the access reviews) register their schema,
# defaults and validation in the shared tables on import.
from kemu.api import defaults_objects, schema_objects, validation_objects  # noqa: F401
from kemu.api import replicationcontrollers  # noqa: F401
