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
drained.

``kemu exec`` and ``kemu attach`` are streaming sessions with the kubelet
(:mod:`kemu.kubeletstream`), as ``kubectl exec``/``attach`` are through the
apiserver: stdin is forwarded as it is read (``-i``), output printed as the
command writes it, and the exit code is kemu's (``command terminated with
exit code 3`` on stderr, as kubectl says). With ``-t`` the command gets a
pseudo-terminal, the local terminal is put in raw mode (restored however
the session ends) and SIGWINCH is forwarded as a resize.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
import termios
import threading
import tty
from typing import Any

import click

from kemu.api import errors
from kemu.cli.base import Ctx, connection_refused, fail, server_error
from kemu.kubeletclient import (
    KubeletClient,
    KubeletTarget,
    KubeletUnavailable,
    LogOptions,
    kubelet_address,
)
from kemu.kubeletstream import CHUNK, STDERR, StreamSession, StreamSpec
from kemu.types import Obj

__all__ = ["COMMANDS", "LocalTerminal", "attach", "exec_", "kubelet_for_pod", "logs"]


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


@click.command()
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


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("pod")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@click.option("-c", "--container", default=None, help="The container (default: the first).")
@click.option("-i", "--stdin", "stdin", is_flag=True, help="Pass stdin to the container command, as it is typed.")
@click.option("-t", "--tty", is_flag=True, help="Give the command a terminal (the local one goes to raw mode).")
@click.option("-n", "--namespace", default=None)
@click.option("--timeout", "exec_timeout", type=float, default=None,
              help="Kill the command after this many seconds (default: never).")
@click.pass_obj
def exec_(ctx: Ctx, pod: str, command: tuple[str, ...], container: str | None, stdin: bool, tty: bool,
          namespace: str | None, exec_timeout: float | None) -> None:
    """Run COMMAND in a container of POD: kemu exec POD [-c C] [-it] -- CMD ARGS..."""
    ns = namespace or "default"
    obj = ctx.client.get("Pod", _pod_name(pod), ns)
    container = _default_container(obj, container)
    tty = _usable_tty(tty, stdin)
    spec = StreamSpec(namespace=ns, pod=obj["metadata"]["name"], container=container, command=list(command),
                      stdin=stdin, tty=tty)
    code = _stream(ctx, obj, spec, timeout=exec_timeout)
    if code:
        click.echo(f"command terminated with exit code {code}", err=True)
        sys.exit(code)


@click.command()
@click.argument("pod")
@click.option("-c", "--container", default=None, help="The container (default: the first).")
@click.option("-i", "--stdin", "stdin", is_flag=True, help="Pass stdin to the container's main process.")
@click.option("-t", "--tty", is_flag=True, help="The container's terminal (the local one goes to raw mode).")
@click.option("-n", "--namespace", default=None)
@click.pass_obj
def attach(ctx: Ctx, pod: str, container: str | None, stdin: bool, tty: bool, namespace: str | None) -> None:
    """Attach to the main process of a container of POD (its output; with -i its stdin, with -t its terminal)."""
    ns = namespace or "default"
    obj = ctx.client.get("Pod", _pod_name(pod), ns)
    container = _default_container(obj, container)
    spec_of: Obj = next((c for c in (obj.get("spec") or {}).get("containers") or [] if c.get("name") == container), {})
    if tty and not spec_of.get("tty"):
        click.echo(f"Unable to use a TTY - container {container} did not allocate one", err=True)
        tty = False
    tty = _usable_tty(tty, stdin)
    if tty:
        click.echo("If you don't see a command prompt, try pressing enter.", err=True)
    spec = StreamSpec(namespace=ns, pod=obj["metadata"]["name"], container=container, command=[], stdin=stdin,
                      tty=tty)
    _stream(ctx, obj, spec, timeout=None)


