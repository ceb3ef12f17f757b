"""``kemu logs`` and ``kemu exec``: looking inside a pod, as kubectl does.

kubectl asks the apiserver, which proxies to the kubelet of the pod's node.
kemu's CLI goes to that kubelet itself: it reads the pod (for its
``spec.nodeName``), then the Node (its ``InternalIP`` and
``status.daemonEndpoints.kubeletEndpoint.Port``), and sends its requests to
the kubelet's ZeroMQ server there (:mod:`kubelet.server` documents the
protocol; :mod:`kemu.kubeletclient` is its client, shared with the HTTP
front door's ``pods/log`` and ``pods/exec``). The server's errors come back
as Kubernetes ``Status`` objects and are printed as kubectl prints them
(``Error from server (BadRequest): a container name must be specified for
pod web, choose one of: [nginx sidecar]``).

``kemu logs -f`` is a loop of long polls: each call returns what was written
after the cursor the previous call returned (waiting up to a second for
something new) until the kubelet says the container is gone and its log
drained. ``kemu exec`` runs the command to its end and then prints its stdout
and stderr and exits with its exit code (``command terminated with exit code
3`` on stderr, as kubectl says), so output is not streamed while it runs.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from kemu.api import errors
from kemu.cli.main import Ctx, cli, connection_refused, fail, server_error
from kemu.kubeletclient import (
    KubeletClient,
    KubeletTarget,
    KubeletUnavailable,
    LogOptions,
    kubelet_address,
)

__all__ = ["exec_", "kubelet_for_pod", "logs"]

Obj = dict[str, Any]

FOLLOW_WAIT = 1.0
"""Seconds a follow call waits on the kubelet for new lines."""


def kubelet_for_pod(ctx: Ctx, pod: Obj) -> KubeletTarget:
    """The kubelet of ``pod``'s node, or exit with an error kubectl would print."""
    name = pod["metadata"]["name"]
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        first = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name", "")
        fail(f'Error from server (BadRequest): container "{first}" in pod "{name}" is waiting to start: ContainerCreating')
    address = kubelet_address(ctx.client.get("Node", node_name))
    if address is None:
        fail(f'error: the kubelet of node "{node_name}" serves no logs or exec (no InternalIP or kubelet port in its status)')
    return KubeletTarget(node_name, address)


def _kubelet_client(ctx: Ctx, target: KubeletTarget) -> KubeletClient:
    if connection_refused(target.address, min(ctx.timeout, 2.0)):
        fail(f'error: the kubelet of node "{target.node}" at {target.address} refused the connection (is the node running?)')
    return KubeletClient(target, timeout=ctx.timeout)


def _pod_name(word: str) -> str:
    """``web`` or ``pod/web`` (kubectl accepts both)."""
    kind, slash, name = word.partition("/")
    if not slash:
        return word
    if kind not in ("pod", "pods", "po"):
        fail(f"error: kemu logs and exec take a pod, not {kind}/{name}")
    return name


@cli.command()
@click.argument("pod")
@click.option("-c", "--container", default=None, help="The container (required for a pod with several).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the container exits.")
@click.option("-p", "--previous", is_flag=True, help="The previous (terminated) run of the container.")
@click.option("--tail", type=int, default=-1, help="Lines from the end to print (-1: all).")
@click.option("--timestamps", is_flag=True, help="Prefix every line with its RFC 3339 timestamp.")
@click.option("-n", "--namespace", default=None)
@click.pass_obj
def logs(ctx: Ctx, pod: str, container: str | None, follow: bool, previous: bool, tail: int, timestamps: bool,
         namespace: str | None) -> None:
    """Print the logs of a container of POD (served by its node's kubelet)."""
    ns = namespace or "default"
    obj = ctx.client.get("Pod", _pod_name(pod), ns)
    target = kubelet_for_pod(ctx, obj)
    options = LogOptions(container=container, follow=follow, previous=previous, timestamps=timestamps,
                         tail_lines=tail if tail >= 0 else None)
    out = sys.stdout.buffer
    with _kubelet_client(ctx, target) as kubelet:
        try:
            for data in kubelet.follow_logs(ns, obj["metadata"]["name"], options, wait=FOLLOW_WAIT):
                out.write(data)
                out.flush()
        except KubeletUnavailable as exc:
            fail(f"error: {exc.message}")
        except errors.ApiError as exc:
            fail(server_error(exc))
        except KeyboardInterrupt:
            return


@cli.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("pod")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@click.option("-c", "--container", default=None, help="The container (default: the first).")
@click.option("-i", "--stdin", "stdin", is_flag=True, help="Pass this command's stdin to the container command.")
@click.option("-t", "--tty", is_flag=True, help="Accepted for kubectl compatibility; kemu has no terminals.")
@click.option("-n", "--namespace", default=None)
@click.option("--timeout", "exec_timeout", type=float, default=300.0, show_default=True,
              help="Kill the command after this many seconds.")
@click.pass_obj
def exec_(ctx: Ctx, pod: str, command: tuple[str, ...], container: str | None, stdin: bool, tty: bool,
          namespace: str | None, exec_timeout: float) -> None:
    """Run COMMAND in a container of POD: kemu exec POD [-c C] -- CMD ARGS..."""
    ns = namespace or "default"
    obj = ctx.client.get("Pod", _pod_name(pod), ns)
    if tty:
        click.echo("Unable to use a TTY - kemu's exec has no terminal", err=True)
    names = [c["name"] for c in (obj.get("spec") or {}).get("containers") or []]
    if container is None and len(names) > 1:
        default = ((obj["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container"))
        container = default if default in names else names[0]
        click.echo(f'Defaulted container "{container}" out of: {", ".join(names)}', err=True)
    data = sys.stdin.buffer.read() if stdin else None
    target = kubelet_for_pod(ctx, obj)
    with _kubelet_client(ctx, target) as kubelet:
        try:
            result = kubelet.exec(ns, obj["metadata"]["name"], list(command), container=container, stdin=data,
                                  timeout_seconds=exec_timeout)
        except KubeletUnavailable as exc:
            fail(f"error: {exc.message}")
        except errors.ApiError as exc:
            if exc.code == 400 and exc.message.startswith("container not found"):
                fail(f"error: unable to upgrade connection: {exc.message}")
            if exc.code == 500:
                prefix = "" if exc.message.startswith("Internal error occurred") else "Internal error occurred: "
                fail(f"error: {prefix}{exc.message}")
            fail(server_error(exc))
    sys.stdout.buffer.write(result.stdout)
    sys.stdout.buffer.flush()
    sys.stderr.buffer.write(result.stderr)
    sys.stderr.buffer.flush()
    if result.timed_out:
        click.echo(f"error: the command did not finish within {exec_timeout:g}s and was killed", err=True)
    if result.exit_code:
        click.echo(f"command terminated with exit code {result.exit_code}", err=True)
        sys.exit(result.exit_code)
