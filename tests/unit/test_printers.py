"""What ``kemu get`` prints: kubectl v1.32's tables, durations, STATUS logic
and ``-o`` formats, checked against literal expected text."""

from __future__ import annotations

from typing import Any

import pytest

from kemu.cli import printers
from kemu.cli.printers import (
    TabWriter,
    WatchState,
    age,
    format_endpoints,
    format_label_selector,
    format_table,
    human_duration,
    label_selector_string,
    pod_status,
    print_objects,
    table_columns,
    table_row,
    watch_row,
)
from datetime import UTC

NOW = 1_717_243_200.0  # 2024-06-01T12:00:00Z


def ts(seconds_ago: float) -> str:
    """An RFC 3339 timestamp ``seconds_ago`` before NOW."""
    from datetime import datetime

    return datetime.fromtimestamp(NOW - seconds_ago, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_pod(
    name: str = "web-1",
    *,
    namespace: str = "default",
    containers: int = 1,
    init: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    statuses: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    reason: str | None = None,
    deleting: bool = False,
    created: float = 600,
    **status_extra: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "creationTimestamp": ts(created)}
    if deleting:
        meta["deletionTimestamp"] = ts(-30)
    status: dict[str, Any] = {"phase": phase, **status_extra}
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    if conditions is not None:
        status["conditions"] = conditions
    if reason is not None:
        status["reason"] = reason
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": "nginx"} for i in range(containers)]}
    if init is not None:
        spec["initContainers"] = init
    return {"kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def running(ready: bool = True, restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {"name": "c0", "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": ts(60)}}, **extra}


def waiting(reason: str, restarts: int = 0) -> dict[str, Any]:
    return {"name": "c0", "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}}


def terminated(exit_code: int = 0, reason: str | None = None, signal: int | None = None) -> dict[str, Any]:
    term: dict[str, Any] = {"exitCode": exit_code}
    if reason:
        term["reason"] = reason
    if signal:
        term["signal"] = signal
    return {"name": "c0", "ready": False, "restartCount": 0, "state": {"terminated": term}}


READY_TRUE = [{"type": "Ready", "status": "True"}]


class TestHumanDuration:
    """``duration.HumanDuration``, with the cases of its Go unit tests."""

    @pytest.mark.parametrize(
        ("seconds", "expected"),
        [
            (1, "1s"),
            (70, "70s"),
            (190, "3m10s"),
            (70 * 60, "70m"),
            (47 * 3600, "47h"),
            (49 * 3600, "2d1h"),
            ((8 * 24 + 2) * 3600, "8d"),
            (367 * 24 * 3600, "367d"),
            ((365 * 2 * 24 + 25) * 3600, "2y1d"),
            ((365 * 8 * 24 + 2) * 3600, "8y"),
        ],
    )
    def test_human_duration(self, seconds: float, expected: str) -> None:
        """TestHumanDuration's table."""
        assert human_duration(seconds) == expected

    @pytest.mark.parametrize(
        ("seconds", "expected"),
        [
            (-2, "<invalid>"),
            (-2 + 1e-9, "0s"),
            (0, "0s"),
            (1 - 0.001, "0s"),
            (2 * 60 - 0.001, "119s"),
            (2 * 60, "2m"),
            (2 * 60 + 1, "2m1s"),
            (10 * 60 - 0.001, "9m59s"),
            (10 * 60, "10m"),
            (10 * 60 + 1, "10m"),
            (3 * 3600 - 0.001, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60, "3h1m"),
            (8 * 3600 - 0.001, "7h59m"),
            (8 * 3600, "8h"),
            (8 * 3600 + 59 * 60, "8h"),
            (2 * 24 * 3600 - 0.001, "47h"),
            (2 * 24 * 3600, "2d"),
            (2 * 24 * 3600 + 3600, "2d1h"),
            (8 * 24 * 3600 - 0.001, "7d23h"),
            (8 * 24 * 3600, "8d"),
            (8 * 24 * 3600 + 23 * 3600, "8d"),
            (2 * 365 * 24 * 3600 - 0.001, "729d"),
            (2 * 365 * 24 * 3600, "2y"),
            (2 * 365 * 24 * 3600 + 23 * 3600, "2y"),
            (2 * 365 * 24 * 3600 + 23 * 3600 + 59 * 60, "2y"),
            (2 * 365 * 24 * 3600 + 24 * 3600 - 0.001, "2y"),
            (2 * 365 * 24 * 3600 + 24 * 3600, "2y1d"),
            (3 * 365 * 24 * 3600, "3y"),
            (4 * 365 * 24 * 3600, "4y"),
            (5 * 365 * 24 * 3600, "5y"),
            (6 * 365 * 24 * 3600, "6y"),
            (7 * 365 * 24 * 3600, "7y"),
            (8 * 365 * 24 * 3600 - 0.001, "7y364d"),
            (8 * 365 * 24 * 3600, "8y"),
            (8 * 365 * 24 * 3600 + 364 * 24 * 3600, "8y"),
            (9 * 365 * 24 * 3600, "9y"),
        ],
    )
    def test_boundaries(self, seconds: float, expected: str) -> None:
        """TestHumanDurationBoundaries' table."""
        assert human_duration(seconds) == expected

    @pytest.mark.parametrize(
        ("seconds", "expected"),
        [(5, "5s"), (150, "2m30s"), (600, "10m"), (3 * 3600 + 300, "3h5m"), (2 * 86400 + 3 * 3600, "2d3h"),
         (5 * 86400, "5d"), ((2 * 365 + 45) * 86400, "2y45d")],
    )
    def test_everyday_durations(self, seconds: float, expected: str) -> None:
        """The durations people see in AGE columns."""
        assert human_duration(seconds) == expected


class TestAge:
    """The AGE of an object from its creationTimestamp."""

    def test_unreadable_timestamp_is_unknown(self) -> None:
        """Text that is no timestamp ages as ``<unknown>`` instead of failing the listing."""
        assert age("yesterday", NOW) == "<unknown>"

    def test_missing_timestamp_is_unknown(self) -> None:
        """No timestamp prints ``<unknown>``."""
        assert age(None, NOW) == "<unknown>"

    def test_seconds_precision_timestamp(self) -> None:
        """A metav1.Time timestamp ages against ``now``."""
        assert age("2024-06-01T11:57:30Z", NOW) == "2m30s"

    def test_micro_time_and_offsets(self) -> None:
        """MicroTime fractions and numeric offsets parse too."""
        assert age("2024-06-01T13:58:59.500000+02:00", NOW) == "60s"


class TestTabWriter:
    """The Go tabwriter layouts kubectl relies on."""

    def test_columns_three_spaces_apart_without_trailing_spaces(self) -> None:
        """Each column is its widest cell plus three spaces; the last column is not padded."""
        text = format_table(["NAME", "STATUS", "AGE"], [["default", "Active", "5d"], ["kube-system", "Active", "5d"]])
        assert text == "NAME          STATUS   AGE\ndefault       Active   5d\nkube-system   Active   5d\n"

    def test_minimum_column_width_is_six(self) -> None:
        """Short columns still take six characters (kubectl's minwidth)."""
        assert format_table(["A", "B"], [["1", "2"]], no_headers=True) == "1     2\n"

    def test_no_headers(self) -> None:
        """``--no-headers`` drops the header line."""
        assert format_table(["NAME", "AGE"], [["web", "1s"]], no_headers=True) == "web   1s\n"

    def test_cells_are_cut_at_the_first_newline(self) -> None:
        """A multi-line cell shows its first line and an ellipsis."""
        assert format_table(["NAME", "MESSAGE"], [["a", "first\nsecond"]]) == "NAME   MESSAGE\na      first...\n"

    def test_column_blocks_end_at_lines_without_tabs(self) -> None:
        """Alignment restarts after a line with no tab (describe's sections)."""
        text = TabWriter(minwidth=0, padding=2).format("Name:\tx\nLonger label:\ty\nSection:\n  A:\t1\n")
        assert text == "Name:          x\nLonger label:  y\nSection:\n  A:  1\n"

    def test_remembered_widths_never_shrink(self) -> None:
        """With remembered widths a later, narrower row keeps the columns."""
        writer = TabWriter(minwidth=6, padding=3, remember_widths=True)
        assert writer.format("NAME\tAGE\nlong-name-1\t1s\n") == "NAME          AGE\nlong-name-1   1s\n"
        assert writer.format("a\t2s\n") == "a             2s\n"


class TestPodStatus:
    """printPod's STATUS column."""

    @pytest.mark.parametrize(
        ("pod", "expected"),
        [
            pytest.param(make_pod(phase="Pending"), "Pending", id="pending"),
            pytest.param(make_pod(phase="Pending", statuses=[waiting("ContainerCreating")]), "ContainerCreating", id="creating"),
            pytest.param(make_pod(phase="Pending", statuses=[waiting("ErrImagePull")]), "ErrImagePull", id="err-image-pull"),
            pytest.param(make_pod(phase="Pending", statuses=[waiting("ImagePullBackOff")]), "ImagePullBackOff", id="image-pull-backoff"),
            pytest.param(make_pod(statuses=[waiting("CrashLoopBackOff", 5)]), "CrashLoopBackOff", id="crashloop"),
            pytest.param(make_pod(statuses=[running()], conditions=READY_TRUE), "Running", id="running"),
            pytest.param(make_pod(phase="Succeeded", statuses=[terminated(0, "Completed")]), "Completed", id="completed"),
            pytest.param(make_pod(phase="Failed", statuses=[terminated(1, "Error")]), "Error", id="error"),
            pytest.param(make_pod(phase="Failed", statuses=[terminated(2)]), "ExitCode:2", id="exit-code"),
            pytest.param(make_pod(phase="Failed", statuses=[terminated(137, signal=9)]), "Signal:9", id="signal"),
            pytest.param(
                make_pod(phase="Pending", init=[{"name": "i0"}, {"name": "i1"}], init_statuses=[running(False)],
                         statuses=[waiting("PodInitializing")]),
                "Init:0/2",
                id="init-0-of-2",
            ),
            pytest.param(
                make_pod(phase="Pending", init=[{"name": "i0"}, {"name": "i1"}], init_statuses=[terminated(0, "Completed"), running(False)]),
                "Init:1/2",
                id="init-1-of-2",
            ),
            pytest.param(
                make_pod(phase="Pending", init=[{"name": "i0"}], init_statuses=[terminated(1, "Error")]),
                "Init:Error",
                id="init-error",
            ),
            pytest.param(
                make_pod(phase="Pending", init=[{"name": "i0"}], init_statuses=[waiting("CrashLoopBackOff", 3)]),
                "Init:CrashLoopBackOff",
                id="init-crashloop",
            ),
            pytest.param(
                make_pod(phase="Pending", init=[{"name": "i0"}], init_statuses=[terminated(3)]),
                "Init:ExitCode:3",
                id="init-exit-code",
            ),
            pytest.param(
                make_pod(phase="Pending", init=[{"name": "i0"}], init_statuses=[terminated(0, signal=15)]),
                "Pending",
                id="init-exit-zero-counts-as-done",
            ),
            pytest.param(
                make_pod(phase="Pending", init=[{"name": "i0"}], init_statuses=[waiting("PodInitializing")]),
                "Init:0/1",
                id="init-waiting-pod-initializing",
            ),
            pytest.param(
                make_pod(phase="Pending", init=[{"name": "i0"}], init_statuses=[terminated(0, "Completed")], statuses=[waiting("PodInitializing")]),
                "PodInitializing",
                id="pod-initializing",
            ),
            pytest.param(make_pod(statuses=[running()], deleting=True), "Terminating", id="terminating"),
            pytest.param(make_pod(phase="Pending", deleting=True), "Terminating", id="terminating-pending"),
            pytest.param(
                make_pod(phase="Succeeded", statuses=[terminated(0, "Completed")], deleting=True), "Completed", id="deleted-but-terminal"
            ),
            pytest.param(make_pod(reason="NodeLost", statuses=[running()], deleting=True), "Unknown", id="node-lost-deleting"),
            pytest.param(make_pod(reason="NodeLost", statuses=[running()]), "NodeLost", id="node-lost"),
            pytest.param(make_pod(phase="Failed", reason="Evicted"), "Evicted", id="evicted"),
            pytest.param(
                make_pod(containers=2, statuses=[terminated(0, "Completed"), running()]), "NotReady", id="completed-sidecar-not-ready"
            ),
            pytest.param(
                make_pod(containers=2, statuses=[terminated(0, "Completed"), running()], conditions=READY_TRUE),
                "Running",
                id="completed-sidecar-ready",
            ),
            pytest.param(
                make_pod(phase="Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
                "SchedulingGated",
                id="scheduling-gated",
            ),
            pytest.param(
                make_pod(statuses=[{"name": "c0", "ready": False, "state": {"running": {}}}]), "Running", id="running-not-ready"
            ),
        ],
    )
    def test_status(self, pod: dict[str, Any], expected: str) -> None:
        """The STATUS column for one pod state."""
        assert pod_status(pod) == expected


class TestPodRow:
    """READY and RESTARTS of pod rows (printPod's unit tests)."""

    def test_ready_counts_running_ready_containers(self) -> None:
        """Only containers both ready and running count as ready."""
        pod = make_pod(containers=2, phase="podPhase", statuses=[running(restarts=3), {"name": "c1", "ready": True, "restartCount": 3}])
        assert table_row(pod, wide=False, now=NOW)[1:4] == ["1/2", "podPhase", "6"]

    def test_restarts_show_when_the_last_one_was(self) -> None:
        """RESTARTS says how long ago the last restarted container last stopped."""
        pod = make_pod(statuses=[running(restarts=2, lastState={"terminated": {"exitCode": 1, "finishedAt": ts(15)}})])
        assert table_row(pod, wide=False, now=NOW)[3] == "2 (15s ago)"

    def test_restarts_of_several_containers_add_up(self) -> None:
        """Restarts add up; the most recent restart is the one shown."""
        statuses = [
            running(restarts=6, lastState={"terminated": {"finishedAt": ts(5 * 86400)}}),
            {**running(restarts=3, lastState={"terminated": {"finishedAt": ts(20 * 86400)}}), "name": "c1"},
        ]
        assert table_row(make_pod(containers=2, statuses=statuses), wide=False, now=NOW)[3] == "9 (5d ago)"

    def test_init_restarts_count_while_initializing(self) -> None:
        """While initializing, init container restarts are the ones shown."""
        pod = make_pod(
            phase="podPhase",
            init=[{"name": "i0"}, {"name": "i1"}],
            init_statuses=[
                {"name": "i0", "restartCount": 2, "state": {"terminated": {"exitCode": 0}}, "lastState": {"terminated": {"finishedAt": ts(120)}}},
                {"name": "i1", "restartCount": 3, "state": {"running": {}}, "lastState": {"terminated": {"finishedAt": ts(10)}}},
            ],
            statuses=[{"name": "c0", "state": {"waiting": {}}}],
        )
        assert table_row(pod, wide=False, now=NOW)[1:4] == ["0/1", "Init:1/2", "5 (10s ago)"]

    def test_init_restarts_drop_out_once_initialized(self) -> None:
        """After initialization only app containers' restarts count."""
        pod = make_pod(
            init=[{"name": "i0"}],
            init_statuses=[{"name": "i0", "restartCount": 2, "state": {"terminated": {"exitCode": 0}},
                            "lastState": {"terminated": {"finishedAt": ts(120)}}}],
            statuses=[running(False, restarts=4, lastState={"terminated": {"finishedAt": ts(20)}})],
        )
        assert table_row(pod, wide=False, now=NOW)[1:4] == ["0/1", "Running", "4 (20s ago)"]

    def test_started_sidecars_count_towards_ready(self) -> None:
        """Restartable init containers (sidecars) are part of READY."""
        pod = make_pod(
            init=[{"name": "proxy", "restartPolicy": "Always"}],
            init_statuses=[{"name": "proxy", "ready": True, "started": True, "restartCount": 0, "state": {"running": {}}}],
            statuses=[running()],
            conditions=[{"type": "Initialized", "status": "True"}, *READY_TRUE],
        )
        assert table_row(pod, wide=False, now=NOW)[1:3] == ["2/2", "Running"]

    def test_wide_columns(self) -> None:
        """-o wide adds IP, NODE, NOMINATED NODE and READINESS GATES."""
        pod = make_pod(statuses=[running()], podIPs=[{"ip": "127.244.1.5"}])
        pod["spec"]["nodeName"] = "node-1"
        pod["spec"]["readinessGates"] = [{"conditionType": "example.com/ready"}]
        pod["status"]["conditions"] = [{"type": "example.com/ready", "status": "True"}]
        assert table_row(pod, wide=True, now=NOW)[5:] == ["127.244.1.5", "node-1", "<none>", "1/1"]


def deployment(name: str, ready: int, replicas: int, created: float) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": ts(created)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": "nginx:1.25"}]}},
        },
        "status": {"replicas": replicas, "readyReplicas": ready, "updatedReplicas": replicas, "availableReplicas": ready},
    }


