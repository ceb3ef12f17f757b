"""Interactive streams with the real kubectl: exec -it, exec -i, attach, run -it, cp.

One cluster (``kemu up`` in-process, one node, the HTTP front door) serves
the module. Interactive commands run kubectl on a pseudo-terminal the test
owns (:class:`Terminal`): kubectl sees a real terminal (raw mode, its size,
SIGWINCH on a resize), the test types into it and reads what kubectl prints.
Nothing here asserts on timing: output "arrives before the command ends" is
shown by a command that cannot end until the test has read its first line.
"""

# mypy: disable-error-code="union-attr,attr-defined,index"

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq

from kemu import wire
from kemu.client import Client
from kemu.kubeletclient import kubelet_address
from kemu.kubeletstream import MAGIC, SERVER_TYPES, SILENCE, StreamFrame, StreamSpec
from kemu.procs import wait_for
from kemu.testing import free_port, kubectl_env, running_cluster

kubernetes = pytest.importorskip("kubernetes", reason="the official client is in the test extra: pip install -e '.[test]'")

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.stream import stream as k8s_stream

KUBECTL = "/usr/bin/kubectl"

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason=f"the real kubectl is not installed at {KUBECTL}"),
]


PROMPT = r"[#$] $"
"""A shell's prompt at the end of what the terminal showed (typing before it
could be echoed by the local terminal, not yet in raw mode)."""



