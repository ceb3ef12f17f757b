"""Cluster commands: ``kemu up``, ``kemu down``, ``kemu node ...``, ``kemu config ...``.

They act on real processes with real signals, recorded by the launcher in
``<data-dir>/cluster.json``: ``kemu node kill node-2`` is exactly
``kill -9 <pid of node-2's kubelet>``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import click

from kemu import config as kconfig
from kemu.cli import diagnose
from kemu.cli.base import fail
from kemu.launcher import ClusterSpec, LocalCluster, load_state
from kemu.leftovers import StopReport, stop_cluster
from kemu.leftovers import addresses as leftover_addresses
from kemu.procs import pid_alive

DEFAULT_DATA_DIR = diagnose.DEFAULT_DATA_DIR


def _data_dir(flag: Path | None) -> Path:
    if flag:
        return flag
    current = kconfig.current_cluster()
    if current and current[1].get("data_dir"):
        return Path(current[1]["data_dir"])
    return DEFAULT_DATA_DIR


@click.command()
@click.option("--nodes", type=int, default=3, show_default=True, help="Worker nodes to start.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Where state and logs live [default: {DEFAULT_DATA_DIR}].")
@click.option("--port", type=int, default=7100, show_default=True, help="apiserver request port (watch uses port+1).")
@click.option("-d", "--detach", is_flag=True, help="Start in the background and return once nodes are Ready.")
@click.option("--node-monitor-grace-period", type=float, default=2.0, show_default=True,
              help="Seconds without a lease renewal before a node is NotReady (Kubernetes: 40).")
@click.option("--toleration-seconds", type=int, default=2, show_default=True,
              help="Seconds pods tolerate a NotReady/unreachable node before eviction (Kubernetes: 300).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
@click.option("--no-proxy", is_flag=True, help="Do not start kube-proxies.")
@click.option("--no-dns", is_flag=True, help="Do not start the cluster DNS server.")
@click.option("--fresh", is_flag=True, help="Delete the previous state in --data-dir first.")
@click.option("--http-port", type=int, default=6443, show_default=True,
              help="Port of the Kubernetes HTTP API for kubectl (HTTPS with a token when openssl is available).")
@click.option("--no-http", is_flag=True, help="Do not serve the Kubernetes HTTP API.")
def up(
    nodes: int,
    data_dir: Path | None,
    port: int,
    detach: bool,
    node_monitor_grace_period: float,
    toleration_seconds: int,
    log_level: str,
    no_proxy: bool,
    no_dns: bool,
    fresh: bool,
    http_port: int,
    no_http: bool,
) -> None:
    """Start a local cluster: apiserver, controller manager, scheduler, and a
    kubelet per node, each its own process."""
    data_dir = (data_dir or DEFAULT_DATA_DIR).resolve()
    refusal = diagnose.up_refusal(diagnose.examine(data_dir))
    if refusal:
        fail(refusal)
    if fresh and (data_dir / "apiserver").exists():
        import shutil

        shutil.rmtree(data_dir / "apiserver")
    spec = ClusterSpec(
        data_dir=data_dir,
        nodes=nodes,
        api_port=port,
        node_monitor_grace_period=node_monitor_grace_period,
        toleration_seconds=toleration_seconds,
        log_level=log_level,
        with_proxy=not no_proxy,
        with_dns=not no_dns,
        with_http=not no_http,
        http_port=http_port,
    )
    cluster = LocalCluster(spec, detach=detach)
    started = time.monotonic()
    try:
        cluster.start(on_progress=lambda m: click.echo(f"kemu: {m}", err=True))
    except (TimeoutError, OSError) as exc:
        click.echo(f"error: the cluster did not come up: {exc}", err=True)
        _print_failures(cluster)
        cluster.stop()
        sys.exit(1)
    path = kconfig.save_cluster("local", {"server": spec.server, "data_dir": str(data_dir)})
    click.echo(
        f"kemu: cluster up in {time.monotonic() - started:.2f}s: {nodes} nodes; "
        f"config in {path}; logs in {data_dir / 'logs'}",
        err=True,
    )
    if cluster.kubeconfig is not None:
        click.echo(f"kemu: kubectl works too: kubectl --kubeconfig {cluster.kubeconfig} get nodes", err=True)
    if detach:
        click.echo("kemu: running in the background; stop it with `kemu down`", err=True)
        return
    click.echo("kemu: streaming logs; Ctrl-C stops the cluster", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        tail_logs(cluster.log_dir, stop)
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("\nkemu: stopping the cluster", err=True)
        cluster.stop()


def _print_failures(cluster: LocalCluster) -> None:
    for name, proc in cluster.procs.items():
        if not proc.alive():
            try:
                tail = proc.log_path.read_text().splitlines()[-5:]
            except OSError:
                tail = []
            click.echo(f"--- {name} exited; last lines of {proc.log_path}:", err=True)
            for line in tail:
                click.echo(f"    {line}", err=True)


def tail_logs(log_dir: Path, stop: threading.Event) -> None:
    """Follow every ``*.log`` in ``log_dir`` (new files too), printing each
    line labelled with its process; JSON lines pass through when stdout is not
    a terminal."""
    offsets: dict[Path, int] = {}
    tty = sys.stdout.isatty()
    while not stop.is_set():
        for path in sorted(log_dir.glob("*.log")):
            pos = offsets.get(path, 0)
            try:
                with open(path, "rb") as f:
                    f.seek(pos)
                    data = f.read()
            except OSError:
                continue
            if not data:
                continue
            complete = data.rfind(b"\n") + 1
            offsets[path] = pos + complete
            for raw in data[:complete].splitlines():
                click.echo(render_log_line(path.stem, raw.decode(errors="replace"), tty))
        stop.wait(0.2)


def render_log_line(source: str, line: str, tty: bool) -> str:
    """A component's JSON line for a person (tty) or passed through (pipes)."""
    if not tty:
        return line
    try:
        event = json.loads(line)
    except ValueError:
        return f"{source:<22} {line}"
    ts = str(event.pop("ts", ""))[11:23]
    level = str(event.pop("level", "")).upper()[:4]
    msg = event.pop("event", "")
    event.pop("component", None)
    event.pop("node", None)
    rest = " ".join(f"{k}={v}" for k, v in event.items())
    return f"{ts} {level:<4} {source:<22} {msg} {rest}".rstrip()


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--grace", type=float, default=5.0, show_default=True)
def down(data_dir: Path | None, grace: float) -> None:
    """Stop a cluster started with `kemu up` (nodes first, apiserver last),
    and every process of it started by hand from a component's command line."""
    data_dir = _data_dir(data_dir)
    try:
        state = load_state(data_dir)
    except FileNotFoundError as exc:
        fail(f"error: {exc}")
    report = stop_cluster(data_dir, leftover_addresses(state.server, state.spec), state.pids, grace)
    _print_down_report(report)
    from kubelet.sandbox import fabric_name, remove_fabric

    remove_fabric(fabric_name(str(data_dir.resolve())))  # the pod network, if pods had sandboxes
    if report.failed:
        sys.exit(1)


