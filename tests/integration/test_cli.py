"""The ``kemu`` CLI against a real apiserver process: apply, get, describe,
delete and create, compared with what kubectl prints.

Commands run in-process through click's ``CliRunner`` with ``--server``
pointing at the fixture's apiserver (ipc sockets in a temporary directory).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
import zmq
from click.testing import CliRunner, Result

from kemu.api.errors import ApiError
from kemu.cli.main import cli
from kemu.cli.printers import resource_name
from kemu.client import Client
from kemu.manifests import load_manifests
from kemu.testing import ApiServerProcess

pytestmark = pytest.mark.timeout(60)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def kemu(server: ApiServerProcess | str, *args: str, input: str | None = None) -> Result:
    """Run ``kemu --server <address> ARGS`` and return click's result."""
    address = server if isinstance(server, str) else server.address
    return CliRunner().invoke(cli, ["--server", address, "--request-timeout", "5", *args], input=input)


def configmap(name: str, labels: dict[str, str] | None = None, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


def write_yaml(path: Path, *docs: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return str(path)


def example_refs() -> list[str]:
    """``kind.group/name`` of every valid object in examples/, in apply order."""
    return [
        f"{resource_name(m.obj['kind'])}/{m.obj['metadata']['name']}"
        for m in load_manifests([str(EXAMPLES)])
        if m.obj["metadata"]["name"] != "broken"
    ]


def deployment_manifest() -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / "deployment.yaml").read_text())


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    """Keep structlog lines (an informer's "synced") out of captured stdout."""
    with structlog.testing.capture_logs():
        yield