@dataclass
class Cluster:
    root: Path
    env: dict[str, str]
    client: Client
    api: k8s.ApiClient
    server: str
    """The kemu apiserver's request address (for ``kemu --server``)."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="kemu-") as d:
        root = Path(d)
        with running_cluster(root, nodes=1, with_http=True, http_port=free_port(), with_dns=False,
                             log_level="info") as local:
            assert local.kubeconfig is not None
            env = {
                **kubectl_env(root, local.kubeconfig),
                "TERM": "xterm",
            }
            api = k8s_config.new_client_from_config(config_file=str(local.kubeconfig))
            with Client(local.spec.server, timeout=10.0) as client, api:
                yield Cluster(root, env, client, api, local.spec.server)


def kubectl(cluster: Cluster, *args: str, input: bytes | None = None,
            timeout: float = 40) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([KUBECTL, *args], input=input, capture_output=True, env=cluster.env, timeout=timeout,
                          check=False)


def shell_pod(cluster: Cluster, name: str, *, interactive: bool = False) -> str:
    """A running busybox pod: ``sleep`` (for exec), or ``sh`` with stdin and a TTY (for attach)."""
    container: dict[str, object] = {"name": "main", "image": "busybox"}
    if interactive:
        container.update(command=["sh"], stdin=True, tty=True)
    else:
        container.update(command=["sh", "-c", "sleep 3600"])
    cluster.client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                           "spec": {"containers": [container], "terminationGracePeriodSeconds": 1}})
    wait_for(lambda: (cluster.client.get("Pod", name, "default").get("status") or {}).get("phase") == "Running",
             30, message=f"pod {name} running")
    return name


@pytest.fixture(scope="module")
def sleeper(cluster: Cluster) -> str:
    return shell_pod(cluster, "sleeper")


class Terminal:
    """A command on a pseudo-terminal owned by the test (its controlling terminal)."""

    def __init__(self, argv: list[str], env: dict[str, str], *, rows: int = 24, cols: int = 80):
        self.master, slave = os.openpty()
        self.resize(rows, cols)
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True, preexec_fn=_take_terminal, close_fds=True)
        os.close(slave)
        self.output = b""

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, pattern: str, timeout: float = 20) -> re.Match[bytes]:
        """Read until ``pattern`` (a regex) appears in what came after the last match."""
        regex = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.output)
            if match:
                self.output = self.output[match.end():]
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{pattern!r} not seen; the terminal showed {self.output!r}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    data = b""
                if not data:
                    raise AssertionError(f"{pattern!r} not seen before the end; the terminal showed {self.output!r}")
                self.output += data

    def wait(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    pass
        return self.proc.wait(max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    made: list[Terminal] = []
    try:
        yield made
    finally:
        for t in made:
            t.close()


def on_terminal(terminals: list[Terminal], argv: list[str], env: dict[str, str], **kw: int) -> Terminal:
    t = Terminal(argv, env, **kw)
    terminals.append(t)
    return t


class TestExecInteractive:
    def test_exec_it_shell(self, cluster: Cluster, sleeper: str, terminals: list[Terminal]) -> None:
        """exec -it sh: typed input reaches the shell, its answer comes back, exit 3 is kubectl's exit code."""
        t = on_terminal(terminals, [KUBECTL, "exec", "-it", sleeper, "--", "sh"], cluster.env)
        t.expect(PROMPT)
        t.send("echo $((6*7))\r")
        t.expect(r"[^0-9]42\r\n")
        t.send("exit 3\r")
        assert t.wait() == 3

    def test_exec_it_terminal_size_and_resize(self, cluster: Cluster, sleeper: str, terminals: list[Terminal]) -> None:
        """The command's terminal has kubectl's size, and follows a resize (SIGWINCH -> channel 4 -> TIOCSWINSZ)."""
        t = on_terminal(terminals, [KUBECTL, "exec", "-it", sleeper, "--", "sh"], cluster.env, rows=30, cols=100)
        t.expect(PROMPT)
        t.send("stty size\r")
        t.expect(r"\r\n30 100\r\n")
        t.resize(40, 120)
        os.killpg(t.proc.pid, signal.SIGWINCH)  # what the kernel does for a terminal's foreground group
        deadline = time.monotonic() + 10
        while True:  # the resize travels asynchronously: ask again until it is seen
            t.send("stty size\r")
            try:
                t.expect(r"\r\n40 120\r\n", timeout=1)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
        t.send("exit\r")
        assert t.wait() == 0

    def test_exec_i_piped_stdin(self, cluster: Cluster, sleeper: str) -> None:
        """exec -i without a TTY: piped stdin reaches cat and wc, which see its end (v5 closes stdin)."""
        data = bytes(range(256)) * 64
        result = kubectl(cluster, "exec", "-i", sleeper, "--", "cat", input=data)
        assert (result.returncode, result.stdout) == (0, data)
        result = kubectl(cluster, "exec", "-i", sleeper, "--", "wc", "-c", input=b"hello\n")
        assert (result.returncode, result.stdout.strip()) == (0, b"6")

    def test_output_arrives_while_the_command_runs(self, cluster: Cluster, sleeper: str, tmp_path: Path) -> None:
        """The first line arrives while the command still runs: it cannot end before the test lets it."""
        marker = f"/tmp/go-{tmp_path.name}"  # in the container: a second exec lets the first one end
        script = f"echo a; while [ ! -e {marker} ]; do sleep 0.05; done; echo b"
        proc = subprocess.Popen([KUBECTL, "exec", sleeper, "--", "sh", "-c", script], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=cluster.env)
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 20)
            assert ready, "no output while the command runs"
            assert os.read(proc.stdout.fileno(), 100) == b"a\n"
            assert proc.poll() is None
            assert kubectl(cluster, "exec", sleeper, "--", "touch", marker).returncode == 0
            out, _ = proc.communicate(timeout=20)
            assert (proc.returncode, out) == (0, b"b\n")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def test_cp_in_and_out(self, cluster: Cluster, sleeper: str, tmp_path: Path) -> None:
        """kubectl cp (tar over exec stdin/stdout) a file with every byte value into the pod and back; with a
        pod sandbox (root) the file lands in the container's own file system, not on the host."""
        local = tmp_path / "blob.bin"
        payload = bytes(range(256)) * 1000 + os.urandom(4096)
        local.write_bytes(payload)
        remote_dir = tmp_path / "in-pod"
        assert kubectl(cluster, "exec", sleeper, "--", "mkdir", "-p", str(remote_dir)).returncode == 0
        result = kubectl(cluster, "cp", str(local), f"default/{sleeper}:{remote_dir}/blob.bin")
        assert result.returncode == 0, result.stderr
        if os.geteuid() == 0:
            assert not (remote_dir / "blob.bin").exists(), "kubectl cp wrote onto the host"
        back = tmp_path / "back.bin"
        result = kubectl(cluster, "cp", f"default/{sleeper}:{remote_dir}/blob.bin", str(back))
        assert result.returncode == 0, result.stderr
        assert back.read_bytes() == payload

    def test_python_client_stdin(self, cluster: Cluster, sleeper: str) -> None:
        """The official client's interactive exec (its e2e test): write lines to cat, read them back one by one."""
        core = k8s.CoreV1Api(cluster.api)
        resp = k8s_stream(core.connect_get_namespaced_pod_exec, sleeper, "default", command=["/bin/sh"],
                          stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
        try:
            resp.write_stdin("echo test string 1\n")
            assert resp.readline_stdout(timeout=10) == "test string 1"
            resp.write_stdin("echo test string 2 >&2\n")
            assert resp.readline_stderr(timeout=10) == "test string 2"
            resp.write_stdin("exit 5\n")
            resp.run_forever(timeout=10)
            assert resp.returncode == 5
        finally:
            resp.close()


class TestAttach:
    def test_attach_to_a_tty_pod(self, cluster: Cluster, terminals: list[Terminal]) -> None:
        """attach -it reaches the main process's terminal; its output also goes to the log."""
        pod = shell_pod(cluster, "interactive", interactive=True)
        t = on_terminal(terminals, [KUBECTL, "attach", "-it", pod], cluster.env)
        t.expect("If you don't see a command prompt, try pressing enter.")
        t.send("echo attached-$((6*7))\r")
        t.expect(r"\r\nattached-42\r\n")
        t.close()  # the client leaves; without stdinOnce the container keeps running
        time.sleep(0.2)
        assert cluster.client.get("Pod", pod, "default")["status"]["phase"] == "Running"
        logs = kubectl(cluster, "logs", pod).stdout
        assert b"attached-42" in logs
        t = on_terminal(terminals, [KUBECTL, "attach", "-it", pod], cluster.env)
        t.expect("If you don't see a command prompt")
        t.send("exit 0\r")
        t.wait()

    def test_stdin_once_closes_stdin_when_the_client_leaves(self, cluster: Cluster) -> None:
        """stdinOnce without a TTY: piped stdin reaches cat, its end closes cat's stdin, so the container completes."""
        cluster.client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "once", "namespace": "default"},
                               "spec": {"restartPolicy": "Never", "containers": [
                                   {"name": "main", "image": "busybox", "command": ["cat"], "stdin": True,
                                    "stdinOnce": True}]}})
        wait_for(lambda: cluster.client.get("Pod", "once", "default")["status"].get("phase") == "Running", 30,
                 message="once running")
        result = kubectl(cluster, "attach", "-i", "once", input=b"first line\nsecond line\n")
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"first line\nsecond line\n"
        wait_for(lambda: cluster.client.get("Pod", "once", "default")["status"].get("phase") == "Succeeded", 30,
                 message="once completed")
        assert kubectl(cluster, "logs", "once").stdout == b"first line\nsecond line\n"

    def test_run_it_rm(self, cluster: Cluster, terminals: list[Terminal]) -> None:
        """run -it --rm: a pod with stdin and a TTY, attached at once, deleted when the shell exits."""
        t = on_terminal(terminals, [KUBECTL, "run", "-it", "--rm", "tmp", "--image=busybox", "--restart=Never",
                                    "--", "sh"], cluster.env)
        t.expect("If you don't see a command prompt, try pressing enter.", timeout=40)
        t.send("echo run-$((40+2))\r")
        t.expect(r"\r\nrun-42\r\n")
        t.send("exit\r")
        assert t.wait(40) == 0
        t.expect(r'pod "tmp" deleted')
        wait_for(lambda: not [p for p in cluster.client.list("Pod", "default")["items"]
                              if p["metadata"]["name"] == "tmp"], 20, message="tmp deleted")