def _print_down_report(report: StopReport) -> None:
    """One line per process stopped (saying which ones ``kemu up`` had not
    started), one error line per process left running."""
    if not (report.stopped or report.killed or report.failed or report.orphans):
        click.echo("kemu: nothing running", err=True)
        return
    done = [(p, False) for p in report.stopped] + [(p, True) for p in report.killed]
    for proc, killed in sorted(done, key=lambda d: (d[0].name, d[0].pid)):
        notes = [] if proc.recorded else [f"pid {proc.pid}", "started by hand"]
        if killed:
            notes.append("killed")
        click.echo(f"{proc.name} stopped" + (f" ({', '.join(notes)})" if notes else ""))
    for proc in report.orphans:
        owner, _, pid = proc.name.rpartition("/")
        command = " ".join(proc.argv)[:80]
        click.echo(f"{owner} left pid {pid} running ({command}): stopped")
    for proc, why in report.failed:
        click.echo(f"error: could not stop {proc.name} (pid {proc.pid}): {why}", err=True)


@click.group()
def node() -> None:
    """Kill, freeze, thaw or restart a node's processes (failover drills)."""


def _node_pids(data_dir: Path | None, name: str) -> tuple[Path, dict[str, int]]:
    data_dir = _data_dir(data_dir)
    try:
        state = load_state(data_dir)
    except FileNotFoundError as exc:
        fail(f"error: {exc}")
    if name not in state.nodes:
        fail(f'error: node "{name}" is not part of the cluster in {data_dir} (nodes: {", ".join(state.nodes)})')
    pids = {k: v for k, v in state.pids.items() if k in (f"kubelet-{name}", f"kubeproxy-{name}")}
    return data_dir, pids


def _signal_node(data_dir: Path | None, name: str, sig: signal.Signals, verb: str) -> None:
    _, pids = _node_pids(data_dir, name)
    hit = False
    for proc, pid in sorted(pids.items()):
        if pid_alive(pid):
            os.kill(pid, sig)
            click.echo(f"{proc} (pid {pid}) {verb}")
            hit = True
    if not hit:
        fail(f"error: node {name} has no running processes")


_data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)


@node.command("kill")
@click.argument("name")
@_data_dir_option
def node_kill(name: str, data_dir: Path | None) -> None:
    """SIGKILL the node's kubelet and kube-proxy: the node and its pods die."""
    _signal_node(data_dir, name, signal.SIGKILL, "killed")


@node.command("freeze")
@click.argument("name")
@_data_dir_option
def node_freeze(name: str, data_dir: Path | None) -> None:
    """SIGSTOP the node's processes: a network partition; its pods keep running."""
    _signal_node(data_dir, name, signal.SIGSTOP, "frozen")


