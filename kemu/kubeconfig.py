"""A kubeconfig for kemu's HTTP front door, so ``kubectl`` and the official
clients find the cluster with nothing but ``KUBECONFIG=<path>``."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

__all__ = ["kubeconfig", "write_kubeconfig", "self_signed_certificate"]


def kubeconfig(
    server_url: str,
    token: str | None,
    *,
    cluster_name: str = "kemu",
    namespace: str = "default",
    certificate_authority: Path | None = None,
    insecure_skip_tls_verify: bool = False,
) -> dict[str, Any]:
    """The kubeconfig document (a dict) for one cluster, user and context,
    all named ``cluster_name``.

    For an ``https://`` URL, ``certificate_authority`` (a PEM file, embedded
    as ``certificate-authority-data``) lets clients verify the server; or set
    ``insecure_skip_tls_verify`` for a self-signed certificate in a sandbox.
    """
    cluster: dict[str, Any] = {"server": server_url}
    if certificate_authority is not None:
        cluster["certificate-authority-data"] = base64.b64encode(Path(certificate_authority).read_bytes()).decode()
    elif insecure_skip_tls_verify:
        cluster["insecure-skip-tls-verify"] = True
    user: dict[str, Any] = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": cluster_name, "user": user}],
        "contexts": [
            {"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name, "namespace": namespace}}
        ],
        "current-context": cluster_name,
        "preferences": {},
    }


def write_kubeconfig(
    path: Path | str,
    server_url: str,
    token: str | None,
    cluster_name: str = "kemu",
    **options: Any,
) -> Path:
    """Write :func:`kubeconfig` to ``path`` (mode 0600, replaced atomically:
    a reader never sees half a file) and return the path. ``options`` are
    :func:`kubeconfig`'s keyword arguments."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig(server_url, token, cluster_name=cluster_name, **options), sort_keys=False)
    fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def self_signed_certificate(directory: Path) -> tuple[Path, Path] | None:
    """``(cert, key)`` PEM files for ``127.0.0.1`` and ``localhost`` in
    ``directory``, made with ``openssl`` (kept if they exist already), or
    None when ``openssl`` is not installed."""
    cert, key = directory / "tls.crt", directory / "tls.key"
    if cert.exists() and key.exists():
        return cert, key
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=kemu",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=30,
        umask=0o077,  # the key is never readable by others, not even for a moment
    )
    os.chmod(key, 0o600)
    return cert, key