def _default_container(obj: Obj, container: str | None) -> str | None:
    names = [c["name"] for c in (obj.get("spec") or {}).get("containers") or []]
    if container is None and len(names) > 1:
        default = ((obj["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container"))
        container = default if default in names else names[0]
        click.echo(f'Defaulted container "{container}" out of: {", ".join(names)}', err=True)
    if container is None and len(names) == 1:
        container = names[0]
    return container


def _usable_tty(tty: bool, stdin: bool) -> bool:
    """As kubectl: a TTY needs stdin to be a terminal (else a warning, and none)."""
    if not tty:
        return False
    if not stdin or not _is_terminal(sys.stdin):
        click.echo("Unable to use a TTY - input is not a terminal or the right kind of file", err=True)
        return False
    return True


def _is_terminal(stream: Any) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return False


def _stream(ctx: Ctx, obj: Obj, spec: StreamSpec, *, timeout: float | None) -> int:
    """Run one session with the pod's kubelet; returns the exit code, or
    exits with kubectl's message for an error."""
    target = kubelet_for_pod(ctx, obj)
    if connection_refused(target.address, min(ctx.timeout, 2.0)):
        fail(f'error: the kubelet of node "{target.node}" at {target.address} refused the connection (is the node running?)')
    terminal = LocalTerminal() if spec.tty else None
    if terminal is not None:
        width, height = terminal.size()
        spec = dataclasses.replace(spec, width=width, height=height)
    try:
        if terminal is not None:
            terminal.raw()
        body = asyncio.run(_session(target.address, spec, terminal, timeout))
    except KeyboardInterrupt:
        body = {"exitCode": 130}
    finally:
        if terminal is not None:
            terminal.restore()
    if "error" in body:
        status = body["error"] if isinstance(body["error"], dict) else {}
        _fail_api(errors.ApiError(status or errors.internal_error("the kubelet ended the session").status))
    if body.get("timedOut"):
        click.echo(f"error: the command did not finish within {timeout:g}s and was killed", err=True)
    code = body.get("exitCode")
    return code if isinstance(code, int) else 0


async def _session(address: str, spec: StreamSpec, terminal: LocalTerminal | None, timeout: float | None) -> Obj:
    out, err = sys.stdout.buffer, sys.stderr.buffer

    async def on_output(channel: bytes, data: bytes) -> None:
        stream = err if channel == STDERR else out
        stream.write(data)
        stream.flush()

    session = StreamSession(address, spec, on_output=on_output)
    loop = asyncio.get_running_loop()
    feeder: asyncio.Task[None] | None = None
    if spec.stdin:
        feeder = asyncio.create_task(_feed_stdin(session, loop))
    if terminal is not None:
        resizes: set[asyncio.Task[None]] = set()

        def resized() -> None:
            task = loop.create_task(session.resize(*terminal.size()))
            resizes.add(task)  # held until done: the loop keeps only a weak reference
            task.add_done_callback(resizes.discard)
        loop.add_signal_handler(signal.SIGWINCH, resized)
    try:
        if timeout is None:
            return await session.run()
        try:
            return await asyncio.wait_for(session.run(), timeout)
        except TimeoutError:
            return {"exitCode": 137, "timedOut": True}
    finally:
        if terminal is not None:
            loop.remove_signal_handler(signal.SIGWINCH)
        if feeder is not None:
            feeder.cancel()
        await session.close()


async def _feed_stdin(session: StreamSession, loop: asyncio.AbstractEventLoop) -> None:
    """Local stdin to the session as it comes (read by a daemon thread, so a
    blocked read never holds the exit up), then its end."""
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=8)
    stream = sys.stdin.buffer

    def read() -> None:
        fd = stream.fileno() if _has_fileno(stream) else None
        while True:
            try:
                data = os.read(fd, CHUNK) if fd is not None else stream.read1(CHUNK)  # type: ignore[union-attr]
            except OSError:
                data = b""
            asyncio.run_coroutine_threadsafe(queue.put(data), loop).result()
            if not data:
                return

    threading.Thread(target=read, name="kemu-stdin", daemon=True).start()
    while True:
        data = await queue.get()
        if not data:
            await session.close_stdin()
            return
        await session.write_stdin(data)


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, ValueError, OSError):
        return False
    return True


def _fail_api(exc: errors.ApiError) -> None:
    """Exit with what kubectl prints for a failed exec or attach."""
    if exc.code == 503:
        fail(f"error: {exc.message}")
    if exc.code == 400 and exc.message.startswith("container not found"):
        fail(f"error: unable to upgrade connection: {exc.message}")
    if exc.code == 500:
        prefix = "" if exc.message.startswith("Internal error occurred") else "Internal error occurred: "
        fail(f"error: {prefix}{exc.message}")
    fail(server_error(exc))


class LocalTerminal:
    """The local terminal of an interactive session: raw mode while it runs,
    the settings restored after (however it ends), its size for resizes."""

    def __init__(self) -> None:
        self.fd = sys.stdin.fileno()
        self._saved: list[Any] | None = None

    def raw(self) -> None:
        self._saved = termios.tcgetattr(self.fd)
        tty.setraw(self.fd, termios.TCSANOW)

    def restore(self) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def size(self) -> tuple[int, int]:
        """(width, height)."""
        try:
            size = os.get_terminal_size(self.fd)
        except OSError:
            return 80, 24
        return size.columns, size.lines


COMMANDS: list[click.Command] = [logs, exec_, attach]
"""What this module adds to the ``kemu`` group."""