class TestApply:
    def test_examples_directory_applies_all_but_the_invalid_one(self, apiserver: ApiServerProcess) -> None:
        """Every valid example is created; the invalid one gets kubectl's 422 text and exit code 1."""
        result = kemu(apiserver, "apply", "-f", str(EXAMPLES))
        assert result.exit_code == 1
        assert result.stdout.splitlines() == [f"{ref} created" for ref in example_refs()]
        assert "deployment.apps/hello created" in result.stdout.splitlines()
        assert result.stderr.startswith('The Deployment "broken" is invalid: \n* spec.replicas: ')

    def test_invalid_deployment_names_both_fields(self, apiserver: ApiServerProcess) -> None:
        """The 422 names spec.replicas and spec.template.metadata.labels, and nothing is stored."""
        result = kemu(apiserver, "apply", "-f", str(EXAMPLES / "invalid-deployment.yaml"))
        assert result.exit_code == 1
        lines = result.stderr.splitlines()
        assert lines[0] == 'The Deployment "broken" is invalid: '
        assert lines[1].startswith("* spec.replicas: Invalid value: -1")
        assert lines[2].startswith("* spec.template.metadata.labels: Invalid value")
        assert "Traceback" not in result.output
        assert kemu(apiserver, "get", "deploy", "broken").exit_code == 1

    def test_second_apply_is_unchanged(self, apiserver: ApiServerProcess) -> None:
        """Applying the same manifests again changes nothing and says so."""
        valid = [str(path) for path in sorted(EXAMPLES.glob("*.yaml")) if path.name != "invalid-deployment.yaml"]
        args = [arg for path in valid for arg in ("-f", path)]
        assert kemu(apiserver, "apply", *args).exit_code == 0
        result = kemu(apiserver, "apply", *args)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [f"{ref} unchanged" for ref in example_refs()]

    def test_changed_manifest_is_configured_and_removed_fields_go(
        self, apiserver: ApiServerProcess, client: Client, tmp_path: Path
    ) -> None:
        """A label and a container field dropped from the manifest disappear;
        what others set (an annotation, defaults) stays."""
        manifest = deployment_manifest()
        manifest["metadata"]["labels"]["tier"] = "web"
        path = write_yaml(tmp_path / "d.yaml", manifest)
        assert kemu(apiserver, "apply", "-f", path).stdout == "deployment.apps/hello created\n"
        client.patch("Deployment", "hello", {"metadata": {"annotations": {"owner": "someone-else"}}})

        del manifest["metadata"]["labels"]["tier"]
        del manifest["spec"]["template"]["spec"]["containers"][0]["resources"]
        manifest["spec"]["replicas"] = 2
        write_yaml(tmp_path / "d.yaml", manifest)
        result = kemu(apiserver, "apply", "-f", path)
        assert result.stdout == "deployment.apps/hello configured\n", result.output

        live = client.get("Deployment", "hello")
        assert live["metadata"]["labels"] == {"app": "hello"}
        assert live["metadata"]["annotations"]["owner"] == "someone-else"
        assert live["spec"]["replicas"] == 2
        container = live["spec"]["template"]["spec"]["containers"][0]
        assert "resources" not in container or not container["resources"]
        assert container["imagePullPolicy"] == "IfNotPresent"  # a default, kept
        assert live["spec"]["strategy"]["type"] == "RollingUpdate"
        assert kemu(apiserver, "apply", "-f", path).stdout == "deployment.apps/hello unchanged\n"

    def test_multi_document_yaml_from_stdin(self, apiserver: ApiServerProcess, client: Client) -> None:
        """``-f -`` reads every document of a multi-document stream."""
        text = yaml.safe_dump_all([configmap("one"), configmap("two")])
        result = kemu(apiserver, "apply", "-f", "-", input=text)
        assert result.exit_code == 0
        assert result.stdout == "configmap/one created\nconfigmap/two created\n"
        assert [o["metadata"]["name"] for o in client.list("ConfigMap")["items"]] == ["one", "two"]
        again = kemu(apiserver, "apply", "-f", "-", input=text)
        assert again.stdout == "configmap/one unchanged\nconfigmap/two unchanged\n"

    def test_malformed_yaml_is_one_clear_error(self, apiserver: ApiServerProcess) -> None:
        """Broken YAML names the problem and its line, without a traceback."""
        result = kemu(apiserver, "apply", "-f", "-", input="apiVersion: v1\nkind: [ConfigMap\n")
        assert result.exit_code == 1
        assert result.stderr.startswith("error: error parsing ")
        assert "line" in result.stderr
        assert result.stdout == ""
        assert "Traceback" not in result.output

    def test_unknown_kind_is_a_mapping_error(self, apiserver: ApiServerProcess) -> None:
        """An unknown kind gets kubectl's ``resource mapping not found`` error."""
        doc = "apiVersion: v1\nkind: Widget\nmetadata:\n  name: w\n"
        result = kemu(apiserver, "apply", "-f", "-", input=doc)
        assert result.exit_code == 1
        assert result.stderr.startswith('error: resource mapping not found for name: "w" namespace: ""')
        assert 'no matches for kind "Widget" in version "v1"' in result.stderr

    def test_namespace_flag_places_objects(self, apiserver: ApiServerProcess, client: Client, tmp_path: Path) -> None:
        """``-n`` puts a manifest without a namespace there; a contradicting one is refused."""
        assert kemu(apiserver, "create", "namespace", "team").stdout == "namespace/team created\n"
        path = write_yaml(tmp_path / "cm.yaml", configmap("settings"))
        assert kemu(apiserver, "apply", "-n", "team", "-f", path).exit_code == 0
        assert client.get("ConfigMap", "settings", "team")["metadata"]["namespace"] == "team"
        other = write_yaml(tmp_path / "other.yaml", configmap("x", namespace="default"))
        result = kemu(apiserver, "apply", "-n", "team", "-f", other)
        assert result.exit_code == 1
        assert result.stderr.startswith('error: the namespace from the provided object "default" does not match')

    def test_output_yaml_prints_the_applied_object(self, apiserver: ApiServerProcess, tmp_path: Path) -> None:
        """``-o yaml`` prints the stored object instead of the status line."""
        path = write_yaml(tmp_path / "cm.yaml", configmap("printed"))
        result = kemu(apiserver, "apply", "-f", path, "-o", "yaml")
        obj = yaml.safe_load(result.stdout)
        assert obj["kind"] == "ConfigMap" and obj["metadata"]["uid"]


