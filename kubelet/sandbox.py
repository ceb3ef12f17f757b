"""Pod sandboxes: a network namespace, a host name and an IPC namespace per pod.

What a pause container gives a pod in Kubernetes, kemu gives it with one
small process per pod (the *sandbox holder*): ``unshare --net --uts --ipc``
running a shell that sets the pod's host name and then blocks reading the
runtime's lifeline pipe. Every container of the pod joins the holder's
namespaces (:mod:`kubelet.shim`), so they share one ``localhost``, one port
space and one host name, and no other pod sees them. The namespaces are
never named or bind-mounted: they live as long as a process is in them, so
a pod deleted, or a kubelet killed with SIGKILL (the holder reads EOF on the
lifeline; the shims kill the containers), leaves nothing behind.

The cluster network: every address stays in 127.0.0.0/8
--------------------------------------------------------
Linux routes all of 127.0.0.0/8 to the loopback device, so a pod IP such as
127.244.1.5 must be taken out of the host's loopback range explicitly, and
the kernel must be told to route loopback addresses over real links
(``route_localnet``). The design, per *fabric* (one per cluster):

- a network namespace ``<fabric>`` (named, under ``/run/netns``) holding a
  bridge ``br0``. Pod-to-pod traffic is switched there, in a namespace with
  no firewall rules of its own, so a host whose ``FORWARD`` policy drops
  (Docker sets that) does not drop it, and the host is never asked to
  forward;
- a veth pair ``<fabric>`` (host side) / ``up0`` (on the bridge): the host's
  door to the pods. Each node puts its gateway (the ``.1`` of its podCIDR)
  on the host side and routes its podCIDR to it in the host's ``local``
  table (a more specific route than the kernel's ``local 127.0.0.0/8``),
  with ``route_localnet`` on that one device;
- per pod, a veth pair: ``eth0`` in the pod's namespace with the pod IP
  (on-link for the cluster CIDR, so pods of every node reach each other
  directly over the bridge; a default route to the node's gateway for
  everything else: Services, node IPs, DNS, the apiserver), and ``v<id>``
  on the bridge. ``eth0`` announces itself (``arp_notify``: a gratuitous
  ARP) as it comes up, so an IP that passes from a deleted pod to a new one
  is not sent to the old pod's MAC from stale neighbour caches. The pod's loopback keeps only ``127.0.0.1/32``: the rest
  of 127.0.0.0/8 is the cluster's, reached through ``eth0``.

The host keeps its own view: kube-proxy's listeners, the DNS server and the
node IPs are host addresses, which a pod reaches through its gateway; the
kubelet's probes, port-forward and kube-proxy reach a pod at its IP. Only
the fabric's namespace and the host-side device outlive a pod; ``kemu down``
(and a test's cluster) removes them with :func:`remove_fabric`.

Without root (or ``ip``, ``unshare`` and overlayfs), :func:`probe` says what
is missing, pods keep the host's network as before, and the kubelet says so
once per pod in an event.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import shutil
import signal
import subprocess
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Fabric",
    "PodDns",
    "Sandbox",
    "SandboxError",
    "Sandboxes",
    "fabric_name",
    "hostname_of",
    "pod_files",
    "probe",
    "remove_fabric",
]

BRIDGE = "br0"
UPLINK = "up0"
_TIMEOUT = 10.0
_LOCK_DIR = Path("/run/kemu")


class SandboxError(RuntimeError):
    """A sandbox could not be made; the message says which step failed."""


def fabric_name(key: str) -> str:
    """A fabric's name (its namespace and host device) for a cluster ``key``:
    at most 15 characters, as a network device name must be."""
    return f"kemu-{zlib.crc32(key.encode()):08x}"


def probe() -> list[str]:
    """What this host lacks for pod sandboxes (empty: nothing)."""
    missing = []
    if os.geteuid() != 0:
        return ["root (network namespaces, mounts and overlayfs need it)"]
    for tool in ("ip", "unshare", "nsenter"):
        if shutil.which(tool) is None:
            missing.append(f"the {tool} command")
    try:
        if "overlay" not in Path("/proc/filesystems").read_text():
            missing.append("overlayfs (each container's root file system)")
    except OSError:
        missing.append("/proc/filesystems")
    return missing


def _run(argv: Sequence[str], *, stdin: str | None = None, what: str) -> str:
    try:
        done = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, timeout=_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"{what}: {exc}") from None
    if done.returncode != 0:
        raise SandboxError(f"{what}: {done.stderr.strip() or f'exit {done.returncode}'}")
    return done.stdout


def _write_sysctl(path: str, value: str) -> None:
    """Write one sysctl. In a container /proc/sys is mounted read-only (a
    compose node has CAP_SYS_ADMIN for its sandboxes, not ``privileged``):
    then remount it writable, once, in the node's own mount namespace."""
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        if exc.errno != errno.EROFS:
            raise
        _run(["mount", "-o", "remount,rw", "/proc/sys"], what="making /proc/sys writable in this container")
        with open(path, "w") as f:
            f.write(value)


