"""``kemu port-forward``: a local port that reaches a pod, as kubectl's does.

``kemu port-forward svc/web 8080:80`` picks one running pod behind the
target (a pod, or the first ready pod selected by a Service, Deployment,
ReplicaSet), translates a Service port to that pod's target port (a named
``targetPort`` is looked up among the pod's container ports), listens on
``--address`` (127.0.0.1) and relays every connection to ``<pod IP>:<port>``.

kubectl tunnels through the apiserver and the kubelet because the pod
network is not reachable from the user's machine; kemu's pods listen on
loopback addresses of this very machine, so the forwarder connects to the
pod directly, which is what the tunnel achieves. Like kubectl, it stays on
the pod it chose: if that pod goes away, connections fail until it is
restarted.

Threads: the main thread waits for Ctrl-C; one thread per listening port
accepts; each connection gets two daemon threads copying one direction
each (a handful of interactive connections: threads are the simple choice).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence

import click

from kemu.api import errors
from kemu.cli.base import CommandError, Ctx, fail
from kemu.client import Client
from kemu.types import Obj

__all__ = ["COMMANDS", "parse_port_pairs", "pick_pod", "pod_port_for_service", "port_forward"]


def parse_port_pairs(specs: Sequence[str]) -> list[tuple[int, int]]:
    """``["8080:80", "9090", ":443"]`` -> ``[(8080, 80), (9090, 9090), (0, 443)]``
    (local port 0: pick a free one). Raises ``ValueError`` with kubectl's wording.

    >>> parse_port_pairs(["8080:80", "9090", ":443"])
    [(8080, 80), (9090, 9090), (0, 443)]
    """
    pairs = []
    for spec in specs:
        local, sep, remote = spec.partition(":")
        if not sep:
            local, remote = spec, spec
        try:
            lport = int(local) if local else 0
            rport = int(remote)
        except ValueError:
            raise ValueError(f"Error parsing local port '{local}': invalid syntax") from None
        if not 0 <= lport <= 65535 or not 0 < rport <= 65535:
            raise ValueError(f"Port '{spec}' is not in the valid range 1-65535")
        pairs.append((lport, rport))
    return pairs


def _ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (pod.get("status") or {}).get("conditions") or [])


def pick_pod(pods: Sequence[Obj]) -> Obj | None:
    """The pod kubectl would pick: running with an IP and not terminating, ready ones
    first, then the oldest."""
    live = [
        p for p in pods
        if (p.get("status") or {}).get("phase") == "Running"
        and (p.get("status") or {}).get("podIP")
        and not (p.get("metadata") or {}).get("deletionTimestamp")
    ]
    live.sort(key=lambda p: (not _ready(p), (p.get("metadata") or {}).get("creationTimestamp") or "", p["metadata"]["name"]))
    return live[0] if live else None


def pod_port_for_service(service: Obj, pod: Obj, port: int) -> int:
    """The pod port behind Service port ``port`` (kubectl's ``translateServicePortToTargetPort``).
    Raises ``ValueError`` when the Service has no such port or the pod lacks the named port."""
    for sp in (service.get("spec") or {}).get("ports") or []:
        if sp.get("port") != port:
            continue
        target = sp.get("targetPort") or port
        if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
            return int(target)
        for container in (pod.get("spec") or {}).get("containers") or []:
            for cp in container.get("ports") or []:
                if cp.get("name") == target:
                    return int(cp["containerPort"])
        raise ValueError(f"pod {pod['metadata']['name']} has no container port named {target!r}")
    raise ValueError(f"Service {service['metadata']['name']} does not have a service port {port}")


def _selector_query(selector: Obj | None) -> str:
    """A label-selector string from a Service selector or a ``matchLabels``/``matchExpressions`` one."""
    if not selector:
        return ""
    if "matchLabels" in selector or "matchExpressions" in selector:
        parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
        for expr in selector.get("matchExpressions") or []:
            values = ",".join(expr.get("values") or [])
            op = expr.get("operator")
            if op == "In":
                parts.append(f"{expr['key']} in ({values})")
            elif op == "NotIn":
                parts.append(f"{expr['key']} notin ({values})")
            elif op == "Exists":
                parts.append(expr["key"])
            elif op == "DoesNotExist":
                parts.append(f"!{expr['key']}")
        return ",".join(parts)
    return ",".join(f"{k}={v}" for k, v in selector.items())


def _resolve_target(client: Client, target: str, namespace: str) -> tuple[Obj, Obj | None]:
    """(pod, service or None) for ``pod/x``, ``x``, ``svc/x``, ``deploy/x``, ``rs/x``."""
    kind, _, name = target.partition("/")
    if not name:
        kind, name = "pod", kind
    kind = kind.lower()
    if kind in ("pod", "pods", "po"):
        return client.get("Pod", name, namespace), None
    kinds = {"svc": "Service", "service": "Service", "services": "Service",
             "deploy": "Deployment", "deployment": "Deployment", "deployments": "Deployment",
             "rs": "ReplicaSet", "replicaset": "ReplicaSet", "replicasets": "ReplicaSet"}
    if kind not in kinds:
        raise CommandError(f"cannot attach to {kind}: not implemented")
    obj = client.get(kinds[kind], name, namespace)
    selector = (obj.get("spec") or {}).get("selector")
    query = _selector_query(selector)
    if not query:
        raise CommandError(f"cannot attach to {kinds[kind]} {name}: it has no selector")
    pod = pick_pod(client.list("Pod", namespace, label_selector=query)["items"])
    if pod is None:
        raise CommandError(f"unable to find a running pod for {target}")
    return pod, obj if kinds[kind] == "Service" else None


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(1 << 16):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve_port(listener: socket.socket, pod_ip: str, pod_port: int, local_port: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        click.echo(f"Handling connection for {local_port}")
        try:
            upstream = socket.create_connection((pod_ip, pod_port), timeout=5)
        except OSError as exc:
            click.echo(f"E0000 portforward: error forwarding port {pod_port} to pod {pod_ip}: {exc}", err=True)
            conn.close()
            continue
        upstream.settimeout(None)
        conn.settimeout(None)

        def run(a: socket.socket = conn, b: socket.socket = upstream) -> None:
            t = threading.Thread(target=_pipe, args=(b, a), daemon=True)
            t.start()
            _pipe(a, b)
            t.join()
            a.close()
            b.close()

        threading.Thread(target=run, daemon=True).start()


@click.command("port-forward")
@click.argument("target")
@click.argument("ports", nargs=-1, required=True)
@click.option("-n", "--namespace", default=None)
@click.option("--address", default="127.0.0.1", show_default=True, help="Local address to listen on.")
@click.pass_obj
def port_forward(obj: Ctx, target: str, ports: tuple[str, ...], namespace: str | None, address: str) -> None:
    """Forward local ports to a pod (TYPE/NAME: pod, svc, deploy, rs).

    \b
    kemu port-forward svc/hello 8080:80
    kemu port-forward pod/hello-abcde :80      # a random local port
    """
    try:
        pairs = parse_port_pairs(ports)
    except ValueError as exc:
        fail(f"error: {exc}")
    ns = namespace or "default"
    pod, service = _resolve_target(obj.client, target, ns)
    pod_ip = pod["status"]["podIP"]
    stop = threading.Event()
    listeners: list[socket.socket] = []
    try:
        for local, remote in pairs:
            try:
                pod_port = pod_port_for_service(service, pod, remote) if service is not None else remote
            except ValueError as exc:
                fail(f"error: {exc}")
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((address, local))
            except OSError as exc:
                fail(f"error: unable to listen on port {local}: {exc.strerror}")
            listener.listen(64)
            listener.settimeout(0.5)
            listeners.append(listener)
            bound = listener.getsockname()[1]
            click.echo(f"Forwarding from {address}:{bound} -> {pod_port}")
            threading.Thread(target=_serve_port, args=(listener, pod_ip, pod_port, bound, stop), daemon=True).start()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    except errors.ApiError:
        raise
    finally:
        stop.set()
        for listener in listeners:
            listener.close()


COMMANDS: list[click.Command] = [port_forward]
"""What this module adds to the ``kemu`` group."""