@pytest.fixture
def hello(apiserver: ApiServerProcess) -> ApiServerProcess:
    """A server holding examples/deployment.yaml."""
    result = kemu(apiserver, "apply", "-f", str(EXAMPLES / "deployment.yaml"))
    assert result.exit_code == 0, result.output
    return apiserver


class TestGet:
    def test_deployment_table_has_kubectl_headers(self, hello: ApiServerProcess) -> None:
        """The table starts with kubectl's exact header line for deployments."""
        result = kemu(hello, "get", "deploy")
        lines = result.stdout.splitlines()
        assert lines[0] == "NAME    READY   UP-TO-DATE   AVAILABLE   AGE"
        assert lines[1].split()[:4] == ["hello", "0/3", "0", "0"]
        assert result.stderr == ""

    @pytest.mark.parametrize("word", ["po", "rs", "deploy", "svc", "no", "ns", "ep", "ev", "cm", "deployments.apps"])
    def test_short_names(self, apiserver: ApiServerProcess, word: str) -> None:
        """kubectl's short names all resolve."""
        result = kemu(apiserver, "get", word)
        assert result.exit_code == 0, result.output

    def test_empty_table_says_no_resources_found(self, apiserver: ApiServerProcess) -> None:
        """An empty table prints nothing, and kubectl's note on stderr."""
        result = kemu(apiserver, "get", "pods")
        assert result.stdout == ""
        assert result.stderr == "No resources found in default namespace.\n"

    def test_yaml_and_json_of_a_listing_are_a_list(self, apiserver: ApiServerProcess, client: Client) -> None:
        """Without names, -o yaml/json print a v1 List, even of one object or none."""
        empty = kemu(apiserver, "get", "pods", "-o", "json")
        assert json.loads(empty.stdout) == {"apiVersion": "v1", "items": [], "kind": "List", "metadata": {"resourceVersion": ""}}
        assert empty.stderr == ""
        client.create(configmap("only"))
        listing = yaml.safe_load(kemu(apiserver, "get", "cm", "-o", "yaml").stdout)
        assert listing["kind"] == "List"
        assert [i["metadata"]["name"] for i in listing["items"]] == ["only"]
        assert listing["items"][0]["kind"] == "ConfigMap"

    def test_one_named_object_is_printed_alone(self, apiserver: ApiServerProcess, client: Client) -> None:
        """With exactly one name, -o json prints the object itself; two names make a List."""
        client.create(configmap("a"))
        client.create(configmap("b"))
        one = json.loads(kemu(apiserver, "get", "cm", "a", "-o", "json").stdout)
        assert one["kind"] == "ConfigMap" and one["metadata"]["name"] == "a"
        two = json.loads(kemu(apiserver, "get", "cm", "a", "b", "-o", "json").stdout)
        assert two["kind"] == "List" and len(two["items"]) == 2

    def test_name_and_jsonpath_outputs(self, hello: ApiServerProcess) -> None:
        """-o name prints kind.group/name; -o jsonpath evaluates the template."""
        assert kemu(hello, "get", "deploy", "-o", "name").stdout == "deployment.apps/hello\n"
        assert kemu(hello, "get", "deploy", "hello", "-o", "jsonpath={.spec.replicas}").stdout == "3"
        names = kemu(hello, "get", "deploy", "-o", "jsonpath={.items[*].metadata.name}")
        assert names.stdout == "hello"

    def test_label_and_field_selectors(self, apiserver: ApiServerProcess, client: Client) -> None:
        """-l and --field-selector filter on the server."""
        client.create(configmap("web-1", {"app": "web"}))
        client.create(configmap("web-2", {"app": "web", "tier": "front"}))
        client.create(configmap("db", {"app": "db"}))
        by_label = kemu(apiserver, "get", "cm", "-l", "app=web", "-o", "name")
        assert by_label.stdout == "configmap/web-1\nconfigmap/web-2\n"
        set_based = kemu(apiserver, "get", "cm", "-l", "app in (db),tier!=front", "-o", "name")
        assert set_based.stdout == "configmap/db\n"
        by_field = kemu(apiserver, "get", "cm", "--field-selector", "metadata.name=web-2", "-o", "name")
        assert by_field.stdout == "configmap/web-2\n"

    def test_all_namespaces_adds_the_namespace_column(self, apiserver: ApiServerProcess, client: Client) -> None:
        """-A lists every namespace with a NAMESPACE column."""
        kemu(apiserver, "create", "namespace", "team")
        client.create(configmap("here"))
        client.create(configmap("there", namespace="team"))
        lines = kemu(apiserver, "get", "cm", "-A").stdout.splitlines()
        assert lines[0].split() == ["NAMESPACE", "NAME", "DATA", "AGE"]
        assert [line.split()[:2] for line in lines[1:]] == [["default", "here"], ["team", "there"]]

    def test_missing_object_is_not_found(self, apiserver: ApiServerProcess) -> None:
        """A missing name gets kubectl's exact NotFound line and exit code 1."""
        result = kemu(apiserver, "get", "deploy", "nope")
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr == 'Error from server (NotFound): deployments.apps "nope" not found\n'

    def test_get_all_prefixes_kinds(self, hello: ApiServerProcess) -> None:
        """``get all`` writes one table per kind with kind/name names."""
        result = kemu(hello, "get", "all")
        assert "deployment.apps/hello" in result.stdout
        assert result.stdout.splitlines()[0].startswith("NAME ")

    def test_show_labels_adds_a_column(self, hello: ApiServerProcess) -> None:
        """--show-labels appends LABELS."""
        lines = kemu(hello, "get", "deploy", "--show-labels").stdout.splitlines()
        assert lines[0].split()[-1] == "LABELS"
        assert lines[1].split()[-1] == "app=hello"

    def test_unknown_output_format_is_refused(self, apiserver: ApiServerProcess) -> None:
        """An unknown -o gets kubectl's printer error."""
        result = kemu(apiserver, "get", "pods", "-o", "xml")
        assert result.exit_code == 1
        assert result.stderr.startswith('error: unable to match a printer suitable for the output format "xml"')

    def test_watch_prints_changes_under_the_headers(
        self, apiserver: ApiServerProcess, client: Client, quiet_logs: None
    ) -> None:
        """-w prints the table, then a row per change, in the same columns."""
        client.create(configmap("aa"))

        def later() -> None:
            time.sleep(1.0)
            client.create(configmap("bb"))

        writer = threading.Thread(target=later)
        writer.start()
        try:
            result = kemu(apiserver, "get", "cm", "-w", "--watch-timeout", "3")
        finally:
            writer.join(5)
        lines = result.stdout.splitlines()
        assert result.exit_code == 0, result.output
        assert lines[0] == "NAME   DATA   AGE"
        assert [line.split()[0] for line in lines[1:]] == ["aa", "bb"]
        assert all(line.index(line.split()[1]) == lines[0].index("DATA") for line in lines[1:])


