"""The HTTP front door, driven by the official Kubernetes Python client.

A real apiserver and a real ``python -m apiserver.http`` run per test; the
client talks plain HTTP with a bearer token (the Python client sends it over
HTTP; kubectl only over HTTPS, see test_kubectl.py).
"""

# The official client's models are typed; these tests pass plain dicts (as its
# docs allow) and read optional fields directly, so mypy's strictness about
# both is relaxed here.
# mypy: disable-error-code="arg-type,union-attr,index,attr-defined"

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

kubernetes = pytest.importorskip("kubernetes", reason="the official client is in the test extra: pip install -e '.[test]'")

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch

from apiserver.http.kubeletproxy import exec_status
from apiserver.http.testing import HttpFrontDoor
from kemu import testing
from kemu.api import errors
from kemu.client import Client
from kemu.kubeletclient import ExecResult, LogShaper, parse_rfc3339
from kemu.procs import wait_for
from kemu.testing import ApiServerProcess, container
from kemu.types import Obj

pytestmark = pytest.mark.timeout(90)

TOKEN = "s3cr3t-token"


@pytest.fixture
def front_door(apiserver: ApiServerProcess, short_tmp: Path) -> Iterator[HttpFrontDoor]:
    door = HttpFrontDoor(short_tmp, apiserver.address, token=TOKEN, extra_args=["--bookmark-interval", "1"])
    try:
        door.start()
        yield door
    finally:
        door.stop()
        door.kill()


@pytest.fixture
def api(front_door: HttpFrontDoor) -> Iterator[k8s.ApiClient]:
    config = k8s.Configuration(host=front_door.url)
    config.api_key = {"authorization": "Bearer " + TOKEN}
    with k8s.ApiClient(config) as api_client:
        yield api_client


@pytest.fixture
def core(api: k8s.ApiClient) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(api)


@pytest.fixture
def apps(api: k8s.ApiClient) -> k8s.AppsV1Api:
    return k8s.AppsV1Api(api)


def deployment(name: str, replicas: int = 2, image: str = "nginx:1.25") -> Obj:
    return testing.deployment(name, replicas=replicas, object_labels=True,
                              containers=[container("web", image, ports=[{"containerPort": 80}])])