class TestKemuCli:
    def test_kemu_exec_it(self, cluster: Cluster, sleeper: str, terminals: list[Terminal]) -> None:
        """kemu exec -it: the same session, the local terminal raw while it runs and restored after, resizes forwarded."""
        argv = [str(Path(sys.executable).with_name("kemu")), "--server", cluster.server, "exec", "-it", sleeper, "--", "sh"]
        t = on_terminal(terminals, argv, {**os.environ, "TERM": "xterm"}, rows=33, cols=90)
        t.expect(PROMPT)
        assert not termios.tcgetattr(t.master)[3] & termios.ECHO  # raw: the remote terminal echoes
        t.send("stty size; echo $((6*7))\r")
        t.expect(r"\r\n33 90\r\n42\r\n")
        t.resize(20, 70)
        os.killpg(t.proc.pid, signal.SIGWINCH)
        deadline = time.monotonic() + 10
        while True:
            t.send("stty size\r")
            try:
                t.expect(r"\r\n20 70\r\n", timeout=1)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
        t.send("exit 4\r")
        assert t.wait() == 4
        assert termios.tcgetattr(t.master)[3] & termios.ECHO  # restored
        t.expect("command terminated with exit code 4")

    def test_kemu_attach(self, cluster: Cluster, terminals: list[Terminal]) -> None:
        """kemu attach -it reaches the terminal of a stdin/tty container's main process."""
        pod = shell_pod(cluster, "kemu-attached", interactive=True)
        argv = [str(Path(sys.executable).with_name("kemu")), "--server", cluster.server, "attach", "-it", pod]
        t = on_terminal(terminals, argv, {**os.environ, "TERM": "xterm"})
        t.expect("If you don't see a command prompt, try pressing enter.")
        t.send("echo kemu-$((6*7))\r")
        t.expect(r"\r\nkemu-42\r\n")
        t.send("exit 0\r")
        assert t.wait() == 0