@dataclass(frozen=True)
class Fabric:
    """One cluster's pod network (see the module docstring)."""

    name: str
    cluster_cidr: str
    """The CIDR every pod IP comes from: on-link inside a pod (pods of every
    node share the bridge). Empty: the fabric is one node's (compose, where
    node containers cannot share a namespace's name), on-link is the node's
    podCIDR, and the host forwards between nodes' fabrics."""

    @property
    def netns(self) -> Path:
        return Path("/run/netns") / self.name

    def ensure(self) -> None:
        """Create the fabric's namespace, bridge and host device if missing
        (every kubelet of the cluster calls this; one lock file serialises
        them)."""
        import fcntl

        _LOCK_DIR.mkdir(parents=True, exist_ok=True)
        with open(_LOCK_DIR / f"{self.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.netns.exists() and not _has_link(self.name, "lo"):
                # A name left by a namespace that is gone (a node container restarted).
                _run(["ip", "netns", "del", self.name], what="removing a stale fabric name")
            if not self.netns.exists():
                _run(["ip", "netns", "add", self.name], what="creating the fabric namespace")
            if not _has_link(self.name, BRIDGE):
                _run(["ip", "-n", self.name, "link", "add", BRIDGE, "type", "bridge"], what="creating the fabric bridge")
            if not Path(f"/sys/class/net/{self.name}").exists():
                _run(["ip", "link", "add", self.name, "type", "veth", "peer", "name", UPLINK, "netns", self.name],
                     what="creating the fabric's host device")
            _run(["ip", "-n", self.name, "-batch", "-"], what="bringing the fabric up",
                 stdin=f"link set lo up\nlink set {BRIDGE} up\nlink set {UPLINK} master {BRIDGE}\nlink set {UPLINK} up\n")
            _run(["ip", "link", "set", self.name, "up"], what="bringing the fabric's host device up")
            _write_sysctl(f"/proc/sys/net/ipv4/conf/{self.name}/route_localnet", "1")
            if not self.cluster_cidr:  # pods of other nodes are behind other fabrics: forward to them
                _write_sysctl(f"/proc/sys/net/ipv4/conf/{self.name}/forwarding", "1")

    def attach_node(self, pod_cidr: str) -> str:
        """Give a node's podCIDR its gateway (the ``.1``) on the host device
        and route the CIDR there; returns the gateway."""
        net = ipaddress.ip_network(pod_cidr, strict=False)
        gateway = str(net.network_address + 1)
        _run(["ip", "-batch", "-"], what="routing the node's podCIDR to the fabric", stdin=(
            f"addr replace {gateway}/32 dev {self.name}\n"
            f"route replace {net} dev {self.name} table local src {gateway}\n"
        ))
        return gateway


def _has_link(netns: str, name: str) -> bool:
    done = subprocess.run(["ip", "-n", netns, "link", "show", name], capture_output=True, timeout=_TIMEOUT, check=False)
    return done.returncode == 0


def _unplug(netns: str, device: str) -> None:
    """Delete ``device`` from the fabric; quiet when it is not there."""
    subprocess.run(["ip", "-n", netns, "link", "del", device], capture_output=True, timeout=_TIMEOUT, check=False)


def remove_fabric(name: str) -> None:
    """Remove a fabric (``kemu down``, a test's teardown); quiet when absent."""
    subprocess.run(["ip", "link", "del", name], capture_output=True, timeout=_TIMEOUT, check=False)
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=_TIMEOUT, check=False)
    with contextlib.suppress(OSError):
        (_LOCK_DIR / f"{name}.lock").unlink()


@dataclass
class Sandbox:
    """One pod's namespaces, held by :attr:`pid`."""

    uid: str
    pid: int
    ip: str
    gateway: str
    hostname: str
    device: str
    """The pod's veth on the fabric's bridge."""
    proc: subprocess.Popen[bytes] | None = None

    def netns_path(self) -> str:
        return f"/proc/{self.pid}/ns/net"