@node.command("thaw")
@click.argument("name")
@_data_dir_option
def node_thaw(name: str, data_dir: Path | None) -> None:
    """SIGCONT a frozen node."""
    _signal_node(data_dir, name, signal.SIGCONT, "thawed")


@node.command("start")
@click.argument("name")
@_data_dir_option
def node_start(name: str, data_dir: Path | None) -> None:
    """Start new processes for a node that was killed."""
    data_dir, pids = _node_pids(data_dir, name)
    if any(pid_alive(p) for p in pids.values()):
        fail(f"error: node {name} is still running (kemu node kill {name} first)")
    state = load_state(data_dir)
    known = {f.name for f in dataclasses.fields(ClusterSpec)}
    spec = ClusterSpec(**{k: v for k, v in state.spec.items() if k in known} | {"data_dir": Path(state.spec["data_dir"])})
    cluster = LocalCluster(spec, detach=True)
    cluster.state = state
    cluster.start_node(name)
    for proc in (f"kubelet-{name}", f"kubeproxy-{name}"):
        if proc in cluster.procs:
            click.echo(f"{proc} started (pid {cluster.procs[proc].pid})")


@node.command("list")
@_data_dir_option
def node_list(data_dir: Path | None) -> None:
    """The node processes and whether they run."""
    data_dir = _data_dir(data_dir)
    state = load_state(data_dir)
    for name, pid in sorted(state.pids.items()):
        click.echo(f"{name:<24} pid {pid:<8} {'running' if pid_alive(pid) else 'dead'}")


@click.group("config")
def config_group() -> None:
    """Which cluster the CLI talks to (~/.kemu/config.yaml)."""


@config_group.command("use")
@click.argument("name")
def config_use(name: str) -> None:
    """Make NAME the current cluster."""
    try:
        kconfig.use_cluster(name)
    except ValueError as exc:
        fail(f"error: {exc}")
    click.echo(f'Switched to cluster "{name}".')


@config_group.command("set-cluster")
@click.argument("name")
@click.option("--server", required=True, help="Request address, e.g. tcp://127.0.0.1:7100")
def config_set_cluster(name: str, server: str) -> None:
    """Add or change a cluster entry."""
    kconfig.save_cluster(name, {"server": server}, make_current=False)
    click.echo(f'Cluster "{name}" set.')


@config_group.command("view")
def config_view() -> None:
    """Print the config file."""
    click.echo(json.dumps(kconfig.load_config(), indent=2))


@node.command("run")
@click.argument("name")
@click.option("--ip", "node_ip", required=True, help="The node's InternalIP (127.0.1.N).")
@click.option("--server", envvar="KEMU_SERVER", default="tcp://127.0.0.1:7100", show_default=True)
@click.option("--root-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("/var/lib/kemu/node"),
              show_default=True)
@click.option("--proxy/--no-proxy", default=True, show_default=True, help="Also run this node's kube-proxy.")
@click.option("--cpu", default="4", show_default=True)
@click.option("--memory", default="8Gi", show_default=True)
@click.option("--pod-sandbox/--no-pod-sandbox", default=True, show_default=True,
              help="Give pods their own network namespace and root file system (needs root and, in a "
              "container, privileges).")
@click.option("--cluster-dns", default="127.96.0.10", show_default=True, help="The cluster DNS server, for pods.")
def node_run(name: str, node_ip: str, server: str, root_dir: Path, proxy: bool, cpu: str, memory: str,
             pod_sandbox: bool, cluster_dns: str) -> None:
    """Run one node in the foreground: its kubelet and kube-proxy as child
    processes that live and die together (what a compose node container runs).

    If either exits, the other is stopped and this command exits with an
    error, so the container stops as a whole; SIGTERM stops both."""
    from kemu.procs import spawn
    from kubelet.sandbox import fabric_name

    # A node container cannot see the others' named namespaces: each node has
    # its own fabric, and the shared network namespace forwards between them.
    network = ["--pod-network", fabric_name(f"node/{name}"), "--pod-network-scope", "node"] if pod_sandbox else []
    procs = [
        spawn(f"kubelet-{name}", ["kubelet", "--server", server, "--node", name, "--node-ip", node_ip,
                                  "--root-dir", str(root_dir / name), "--cpu", cpu, "--memory", memory,
                                  "--cluster-dns", cluster_dns, *network],
              Path("/dev/stderr"))
    ]
    if proxy:
        procs.append(spawn(f"kubeproxy-{name}", ["kubeproxy", "--server", server, "--node", name], Path("/dev/stderr")))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    code = 0
    try:
        while not stop.wait(0.5):
            dead = [p for p in procs if not p.alive()]
            if dead:
                click.echo(f"kemu: {dead[0].name} exited; stopping node {name}", err=True)
                code = 1
                break
    finally:
        for p in procs:
            p.stop(grace=5)
    sys.exit(code)


COMMANDS: list[click.Command] = [up, down, node, config_group]
"""What this module adds to the ``kemu`` group."""
