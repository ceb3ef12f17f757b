"""The container runtime with real processes: shims, logs, exit codes, stops,
built-in servers on pod IPs, exec, memory limits, volumes, and -- the key
property -- a kubelet killed with SIGKILL takes its containers' whole process
trees with it.

Every test is bounded (30 s) and the ``runtime`` fixture stops every container
it started, whatever the test did. Pod IPs are unique 127.244.x.y addresses,
so port 80 is free on each.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from kemu.images import ImageCatalog, ImagePullError
from kubelet import plan as plan_module
from kubelet.runtime import (
    ContainerExecError,
    ContainerHandle,
    ContainerNotRunningError,
    ContainerRuntime,
    ContainerStartError,
    ExecTimeoutError,
    Mount,
    check_bind_permission,
    expand_vars,
)

pytestmark = pytest.mark.timeout(30)

REPO = Path(__file__).resolve().parents[2]
CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] (.*)$")
_IP_COUNTER = itertools.count(1)


# ----------------------------------------------------------------- helpers


def pod_ip() -> str:
    """A pod IP no other test of this session uses."""
    n = next(_IP_COUNTER) + os.getpid() % 200 * 256
    return f"127.244.{n // 250 % 250 + 1}.{n % 250 + 1}"


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def gone(pid: int) -> bool:
    """The process no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return raw[raw.rfind(b")") + 2 :].split()[0] == b"Z"


def session_pids(sid: int) -> set[int]:
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                raw = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            fields = raw[raw.rfind(b")") + 2 :].split()
            if int(fields[3]) == sid and fields[0] != b"Z":
                found.add(int(name))
    return found


def log_lines(handle: ContainerHandle, stream: str | None = None) -> list[str]:
    if not handle.log_path.exists():
        return []
    out = []
    for line in handle.log_path.read_text().splitlines():
        match = CRI_LINE.match(line)
        assert match, f"not a CRI log line: {line!r}"
        if stream is None or match.group(1) == stream:
            out.append(match.group(2))
    return out


