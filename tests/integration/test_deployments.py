"""Deployments on a real cluster: rolling updates watched pod by pod and
through the pods' own HTTP servers, undo, pause/resume, Recreate, progress
deadlines, revision history, and a kubelet killed in the middle of a
rollout. Every process is started by ``running_cluster`` and stopped at the
end, whatever happens; every wait is bounded."""

from __future__ import annotations

import http.client
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

import pytest
from click.testing import CliRunner, Result

from kemu.api.errors import ApiError
from kemu.cli.main import cli
from kemu.cli.rollout import (
    deployment_status,  # importing it registers rollout, set image, scale
)
from kemu import testing
from kemu.client import Client
from kemu.informer import Informer
from kemu.launcher import LocalCluster
from kemu.procs import wait_for
from kemu.testing import container, running_cluster
from kemu.types import Obj


# Address ranges of their own, so a cluster of another test module running at
# the same time never answers on our pod IPs.
RANGES = {"node_ip_prefix": "127.0.5", "cluster_cidr": "127.247.0.0/16", "service_cidr": "127.99.0.0/16"}
FAILOVER_RANGES = {"node_ip_prefix": "127.0.6", "cluster_cidr": "127.248.0.0/16", "service_cidr": "127.100.0.0/16"}
REVISION = "deployment.kubernetes.io/revision"