class TestDescribe:
    def test_describe_deployment(self, hello: ApiServerProcess) -> None:
        """describe prints kubectl's Deployment layout."""
        result = kemu(hello, "describe", "deploy", "hello")
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[0] == "Name:                   hello"
        assert "Namespace:              default" in lines
        assert any(line.startswith("Replicas:               3 desired") for line in lines)
        assert lines[-1].startswith("Events:")

    def test_describe_node_shows_kubelet_events(self, apiserver: ApiServerProcess, client: Client) -> None:
        """A node's events where the kubelet used the node's name as uid are shown."""
        node = client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}})
        for name, uid, reason in (("a", "node-1", "NodeReady"), ("b", node["metadata"]["uid"], "RegisteredNode")):
            client.create({
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"node-1.{name}", "namespace": "default"},
                "involvedObject": {"kind": "Node", "name": "node-1", "uid": uid}, "reason": reason,
                "message": f"{reason} happened", "type": "Normal", "source": {"component": "kubelet"},
                "count": 1,
            })
        result = kemu(apiserver, "describe", "node", "node-1")
        assert result.exit_code == 0, result.output
        assert "NodeReady" in result.stdout and "RegisteredNode" in result.stdout

    def test_describe_by_prefix(self, apiserver: ApiServerProcess, client: Client) -> None:
        """A name that matches nothing describes the objects it prefixes, as kubectl does."""
        client.create(configmap("web-1"))
        client.create(configmap("web-2"))
        result = kemu(apiserver, "describe", "cm", "web")
        assert [line for line in result.stdout.splitlines() if line.startswith("Name:")] == [
            "Name:         web-1", "Name:         web-2",
        ]