def http_get(url: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``, retrying while the server is still starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def kill_all(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def catalog() -> ImageCatalog:
    return ImageCatalog.load(environ={})


def _make_runtime(tmp_path: Path, catalog: ImageCatalog, **kw: Any) -> ContainerRuntime:
    return ContainerRuntime(root_dir=tmp_path / f"kubelet-{secrets.token_hex(3)}", node_name="node-1", catalog=catalog, **kw)


@pytest.fixture
def make_runtime(tmp_path: Path, catalog: ImageCatalog) -> Iterator[Callable[..., ContainerRuntime]]:
    """Runtimes that are closed (every container killed) at teardown."""
    made: list[ContainerRuntime] = []

    def make(**kw: Any) -> ContainerRuntime:
        rt = _make_runtime(tmp_path, catalog, **kw)
        made.append(rt)
        return rt

    try:
        yield make
    finally:
        for rt in made:
            pids = {h.pid for h in rt.handles()}
            rt.close()
            kill_all({p for pid in pids for p in session_pids(pid)})


@pytest.fixture
def runtime(make_runtime: Callable[..., ContainerRuntime]) -> ContainerRuntime:
    return make_runtime()


def start(rt: ContainerRuntime, container: dict[str, Any], **kw: Any) -> ContainerHandle:
    args: dict[str, Any] = {
        "pod_uid": kw.pop("pod_uid", "uid-" + secrets.token_hex(4)),
        "pod_namespace": kw.pop("pod_namespace", "default"),
        "pod_name": kw.pop("pod_name", "pod-" + secrets.token_hex(3)),
        "pod_ip": kw.pop("pod_ip", None) or pod_ip(),
        "container": {"name": "main", **container},
        "env": kw.pop("env", {}),
    }
    args.update(kw)
    return rt.start(**args)


def busybox(script: str, **extra: Any) -> dict[str, Any]:
    return {"image": "busybox", "command": ["sh", "-c", script], **extra}


# ------------------------------------------------------------------ tests


class TestLogs:
    def test_stdout_in_cri_format(self, runtime: ContainerRuntime) -> None:
        """`sh -c 'echo hi; sleep 100'` logs `hi` as a CRI stdout line."""
        handle = start(runtime, busybox("echo hi; sleep 100"))
        wait_for(lambda: "hi" in log_lines(handle, "stdout"))
        assert handle.poll() is None
        assert re.match(r"^\S+Z stdout F hi$", handle.log_path.read_text().splitlines()[0])

    def test_stderr_and_last_line_without_newline(self, runtime: ContainerRuntime) -> None:
        """stderr is tagged stderr; output without a final newline is still logged."""
        handle = start(runtime, busybox("echo oops >&2; printf tail"))
        assert handle.wait(10) is not None
        assert log_lines(handle, "stderr") == ["oops"]
        assert log_lines(handle, "stdout") == ["tail"]

    def test_long_line_is_split_into_partials(self, runtime: ContainerRuntime) -> None:
        """A line longer than 16 KiB becomes P records and a final F record."""
        handle = start(runtime, {"image": "python", "command": ["python3", "-c", "print('x' * 40000)"]})
        assert handle.wait(10) is not None
        tags = [line.split(" ")[2] for line in handle.log_path.read_text().splitlines()]
        assert tags == ["P", "P", "F"]
        assert sum(len(line) for line in log_lines(handle)) == 40000

    def test_log_path_follows_kubernetes_layout(self, runtime: ContainerRuntime) -> None:
        """Logs live at logs/<ns>_<pod>_<uid>/<container>/<restartCount>.log."""
        handle = start(runtime, busybox("true"), pod_name="web", pod_uid="u-1", restart_count=3)
        assert handle.log_path == runtime.root_dir / "logs" / "default_web_u-1" / "main" / "3.log"


class TestExit:
    @pytest.mark.parametrize(
        ("script", "code", "reason", "sig"),
        [
            ("exit 0", 0, "Completed", None),
            ("exit 3", 3, "Error", None),
            ("kill -9 $$$$", 137, "Error", 9),
            ("kill -TERM $$$$", 143, "Error", 15),
        ],
    )
    def test_exit_codes_and_reasons(self, runtime: ContainerRuntime, script: str, code: int, reason: str, sig: int | None) -> None:
        """Exit codes and reasons are Kubernetes': 0 Completed, else Error, 128+N for signal N."""
        handle = start(runtime, busybox(script))
        status = handle.wait(10)
        assert status is not None
        assert (status.exit_code, status.reason, status.signal) == (code, reason, sig)
        assert status.started_at is not None and status.started_at <= status.finished_at

    def test_terminated_state_for_the_status(self, runtime: ContainerRuntime) -> None:
        """as_terminated() gives the Kubernetes containerStatuses[].state.terminated shape."""
        handle = start(runtime, busybox("exit 2"))
        status = handle.wait(10)
        assert status is not None
        state = status.as_terminated(handle.container_id)
        assert (state["exitCode"], state["reason"], state["containerID"]) == (2, "Error", handle.container_id)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", state["finishedAt"])

    def test_poll_is_none_while_running(self, runtime: ContainerRuntime) -> None:
        """poll() does not block and says None while the container runs."""
        handle = start(runtime, busybox("sleep 100"))
        began = time.monotonic()
        assert handle.poll() is None
        assert time.monotonic() - began < 0.5
        assert handle.container_id.startswith("kemu://") and len(handle.container_id) == len("kemu://") + 64

    def test_main_exit_kills_leftover_children(self, runtime: ContainerRuntime) -> None:
        """When the main process exits, background children die with it (as with PID 1)."""
        handle = start(runtime, busybox("sleep 1000 & echo $!; exit 0"))
        assert handle.wait(10) is not None
        child = int(log_lines(handle, "stdout")[0])
        wait_for(lambda: gone(child), timeout=5)

    def test_unknown_executable(self, runtime: ContainerRuntime) -> None:
        """A command missing on the host fails like containerd."""
        with pytest.raises(ContainerStartError) as err:
            start(runtime, {"image": "busybox", "command": ["no-such-tool-kemu"]})
        assert err.value.reason == "RunContainerError"
        assert err.value.terminated_reason == "StartError"
        assert err.value.exit_code == 128
        assert 'exec: "no-such-tool-kemu": executable file not found in $PATH' in err.value.message

    def test_absolute_path_missing_on_host_uses_basename(self, runtime: ContainerRuntime) -> None:
        """/bin/busybox-style absolute paths missing on the host are found by basename."""
        handle = start(runtime, {"image": "busybox", "command": ["/no/such/dir/echo", "found"]})
        assert handle.wait(10) is not None
        assert log_lines(handle) == ["found"]

    def test_unknown_image(self, runtime: ContainerRuntime) -> None:
        """start() with an unknown image raises ImagePullError."""
        with pytest.raises(ImagePullError) as err:
            start(runtime, {"image": "nginx:9.99"})
        assert err.value.reason == "ErrImagePull"


class TestStop:
    def test_term_trap_exits_gracefully(self, runtime: ContainerRuntime) -> None:
        """A container that handles SIGTERM exits with its own code within the grace."""
        handle = start(runtime, busybox("trap 'echo bye; exit 0' TERM; echo ready; sleep 100 & wait"))
        wait_for(lambda: "ready" in log_lines(handle))
        began = time.monotonic()
        status = handle.stop(5)
        assert time.monotonic() - began < 3
        assert (status.exit_code, status.reason) == (0, "Completed")
        assert "bye" in log_lines(handle)

    def test_ignored_term_is_killed_after_grace(self, runtime: ContainerRuntime) -> None:
        """A trap that ignores SIGTERM gets SIGKILL once the grace period is over."""
        handle = start(runtime, busybox("trap '' TERM; echo ready; while :; do sleep 0.05; done"))
        wait_for(lambda: "ready" in log_lines(handle))
        began = time.monotonic()
        status = handle.stop(1.0)
        elapsed = time.monotonic() - began
        assert 1.0 <= elapsed < 8
        assert (status.exit_code, status.signal, status.reason) == (137, 9, "Error")

    def test_stop_twice(self, runtime: ContainerRuntime) -> None:
        """stop() is safe to call twice and returns the same status."""
        handle = start(runtime, busybox("sleep 100"))
        first = handle.stop(2)
        assert handle.stop(2) == first
        assert handle.kill() == first

    def test_stop_kills_the_whole_tree(self, runtime: ContainerRuntime) -> None:
        """Grandchildren, even in their own session, die with the container."""
        handle = start(runtime, busybox("setsid sleep 1000 & sleep 1000 & echo started; wait"))
        wait_for(lambda: "started" in log_lines(handle))
        time.sleep(0.2)
        tree = {int(p) for p in _descendants(handle.shim_pid)}
        assert len(tree) >= 3
        handle.stop(1)
        for pid in tree:
            wait_for(partial(gone, pid), timeout=5)

    def test_pause_image_stops_cleanly(self, runtime: ContainerRuntime) -> None:
        """The pause image sleeps until stopped and exits 0 on SIGTERM."""
        handle = start(runtime, {"image": "registry.k8s.io/pause:3.9"})
        time.sleep(0.2)
        assert handle.poll() is None
        assert handle.stop(5).reason == "Completed"


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                raw = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            children.setdefault(int(raw[raw.rfind(b")") + 2 :].split()[1]), []).append(int(name))
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


class TestServers:
    def test_two_nginx_pods_share_port_80(self, runtime: ContainerRuntime) -> None:
        """Two nginx pods on one node both listen on :80 of their own pod IP."""
        ip_a, ip_b = pod_ip(), pod_ip()
        start(runtime, {"image": "nginx:1.25"}, pod_name="web-a", pod_ip=ip_a)
        start(runtime, {"image": "nginx:1.25"}, pod_name="web-b", pod_ip=ip_b)
        for ip, name in ((ip_a, "web-a"), (ip_b, "web-b")):
            status, headers, body = http_get(f"http://{ip}/")
            assert status == 200
            assert headers["Server"] == "nginx/1.25.5"
            assert headers["X-Kemu-Pod"] == f"default/{name}"
            assert headers["X-Kemu-Node"] == "node-1"
            assert headers["X-Kemu-Image"] == "nginx:1.25"
            assert b"<title>Welcome to nginx!</title>" in body

    def test_nginx_404_and_access_log(self, runtime: ContainerRuntime) -> None:
        """nginx answers unknown paths with its 404 page and logs the request on stdout."""
        ip = pod_ip()
        handle = start(runtime, {"image": "nginx:1.25"}, pod_ip=ip)
        status, _headers, body = http_get(f"http://{ip}/missing")
        assert status == 404
        assert b"<hr><center>nginx/1.25.5</center>" in body
        wait_for(lambda: any('"GET /missing HTTP/1.1" 404' in line for line in log_lines(handle, "stdout")))

    def test_nginx_serves_the_mounted_html_volume(self, make_runtime: Callable[..., ContainerRuntime], tmp_path: Path) -> None:
        """Files of a volume mounted at /usr/share/nginx/html are served; a missing index is 403."""
        rt = make_runtime(isolation="none")  # no mount point is created on the host
        html = tmp_path / "html"
        (html / "sub").mkdir(parents=True)
        (html / "index.html").write_text("<h1>from the volume</h1>\n")
        ip = pod_ip()
        start(rt, {"image": "nginx"}, pod_ip=ip, mounts=[Mount(html, "/usr/share/nginx/html", read_only=True)])
        assert http_get(f"http://{ip}/")[2] == b"<h1>from the volume</h1>\n"
        assert http_get(f"http://{ip}/sub/")[0] == 403

    def test_nginx_stop_is_graceful_and_exits_zero(self, runtime: ContainerRuntime) -> None:
        """nginx gets its STOPSIGNAL (SIGQUIT), shuts down gracefully and exits 0."""
        ip = pod_ip()
        handle = start(runtime, {"image": "nginx"}, pod_ip=ip)
        http_get(f"http://{ip}/")
        status = handle.stop(5)
        assert (status.exit_code, status.reason) == (0, "Completed")
        assert any("signal 3 (SIGQUIT) received" in line for line in log_lines(handle, "stderr"))

    def test_bootcamp_v2(self, runtime: ContainerRuntime) -> None:
        """kubernetes-bootcamp:v2 answers with the pod name and v=2."""
        ip = pod_ip()
        start(runtime, {"image": "jocatalin/kubernetes-bootcamp:v2"}, pod_name="kb-1", pod_ip=ip)
        assert http_get(f"http://{ip}:8080/")[2] == b"Hello Kubernetes bootcamp! | Running on: kb-1 | v=2\n"

    def test_hello_app_honours_port_env(self, runtime: ContainerRuntime) -> None:
        """hello-app listens on $PORT, as the real image does."""
        ip = pod_ip()
        start(runtime, {"image": "gcr.io/google-samples/hello-app:1.0"}, pod_name="hello", pod_ip=ip, env={"PORT": "9099"})
        assert http_get(f"http://{ip}:9099/")[2] == b"Hello, world!\nVersion: 1.0.0\nHostname: hello\n"

    def test_echo_reports_request_pod_and_node(self, runtime: ContainerRuntime) -> None:
        """kemu/echo answers with the request and where it was served, as JSON."""
        ip = pod_ip()
        start(runtime, {"image": "kemu/echo"}, pod_name="echo-1", pod_namespace="team", pod_ip=ip)
        doc = json.loads(http_get(f"http://{ip}:8080/hello?x=1")[2])
        assert (doc["method"], doc["path"], doc["query"]) == ("GET", "/hello", {"x": "1"})
        assert (doc["pod"], doc["namespace"], doc["node"], doc["podIP"]) == ("echo-1", "team", "node-1", ip)

    def test_agnhost_exit_endpoint_ends_the_container(self, runtime: ContainerRuntime) -> None:
        """agnhost netexec's /exit?code=3 makes the container exit with 3."""
        ip = pod_ip()
        handle = start(
            runtime,
            {"image": "registry.k8s.io/e2e-test-images/agnhost:2.39", "args": ["netexec", "--http-port=8085"]},
            pod_ip=ip,
        )
        assert http_get(f"http://{ip}:8085/hostname")[0] == 200
        http_get(f"http://{ip}:8085/exit?code=3")
        status = handle.wait(10)
        assert status is not None and (status.exit_code, status.reason) == (3, "Error")

    def test_command_override_runs_host_tools(self, runtime: ContainerRuntime) -> None:
        """An nginx container whose command is sh runs sh, not the server."""
        handle = start(runtime, {"image": "nginx", "command": ["sh", "-c", "echo not nginx"]})
        assert handle.wait(10) is not None
        assert log_lines(handle) == ["not nginx"]

    def test_bind_in_use_is_a_crash(self, runtime: ContainerRuntime) -> None:
        """A second server on the same pod IP and port exits 1 with nginx's bind error."""
        ip = pod_ip()
        start(runtime, {"image": "nginx"}, pod_ip=ip)
        http_get(f"http://{ip}/")
        second = start(runtime, {"image": "nginx"}, pod_ip=ip)
        status = second.wait(10)
        assert status is not None and status.exit_code == 1
        assert any("bind() to" in line and "Address already in use" in line for line in log_lines(second))

    def test_low_port_without_root_fails_clearly(
        self, runtime: ContainerRuntime, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without root, a server image on port 80 fails up front with the fix in the message."""
        unprivileged = partial(check_bind_permission, euid=1000, unprivileged_port_start=1024, cap_net_bind_service=False)
        monkeypatch.setattr(plan_module, "check_bind_permission", unprivileged)
        with pytest.raises(ContainerStartError) as err:
            start(runtime, {"image": "nginx", "name": "web"})
        assert err.value.reason == "RunContainerError"
        assert "cannot bind port 80 without root" in err.value.message
        assert "net.ipv4.ip_unprivileged_port_start=0" in err.value.message


class TestCommandAndEnv:
    def test_var_expansion(self, runtime: ContainerRuntime) -> None:
        """$(VAR) in args expands from the container env; $$ escapes."""
        handle = start(
            runtime,
            {"image": "busybox", "command": ["echo"], "args": ["$(GREETING)", "$$(GREETING)", "$(MISSING)"]},
            env={"GREETING": "hello"},
        )
        assert handle.wait(10) is not None
        assert log_lines(handle) == ["hello $(GREETING) $(MISSING)"]

    def test_env_and_hostname(self, runtime: ContainerRuntime) -> None:
        """The container sees its env, and HOSTNAME is the pod name."""
        handle = start(runtime, busybox('echo "$FOO $HOSTNAME"'), env={"FOO": "bar"}, pod_name="pod-x")
        assert handle.wait(10) is not None
        assert log_lines(handle) == ["bar pod-x"]

    def test_python_image_runs_host_python(self, runtime: ContainerRuntime) -> None:
        """The python image runs the host's python3."""
        handle = start(runtime, {"image": "python:3.12", "command": ["python3", "-c", "import sys; print(sys.version_info[0])"]})
        assert handle.wait(10) is not None
        assert log_lines(handle) == ["3"]

    def test_args_replace_cmd_as_in_kubernetes(self, runtime: ContainerRuntime) -> None:
        """The python image has no ENTRYPOINT: args alone replace CMD, so "-c" is the program."""
        with pytest.raises(ContainerStartError, match='exec: "-c": executable file not found'):
            start(runtime, {"image": "python:3.12", "args": ["-c", "print(1)"]})

    def test_relative_writes_stay_in_the_container_dir(self, runtime: ContainerRuntime) -> None:
        """The working directory is private to the container, not a host directory."""
        handle = start(runtime, busybox("echo x > written; pwd"))
        assert handle.wait(10) is not None
        cwd = Path(log_lines(handle)[0])
        assert (cwd / "written").read_text() == "x\n"
        assert runtime.root_dir in cwd.parents


class TestExec:
    def test_exec_sees_env_cwd_and_hostname(self, runtime: ContainerRuntime) -> None:
        """exec runs in the container's env and working dir."""
        handle = start(runtime, busybox("echo hi > here; sleep 100"), env={"FOO": "bar"}, pod_name="pod-e")
        wait_for(lambda: handle.log_path.exists())
        result = runtime.exec(handle, ["sh", "-c", 'echo "$FOO $HOSTNAME"; cat here; exit 4'], timeout=10)
        assert result.exit_code == 4
        assert result.stdout == b"bar pod-e\nhi\n"
        assert result.stderr == b""

    def test_exec_timeout_kills_the_command_tree(self, runtime: ContainerRuntime) -> None:
        """An exec that outlives its timeout is killed, grandchildren included."""
        handle = start(runtime, busybox("sleep 100"))
        began = time.monotonic()
        with pytest.raises(ExecTimeoutError):
            runtime.exec(handle, ["sh", "-c", "sleep 1000 & echo $!; sleep 1000"], timeout=1)
        assert time.monotonic() - began < 8
        leftover = [p for p in _descendants(os.getpid()) if b"sleep\x001000" in _cmdline(p)]
        assert leftover == []

    def test_exec_unknown_command(self, runtime: ContainerRuntime) -> None:
        """exec of a missing binary fails with the OCI runtime's words."""
        handle = start(runtime, busybox("sleep 100"))
        with pytest.raises(ContainerExecError, match='exec: "nope-kemu": executable file not found in \\$PATH'):
            runtime.exec(handle, ["nope-kemu"], timeout=5)

    def test_exec_in_stopped_container(self, runtime: ContainerRuntime) -> None:
        """exec into an exited container is refused."""
        handle = start(runtime, busybox("exit 0"))
        assert handle.wait(10) is not None
        with pytest.raises(ContainerNotRunningError):
            runtime.exec(handle, ["true"], timeout=5)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class TestMemoryLimits:
    HOG = "import time; x = bytearray(300 * 2**20); print('allocated', flush=True); time.sleep(20)"

    def test_rss_watchdog_reports_oomkilled(self, make_runtime: Callable[..., ContainerRuntime]) -> None:
        """Without cgroups, a container over its memory limit is OOMKilled (137)."""
        rt = make_runtime(memory_mode="rss")
        handle = start(rt, {"image": "python", "command": ["python3", "-c", self.HOG], "resources": {"limits": {"memory": "64Mi"}}})
        status = handle.wait(15)
        assert status is not None
        assert (status.reason, status.exit_code, status.oom_killed) == ("OOMKilled", 137, True)
        assert "67108864" in status.message

    def test_under_the_limit_runs(self, make_runtime: Callable[..., ContainerRuntime]) -> None:
        """A container within its limit is not killed."""
        rt = make_runtime(memory_mode="rss")
        handle = start(rt, busybox("sleep 0.5; exit 0", resources={"limits": {"memory": "256Mi"}}))
        status = handle.wait(10)
        assert status is not None and status.reason == "Completed"

    def test_rlimit_mode_is_reported_honestly(self, make_runtime: Callable[..., ContainerRuntime]) -> None:
        """With RLIMIT_AS the allocation fails inside the program: Error, with a message saying why."""
        rt = make_runtime(memory_mode="rlimit")
        handle = start(rt, {"image": "python", "command": ["python3", "-c", self.HOG], "resources": {"limits": {"memory": "64Mi"}}})
        status = handle.wait(15)
        assert status is not None
        assert (status.reason, status.exit_code) == ("Error", 1)
        assert "RLIMIT_AS" in status.message
        assert any("MemoryError" in line for line in log_lines(handle, "stderr"))

    def test_auto_mode_falls_back_without_cgroup_v2(self, make_runtime: Callable[..., ContainerRuntime], tmp_path: Path) -> None:
        """With no cgroup v2 hierarchy, memory limits fall back to the RSS watchdog."""
        rt = make_runtime(cgroup_root=tmp_path / "no-cgroup")
        assert rt.memory_mode == "rss"


class TestVolumes:
    def test_namespace_bind_mounts(self, make_runtime: Callable[..., ContainerRuntime], tmp_path: Path) -> None:
        """As root, a container writing /<mountPath>/x writes the pod's volume; readOnly is enforced."""
        rt = make_runtime()
        if rt.isolation != "namespaces":
            pytest.skip("mount namespaces need root")
        top = Path(f"/kemu-test-{secrets.token_hex(4)}")
        vol, cfg = tmp_path / "vol", tmp_path / "cfg"
        vol.mkdir()
        cfg.mkdir()
        (cfg / "setting").write_text("on\n")
        try:
            handle = start(
                rt,
                busybox(f"echo data > {top}/data/x; cat {top}/cfg/setting; echo no > {top}/cfg/y || echo refused; hostname"),
                pod_name="vol-pod",
                mounts=[Mount(vol, f"{top}/data"), Mount(cfg, f"{top}/cfg", read_only=True)],
            )
            status = handle.wait(10)
            assert status is not None and status.reason == "Completed"
            assert (vol / "x").read_text() == "data\n"
            assert log_lines(handle, "stdout") == ["on", "refused", "vol-pod"]
            assert not (top / "data" / "x").exists()  # the host's mount point stayed empty
        finally:
            shutil.rmtree(top, ignore_errors=True)

    def test_mount_hiding_needed_paths_falls_back(self, make_runtime: Callable[..., ContainerRuntime], tmp_path: Path) -> None:
        """A mountPath that would hide the kubelet's own files is substituted, not bind-mounted."""
        rt = make_runtime()
        vol = tmp_path / "vol"
        vol.mkdir()
        hidden = tmp_path.parent  # an ancestor of the runtime's root_dir
        name = f"kemu-{secrets.token_hex(4)}"
        try:
            handle = start(rt, busybox(f"echo x > {hidden}/{name}"), mounts=[Mount(vol, str(hidden))])
            status = handle.wait(10)
            assert status is not None and status.reason == "Completed"
            assert (vol / name).read_text() == "x\n"
            assert not (hidden / name).exists()
        finally:
            (hidden / name).unlink(missing_ok=True)

    def test_path_substitution_without_namespaces(self, make_runtime: Callable[..., ContainerRuntime], tmp_path: Path) -> None:
        """Without namespaces, mount paths in the command are mapped to the volume."""
        rt = make_runtime(isolation="none")
        vol = tmp_path / "vol"
        vol.mkdir()
        handle = start(rt, busybox("echo data > /data/x && cat /data/x"), mounts=[Mount(vol, "/data")])
        assert handle.wait(10) is not None
        assert (vol / "x").read_text() == "data\n"
        assert log_lines(handle) == ["data"]

    def test_sub_path(self, make_runtime: Callable[..., ContainerRuntime], tmp_path: Path) -> None:
        """subPath mounts a directory inside the volume, created if missing."""
        rt = make_runtime(isolation="none")
        vol = tmp_path / "vol"
        vol.mkdir()
        handle = start(rt, busybox("echo s > /data/f"), mounts=[Mount(vol, "/data", sub_path="app/logs")])
        assert handle.wait(10) is not None
        assert (vol / "app" / "logs" / "f").read_text() == "s\n"


class TestKubeletDeath:
    SCRIPT = textwrap.dedent(
        """
        import json, sys, threading, time
        from pathlib import Path
        from kemu.images import ImageCatalog
        from kubelet.runtime import ContainerRuntime

        class Quiet:
            def __getattr__(self, name):
                return lambda *a, **k: None

        rt = ContainerRuntime(root_dir=Path(sys.argv[1]), node_name="node-1",
                              catalog=ImageCatalog.load(environ={}), logger=Quiet())
        out = {}

        def start():
            h = rt.start(pod_uid="u1", pod_namespace="default", pod_name="p1", pod_ip="127.244.250.1",
                         container={"name": "c", "image": "busybox",
                                    "command": ["sh", "-c", "sleep 1000 & sleep 1000"]},
                         env={})
            out.update(shim=h.shim_pid, pid=h.pid)

        # Start from a thread that then exits: the shim's parent-death signal
        # fires, and must not kill the container while the kubelet lives.
        t = threading.Thread(target=start)
        t.start()
        t.join()
        print(json.dumps(out), flush=True)
        time.sleep(1000)
        """
    )

    def test_sigkilled_kubelet_takes_every_container_process_with_it(self, tmp_path: Path) -> None:
        """THE KEY TEST: SIGKILL the kubelet and the container's whole tree is gone, grandchildren included."""
        script = tmp_path / "fake_kubelet.py"
        script.write_text(self.SCRIPT)
        root = tmp_path / "root"
        kubelet = subprocess.Popen(
            [sys.executable, str(script), str(root)],
            stdout=subprocess.PIPE,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        tree: set[int] = set()
        try:
            assert kubelet.stdout is not None
            info = json.loads(kubelet.stdout.readline())
            shim, main = info["shim"], info["pid"]
            # sh, plus its two sleeps (one backgrounded: a grandchild of the shim).
            wait_for(lambda: len(session_pids(main)) == 3, timeout=10)
            time.sleep(0.5)  # past the thread exit: the container must still be alive
            tree = {shim} | session_pids(main)
            assert all(not gone(pid) for pid in tree)
            kubelet.send_signal(signal.SIGKILL)
            kubelet.wait(10)
            for pid in tree:
                wait_for(partial(gone, pid), timeout=10)
            status = json.loads(next(root.glob("containers/*/status.json")).read_text())
            assert status["exit_code"] == 137
            assert "lifeline" in status["message"]
        finally:
            if kubelet.poll() is None:
                kubelet.kill()
                kubelet.wait(10)
            kill_all({pid for pid in tree if not gone(pid)})

    def test_dead_shim_is_reported_and_cleaned_up(self, runtime: ContainerRuntime) -> None:
        """If the shim itself is SIGKILLed, the container dies too and is reported as lost."""
        handle = start(runtime, busybox("sleep 1000 & sleep 1000"))
        wait_for(lambda: len(session_pids(handle.pid)) == 3)
        members = session_pids(handle.pid)
        os.kill(handle.shim_pid, signal.SIGKILL)
        status = handle.wait(10)
        assert status is not None and status.reason == "ContainerStatusUnknown"
        for pid in members:
            wait_for(partial(gone, pid), timeout=5)


class TestStaleContainers:
    def test_a_new_kubelet_kills_what_an_old_one_left(self, make_runtime: Callable[..., ContainerRuntime], tmp_path: Path) -> None:
        """A restarted kubelet (new runtime, same root_dir) finds and kills stale containers."""
        old = make_runtime()
        handle = start(old, busybox("sleep 1000 & sleep 1000"), pod_uid="old-pod")
        wait_for(lambda: len(session_pids(handle.pid)) == 3)
        members = session_pids(handle.pid)
        new = ContainerRuntime(root_dir=old.root_dir, node_name="node-1", catalog=old.catalog)
        try:
            stale = new.list_stale(known_pod_uids={"old-pod"})
            assert [(s.pod_uid, s.running, s.pod_known) for s in stale] == [("old-pod", True, True)]
            assert old.list_stale() == []  # a runtime's own containers are not stale
            new.cleanup_orphans(known_pod_uids=set())
            for pid in members:
                wait_for(partial(gone, pid), timeout=10)
            assert new.list_stale() == []
            assert not handle.log_path.parent.parent.exists()  # logs of unknown pods removed
        finally:
            new.close()

    def test_remove_deletes_state(self, runtime: ContainerRuntime) -> None:
        """remove() forgets an exited container and deletes its state directory."""
        handle = start(runtime, busybox("exit 0"))
        assert handle.wait(10) is not None
        runtime.remove(handle)
        assert not handle.state_dir.exists()
        assert handle.log_path.exists()
        assert runtime.handles() == []


class TestPureHelpers:
    @pytest.mark.parametrize(
        ("text", "env", "expected"),
        [
            ("$(A)", {"A": "1"}, "1"),
            ("x$(A)y$(B)", {"A": "1", "B": "2"}, "x1y2"),
            ("$(MISSING)", {}, "$(MISSING)"),
            ("$$(A)", {"A": "1"}, "$(A)"),
            ("$$$(A)", {"A": "1"}, "$1"),
            ("$A", {"A": "1"}, "$A"),
            ("$(A", {"A": "1"}, "$(A"),
            ("cost: 5$", {}, "cost: 5$"),
            ("$()", {}, "$()"),
        ],
    )
    def test_expand_vars_like_kubernetes(self, text: str, env: dict[str, str], expected: str) -> None:
        """$(VAR) expansion follows Kubernetes' expansion package, case by case."""
        assert expand_vars(text, env) == expected

    @pytest.mark.parametrize(
        ("port", "euid", "start_port", "cap", "ok"),
        [(80, 0, 1024, False, True), (80, 1000, 1024, False, False), (8080, 1000, 1024, False, True),
         (80, 1000, 0, False, True), (80, 1000, 1024, True, True)],
    )  # fmt: skip
    def test_check_bind_permission(self, port: int, euid: int, start_port: int, cap: bool, ok: bool) -> None:
        """Ports below ip_unprivileged_port_start need root or CAP_NET_BIND_SERVICE."""
        problem = check_bind_permission(port, euid=euid, unprivileged_port_start=start_port, cap_net_bind_service=cap)
        assert (problem is None) == ok