def deployment(name: str, image: str = "nginx:1.24", replicas: int = 3, **spec: Any) -> Obj:
    """A Deployment of nginx pods that are Ready once they answer HTTP."""
    nginx = container("nginx", image, ports=[{"containerPort": 80}],
                      readinessProbe={"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1})
    return testing.deployment(name, replicas=replicas, containers=[nginx], grace=2, **spec)


def set_image(client: Client, name: str, image: str) -> None:
    client.patch(
        "Deployment", name, {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": image}]}}}},
        patch_type="strategic",
    )


def rolled_out(client: Client, name: str) -> bool:
    """What ``kemu rollout status`` waits for."""
    return deployment_status(client.get("Deployment", name))[1]


def wait_rolled_out(client: Client, name: str, timeout: float = 60) -> None:
    wait_for(lambda: rolled_out(client, name), timeout, interval=0.1, message=f"deployment {name} rolled out")


def replica_sets(client: Client, name: str) -> list[Obj]:
    uid = client.get("Deployment", name)["metadata"]["uid"]
    return [
        rs for rs in client.list("ReplicaSet")["items"]
        if any(r.get("uid") == uid and r.get("controller") for r in rs["metadata"].get("ownerReferences") or [])
    ]


def is_ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def is_live(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")


def image_of(pod: Obj) -> str:
    return str(pod["spec"]["containers"][0]["image"])


def live_pods(client: Client, name: str) -> list[Obj]:
    return [p for p in client.list("Pod", label_selector=f"app={name}")["items"] if is_live(p)]


def kemu(cluster: LocalCluster, *args: str) -> Result:
    """Run a kemu command in-process against the cluster."""
    return CliRunner().invoke(cli, ["--server", cluster.spec.server, *args])


def http_get(ip: str, timeout: float = 1.0) -> dict[str, str]:
    conn = http.client.HTTPConnection(ip, 80, timeout=timeout)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return {k.lower(): v for k, v in response.getheaders()} | {"status": str(response.status)}
    finally:
        conn.close()


class PodWatch:
    """An informer on a Deployment's pods that checks a predicate on the
    whole set at every event, and keeps the extremes seen."""

    def __init__(self, client: Client, name: str, dead_nodes: set[str] | None = None):
        self.dead_nodes = dead_nodes if dead_nodes is not None else set()
        self.lock = threading.Lock()
        self.events = 0
        self.max_live = 0
        self.min_ready: int | None = None
        self.violations: list[str] = []
        self.checks: list[Callable[[list[Obj]], str | None]] = []
        self.informer = Informer(client, "Pod", label_selector=f"app={name}")
        self.informer.add_handler(self)

    def __enter__(self) -> Self:
        self.informer.start()
        assert self.informer.wait_synced(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.informer.stop()

    def reset(self) -> None:
        with self.lock:
            self.events, self.max_live, self.min_ready, self.violations = 0, 0, None, []

    def reachable_live(self, pods: list[Obj]) -> list[Obj]:
        return [p for p in pods if is_live(p) and p["spec"].get("nodeName") not in self.dead_nodes]

    def _observe(self) -> None:
        pods = self.informer.list()
        live = self.reachable_live(pods)
        ready = [p for p in live if is_ready(p)]
        with self.lock:
            self.events += 1
            self.max_live = max(self.max_live, len(live))
            self.min_ready = len(ready) if self.min_ready is None else min(self.min_ready, len(ready))
            for check in self.checks:
                problem = check(pods)
                if problem:
                    self.violations.append(problem)

    def ready_pods(self) -> list[Obj]:
        return [p for p in self.informer.list() if is_live(p) and is_ready(p) and p.get("status", {}).get("podIP")]

    def on_add(self, obj: Obj) -> None:
        self._observe()

    def on_update(self, old: Obj, new: Obj) -> None:
        self._observe()

    def on_delete(self, obj: Obj) -> None:
        self._observe()


class HttpProber:
    """Polls the Ready pods' IPs round-robin, as a Service would, and records
    every answer and every failure."""

    def __init__(self, watch: PodWatch):
        self.watch = watch
        self.answers: list[tuple[str, dict[str, str]]] = []
        self.bad: list[str] = []
        self.no_ready_pod = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _still_ready(self, name: str) -> bool:
        return any(p["metadata"]["name"] == name for p in self.watch.ready_pods())

    def _run(self) -> None:
        turn = 0
        while not self._stop.is_set():
            ready = sorted(self.watch.ready_pods(), key=lambda p: p["metadata"]["name"])
            if not ready:
                self.no_ready_pod += 1
                time.sleep(0.01)
                continue
            pod = ready[turn % len(ready)]
            turn += 1
            name = pod["metadata"]["name"]
            try:
                headers = http_get(pod["status"]["podIP"])
            except OSError as exc:
                # A pod that was being stopped as we asked is fine once the
                # watch shows it leaving; one that stays Ready is not.
                deadline = time.monotonic() + 2.0
                while time.monotonic() < deadline and self._still_ready(name):
                    time.sleep(0.05)
                if self._still_ready(name):
                    self.bad.append(f"{name}: {exc!r} while Ready")
                continue
            self.answers.append((name, headers))
            if headers.get("x-kemu-pod") != f"default/{name}":
                self.bad.append(f"{name}: answered by {headers.get('x-kemu-pod')}")
            elif headers.get("x-kemu-image") != image_of(pod):
                self.bad.append(f"{name}: image {headers.get('x-kemu-image')} != {image_of(pod)}")
            time.sleep(0.005)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with tempfile.TemporaryDirectory(prefix="kemu-") as d, running_cluster(Path(d), nodes=3, log_level="info", **RANGES) as c:
        yield c


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster.spec.server) as c:
        yield c


@pytest.fixture
def cleanup(client: Client) -> Iterator[list[str]]:
    """Names of Deployments to delete after the test (their pods go with them)."""
    names: list[str] = []
    yield names
    for name in names:
        try:
            client.delete("Deployment", name, propagation_policy="Foreground")
        except ApiError:
            continue
    wait_for(
        lambda: not any(client.list("Pod", label_selector=f"app={n}")["items"] for n in names), 30,
        message="pods of the test's deployments gone",
    )


class TestRollingUpdate:
    @pytest.mark.timeout(120)
    def test_bounds_hold_at_every_pod_event(self, client: Client, cleanup: list[str]) -> None:
        """nginx:1.24 -> 1.25 on 6 replicas (surge 2, unavailable 1): no watch
        event ever shows more than 8 live pods or fewer than 5 Ready ones."""
        cleanup.append("roll")
        client.create(deployment("roll", replicas=6))
        wait_rolled_out(client, "roll")
        with PodWatch(client, "roll") as watch:
            wait_for(lambda: len(watch.ready_pods()) == 6, 30, message="6 ready pods in the watch")
            watch.reset()
            set_image(client, "roll", "nginx:1.25")
            wait_for(lambda: client.get("Deployment", "roll")["status"].get("observedGeneration") == 2, 10, message="observed")
            wait_rolled_out(client, "roll")
            wait_for(lambda: all(image_of(p) == "nginx:1.25" for p in watch.ready_pods()) and len(watch.ready_pods()) == 6,
                     30, message="watch sees 6 new pods")
        assert watch.events >= 12  # 6 pods created and 6 deleted at least
        assert watch.max_live <= 8
        assert watch.min_ready is not None and watch.min_ready >= 5
        names = {rs["metadata"]["name"]: rs for rs in replica_sets(client, "roll")}
        assert len(names) == 2
        d = client.get("Deployment", "roll")
        assert d["metadata"]["annotations"][REVISION] == "2"
        conds = {c["type"]: c for c in d["status"]["conditions"]}
        new_rs = next(n for n, rs in names.items() if rs["spec"]["replicas"] == 6)
        assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
        assert conds["Progressing"]["message"] == f'ReplicaSet "{new_rs}" has successfully progressed.'
        assert conds["Available"]["reason"] == "MinimumReplicasAvailable"
        messages = [e["message"] for e in client.list("Event")["items"]
                    if e["involvedObject"].get("name") == "roll" and e["reason"] == "ScalingReplicaSet"]
        assert f"Scaled up replica set {new_rs} from 0 to 2" in messages

    @pytest.mark.timeout(120)
    def test_every_http_answer_comes_from_a_ready_pod(self, client: Client, cleanup: list[str]) -> None:
        """Polling the Ready pods' IPs throughout the rollout: every request is
        answered, by the pod asked, with its image; both versions answer."""
        cleanup.append("http")
        client.create(deployment("http", replicas=4))
        wait_rolled_out(client, "http")
        with PodWatch(client, "http") as watch:
            wait_for(lambda: len(watch.ready_pods()) == 4, 30, message="4 ready pods in the watch")
            with HttpProber(watch) as prober:
                time.sleep(0.5)
                set_image(client, "http", "nginx:1.25")
                wait_for(lambda: client.get("Deployment", "http")["status"].get("observedGeneration") == 2, 10, message="observed")
                wait_rolled_out(client, "http")
                time.sleep(0.5)
        servers = {h.get("server") for _, h in prober.answers}
        assert prober.bad == []
        assert prober.no_ready_pod == 0
        assert len(prober.answers) > 20
        assert {"nginx/1.24.0", "nginx/1.25.5"} <= servers
        assert prober.answers[-1][1]["server"] == "nginx/1.25.5"

    @pytest.mark.timeout(90)
    def test_apply_of_a_changed_manifest_starts_a_rollout(self, cluster: LocalCluster, client: Client,
                                                          cleanup: list[str], tmp_path: Path) -> None:
        """kemu apply with a new image makes revision 2 and rolls to it."""
        cleanup.append("applied")
        manifest = tmp_path / "web.yaml"
        manifest.write_text(json.dumps(deployment("applied", replicas=2)))
        assert kemu(cluster, "apply", "-f", str(manifest)).exit_code == 0
        wait_rolled_out(client, "applied")
        manifest.write_text(json.dumps(deployment("applied", image="nginx:1.25", replicas=2)))
        result = kemu(cluster, "apply", "-f", str(manifest))
        assert result.output.strip() == "deployment.apps/applied configured"
        result = kemu(cluster, "rollout", "status", "deploy/applied", "--timeout", "60s")
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[-1] == 'deployment "applied" successfully rolled out'
        assert client.get("Deployment", "applied")["metadata"]["annotations"][REVISION] == "2"
        assert {image_of(p) for p in live_pods(client, "applied")} == {"nginx:1.25"}


class TestRevisions:
    @pytest.mark.timeout(120)
    def test_undo_returns_to_the_previous_template_and_reuses_its_replicaset(
        self, cluster: LocalCluster, client: Client, cleanup: list[str]
    ) -> None:
        """After 1.24 -> 1.25, undo brings 1.24 back with revision 1's ReplicaSet, now revision 3."""
        cleanup.append("undo")
        client.create(deployment("undo"))
        wait_rolled_out(client, "undo")
        (first,) = replica_sets(client, "undo")
        result = kemu(cluster, "set", "image", "deploy/undo", "nginx=nginx:1.25", "--record")
        assert result.output == "deployment.apps/undo image updated\n"
        assert kemu(cluster, "rollout", "status", "deploy/undo", "--timeout", "60s").exit_code == 0
        history = kemu(cluster, "rollout", "history", "deploy/undo").output.splitlines()
        assert history[0] == "deployment.apps/undo "
        assert history[1].split() == ["REVISION", "CHANGE-CAUSE"]
        assert history[2].split() == ["1", "<none>"]
        assert history[3].split()[:2] == ["2", "kemu"]
        result = kemu(cluster, "rollout", "undo", "deploy/undo")
        assert result.output == "deployment.apps/undo rolled back\n"
        assert kemu(cluster, "rollout", "status", "deploy/undo", "--timeout", "60s").exit_code == 0
        sets = {rs["metadata"]["uid"]: rs for rs in replica_sets(client, "undo")}
        assert len(sets) == 2
        back = sets[first["metadata"]["uid"]]
        assert back["spec"]["replicas"] == 3
        assert back["metadata"]["annotations"][REVISION] == "3"
        assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
        pods = live_pods(client, "undo")
        assert {image_of(p) for p in pods} == {"nginx:1.24"}
        assert http_get(pods[0]["status"]["podIP"])["server"] == "nginx/1.24.0"
        history = kemu(cluster, "rollout", "history", "deployment.apps/undo").output.splitlines()
        assert [line.split()[0] for line in history[2:] if line.strip()] == ["2", "3"]

    @pytest.mark.timeout(150)
    def test_undo_to_revision(self, cluster: LocalCluster, client: Client, cleanup: list[str]) -> None:
        """Three revisions, then --to-revision 1: its ReplicaSet comes back as revision 4."""
        cleanup.append("torev")
        client.create(deployment("torev", replicas=2))
        wait_rolled_out(client, "torev")
        for image in ("nginx:1.25", "nginx:1.26"):
            set_image(client, "torev", image)
            wait_for(lambda: client.get("Deployment", "torev")["status"].get("observedGeneration", 0) > 1, 10, message="observed")
            wait_rolled_out(client, "torev")
        assert kemu(cluster, "rollout", "undo", "deploy/torev", "--to-revision", "9").output == (
            "error: unable to find specified revision 9 in history\n"
        )
        result = kemu(cluster, "rollout", "undo", "deploy", "torev", "--to-revision", "1")
        assert result.output == "deployment.apps/torev rolled back\n", result.output
        assert kemu(cluster, "rollout", "status", "deploy/torev", "--timeout", "60s").exit_code == 0
        by_revision = {rs["metadata"]["annotations"][REVISION]: rs for rs in replica_sets(client, "torev")}
        assert sorted(by_revision) == ["2", "3", "4"]
        template = by_revision["4"]["spec"]["template"]["spec"]["containers"][0]
        assert template["image"] == "nginx:1.24"
        assert by_revision["4"]["spec"]["replicas"] == 2
        assert {image_of(p) for p in live_pods(client, "torev")} == {"nginx:1.24"}
        result = kemu(cluster, "rollout", "undo", "deploy/torev", "--to-revision", "4")
        assert result.output == "deployment.apps/torev skipped rollback (current template already matches revision 4)\n"

    @pytest.mark.timeout(150)
    def test_revision_history_limit(self, client: Client, cleanup: list[str]) -> None:
        """revisionHistoryLimit 1: after four templates only the newest old ReplicaSet remains."""
        cleanup.append("limit")
        client.create(deployment("limit", replicas=1, revisionHistoryLimit=1))
        wait_rolled_out(client, "limit")
        for generation, image in enumerate(("nginx:1.25", "nginx:1.26", "nginx:1.27"), start=2):
            set_image(client, "limit", image)
            wait_for(lambda g=generation: client.get("Deployment", "limit")["status"].get("observedGeneration") == g, 10,
                     message="observed")
            wait_rolled_out(client, "limit")
        wait_for(lambda: len(replica_sets(client, "limit")) == 2, 20, message="old replicasets cleaned")
        revisions = sorted(int(rs["metadata"]["annotations"][REVISION]) for rs in replica_sets(client, "limit"))
        assert revisions == [3, 4]


class TestScalingMidRollout:
    @pytest.mark.timeout(120)
    def test_proportional_scaling_docs_example(self, cluster: LocalCluster, client: Client, cleanup: list[str]) -> None:
        """The documentation's example live: 10 replicas (surge 3, unavailable 2)
        stuck on an image that cannot be pulled sit at 8 old + 5 new; scaled to
        15, the old ReplicaSet gets 3 more and the new one 2 (11 + 7)."""
        cleanup.append("prop")
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}
        client.create(deployment("prop", replicas=10, strategy=strategy))
        wait_rolled_out(client, "prop")
        (old,) = replica_sets(client, "prop")
        set_image(client, "prop", "nginx:9.99")

        def sizes() -> tuple[int, int]:
            by_name = {rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in replica_sets(client, "prop")}
            old_size = by_name.pop(old["metadata"]["name"])
            return old_size, sum(by_name.values())

        wait_for(lambda: sizes() == (8, 5), 30, message="stuck at 8 old + 5 new")
        time.sleep(1.0)
        assert sizes() == (8, 5)
        assert kemu(cluster, "scale", "deploy/prop", "--replicas", "15").exit_code == 0
        wait_for(lambda: sizes() == (11, 7), 30, message="11 old + 7 new")
        annotations = client.get("ReplicaSet", old["metadata"]["name"])["metadata"]["annotations"]
        assert annotations["deployment.kubernetes.io/desired-replicas"] == "15"
        assert annotations["deployment.kubernetes.io/max-replicas"] == "18"

    @pytest.mark.timeout(90)
    def test_min_ready_seconds_paces_the_rollout(self, client: Client, cleanup: list[str]) -> None:
        """minReadySeconds 2, one pod at a time: each new pod must stay Ready
        for 2 s before the next step, so two replicas take at least 2 s."""
        cleanup.append("slow")
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
        client.create(deployment("slow", replicas=2, strategy=strategy, minReadySeconds=2))
        wait_rolled_out(client, "slow")
        started = time.monotonic()
        set_image(client, "slow", "nginx:1.25")
        wait_for(lambda: client.get("Deployment", "slow")["status"].get("observedGeneration") == 2, 10, message="observed")
        wait_rolled_out(client, "slow")
        assert time.monotonic() - started >= 2.0
        new_rs = next(rs for rs in replica_sets(client, "slow") if rs["spec"]["replicas"] == 2)
        assert new_rs["spec"]["minReadySeconds"] == 2


class TestOwnership:
    @pytest.mark.timeout(90)
    def test_orphaned_replicaset_is_adopted_again(self, client: Client, cleanup: list[str]) -> None:
        """Deleted with propagationPolicy Orphan and created again: the
        Deployment adopts its old ReplicaSet (and pods) instead of a new one."""
        cleanup.append("adopt")
        client.create(deployment("adopt", replicas=2))
        wait_rolled_out(client, "adopt")
        (before,) = replica_sets(client, "adopt")
        pods = {p["metadata"]["uid"] for p in live_pods(client, "adopt")}
        client.delete("Deployment", "adopt", propagation_policy="Orphan")
        wait_for(lambda: not client.list("Deployment")["items"] or all(
            d["metadata"]["name"] != "adopt" for d in client.list("Deployment")["items"]), 20, message="deployment gone")
        orphan = client.get("ReplicaSet", before["metadata"]["name"])
        assert not orphan["metadata"].get("ownerReferences")
        client.create(deployment("adopt", replicas=2))
        wait_for(lambda: len(replica_sets(client, "adopt")) == 1, 20, message="adopted")
        wait_rolled_out(client, "adopt")
        (after,) = replica_sets(client, "adopt")
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert {p["metadata"]["uid"] for p in live_pods(client, "adopt")} == pods


class TestPauseAndStrategies:
    @pytest.mark.timeout(120)
    def test_pause_holds_template_changes_until_resume(self, cluster: LocalCluster, client: Client, cleanup: list[str]) -> None:
        """Paused: a new image makes no ReplicaSet; resumed: it rolls out."""
        cleanup.append("paused")
        client.create(deployment("paused", replicas=2))
        wait_rolled_out(client, "paused")
        assert kemu(cluster, "rollout", "pause", "deploy/paused").output == "deployment.apps/paused paused\n"
        assert kemu(cluster, "rollout", "pause", "deploy/paused").output == 'error: deployments.apps "paused" is already paused\n'
        set_image(client, "paused", "nginx:1.25")
        wait_for(
            lambda: (c := {c["type"]: c for c in client.get("Deployment", "paused")["status"]["conditions"]})
            and c["Progressing"]["reason"] == "DeploymentPaused",
            10, message="DeploymentPaused",
        )
        time.sleep(1.5)
        assert len(replica_sets(client, "paused")) == 1
        assert {image_of(p) for p in live_pods(client, "paused")} == {"nginx:1.24"}
        restart = kemu(cluster, "rollout", "restart", "deploy/paused")
        assert restart.exit_code == 1
        assert "can't restart paused deployment (run rollout resume first)" in restart.output
        assert kemu(cluster, "rollout", "resume", "deploy/paused").output == "deployment.apps/paused resumed\n"
        assert kemu(cluster, "rollout", "status", "deploy/paused", "--timeout", "60s").exit_code == 0
        assert {image_of(p) for p in live_pods(client, "paused")} == {"nginx:1.25"}
        assert len(replica_sets(client, "paused")) == 2
        # A restart is one more template: a third ReplicaSet, same image.
        assert kemu(cluster, "rollout", "restart", "deploy/paused").output == "deployment.apps/paused restarted\n"
        assert kemu(cluster, "rollout", "status", "deploy/paused", "--timeout", "60s").exit_code == 0
        assert len(replica_sets(client, "paused")) == 3

    @pytest.mark.timeout(120)
    def test_recreate_starts_no_new_pod_before_all_old_are_gone(self, client: Client, cleanup: list[str]) -> None:
        """Recreate: at no pod event does a new pod exist beside an old one (terminating ones included)."""
        cleanup.append("recreate")
        client.create(deployment("recreate", replicas=3, strategy={"type": "Recreate"}))
        wait_rolled_out(client, "recreate")
        with PodWatch(client, "recreate") as watch:

            def both_versions(pods: list[Obj]) -> str | None:
                images = {image_of(p) for p in pods if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")}
                return f"old and new pods together: {sorted(images)}" if len(images) > 1 else None

            watch.checks.append(both_versions)
            set_image(client, "recreate", "nginx:1.25")
            wait_for(lambda: client.get("Deployment", "recreate")["status"].get("observedGeneration") == 2, 10, message="observed")
            wait_rolled_out(client, "recreate")
        assert watch.violations == []
        assert {image_of(p) for p in live_pods(client, "recreate")} == {"nginx:1.25"}
        assert len(live_pods(client, "recreate")) == 3

    @pytest.mark.timeout(120)
    def test_progress_deadline_exceeded(self, cluster: LocalCluster, client: Client, cleanup: list[str]) -> None:
        """An image that cannot be pulled, progressDeadlineSeconds 5: the
        rollout times out, rollout status fails, the old pods keep serving."""
        cleanup.append("stuck")
        client.create(deployment("stuck", replicas=2, progressDeadlineSeconds=5))
        wait_rolled_out(client, "stuck")
        set_image(client, "stuck", "nginx:9.99")
        result = kemu(cluster, "rollout", "status", "deploy/stuck", "--timeout", "60s")
        assert result.exit_code == 1
        assert result.output.splitlines()[-1] == 'error: deployment "stuck" exceeded its progress deadline'
        d = client.get("Deployment", "stuck")
        cond = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
        new_rs = next(rs for rs in replica_sets(client, "stuck")
                      if rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:9.99")
        assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
        assert cond["message"] == f'ReplicaSet "{new_rs["metadata"]["name"]}" has timed out progressing.'
        ready_old = [p for p in live_pods(client, "stuck") if is_ready(p) and image_of(p) == "nginx:1.24"]
        assert len(ready_old) == 2
        assert http_get(ready_old[0]["status"]["podIP"])["server"] == "nginx/1.24.0"


class TestScale:
    @pytest.mark.timeout(90)
    def test_scale_deployment_and_replicaset(self, cluster: LocalCluster, client: Client, cleanup: list[str]) -> None:
        """kemu scale deploy/NAME resizes the Deployment (its ReplicaSet follows)."""
        cleanup.append("scaled")
        client.create(deployment("scaled", replicas=1))
        wait_rolled_out(client, "scaled")
        assert kemu(cluster, "scale", "deploy/scaled", "--replicas", "3").output == "deployment.apps/scaled scaled\n"
        wait_for(lambda: len([p for p in live_pods(client, "scaled") if is_ready(p)]) == 3, 30, message="3 pods")
        wait_rolled_out(client, "scaled")
        (rs,) = replica_sets(client, "scaled")
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "3"
        result = kemu(cluster, "scale", "deploy/scaled", "--replicas", "2", "--current-replicas", "5")
        assert result.output == "error: Expected replicas to be 5, was 3\n"


    @pytest.mark.timeout(90)
    def test_scale_and_set_image_on_replicaset_and_pod(self, cluster: LocalCluster, client: Client) -> None:
        """kemu scale rs/NAME and kemu set image on a ReplicaSet and on a bare pod."""
        rs_body = deployment("bare", replicas=1)
        rs_body["kind"] = "ReplicaSet"
        for key in ("strategy", "revisionHistoryLimit", "progressDeadlineSeconds"):
            rs_body["spec"].pop(key, None)
        client.create(rs_body)
        try:
            assert kemu(cluster, "scale", "rs/bare", "--replicas", "2").output == "replicaset.apps/bare scaled\n"
            wait_for(lambda: len([p for p in live_pods(client, "bare") if is_ready(p)]) == 2, 30, message="2 pods")
            result = kemu(cluster, "set", "image", "replicaset", "bare", "nginx=nginx:1.25")
            assert result.output == "replicaset.apps/bare image updated\n"
            template = client.get("ReplicaSet", "bare")["spec"]["template"]["spec"]["containers"][0]
            assert template["image"] == "nginx:1.25"
            pod = live_pods(client, "bare")[0]["metadata"]["name"]
            assert kemu(cluster, "set", "image", f"pod/{pod}", "*=nginx:1.26").output == f"pod/{pod} image updated\n"
            assert client.get("Pod", pod)["spec"]["containers"][0]["image"] == "nginx:1.26"
        finally:
            client.delete("ReplicaSet", "bare")


@pytest.mark.timeout(180)
def test_kubelet_killed_mid_rollout() -> None:
    """A rolling update of 6 pods over 3 nodes loses node-2's kubelet halfway:
    it still completes, on the two live nodes, and never has more than
    replicas + maxSurge live pods among the reachable nodes."""
    with (
        tempfile.TemporaryDirectory(prefix="kemu-") as d,
        running_cluster(Path(d), nodes=3, log_level="info", **FAILOVER_RANGES) as cluster,
        Client(cluster.spec.server) as client,
    ):
        client.create(deployment("fo", replicas=6))
        wait_rolled_out(client, "fo")
        assert {p["spec"]["nodeName"] for p in live_pods(client, "fo")} == {"node-1", "node-2", "node-3"}
        dead: set[str] = set()
        with PodWatch(client, "fo", dead_nodes=dead) as watch:
            watch.reset()
            set_image(client, "fo", "nginx:1.25")
            wait_for(lambda: any(image_of(p) == "nginx:1.25" and is_ready(p) for p in live_pods(client, "fo")), 30,
                     interval=0.02, message="a first new pod ready")
            cluster.procs["kubelet-node-2"].kill()
            dead.add("node-2")
            wait_for(
                lambda: rolled_out(client, "fo")
                and len([p for p in watch.reachable_live(watch.informer.list()) if is_ready(p) and image_of(p) == "nginx:1.25"]) == 6,
                90, interval=0.2, message="rollout completed on the live nodes",
            )
        assert watch.max_live <= 8
        ready = [p for p in watch.reachable_live(watch.informer.list()) if is_ready(p)]
        assert {p["spec"]["nodeName"] for p in ready} <= {"node-1", "node-3"}
        assert {image_of(p) for p in ready} == {"nginx:1.25"}