def raw(
    door: HttpFrontDoor,
    method: str,
    path: str,
    body: Any = None,
    *,
    content_type: str = "application/json",
    accept: str | None = None,
    token: str | None = TOKEN,
) -> tuple[int, Any, dict[str, str]]:
    """One request without the client library: ``(code, decoded body, headers)``."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(door.url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if accept:
        request.add_header("Accept", accept)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            code, payload, headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        code, payload, headers = exc.code, exc.read(), dict(exc.headers)
    try:
        return code, json.loads(payload), headers
    except ValueError:
        return code, payload.decode(), headers


def watch_events(door: HttpFrontDoor, path: str) -> list[dict[str, Any]]:
    """The events of one watch request, read until the server ends the stream."""
    request = urllib.request.Request(door.url + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return [json.loads(line) for line in response.read().splitlines() if line.strip()]


def status_of(exc: k8s.ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


class TestDiscovery:
    def test_version_reports_kubernetes_1_32(self, api: k8s.ApiClient) -> None:
        """/version answers with a 1.32 gitVersion."""
        info = k8s.VersionApi(api).get_code()
        assert (info.major, info.minor, info.git_version) == ("1", "32", "v1.32.0-kemu")

    def test_group_and_resource_discovery(self, api: k8s.ApiClient) -> None:
        """/apis lists apps and coordination.k8s.io; /apis/apps/v1 lists deployments and their scale."""
        groups = {g.name for g in k8s.ApisApi(api).get_api_versions().groups}
        assert {"apps", "coordination.k8s.io"} <= groups
        resources = {r.name: r for r in k8s.AppsV1Api(api).get_api_resources().resources}
        assert resources["deployments"].kind == "Deployment"
        assert resources["deployments/scale"].kind == "Scale"
        assert resources["deployments/scale"].group == "autoscaling"
        core = {r.name for r in k8s.CoreV1Api(api).get_api_resources().resources}
        assert {"pods", "services", "configmaps", "namespaces", "pods/binding", "pods/status"} <= core

    def test_aggregated_discovery_has_its_content_type(self, front_door: HttpFrontDoor) -> None:
        """kubectl's Accept gets the apidiscovery.k8s.io/v2 document and Content-Type."""
        accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        code, doc, headers = raw(front_door, "GET", "/apis", accept=accept)
        assert code == 200
        assert headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        assert doc["kind"] == "APIGroupDiscoveryList"
        assert [i["metadata"]["name"] for i in doc["items"]] == [
            "apps", "authentication.k8s.io", "authorization.k8s.io", "coordination.k8s.io",
            "networking.k8s.io", "rbac.authorization.k8s.io", "scheduling.k8s.io", "metrics.k8s.io",
        ]

    def test_health_endpoints_need_no_token(self, front_door: HttpFrontDoor) -> None:
        """/healthz, /livez and /readyz answer "ok" without a token."""
        for path in ("/healthz", "/livez", "/readyz"):
            assert raw(front_door, "GET", path, token=None)[:2] == (200, "ok")

    def test_openapi_documents(self, front_door: HttpFrontDoor) -> None:
        """/openapi/v2 is JSON with kemu's definitions; /openapi/v3 links one document per group version."""
        code, v2, _ = raw(front_door, "GET", "/openapi/v2", accept="application/json")
        assert code == 200 and "io.k8s.api.apps.v1.Deployment" in v2["definitions"]
        assert raw(front_door, "GET", "/openapi/v2", accept="application/com.github.proto-openapi.spec.v2@v1.0+protobuf")[0] == 406
        code, index, _ = raw(front_door, "GET", "/openapi/v3")
        assert set(index["paths"]) == {
            "api/v1", "apis/apps/v1", "apis/authentication.k8s.io/v1", "apis/authorization.k8s.io/v1",
            "apis/coordination.k8s.io/v1",
            "apis/networking.k8s.io/v1", "apis/rbac.authorization.k8s.io/v1", "apis/scheduling.k8s.io/v1",
        }
        code, apps_doc, _ = raw(front_door, "GET", index["paths"]["apis/apps/v1"]["serverRelativeURL"])
        assert code == 200 and "io.k8s.api.apps.v1.Deployment" in apps_doc["components"]["schemas"]


