"""port-forward and proxy figures: connections per second through the API.

Prints one JSON object. Starts a one-node cluster with the HTTP front door
(``kemu.testing.running_cluster``) in a temporary directory, runs one
``kubernetes-bootcamp`` pod, then measures short HTTP connections (one
``GET /`` each, a fresh TCP connection each) at a few concurrency levels:

- ``direct``: to the pod's IP, the baseline;
- ``websocket``: through ``kubectl port-forward`` (SPDY in a WebSocket);
- ``spdy``: the same with ``KUBECTL_PORT_FORWARD_WEBSOCKETS=false``;
- ``proxy``: through ``kubectl proxy`` and ``pods/NAME:8080/proxy/``.

Each figure counts only answered requests; ``errors`` says how many were
not. The load is Python threads on the same machine as everything else,
so the figures are for comparing paths, not for absolute capacity.

    .venv/bin/python bench/portforward.py --requests 500 --concurrency 1,20,50
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

KUBECTL = "/usr/bin/kubectl"
POD = """\
apiVersion: v1
kind: Pod
metadata: {name: bootcamp}
spec:
  containers:
  - name: bootcamp
    image: gcr.io/google-samples/kubernetes-bootcamp:v1
    ports: [{containerPort: 8080}]
"""



def _one(host: str, port: int, path: str) -> bool:
    try:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("GET", path)
        ok = conn.getresponse().read().startswith(b"Hello Kubernetes bootcamp!")
        conn.close()
        return ok
    except OSError:
        return False


def measure(host: str, port: int, path: str, requests: int, concurrency: int) -> dict[str, Any]:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(lambda _i: _one(host, port, path), range(requests)))
    elapsed = time.monotonic() - started
    ok = sum(results)
    return {"concurrency": concurrency, "requests": requests, "errors": requests - ok,
            "connections_per_s": round(ok / elapsed, 1)}


def _started(argv: list[str], env: dict[str, str], pattern: str) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if m := re.search(pattern, line):
            return proc, int(m.group(1))
        if not line:
            break
    proc.kill()
    raise RuntimeError(f"{argv[1]} did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()


def run(requests: int, levels: list[int]) -> dict[str, Any]:
    from kemu.testing import free_port, running_cluster

    out: dict[str, Any] = {"config": {"requests": requests, "concurrency": levels},
                           "machine": {"cpus": os.cpu_count()}}
    with tempfile.TemporaryDirectory(prefix="kemu-bench-pf-") as d, \
            running_cluster(Path(d), nodes=1, with_http=True, http_port=free_port(), with_dns=False,
                            log_level="warning") as cluster:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": d, "KUBECONFIG": str(cluster.kubeconfig),
               "KUBECACHEDIR": str(Path(d) / "kube-cache")}
        subprocess.run([KUBECTL, "apply", "-f", "-"], input=POD.encode(), env=env, check=True, capture_output=True)
        subprocess.run([KUBECTL, "wait", "--for=condition=Ready", "pod/bootcamp", "--timeout=60s"], env=env,
                       check=True, capture_output=True)
        ip = subprocess.run([KUBECTL, "get", "pod", "bootcamp", "-o", "jsonpath={.status.podIP}"], env=env,
                            check=True, capture_output=True, text=True).stdout
        out["direct"] = [measure(ip, 8080, "/", requests, c) for c in levels]
        for name, websockets in (("websocket", "true"), ("spdy", "false")):
            proc, port = _started([KUBECTL, "port-forward", "--address", "127.0.0.1", "pod/bootcamp", ":8080"],
                                  {**env, "KUBECTL_PORT_FORWARD_WEBSOCKETS": websockets},
                                  r"Forwarding from 127\.0\.0\.1:(\d+)")
            try:
                out[name] = [measure("127.0.0.1", port, "/", requests, c) for c in levels]
            finally:
                _stop(proc)
        proc, port = _started([KUBECTL, "proxy", "--port=0"], env, r"Starting to serve on 127\.0\.0\.1:(\d+)")
        try:
            path = "/api/v1/namespaces/default/pods/bootcamp:8080/proxy/"
            out["proxy"] = [measure("127.0.0.1", port, path, requests, c) for c in levels]
        finally:
            _stop(proc)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", default="1,20,50")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    json.dump(run(args.requests, levels), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