class TestDelete:
    def test_delete_by_file(self, hello: ApiServerProcess, client: Client) -> None:
        """delete -f removes what the manifest names, with kubectl's line."""
        result = kemu(hello, "delete", "-f", str(EXAMPLES / "deployment.yaml"))
        assert result.exit_code == 0, result.output
        assert result.stdout == 'deployment.apps "hello" deleted\n'
        with pytest.raises(ApiError) as info:
            client.get("Deployment", "hello")
        assert info.value.code == 404

    def test_delete_by_label(self, apiserver: ApiServerProcess, client: Client) -> None:
        """delete -l removes exactly the matching objects."""
        client.create(configmap("web-1", {"app": "web"}))
        client.create(configmap("web-2", {"app": "web"}))
        client.create(configmap("db", {"app": "db"}))
        result = kemu(apiserver, "delete", "cm", "-l", "app=web")
        assert result.stdout == 'configmap "web-1" deleted\nconfigmap "web-2" deleted\n'
        assert [o["metadata"]["name"] for o in client.list("ConfigMap")["items"]] == ["db"]
        none = kemu(apiserver, "delete", "cm", "-l", "app=web")
        assert none.exit_code == 0 and none.stdout == "No resources found\n"

    def test_delete_kind_slash_name_and_missing(self, apiserver: ApiServerProcess, client: Client) -> None:
        """KIND/NAME works; a missing name is reported and exits 1 after the others."""
        client.create(configmap("keep-going"))
        result = kemu(apiserver, "delete", "cm/nope", "cm/keep-going")
        assert result.exit_code == 1
        assert result.stdout == 'configmap "keep-going" deleted\n'
        assert result.stderr == 'Error from server (NotFound): configmaps "nope" not found\n'

    def test_delete_without_names_is_refused(self, apiserver: ApiServerProcess) -> None:
        """A kind without names, -l or --all is kubectl's error."""
        result = kemu(apiserver, "delete", "cm")
        assert result.exit_code == 1
        assert result.stderr == "error: resource(s) were provided, but no name was specified\n"


class TestServerDown:
    def test_nothing_listening_is_one_clear_line(self, short_tmp: Path) -> None:
        """No server at the address: one line naming it and how to start one, exit 1."""
        address = f"ipc://{short_tmp}/nothing.sock"
        started = time.monotonic()
        result = kemu(address, "get", "pods")
        assert time.monotonic() - started < 5
        assert result.exit_code == 1
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(f"error: the server at {address} did not answer")
        assert lines[0].endswith("(is the apiserver running? start one with `kemu up`)")

    def test_silent_server_times_out_cleanly(self, short_tmp: Path) -> None:
        """A socket that accepts but never answers is reported after --request-timeout."""
        address = f"ipc://{short_tmp}/silent.sock"
        ctx = zmq.Context.instance()
        silent = ctx.socket(zmq.ROUTER)
        silent.bind(address)
        try:
            result = CliRunner().invoke(cli, ["--server", address, "--request-timeout", "1", "get", "cm"])
        finally:
            silent.close(linger=0)
        assert result.exit_code == 1
        assert result.stderr == (
            f"error: the server at {address} did not answer list within 1s"
            " (is the apiserver running? start one with `kemu up`)\n"
        )