class TestCrud:
    def test_configmap_create_list_patch_replace_delete(self, core: k8s.CoreV1Api) -> None:
        """A ConfigMap goes through every verb and comes back as written."""
        body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="settings", labels={"tier": "web"}), data={"a": "1"})
        created = core.create_namespaced_config_map("default", body)
        assert created.metadata.uid and created.data == {"a": "1"}
        listing = core.list_namespaced_config_map("default", label_selector="tier=web")
        assert [c.metadata.name for c in listing.items] == ["settings"]
        assert int(listing.metadata.resource_version) >= int(created.metadata.resource_version)
        patched = core.patch_namespaced_config_map("settings", "default", {"data": {"b": "2"}})
        assert patched.data == {"a": "1", "b": "2"}
        patched.data = {"c": "3"}
        replaced = core.replace_namespaced_config_map("settings", "default", patched)
        assert replaced.data == {"c": "3"}
        core.delete_namespaced_config_map("settings", "default")
        with pytest.raises(k8s.ApiException) as err:
            core.read_namespaced_config_map("settings", "default")
        assert err.value.status == 404

    def test_list_items_have_no_kind_and_pages_with_continue(self, core: k8s.CoreV1Api, front_door: HttpFrontDoor) -> None:
        """Lists are <Kind>List with bare items, paged by limit and continue."""
        for i in range(5):
            core.create_namespaced_config_map("default", {"metadata": {"name": f"cm-{i}"}})
        code, page, _ = raw(front_door, "GET", "/api/v1/namespaces/default/configmaps?limit=2")
        assert (code, page["kind"], len(page["items"])) == (200, "ConfigMapList", 2)
        assert "kind" not in page["items"][0] and "apiVersion" not in page["items"][0]
        names = []
        token = None
        while True:
            result = core.list_namespaced_config_map("default", limit=2, _continue=token)
            names += [c.metadata.name for c in result.items]
            token = result.metadata._continue
            if not token:
                break
        assert names == [f"cm-{i}" for i in range(5)]

    def test_deployment_create_patch_and_scale_subresource(self, apps: k8s.AppsV1Api) -> None:
        """Deployments take strategic merge patches, and scale through autoscaling/v1 Scale."""
        apps.create_namespaced_deployment("default", deployment("web"))
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}}
        patched = apps.patch_namespaced_deployment("web", "default", patch)
        assert patched.spec.template.spec.containers[0].image == "nginx:1.26"
        assert patched.spec.template.spec.containers[0].ports[0].container_port == 80
        scale = apps.read_namespaced_deployment_scale("web", "default")
        assert (scale.spec.replicas, scale.status.selector) == (2, "app=web")
        assert apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 5}}).spec.replicas == 5
        scale = k8s.V1Scale(metadata=k8s.V1ObjectMeta(name="web"), spec=k8s.V1ScaleSpec(replicas=3))
        assert apps.replace_namespaced_deployment_scale("web", "default", scale).spec.replicas == 3
        assert apps.read_namespaced_deployment("web", "default").spec.replicas == 3
        apps.delete_namespaced_deployment("web", "default")
        assert apps.list_namespaced_deployment("default").items == []

    def test_service_gets_a_cluster_ip(self, core: k8s.CoreV1Api) -> None:
        """A Service is created with an allocated ClusterIP, patched, and deleted."""
        svc = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
        created = core.create_namespaced_service("default", svc)
        assert created.spec.cluster_ip and created.spec.ports[0].target_port == 80
        patched = core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"x": "y"}}})
        assert patched.metadata.labels == {"x": "y"} and patched.spec.cluster_ip == created.spec.cluster_ip
        core.delete_namespaced_service("web", "default")
        assert core.list_namespaced_service("default").items == []

    def test_pod_binding_and_status(self, core: k8s.CoreV1Api) -> None:
        """A pod is bound to a node through pods/binding and its status patched through pods/status."""
        pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        assert core.create_namespaced_pod("default", pod).status.phase == "Pending"
        binding = {"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "node-1"}}
        # The apiserver answers a binding with a Success Status, which this client
        # cannot read as a V1Binding (kubernetes-client/python#825): take it raw.
        answer = core.create_namespaced_pod_binding("p", "default", binding, _preload_content=False)
        assert json.loads(answer.data)["status"] == "Success"
        assert core.read_namespaced_pod("p", "default").spec.node_name == "node-1"
        status = core.patch_namespaced_pod_status("p", "default", {"status": {"phase": "Running"}})
        assert status.status.phase == "Running"
        assert [p.metadata.name for p in core.list_pod_for_all_namespaces().items] == ["p"]
        core.delete_namespaced_pod("p", "default", grace_period_seconds=0)
        wait_for(lambda: not core.list_namespaced_pod("default").items, 10, message="the pod to go")

    def test_dry_run_persists_nothing(self, core: k8s.CoreV1Api) -> None:
        """dryRun=All answers as if created, and nothing is stored."""
        created = core.create_namespaced_config_map("default", {"metadata": {"name": "ghost"}}, dry_run="All")
        assert created.metadata.name == "ghost"
        assert core.list_namespaced_config_map("default").items == []

    def test_delete_collection_by_label(self, core: k8s.CoreV1Api) -> None:
        """deletecollection removes what the selector picks and nothing else."""
        for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
            core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": {"tier": tier}}})
        core.delete_collection_namespaced_config_map("default", label_selector="tier=x")
        assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == ["c"]

    def test_unknown_fields_are_dropped_with_a_warning_by_default(self, front_door: HttpFrontDoor) -> None:
        """Without fieldValidation an unknown field is dropped and named in a Warning; Strict rejects it."""
        body = {"metadata": {"name": "w"}, "data": {"a": "1"}, "bogus": 1}
        code, obj, headers = raw(front_door, "POST", "/api/v1/namespaces/default/configmaps", body)
        assert code == 201 and "bogus" not in obj
        assert 'unknown field \\"bogus\\"' in headers["Warning"]
        body["metadata"]["name"] = "s"
        code, status, _ = raw(front_door, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", body)
        assert (code, status["reason"]) == (400, "BadRequest")
        assert 'unknown field "bogus"' in status["message"]

    def test_server_side_apply_creates_then_merges(self, front_door: HttpFrontDoor) -> None:
        """An apply patch creates the object, then merges a changed configuration into it."""
        path = "/api/v1/namespaces/default/configmaps/applied?fieldManager=test"
        manifest = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: '1'\n"
        code, obj, _ = raw(front_door, "PATCH", path, manifest, content_type="application/apply-patch+yaml")
        assert (code, obj["data"]) == (201, {"a": "1"})
        code, obj, _ = raw(
            front_door, "PATCH", path, manifest.replace(b"'1'", b"'2'"), content_type="application/apply-patch+yaml"
        )
        assert (code, obj["data"]) == (200, {"a": "2"})


class TestErrors:
    def test_not_found_is_a_404_status(self, core: k8s.CoreV1Api) -> None:
        """A missing object is ApiException 404 with reason NotFound."""
        with pytest.raises(k8s.ApiException) as err:
            core.read_namespaced_config_map("missing", "default")
        assert err.value.status == 404
        assert status_of(err.value)["reason"] == "NotFound"
        assert status_of(err.value)["message"] == 'configmaps "missing" not found'

    def test_invalid_object_is_a_422_naming_the_field(self, apps: k8s.AppsV1Api) -> None:
        """A negative replica count is 422 Invalid with the field path in its causes."""
        with pytest.raises(k8s.ApiException) as err:
            apps.create_namespaced_deployment("default", deployment("bad", replicas=-1))
        status = status_of(err.value)
        assert (err.value.status, status["reason"]) == (422, "Invalid")
        assert status["details"]["causes"][0]["field"] == "spec.replicas"

    def test_conflicts(self, core: k8s.CoreV1Api) -> None:
        """A second create is 409 AlreadyExists; a stale resourceVersion is 409 Conflict."""
        first = core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
        with pytest.raises(k8s.ApiException) as err:
            core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
        assert (err.value.status, status_of(err.value)["reason"]) == (409, "AlreadyExists")
        core.patch_namespaced_config_map("c", "default", {"data": {"x": "1"}})
        with pytest.raises(k8s.ApiException) as err:
            core.replace_namespaced_config_map("c", "default", first)
        assert (err.value.status, status_of(err.value)["reason"]) == (409, "Conflict")

    def test_bad_requests(self, front_door: HttpFrontDoor) -> None:
        """Bad selectors, bodies and patch types are 400 and 415 Statuses, and the server lives on."""
        code, status, _ = raw(front_door, "GET", "/api/v1/pods?labelSelector=a%20in%20(")
        assert (code, status["kind"], status["reason"]) == (400, "Status", "BadRequest")
        code, status, _ = raw(front_door, "POST", "/api/v1/namespaces/default/configmaps", b"{not json")
        assert (code, status["reason"]) == (400, "BadRequest")
        code, status, _ = raw(
            front_door, "PATCH", "/api/v1/namespaces/default/configmaps/x", {}, content_type="text/csv"
        )
        assert (code, status["reason"]) == (415, "UnsupportedMediaType")
        code, status, _ = raw(front_door, "PUT", "/api/v1/namespaces/default/configmaps", {})
        assert (code, status["reason"]) == (405, "MethodNotAllowed")
        code, status, _ = raw(front_door, "GET", "/apis/apps/v1/namespaces/default/widgets")
        assert (code, status["reason"]) == (404, "NotFound")
        assert raw(front_door, "GET", "/healthz", token=None)[0] == 200

    def test_token_is_required(self, front_door: HttpFrontDoor) -> None:
        """No token or a wrong one is 401 Unauthorized."""
        for token in (None, "wrong"):
            code, status, _ = raw(front_door, "GET", "/api/v1/namespaces", token=token)
            assert (code, status["reason"]) == (401, "Unauthorized")

    def test_pod_log_checks_what_the_apiserver_checks(self, core: k8s.CoreV1Api, front_door: HttpFrontDoor) -> None:
        """pods/log of an unscheduled pod is empty; a pod of two needs a container; bad options are 422."""
        core.create_namespaced_pod("default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        assert core.read_namespaced_pod_log("p", "default") == ""
        two = [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]
        core.create_namespaced_pod("default", {"metadata": {"name": "two"}, "spec": {"containers": two}})
        with pytest.raises(k8s.ApiException) as err:
            core.read_namespaced_pod_log("two", "default")
        assert (err.value.status, status_of(err.value)["message"]) == (
            400, "a container name must be specified for pod two, choose one of: [a b]"
        )
        with pytest.raises(k8s.ApiException) as err:
            core.read_namespaced_pod_log("two", "default", container="nope")
        assert status_of(err.value)["message"] == "container nope is not valid for pod two"
        code, status, _ = raw(front_door, "GET", "/api/v1/namespaces/default/pods/p/log?tailLines=-1")
        assert (code, status["reason"]) == (422, "Invalid")
        assert status["message"] == 'PodLogOptions "p" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0'

    def test_pod_exec_needs_a_host_and_a_websocket(self, core: k8s.CoreV1Api, front_door: HttpFrontDoor) -> None:
        """pods/exec of an unscheduled pod is the apiserver's 400; without a WebSocket upgrade it is a 400 too."""
        core.create_namespaced_pod("default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        code, status, _ = raw(front_door, "GET", "/api/v1/namespaces/default/pods/p/exec?command=ls&stdout=true")
        assert (code, status["message"]) == (400, "pod p does not have a host assigned")
        code, status, _ = raw(front_door, "GET", "/api/v1/namespaces/default/pods/p/exec?stdout=true")
        assert (code, status["message"]) == (400, "you must specify at least one command for the container")
        code, status, _ = raw(front_door, "GET", "/api/v1/namespaces/default/pods/p/attach?stdout=true")
        assert (code, status["message"]) == (400, "pod p does not have a host assigned")


class TestTables:
    def test_table_has_kemu_columns(self, apps: k8s.AppsV1Api, front_door: HttpFrontDoor) -> None:
        """Accept: as=Table gives kubectl's columns, wide ones at priority 1, and partial metadata per row."""
        apps.create_namespaced_deployment("default", deployment("web"))
        accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        code, table, _ = raw(front_door, "GET", "/apis/apps/v1/namespaces/default/deployments", accept=accept)
        assert (code, table["kind"]) == (200, "Table")
        columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
        assert columns[:5] == [("Name", 0), ("Ready", 0), ("Up-To-Date", 0), ("Available", 0), ("Age", 0)]
        assert ("Images", 1) in columns
        row = table["rows"][0]
        assert row["cells"][:2] == ["web", "0/2"]
        assert row["object"]["kind"] == "PartialObjectMetadata"
        assert row["object"]["metadata"]["name"] == "web"


def _stream(core: k8s.CoreV1Api, events: list[tuple[str, str]], **kwargs: Any) -> threading.Thread:
    def run() -> None:
        for event in k8s_watch.Watch().stream(core.list_namespaced_config_map, "default", **kwargs):
            events.append((event["type"], event["object"].metadata.name if event["type"] != "BOOKMARK" else ""))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


class TestWatch:
    def test_watch_sees_added_modified_deleted(self, core: k8s.CoreV1Api) -> None:
        """watch.Watch().stream sees ADDED, MODIFIED and DELETED, in order."""
        rv = core.list_namespaced_config_map("default").metadata.resource_version
        events: list[tuple[str, str]] = []
        thread = _stream(core, events, resource_version=rv, timeout_seconds=4)
        time.sleep(0.5)
        core.create_namespaced_config_map("default", {"metadata": {"name": "w"}})
        core.patch_namespaced_config_map("w", "default", {"data": {"a": "1"}})
        core.delete_namespaced_config_map("w", "default")
        thread.join(10)
        assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]

    def test_watch_without_resource_version_starts_with_current_state(self, core: k8s.CoreV1Api) -> None:
        """A watch with no resourceVersion sends existing objects as ADDED first."""
        core.create_namespaced_config_map("default", {"metadata": {"name": "old"}})
        events: list[tuple[str, str]] = []
        thread = _stream(core, events, timeout_seconds=2)
        thread.join(10)
        assert events == [("ADDED", "old")]

    def test_watch_replays_from_an_older_resource_version(self, core: k8s.CoreV1Api) -> None:
        """A watch from a past resourceVersion replays the changes made since."""
        rv = core.list_namespaced_config_map("default").metadata.resource_version
        core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
        core.create_namespaced_config_map("default", {"metadata": {"name": "b"}})
        events: list[tuple[str, str]] = []
        _stream(core, events, resource_version=rv, timeout_seconds=2).join(10)
        assert events == [("ADDED", "a"), ("ADDED", "b")]

    def test_label_selector_watch_sees_objects_leave_and_enter(self, core: k8s.CoreV1Api) -> None:
        """Relabelling out of a selector is DELETED for that watch, back in is ADDED."""
        core.create_namespaced_config_map("default", {"metadata": {"name": "m", "labels": {"tier": "web"}}})
        rv = core.list_namespaced_config_map("default").metadata.resource_version
        events: list[tuple[str, str]] = []
        thread = _stream(core, events, resource_version=rv, label_selector="tier=web", timeout_seconds=3)
        time.sleep(0.5)
        core.patch_namespaced_config_map("m", "default", {"metadata": {"labels": {"tier": "db"}}})
        core.patch_namespaced_config_map("m", "default", {"data": {"ignored": "yes"}})
        core.patch_namespaced_config_map("m", "default", {"metadata": {"labels": {"tier": "web"}}})
        thread.join(10)
        assert events == [("DELETED", "m"), ("ADDED", "m")]

    def test_bookmarks_carry_the_resource_version(self, front_door: HttpFrontDoor, core: k8s.CoreV1Api) -> None:
        """allowWatchBookmarks=true gets BOOKMARK events with a resourceVersion when nothing happens."""
        rv = core.list_namespaced_config_map("default").metadata.resource_version
        path = f"/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion={rv}"
        events = watch_events(front_door, path)
        assert events and {e["type"] for e in events} == {"BOOKMARK"}
        assert int(events[-1]["object"]["metadata"]["resourceVersion"]) >= int(rv)

    def test_watch_survives_an_apiserver_restart(self, apiserver: ApiServerProcess, core: k8s.CoreV1Api) -> None:
        """The watch cache reconnects to a restarted apiserver and the stream goes on."""
        rv = core.list_namespaced_config_map("default").metadata.resource_version
        events: list[tuple[str, str]] = []
        _stream(core, events, resource_version=rv, timeout_seconds=10)
        time.sleep(0.5)
        core.create_namespaced_config_map("default", {"metadata": {"name": "before"}})
        apiserver.stop()
        apiserver.start()
        core.create_namespaced_config_map("default", {"metadata": {"name": "after"}})
        wait_for(lambda: ("ADDED", "after") in events, 10, message="the event after the restart")
        assert events[:2] == [("ADDED", "before"), ("ADDED", "after")]

    def test_watch_ends_with_410_when_history_is_gone(
        self, apiserver: ApiServerProcess, front_door: HttpFrontDoor, core: k8s.CoreV1Api, client: Client
    ) -> None:
        """A watch the front door cannot bring across a gap ends with an ERROR 410 Expired, as the apiserver's does."""
        rv = core.list_namespaced_config_map("default").metadata.resource_version
        path = f"/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=20&resourceVersion={rv}"
        result: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: result.update(events=watch_events(front_door, path)), daemon=True)
        thread.start()
        time.sleep(0.5)
        assert front_door.proc is not None
        front_door.proc.signal(signal.SIGSTOP)  # the front door misses everything from here
        try:
            apiserver.stop()
            apiserver.start()
            client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "missed"}})
            apiserver.stop()
            apiserver.start()  # the restarted store's history begins after "missed"
        finally:
            front_door.proc.signal(signal.SIGCONT)
        thread.join(20)
        last = result["events"][-1]
        assert last["type"] == "ERROR"
        assert (last["object"]["code"], last["object"]["reason"]) == (410, "Expired")

    def test_a_too_old_resource_version_is_410(self, apiserver: ApiServerProcess, front_door: HttpFrontDoor, core: k8s.CoreV1Api) -> None:
        """Watching from before the apiserver's remembered history ends at once with ERROR 410."""
        core.create_namespaced_config_map("default", {"metadata": {"name": "x"}})
        apiserver.stop()
        apiserver.start()
        core.create_namespaced_config_map("default", {"metadata": {"name": "y"}})
        events = watch_events(front_door, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1&timeoutSeconds=5")
        assert [(e["type"], e["object"]["code"]) for e in events] == [("ERROR", 410)]


class TestKubeletProxyPieces:
    """The pure parts of pods/log and pods/exec (no processes)."""

    def test_since_drops_older_lines_and_their_timestamps(self) -> None:
        """sinceTime keeps lines from that time on, deciding a split line at its start."""
        shaper = LogShaper(since_ns=parse_rfc3339("2026-01-01T00:00:02Z"), timestamps=False)
        assert shaper.needs_timestamps
        assert shaper.feed(b"2026-01-01T00:00:01.000000000Z old\n2026-01-01T00:00:01.5") == b""
        assert shaper.feed(b"00000000Z old, split\n2026-01-01T00:00:02.000000000Z new") == b"new"
        assert shaper.feed(b" line\n") == b" line\n"

    def test_since_keeps_timestamps_when_asked(self) -> None:
        """With timestamps asked for, the kept lines keep them."""
        shaper = LogShaper(since_ns=parse_rfc3339("2026-01-01T00:00:02Z"), timestamps=True)
        data = b"2026-01-01T00:00:01.000000000Z a\n2026-01-01T00:00:03.000000000Z b\n"
        assert shaper.feed(data) == b"2026-01-01T00:00:03.000000000Z b\n"

    def test_limit_bytes_stops_the_stream(self) -> None:
        """limitBytes cuts the stream at that many bytes and says it is served."""
        shaper = LogShaper(limit_bytes=5, timestamps=False)
        assert not shaper.needs_timestamps
        assert shaper.feed(b"abc") == b"abc"
        assert shaper.feed(b"defgh") == b"de"
        assert shaper.exhausted and shaper.feed(b"more") == b""

    def test_exec_status_for_success_exit_codes_and_failures(self) -> None:
        """Channel 3's Status: Success, NonZeroExitCode with the code as a cause, or an internal error."""
        assert exec_status(["true"], ExecResult("c", 0, b"", b"", False)) == {"metadata": {}, "status": "Success"}
        assert exec_status(["sh", "-c", "exit 3"], ExecResult("c", 3, b"", b"", False)) == {
            "metadata": {},
            "status": "Failure",
            "message": "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
        }
        gone = exec_status(["ls"], None, errors.bad_request('container not found ("c")'))
        assert (gone["reason"], gone["message"]) == (
            "InternalError", 'Internal error occurred: unable to upgrade connection: container not found ("c")'
        )