_HOLDER = 'echo "$0" > /proc/sys/kernel/hostname && read -r _'
"""The sandbox holder: set the host name in the new UTS namespace, then wait
for EOF on the lifeline (stdin). ``read`` returns when the kubelet dies."""


class Sandboxes:
    """Makes and removes one kubelet's pod sandboxes."""

    def __init__(self, fabric: Fabric, *, lifeline_fd: int, log: Any) -> None:
        self.fabric = fabric
        self.lifeline_fd = lifeline_fd
        self.log = log
        self._lock = threading.Lock()
        self._gateway: str | None = None
        self._pod_cidr = ""

    def node_cidr(self, pod_cidr: str) -> None:
        """The node's podCIDR is known (or changed): route it to the fabric."""
        with self._lock:
            if pod_cidr and pod_cidr != self._pod_cidr:
                self.fabric.ensure()
                self._gateway = self.fabric.attach_node(pod_cidr)
                self._pod_cidr = pod_cidr

    def create(self, uid: str, ip: str, hostname: str) -> Sandbox:
        """The pod's namespaces and its ``eth0`` with ``ip``; raises :class:`SandboxError`."""
        with self._lock:
            gateway, node_cidr = self._gateway, self._pod_cidr
        if gateway is None:
            raise SandboxError("the node's podCIDR is not routed to the pod network yet")
        device = f"v{zlib.crc32(uid.encode()):08x}"
        try:
            proc = subprocess.Popen(
                ["unshare", "--net", "--uts", "--ipc", "--", "sh", "-c", _HOLDER, hostname],
                stdin=self.lifeline_fd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True, close_fds=True,
            )  # fmt: skip
        except OSError as exc:
            raise SandboxError(f"starting the sandbox: {exc}") from None
        sandbox = Sandbox(uid=uid, pid=proc.pid, ip=ip, gateway=gateway, hostname=hostname, device=device, proc=proc)
        try:
            self._wait_for_namespace(proc)
            prefix = ipaddress.ip_network(self.fabric.cluster_cidr or node_cidr, strict=False).prefixlen
            _unplug(self.fabric.name, device)  # a previous kubelet's pod of the same uid may have left it
            _run(["ip", "-n", self.fabric.name, "-batch", "-"], what="plugging the pod into the fabric", stdin=(
                f"link add {device} type veth peer name eth0 netns {proc.pid}\n"
                f"link set {device} master {BRIDGE}\n"
                f"link set {device} up\n"
            ))
            _run(["nsenter", f"--net=/proc/{proc.pid}/ns/net", "sh", "-c",
                  "echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet && "
                  "echo 1 > /proc/sys/net/ipv4/conf/all/arp_notify && exec ip -batch -"],
                 what="configuring the pod's network", stdin=(
                     "link set lo up\n"
                     "addr del 127.0.0.1/8 dev lo\n"
                     "addr add 127.0.0.1/32 dev lo\n"
                     f"addr add {ip}/{prefix} dev eth0\n"
                     "link set eth0 up\n"
                     f"route add default via {gateway} dev eth0 src {ip}\n"
                 ))  # fmt: skip
        except BaseException:
            self.remove(sandbox)
            raise
        return sandbox

    @staticmethod
    def _wait_for_namespace(proc: subprocess.Popen[bytes]) -> None:
        """Until the holder runs in its own network namespace (unshare has
        exec'd the shell), or fail with what it printed."""
        import time

        mine = os.stat("/proc/self/ns/net").st_ino
        deadline = time.monotonic() + _TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
                raise SandboxError(f"the sandbox exited at once: {err or proc.returncode}")
            try:
                if os.stat(f"/proc/{proc.pid}/ns/net").st_ino != mine:
                    return
            except OSError:
                pass
            time.sleep(0.005)
        raise SandboxError("the sandbox did not start in time")

    def remove(self, sandbox: Sandbox) -> None:
        """Stop the holder and unplug the pod; the namespaces go with the
        last of the pod's processes."""
        if sandbox.proc is not None and sandbox.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(sandbox.proc.pid, signal.SIGKILL)
            try:
                sandbox.proc.wait(_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.log.warning("sandbox holder did not exit", pid=sandbox.pid)
        if sandbox.proc is not None and sandbox.proc.stderr is not None:
            sandbox.proc.stderr.close()
        _unplug(self.fabric.name, sandbox.device)
        # The IP goes to another pod, with another MAC: forget this one now
        # (the next pod's gratuitous ARP, ``arp_notify``, tells the pods).
        subprocess.run(["ip", "neigh", "del", sandbox.ip, "dev", self.fabric.name],
                       capture_output=True, timeout=_TIMEOUT, check=False)


# ------------------------------------------------------------ identity files


@dataclass(frozen=True)
class PodDns:
    """The cluster's DNS, as the kubelet's ``--cluster-dns``/``--cluster-domain``."""

    nameserver: str = ""
    domain: str = "cluster.local"


_HOSTS_HEADER = """# Kubernetes-managed hosts file.
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
fe00::0\tip6-mcastprefix
fe00::1\tip6-allnodes
fe00::2\tip6-allrouters
"""


def hostname_of(pod: dict[str, Any]) -> str:
    """``spec.hostname`` or the pod's name, cut to 63 characters as the kubelet does."""
    spec = pod.get("spec") or {}
    return str(spec.get("hostname") or pod["metadata"]["name"])[:63].rstrip("-.")


def pod_files(pod: dict[str, Any], ip: str, dns: PodDns, host_resolv: str | None = None) -> dict[str, str]:
    """``/etc/hosts``, ``/etc/hostname`` and ``/etc/resolv.conf`` of a pod, as
    the kubelet writes them: the pod's own entry (with its ``subdomain``
    FQDN), ``hostAliases``, and the resolver of its ``dnsPolicy``."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    name, ns = hostname_of(pod), meta.get("namespace", "default")
    hosts = _HOSTS_HEADER
    if spec.get("subdomain"):
        hosts += f"{ip}\t{name}.{spec['subdomain']}.{ns}.svc.{dns.domain}\t{name}\n"
    else:
        hosts += f"{ip}\t{name}\n"
    aliases = [a for a in spec.get("hostAliases") or [] if isinstance(a, dict) and a.get("ip")]
    if aliases:
        hosts += "\n# Entries added by HostAliases.\n"
        hosts += "".join(f"{a['ip']}\t{chr(9).join(map(str, a.get('hostnames') or []))}\n" for a in aliases)
    return {"/etc/hosts": hosts, "/etc/hostname": name + "\n",
            "/etc/resolv.conf": resolv_conf(spec, ns, dns, host_resolv)}


def resolv_conf(spec: dict[str, Any], namespace: str, dns: PodDns, host_resolv: str | None = None) -> str:
    """The pod's resolv.conf for its ``dnsPolicy`` (``ClusterFirst`` by
    default; ``Default``: the node's; ``None``: only ``dnsConfig``), with
    ``dnsConfig`` merged as the kubelet merges it."""
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        policy = "Default"
    if policy == "ClusterFirstWithHostNet":
        policy = "ClusterFirst"
    if policy in ("ClusterFirst",) and not dns.nameserver:
        policy = "Default"  # no cluster DNS: the kubelet falls back to the node's
    servers: list[str] = []
    searches: list[str] = []
    options: dict[str, str | None] = {}
    if policy == "ClusterFirst":
        servers = [dns.nameserver]
        searches = [f"{namespace}.svc.{dns.domain}", f"svc.{dns.domain}", dns.domain]
        options = {"ndots": "5"}
    elif policy == "Default":
        if host_resolv is None:
            try:
                host_resolv = Path("/etc/resolv.conf").read_text()
            except OSError:
                host_resolv = ""
        for line in host_resolv.splitlines():
            words = line.split()
            if not words or words[0].startswith(("#", ";")):
                continue
            if words[0] == "nameserver" and len(words) > 1:
                servers.append(words[1])
            elif words[0] in ("search", "domain"):
                searches = words[1:]
            elif words[0] == "options":
                for opt in words[1:]:
                    key, _, value = opt.partition(":")
                    options[key] = value or None
    config = spec.get("dnsConfig") or {}
    servers += [str(s) for s in config.get("nameservers") or [] if str(s) not in servers]
    searches += [str(s) for s in config.get("searches") or [] if str(s) not in searches]
    for opt in config.get("options") or []:
        if isinstance(opt, dict) and opt.get("name"):
            options[str(opt["name"])] = str(opt["value"]) if opt.get("value") is not None else None
    lines = []
    if searches:
        lines.append("search " + " ".join(searches))
    lines += [f"nameserver {s}" for s in servers[:3]]
    if options:
        lines.append("options " + " ".join(k if v is None else f"{k}:{v}" for k, v in options.items()))
    return "\n".join(lines) + "\n"