def node(name: str, ready: str | None, *, unschedulable: bool = False, labels: dict[str, str] | None = None) -> dict[str, Any]:
    conditions = [] if ready is None else [{"type": "Ready", "status": ready}]
    return {
        "kind": "Node",
        "metadata": {"name": name, "creationTimestamp": ts(3 * 86400), "labels": labels or {}},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": "127.0.1.1"}, {"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "kemu", "kernelVersion": "6.1.0", "containerRuntimeVersion": "kemu://0.1.0"},
        },
    }


def service(name: str, kind: str, ports: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": ts(3600)},
        "spec": {"type": kind, "clusterIP": "127.96.0.10", "clusterIPs": ["127.96.0.10"], "ports": ports, "selector": {"app": name}, **spec},
    }


def event(reason: str, message: str, *, kind: str = "Pod", name: str = "web-1", count: int = 1, first: float = 40,
          last: float = 12, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "Event",
        "metadata": {"name": f"{name}.17d", "namespace": "default"},
        "involvedObject": {"kind": kind, "name": name, "namespace": "default"},
        "reason": reason,
        "message": message,
        "type": "Normal",
        "count": count,
        "firstTimestamp": ts(first),
        "lastTimestamp": ts(last),
        "source": {"component": "kubelet", "host": "node-1"},
        **extra,
    }


