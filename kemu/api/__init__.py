"""Kubernetes API objects as plain dicts: kinds, errors, validation, defaulting,
selectors and patches. Objects cross the wire as msgpack maps shaped exactly
like their JSON in a real cluster, so a dict is the honest representation."""