def _kubelet(cluster: Cluster) -> str:
    node = cluster.client.list("Node")["items"][0]
    address = kubelet_address(node)
    assert address is not None
    return address


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class TestKubeletSessions:
    """The kubelet's side of the session protocol, spoken directly."""

    def _dealer(self, address: str) -> zmq.Socket:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(address)
        return sock

    def _recv(self, sock: zmq.Socket, session: bytes, kinds: set[bytes], timeout: float = 20) -> StreamFrame:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sock.poll(200):
                frame = StreamFrame.decode(sock.recv_multipart(), SERVER_TYPES)
                if frame.session == session and frame.type in kinds:
                    return frame
        raise AssertionError(f"no {kinds} from the kubelet")

    def test_garbage_gets_errors_and_the_kubelet_lives(self, cluster: Cluster, sleeper: str) -> None:
        """Malformed frames, bad opens and strangers' sessions get an error exit, never a crash."""
        sock = self._dealer(_kubelet(cluster))
        try:
            sock.send_multipart([MAGIC])
            sock.send_multipart([MAGIC, b"short", b"0", b""])
            bad_type, bad_open, unknown_pod, stranger = (os.urandom(16) for _ in range(4))
            sock.send_multipart([MAGIC, bad_type, b"Z", b""])
            sock.send_multipart([MAGIC, bad_open, b"O", b"\xc1not msgpack"])
            sock.send_multipart(StreamFrame(unknown_pod, b"O", StreamSpec("default", "nope", None, ["true"], False)
                                            .open_payload()).encode())
            sock.send_multipart(StreamFrame(stranger, b"0", b"stdin for nobody").encode())
            codes: dict[bytes, int] = {}
            deadline = time.monotonic() + 20
            while len(codes) < 4 and time.monotonic() < deadline:
                if sock.poll(200):
                    frame = StreamFrame.decode(sock.recv_multipart(), SERVER_TYPES)
                    if frame.type == b"x":
                        codes[frame.session] = wire.unpack(frame.payload)["error"]["code"]
            assert [codes[s] for s in (bad_type, bad_open, unknown_pod, stranger)] == [400, 400, 404, 404]
            # and it still serves: a real session runs to its end
            ok = os.urandom(16)
            sock.send_multipart(StreamFrame(ok, b"O", StreamSpec("default", sleeper, None, ["sh", "-c", "exit 7"],
                                                                 False).open_payload()).encode())
            assert wire.unpack(self._recv(sock, ok, {b"x"}).payload) == {"exitCode": 7}
        finally:
            sock.close()

    def _start_tree(self, sock: zmq.Socket) -> tuple[bytes, int]:
        """An exec whose shell forks a sleeper and prints its pid; returns (session, pid)."""
        session = os.urandom(16)
        spec = StreamSpec("default", "sleeper", None, ["sh", "-c", "sleep 1000 & echo $!; wait"], False)
        sock.send_multipart(StreamFrame(session, b"O", spec.open_payload()).encode())
        out = self._recv(sock, session, {b"1"}).payload
        return session, int(out.strip())

    def test_close_kills_the_process_tree(self, cluster: Cluster, sleeper: str) -> None:
        """A client's close ends the session and kills what the command forked."""
        sock = self._dealer(_kubelet(cluster))
        try:
            session, pid = self._start_tree(sock)
            assert _pid_alive(pid)
            sock.send_multipart(StreamFrame(session, b"c").encode())
            self._recv(sock, session, {b"x"})
            wait_for(lambda: not _pid_alive(pid), 10, message="the forked sleeper killed")
        finally:
            sock.close()

    def test_a_vanished_client_ends_its_session(self, cluster: Cluster, sleeper: str) -> None:
        """A client that goes silent (no heartbeat) loses its session, and its command's tree is killed."""
        sock = self._dealer(_kubelet(cluster))
        try:
            _session, pid = self._start_tree(sock)
        finally:
            sock.close()  # gone without a word
        wait_for(lambda: not _pid_alive(pid), SILENCE + 10, message="the orphaned session's tree killed")