def get(objs: list[dict[str, Any]], kind: str, **options: Any) -> str:
    options.setdefault("output", None)
    options.setdefault("wide", False)
    options.setdefault("all_namespaces", False)
    return print_objects(objs, kind=kind, now=NOW, **options).stdout


class TestTables:
    """Exact ``kubectl get`` tables, kind by kind."""

    def test_pods(self) -> None:
        """Pods: NAME READY STATUS RESTARTS AGE."""
        pods = [
            make_pod("web-1", statuses=[running()], conditions=READY_TRUE),
            make_pod("web-2", statuses=[waiting("CrashLoopBackOff", 5) | {"lastState": {"terminated": {"finishedAt": ts(30)}}}], created=150),
        ]
        assert get(pods, "Pod") == (
            "NAME    READY   STATUS             RESTARTS      AGE\n"
            "web-1   1/1     Running            0             10m\n"
            "web-2   0/1     CrashLoopBackOff   5 (30s ago)   2m30s\n"
        )

    def test_pods_wide_all_namespaces(self) -> None:
        """-A -o wide: NAMESPACE first, the wide columns last."""
        pod = make_pod("web-1", statuses=[running()], podIP="127.244.1.5")
        pod["spec"]["nodeName"] = "node-1"
        assert get([pod], "Pod", wide=True, all_namespaces=True) == (
            "NAMESPACE   NAME    READY   STATUS    RESTARTS   AGE   IP            NODE     NOMINATED NODE   READINESS GATES\n"
            "default     web-1   1/1     Running   0          10m   127.244.1.5   node-1   <none>           <none>\n"
        )

    def test_replicasets_wide(self) -> None:
        """ReplicaSets: DESIRED CURRENT READY AGE, then CONTAINERS IMAGES SELECTOR."""
        rs = {
            "kind": "ReplicaSet",
            "metadata": {"name": "web-5d4b7c9f8", "namespace": "default", "creationTimestamp": ts(300)},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d4b7c9f8"}},
                "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"}, {"name": "log", "image": "busybox"}]}},
            },
            "status": {"replicas": 3, "readyReplicas": 2},
        }
        assert get([rs], "ReplicaSet", wide=True) == (
            "NAME            DESIRED   CURRENT   READY   AGE   CONTAINERS   IMAGES               SELECTOR\n"
            "web-5d4b7c9f8   3         3         2       5m    web,log      nginx:1.25,busybox   app=web,pod-template-hash=5d4b7c9f8\n"
        )

    def test_deployments(self) -> None:
        """Deployments: READY is ready/desired."""
        assert get([deployment("web", 3, 3, 7200), deployment("api", 1, 2, 45)], "Deployment") == (
            "NAME   READY   UP-TO-DATE   AVAILABLE   AGE\n"
            "web    3/3     3            3           120m\n"
            "api    1/2     2            1           45s\n"
        )

    def test_deployments_wide_selector(self) -> None:
        """A deployment's wide SELECTOR is its label selector's string."""
        row = table_row(deployment("web", 3, 3, 7200), wide=True, now=NOW)
        assert row[5:] == ["web", "nginx:1.25", "app=web"]

    def test_services(self) -> None:
        """Services: ports as ``port:nodePort/protocol``, LoadBalancers pending."""
        services = [
            service("web", "NodePort", [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]),
            service("db", "ClusterIP", [{"port": 5432, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]),
            service("lb", "LoadBalancer", [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]),
            service("headless", "ClusterIP", [], clusterIP="None", clusterIPs=["None"]),
        ]
        assert get(services, "Service") == (
            "NAME       TYPE           CLUSTER-IP    EXTERNAL-IP   PORT(S)           AGE\n"
            "web        NodePort       127.96.0.10   <none>        80:30080/TCP      60m\n"
            "db         ClusterIP      127.96.0.10   <none>        5432/TCP,53/UDP   60m\n"
            "lb         LoadBalancer   127.96.0.10   <pending>     443:31443/TCP     60m\n"
            "headless   ClusterIP      None          <none>        <none>            60m\n"
        )

    def test_services_wide_selector(self) -> None:
        """-o wide adds the selector as ``key=value`` pairs."""
        assert table_row(service("web", "ClusterIP", []), wide=True, now=NOW)[-1] == "app=web"

    def test_endpoints(self) -> None:
        """Endpoints: at most three addresses, then ``+ N more...``."""
        four = {
            "metadata": {"name": "web", "creationTimestamp": ts(60)},
            "subsets": [{"addresses": [{"ip": f"127.244.1.{i}"} for i in range(1, 5)], "ports": [{"port": 80}]}],
        }
        empty = {"metadata": {"name": "idle", "creationTimestamp": ts(60)}}
        assert get([four, empty], "Endpoints") == (
            "NAME   ENDPOINTS                                                  AGE\n"
            "web    127.244.1.1:80,127.244.1.2:80,127.244.1.3:80 + 1 more...   60s\n"
            "idle   <none>                                                     60s\n"
        )

    def test_nodes(self) -> None:
        """Nodes: Ready/NotReady/Unknown, SchedulingDisabled, roles from labels."""
        nodes = [
            node("node-1", "True", labels={"node-role.kubernetes.io/control-plane": ""}),
            node("node-2", "False"),
            node("node-3", "Unknown", unschedulable=True),
            node("node-4", None, labels={"kubernetes.io/role": "worker"}),
        ]
        assert get(nodes, "Node", all_namespaces=True) == (
            "NAME     STATUS                        ROLES           AGE   VERSION\n"
            "node-1   Ready                         control-plane   3d    v1.32.0\n"
            "node-2   NotReady                      <none>          3d    v1.32.0\n"
            "node-3   NotReady,SchedulingDisabled   <none>          3d    v1.32.0\n"
            "node-4   Unknown                       worker          3d    v1.32.0\n"
        )

    def test_nodes_wide(self) -> None:
        """-o wide adds addresses and system info."""
        assert table_row(node("node-1", "True"), wide=True, now=NOW)[5:] == ["127.0.1.1", "<none>", "kemu", "6.1.0", "kemu://0.1.0"]

    def test_namespaces(self) -> None:
        """Namespaces: NAME STATUS AGE, never a NAMESPACE column."""
        namespaces = [
            {"metadata": {"name": "default", "creationTimestamp": ts(86400)}, "status": {"phase": "Active"}},
            {"metadata": {"name": "old", "creationTimestamp": ts(90)}, "status": {"phase": "Terminating"}},
        ]
        assert get(namespaces, "Namespace", all_namespaces=True) == (
            "NAME      STATUS        AGE\n"
            "default   Active        24h\n"
            "old       Terminating   90s\n"
        )

    def test_events(self) -> None:
        """Events: LAST SEEN TYPE REASON OBJECT MESSAGE."""
        events = [
            event("Scheduled", "Successfully assigned default/web-1 to node-1", first=40, last=40),
            event("BackOff", "Back-off restarting failed container web in pod web-1_default(u1)", count=7, last=12, type="Warning"),
        ]
        assert get(events, "Event") == (
            "LAST SEEN   TYPE      REASON      OBJECT      MESSAGE\n"
            "40s         Normal    Scheduled   pod/web-1   Successfully assigned default/web-1 to node-1\n"
            "12s         Warning   BackOff     pod/web-1   Back-off restarting failed container web in pod web-1_default(u1)\n"
        )

    def test_events_all_namespaces_and_wide(self) -> None:
        """-A prepends NAMESPACE; -o wide interleaves SUBOBJECT, SOURCE, FIRST SEEN, COUNT, NAME."""
        ev = event("Pulled", "Container image \"nginx\" already present", count=2, first=300, last=30)
        ev["involvedObject"]["fieldPath"] = "spec.containers{web}"
        assert table_columns("Event", True, all_namespaces=True) == [
            "NAMESPACE", "LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME",
        ]
        assert table_row(ev, wide=True, now=NOW, all_namespaces=True) == [
            "default", "30s", "Normal", "Pulled", "pod/web-1", "spec.containers{web}", "kubelet, node-1",
            'Container image "nginx" already present', "5m", "2", "web-1.17d",
        ]

    def test_event_without_last_timestamp_uses_first(self) -> None:
        """An event with only firstTimestamp (or only eventTime) ages from it."""
        ev = {"involvedObject": {"kind": "Node", "name": "node-1"}, "eventTime": "2024-06-01T11:59:00.000000Z", "reason": "R", "type": "Normal"}
        assert table_row(ev, wide=False, now=NOW, kind="Event") == ["60s", "Normal", "R", "node/node-1", ""]

    def test_configmaps_and_leases(self) -> None:
        """ConfigMaps count their keys; Leases show their holder."""
        cm = {"metadata": {"name": "site", "creationTimestamp": ts(60)}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
        lease = {"metadata": {"name": "node-1", "creationTimestamp": ts(60)}, "spec": {"holderIdentity": "node-1"}}
        assert get([cm], "ConfigMap") == "NAME   DATA   AGE\nsite   3      60s\n"
        assert get([lease], "Lease") == "NAME     HOLDER   AGE\nnode-1   node-1   60s\n"

    def test_several_kinds_show_their_resource(self) -> None:
        """With several kinds (``get all``), names read ``deployment.apps/web``."""
        assert get([deployment("web", 3, 3, 60)], "Deployment", show_kind=True) == (
            "NAME                  READY   UP-TO-DATE   AVAILABLE   AGE\n"
            "deployment.apps/web   3/3     3            3           60s\n"
        )

    def test_show_labels(self) -> None:
        """--show-labels appends a LABELS column."""
        pod = make_pod(statuses=[running()])
        pod["metadata"]["labels"] = {"tier": "web", "app": "shop"}
        assert get([pod], "Pod", show_labels=True).splitlines()[1].endswith("   10m   app=shop,tier=web")


class TestEmptyResults:
    """``No resources found`` goes to stderr, as kubectl writes it."""

    def test_namespaced_kind(self) -> None:
        """A namespaced kind names the namespace."""
        result = print_objects([], output=None, kind="Pod", wide=False, all_namespaces=False, now=NOW, namespace="shop")
        assert (result.stdout, result.stderr) == ("", "No resources found in shop namespace.\n")

    def test_all_namespaces_and_cluster_scoped(self) -> None:
        """-A and cluster-scoped kinds say only ``No resources found``."""
        assert print_objects([], output=None, kind="Pod", wide=False, all_namespaces=True, now=NOW).stderr == "No resources found\n"
        assert print_objects([], output=None, kind="Node", wide=False, all_namespaces=False, now=NOW).stderr == "No resources found\n"

    def test_yaml_of_nothing_is_an_empty_list(self) -> None:
        """-o yaml prints an empty List and no note."""
        result = print_objects([], output="yaml", kind="Pod", wide=False, all_namespaces=False, now=NOW)
        assert (result.stdout, result.stderr) == ('apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: ""\n', "")


SMALL_POD: dict[str, Any] = {
    "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}, "annotations": {"note": "<b>&</b>", "replicas": "3"}},
    "spec": {"containers": [{"name": "web", "image": "nginx"}]},
    "status": {"phase": "Running", "podIP": "127.244.1.5", "conditions": [{"type": "Ready", "status": "True"}]},
}


class TestOutputFormats:
    """``-o yaml|json|name|jsonpath|custom-columns``."""

    def test_yaml_single_object(self) -> None:
        """One object is printed as itself, keys sorted, ambiguous strings double-quoted."""
        assert get([SMALL_POD], "Pod", output="yaml") == (
            "apiVersion: v1\n"
            "kind: Pod\n"
            "metadata:\n"
            "  annotations:\n"
            "    note: <b>&</b>\n"
            '    replicas: "3"\n'
            "  labels:\n"
            "    app: web\n"
            "  name: web-1\n"
            "  namespace: default\n"
            "spec:\n"
            "  containers:\n"
            "  - image: nginx\n"
            "    name: web\n"
            "status:\n"
            "  conditions:\n"
            '  - status: "True"\n'
            "    type: Ready\n"
            "  phase: Running\n"
            "  podIP: 127.244.1.5\n"
        )

    def test_yaml_several_objects_make_a_list(self) -> None:
        """Several objects are wrapped in a v1 List."""
        ns = [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]
        assert get(ns, "Namespace", output="yaml") == (
            "apiVersion: v1\n"
            "items:\n"
            "- apiVersion: v1\n"
            "  kind: Namespace\n"
            "  metadata:\n"
            "    name: a\n"
            "- apiVersion: v1\n"
            "  kind: Namespace\n"
            "  metadata:\n"
            "    name: b\n"
            "kind: List\n"
            "metadata:\n"
            '  resourceVersion: ""\n'
        )

    def test_yaml_multiline_strings_are_literal_blocks(self) -> None:
        """Multi-line strings print as ``|`` blocks, as go-yaml writes them."""
        cm = {"metadata": {"name": "c"}, "data": {"index.html": "<h1>hi</h1>\n<p>there</p>\n"}}
        assert get([cm], "ConfigMap", output="yaml") == (
            "apiVersion: v1\n"
            "data:\n"
            "  index.html: |\n"
            "    <h1>hi</h1>\n"
            "    <p>there</p>\n"
            "kind: ConfigMap\n"
            "metadata:\n"
            "  name: c\n"
        )

    def test_json_is_indented_by_four_with_go_escapes(self) -> None:
        """JSON: four-space indent, sorted keys, ``<``, ``>`` and ``&`` escaped as Go does."""
        lease = {"metadata": {"name": "n<1>&"}, "spec": {"leaseDurationSeconds": 40}}
        assert get([lease], "Lease", output="json") == (
            "{\n"
            '    "apiVersion": "coordination.k8s.io/v1",\n'
            '    "kind": "Lease",\n'
            '    "metadata": {\n'
            '        "name": "n\\u003c1\\u003e\\u0026"\n'
            "    },\n"
            '    "spec": {\n'
            '        "leaseDurationSeconds": 40\n'
            "    }\n"
            "}\n"
        )

    def test_json_list_when_asked_for_a_list(self) -> None:
        """``as_list=True`` (no names given) makes even one object a List."""
        text = get([{"metadata": {"name": "a"}}], "Namespace", output="json", as_list=True)
        assert text.startswith('{\n    "apiVersion": "v1",\n    "items": [\n')
        assert text.endswith('    "kind": "List",\n    "metadata": {\n        "resourceVersion": ""\n    }\n}\n')

    def test_name(self) -> None:
        """-o name prints ``resource/name``, the group included."""
        assert get([deployment("web", 1, 1, 1)], "Deployment", output="name") == "deployment.apps/web\n"
        assert get([SMALL_POD, SMALL_POD], "Pod", output="name") == "pod/web-1\npod/web-1\n"

    @pytest.mark.parametrize(
        ("template", "expected"),
        [
            ("{.metadata.name}", "web-1"),
            ("{.status.podIP}", "127.244.1.5"),
            ("name={.metadata.name} ip={.status.podIP}", "name=web-1 ip=127.244.1.5"),
            ("{.metadata.labels}", '{"app":"web"}'),
            ("{.metadata.annotations.note}", "<b>&</b>"),
            ('{.status.conditions[?(@.type=="Ready")].status}', "True"),
            ("{.spec.containers[0].image}", "nginx"),
            ("{.spec.containers[-1].name}", "web"),
            ("{.spec.containers[*].name}", "web"),
            ("{.status.missing}", ""),
            ("{$.kind}", "Pod"),
            ("{..image}", "nginx"),
        ],
    )
    def test_jsonpath_on_one_object(self, template: str, expected: str) -> None:
        """JSONPath on a single object (``get pod web-1 -o jsonpath=...``)."""
        assert get([SMALL_POD], "Pod", output=f"jsonpath={template}") == expected

    @pytest.mark.parametrize(
        ("template", "expected"),
        [
            ("{.items[*].metadata.name}", "a b c"),
            ('{range .items[*]}{.metadata.name}{"\\n"}{end}', "a\nb\nc\n"),
            ('{range .items[*]}{.metadata.name}{"\\t"}{.metadata.labels.app\\.kubernetes\\.io/name}{"\\n"}{end}', "a\tx\nb\t\nc\ty\n"),
            ("{.items[0:2].metadata.name}", "a b"),
            ("{.items[?(@.metadata.name!=\"b\")].metadata.name}", "a c"),
        ],
    )
    def test_jsonpath_on_a_list(self, template: str, expected: str) -> None:
        """JSONPath on a List of objects (``get pods -o jsonpath=...``)."""
        objs: list[dict[str, Any]] = [
            {"metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "x"}}},
            {"metadata": {"name": "b"}},
            {"metadata": {"name": "c", "labels": {"app.kubernetes.io/name": "y"}}},
        ]
        assert get(objs, "Pod", output=f"jsonpath={template}") == expected

    def test_jsonpath_over_items_sees_a_list_even_for_one_object(self) -> None:
        """A template walking ``.items`` gets a List even when one object was found."""
        assert get([SMALL_POD], "Pod", output="jsonpath={.items[*].metadata.name}") == "web-1"
        assert get([SMALL_POD], "Pod", output='jsonpath={range .items[*]}{.status.podIP}{"\\n"}{end}') == "127.244.1.5\n"

    def test_yaml_quotes_what_go_yaml_would_read_back_otherwise(self) -> None:
        """Numbers, booleans (``y`` too), nulls, floats and timestamps in strings are double-quoted."""
        cm = {"metadata": {"name": "c"}, "data": {"a": "y", "b": "1e3", "c": "null", "d": "2024-06-01T12:00:00Z", "e": "", "f": "- x", "g": "web"}}
        assert get([cm], "ConfigMap", output="yaml").split("kind:")[0] == (
            "apiVersion: v1\n"
            "data:\n"
            '  a: "y"\n'
            '  b: "1e3"\n'
            '  c: "null"\n'
            '  d: "2024-06-01T12:00:00Z"\n'
            '  e: ""\n'
            "  f: '- x'\n"
            "  g: web\n"
        )

    def test_custom_columns(self) -> None:
        """custom-columns: headers as written, ``<none>`` for missing, lists joined by commas."""
        pods = [
            {"metadata": {"name": "a"}, "spec": {"nodeName": "node-1", "containers": [{"image": "nginx"}, {"image": "busybox"}]}},
            {"metadata": {"name": "b"}, "spec": {"containers": [{"image": "nginx"}]}},
        ]
        spec = "custom-columns=NAME:.metadata.name,Node:spec.nodeName,IMAGES:{.spec.containers[*].image}"
        assert get(pods, "Pod", output=spec) == "NAME   Node     IMAGES\na      node-1   nginx,busybox\nb      <none>   nginx\n"

    def test_unknown_format_is_refused(self) -> None:
        """An -o kubectl does not know is a ValueError naming the allowed ones."""
        with pytest.raises(ValueError, match='unable to match a printer suitable for the output format "toml"'):
            get([SMALL_POD], "Pod", output="toml")


class TestWatch:
    """``kubectl get -w`` lines."""

    def test_headers_once_and_columns_kept(self) -> None:
        """With one WatchState headers print once and later rows stay in columns."""
        state = WatchState()
        first = watch_row(make_pod("web-5d4b7c9f8-x2x7k", phase="Pending"), "ADDED", kind="Pod", now=NOW, state=state)
        second = watch_row(make_pod("web-1", statuses=[running()]), "MODIFIED", kind="Pod", now=NOW, state=state)
        assert first == (
            "NAME                  READY   STATUS    RESTARTS   AGE\n"
            "web-5d4b7c9f8-x2x7k   0/1     Pending   0          10m\n"
        )
        assert second == "web-1                 1/1     Running   0          10m\n"

    def test_listing_then_watching_share_columns(self) -> None:
        """The initial listing and the watch lines share one layout."""
        state = WatchState()
        listing = print_objects([make_pod("web-long-name")], output=None, kind="Pod", wide=False, all_namespaces=False, now=NOW, watch_state=state)
        line = watch_row(make_pod("a", phase="Pending"), "ADDED", kind="Pod", now=NOW, state=state)
        assert listing.stdout.splitlines()[0] == "NAME            READY   STATUS    RESTARTS   AGE"
        assert line == "a               0/1     Pending   0          10m\n"

    def test_stateless_headers_flag(self) -> None:
        """Without a state, ``headers`` says whether to print the header line."""
        pod = make_pod("web-1", phase="Pending")
        assert watch_row(pod, "ADDED", kind="Pod", now=NOW, headers=True).count("\n") == 2
        assert watch_row(pod, "ADDED", kind="Pod", now=NOW, headers=False) == "web-1   0/1   Pending   0     10m\n"

    def test_output_watch_events_adds_event_column(self) -> None:
        """--output-watch-events prefixes each row with the event type."""
        text = watch_row(make_pod("web-1", phase="Pending"), "DELETED", kind="Pod", now=NOW, headers=True, output_watch_events=True)
        assert text == "EVENT     NAME    READY   STATUS    RESTARTS   AGE\nDELETED   web-1   0/1     Pending   0          10m\n"


class TestHelpers:
    """Small formatting helpers shared with describe."""

    @pytest.mark.parametrize(
        ("selector", "expected"),
        [
            (None, ""),
            ({}, ""),
            ({"matchLabels": {"tier": "web", "app": "shop"}}, "app=shop,tier=web"),
            (
                {"matchLabels": {"app": "shop"}, "matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["prod", "dev"]}, {"key": "canary", "operator": "DoesNotExist"}]},
                "app=shop,!canary,env in (dev,prod)",
            ),
            ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b"]}, {"key": "gpu", "operator": "Exists"}]},
             "gpu,zone notin (b)"),
        ],
    )
    def test_label_selector_string(self, selector: dict[str, Any] | None, expected: str) -> None:
        """Selectors print as ``labels.Selector.String()``: requirements sorted by key."""
        assert label_selector_string(selector) == expected

    def test_format_label_selector_empty(self) -> None:
        """An empty selector formats as ``<none>``."""
        assert format_label_selector({}) == "<none>"

    def test_format_endpoints_filters_ports_by_name(self) -> None:
        """describe service shows only the endpoints of the port's name."""
        eps = {"subsets": [{"addresses": [{"ip": "127.244.1.1"}], "ports": [{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}]}]}
        assert format_endpoints(eps, {"metrics"}) == "127.244.1.1:9090"
        assert format_endpoints(eps) == "127.244.1.1:80,127.244.1.1:9090"

    def test_resource_name(self) -> None:
        """Kinds of API groups carry their group."""
        assert [printers.resource_name(k) for k in ("Pod", "ReplicaSet", "Lease")] == ["pod", "replicaset.apps", "lease.coordination.k8s.io"]
