"""Test helpers for the HTTP front door: the process on a free port (the
port is read back from its log, so no two tests race for one), a
self-signed certificate for HTTPS, and a kubeconfig pointing at it."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from pathlib import Path

from kemu.kubeconfig import self_signed_certificate, write_kubeconfig
from kemu.procs import Proc, spawn

__all__ = ["HttpFrontDoor", "self_signed_certificate"]


class HttpFrontDoor:
    """``python -m apiserver.http`` in front of the apiserver at ``server``,
    listening on a free port of 127.0.0.1; HTTPS when ``tls`` is given."""

    def __init__(
        self,
        root: Path,
        server: str,
        *,
        token: str | None = None,
        tls: tuple[Path, Path] | None = None,
        extra_args: list[str] | None = None,
    ):
        self.root = root
        self.server = server
        self.token = token
        self.tls = tls
        self.extra_args = list(extra_args or [])
        self.log_path = root / "http.log"
        self.proc: Proc | None = None
        self.url = ""

    def start(self, timeout: float = 15.0) -> HttpFrontDoor:
        args = ["apiserver.http", "--server", self.server, "--listen", "127.0.0.1:0", *self.extra_args]
        if self.token:  # by file, as the launcher does: a token on argv is readable by any user
            token_file = self.root / "http-token"
            token_file.write_text(self.token)
            token_file.chmod(0o600)
            args += ["--token-file", str(token_file)]
        if self.tls:
            args += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        self.proc = spawn("http", args, self.log_path)
        deadline = time.monotonic() + timeout
        while not self.url:
            self.url = self._url_from_log()
            if time.monotonic() > deadline or not self.proc.alive():
                raise RuntimeError(f"the HTTP front door did not start:\n{self.log()}")
            time.sleep(0.05)
        return self

    def _url_from_log(self) -> str:
        for line in self.log().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "http front door serving":
                return str(entry["url"])
        return ""

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.tls[0]))

    def get(self, path: str, *, headers: dict[str, str] | None = None, timeout: float = 10.0) -> bytes:
        """GET ``path`` with the token; raises ``urllib.error.HTTPError`` on >= 400."""
        request = urllib.request.Request(self.url + path, headers=dict(headers or {}))
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=timeout, context=self.ssl_context()) as response:
            return bytes(response.read())

    def write_kubeconfig(self, path: Path) -> Path:
        return write_kubeconfig(path, self.url, self.token, certificate_authority=self.tls[0] if self.tls else None)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(grace=5)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text()
        except FileNotFoundError:
            return ""
