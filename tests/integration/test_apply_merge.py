"""``kemu apply`` sends kubectl's strategic three-way patch: lists with a
merge key merge, so what other writers added to the live object survives.

The first class drives kemu alone against an apiserver process; the second
puts the real kubectl (through the HTTP front door) beside it: the two
applies leave the same object behind from the same start, and each takes the
other's last-applied annotation as its own ("unchanged").
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from apiserver.http.testing import HttpFrontDoor
from kemu.cli.apply import LAST_APPLIED
from kemu.cli.main import cli
from kemu.client import Client
from kemu.testing import ApiServerProcess, kubectl_env
from kemu.types import Obj

pytestmark = pytest.mark.timeout(90)

KUBECTL = "/usr/bin/kubectl"


def deployment(image: str = "nginx:1.25", *, helper: bool = False) -> Obj:
    """A Deployment manifest: container ``app`` (one port), optionally a ``helper`` beside it."""
    containers: list[Obj] = [{"name": "app", "image": image, "ports": [{"containerPort": 80}]}]
    if helper:
        containers.append({"name": "helper", "image": "busybox:1.36", "command": ["sleep", "3600"]})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}},
        },
    }


OTHER_WRITER = {
    "spec": {
        "template": {
            "metadata": {"annotations": {"sidecar.example.com/injected": "true"}},
            "spec": {
                "containers": [
                    {"name": "app", "env": [{"name": "INJECTED", "value": "yes"}]},
                    {"name": "sidecar", "image": "envoy:1.30"},
                ]
            },
        }
    }
}
"""What a controller (a sidecar injector, ``kubectl set env``) adds to the
live Deployment: an env entry in ``app``, a second container, a template
annotation. No manifest here ever says any of it."""


def kemu(server: str, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--server", server, "--request-timeout", "5", *args], input=input)


def containers(obj: Obj) -> dict[str, Obj]:
    return {c["name"]: c for c in obj["spec"]["template"]["spec"]["containers"]}


class TestKemuApply:
    def test_changed_image_keeps_what_another_writer_added(self, apiserver: ApiServerProcess, client: Client) -> None:
        """Re-applying with a new image changes the image and keeps the injected env, container and annotation."""
        assert kemu(apiserver.address, "apply", "-f", "-", input=json.dumps(deployment())).stdout == (
            "deployment.apps/web created\n"
        )
        client.patch("Deployment", "web", OTHER_WRITER, patch_type="strategic")

        result = kemu(apiserver.address, "apply", "-f", "-", input=json.dumps(deployment("nginx:1.26")))
        assert result.exit_code == 0, result.output
        assert result.stdout == "deployment.apps/web configured\n"

        live = client.get("Deployment", "web")
        by_name = containers(live)
        assert list(by_name) == ["app", "sidecar"]
        assert by_name["app"]["image"] == "nginx:1.26"
        assert by_name["app"]["env"] == [{"name": "INJECTED", "value": "yes"}]
        assert [p["containerPort"] for p in by_name["app"]["ports"]] == [80]
        assert by_name["sidecar"]["image"] == "envoy:1.30"
        assert live["spec"]["template"]["metadata"]["annotations"] == {"sidecar.example.com/injected": "true"}

        again = kemu(apiserver.address, "apply", "-f", "-", input=json.dumps(deployment("nginx:1.26")))
        assert again.stdout == "deployment.apps/web unchanged\n"

    def test_container_dropped_from_the_manifest_goes_and_the_injected_one_stays(
        self, apiserver: ApiServerProcess, client: Client
    ) -> None:
        """The three-way part: what the last apply set and this one drops is deleted, nothing else."""
        assert kemu(apiserver.address, "apply", "-f", "-", input=json.dumps(deployment(helper=True))).exit_code == 0
        client.patch("Deployment", "web", OTHER_WRITER, patch_type="strategic")

        result = kemu(apiserver.address, "apply", "-f", "-", input=json.dumps(deployment()))
        assert result.stdout == "deployment.apps/web configured\n", result.output
        assert sorted(containers(client.get("Deployment", "web"))) == ["app", "sidecar"]

    def test_dry_runs_report_and_change_nothing(self, apiserver: ApiServerProcess, client: Client) -> None:
        """--dry-run=server and =client say "configured" and leave the live object as it was."""
        assert kemu(apiserver.address, "apply", "-f", "-", input=json.dumps(deployment())).exit_code == 0
        before = client.get("Deployment", "web")
        changed = json.dumps(deployment("nginx:1.26"))
        server = kemu(apiserver.address, "apply", "--dry-run=server", "-f", "-", input=changed)
        assert server.stdout == "deployment.apps/web configured (server dry run)\n", server.output
        local = kemu(apiserver.address, "apply", "--dry-run=client", "-f", "-", input=changed)
        assert local.stdout == "deployment.apps/web configured (dry run)\n", local.output
        assert client.get("Deployment", "web")["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert containers(client.get("Deployment", "web"))["app"]["image"] == "nginx:1.25"

    def test_container_without_a_name_cannot_be_merged(self, apiserver: ApiServerProcess, client: Client) -> None:
        """No merge key, no patch: kubectl's "error when creating patch" line, exit code 1, nothing sent."""
        assert kemu(apiserver.address, "apply", "-f", "-", input=json.dumps(deployment())).exit_code == 0
        nameless = deployment("nginx:1.26")
        del nameless["spec"]["template"]["spec"]["containers"][0]["name"]
        result = kemu(apiserver.address, "apply", "-f", "-", input=json.dumps(nameless))
        assert result.exit_code == 1
        assert result.stderr.startswith("error: error when creating patch with:\noriginal:\n{")
        assert result.stderr.rstrip().endswith('for: "STDIN": map: {"image": "nginx:1.26", "ports": [{"containerPort": 80}]}'
                                               " does not contain declared merge key: name")
        assert "Traceback" not in result.output
        assert containers(client.get("Deployment", "web"))["app"]["image"] == "nginx:1.25"

    def test_object_made_without_apply_gets_the_annotation_and_loses_nothing(
        self, apiserver: ApiServerProcess, client: Client
    ) -> None:
        """No last-applied configuration: kubectl's warning, the annotation is added, nothing is deleted."""
        client.create(deployment(helper=True))
        result = kemu(apiserver.address, "apply", "-f", "-", input=json.dumps(deployment("nginx:1.26")))
        assert result.exit_code == 0, result.output
        assert result.stdout == "deployment.apps/web configured\n"
        assert result.stderr.startswith(f"Warning: resource deployments.apps/web is missing the {LAST_APPLIED} annotation")
        live = client.get("Deployment", "web")
        assert LAST_APPLIED in live["metadata"]["annotations"]
        assert {n: c["image"] for n, c in containers(live).items()} == {"app": "nginx:1.26", "helper": "busybox:1.36"}

    def test_annotation_is_the_manifest_as_kubectl_writes_it(self, apiserver: ApiServerProcess, client: Client) -> None:
        """The last-applied configuration is compact, sorted JSON with an annotations map and a newline."""
        assert kemu(apiserver.address, "apply", "-f", "-", input=json.dumps(deployment())).exit_code == 0
        annotation = client.get("Deployment", "web")["metadata"]["annotations"][LAST_APPLIED]
        assert annotation.endswith("}\n")
        stored = json.loads(annotation)
        assert stored["metadata"] == {"annotations": {}, "labels": {"app": "web"}, "name": "web", "namespace": "default"}
        assert json.dumps(stored, sort_keys=True, separators=(",", ":")) + "\n" == annotation


# -- beside the real kubectl ---------------------------------------------------------


@dataclass
class Both:
    """kubectl (through the front door) and kemu (straight to the apiserver) on one server."""

    server: str
    env: dict[str, str]
    client: Client

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, env=self.env,
                                timeout=30, check=False)
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    def kemu(self, *args: str, stdin: str | None = None) -> str:
        result = kemu(self.server, *args, input=stdin)
        assert result.exit_code == 0, f"kemu {' '.join(args)}: {result.output}"
        return result.stdout


@pytest.fixture(scope="module")
def both() -> Iterator[Both]:
    if not os.access(KUBECTL, os.X_OK):
        pytest.skip(f"the real kubectl is not installed at {KUBECTL}")
    with tempfile.TemporaryDirectory(prefix="kemu-") as d:
        root = Path(d)
        server = ApiServerProcess(root)
        door = HttpFrontDoor(root, server.address)
        try:
            server.start()
            door.start()
            env = kubectl_env(root, door.write_kubeconfig(root / "kubeconfig"))
            with Client(server.address, timeout=10.0) as client:
                yield Both(server.address, env, client)
        finally:
            door.stop()
            door.kill()
            server.stop()
            server.kill()


_namespaces = iter(range(1, 10_000))


def namespace(both: Both) -> str:
    name = f"m{next(_namespaces)}"
    both.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def comparable(obj: Obj) -> Obj:
    """What an apply decides about an object: labels, annotations and spec
    (the last-applied configuration parsed, without its namespace: the two
    objects live in two namespaces)."""
    meta = obj["metadata"]
    annotations = dict(meta.get("annotations") or {})
    last_applied = json.loads(annotations.pop(LAST_APPLIED))
    del last_applied["metadata"]["namespace"]
    return {"labels": meta.get("labels"), "annotations": annotations, "last_applied": last_applied, "spec": obj["spec"]}


class TestBesideKubectl:
    def test_same_start_same_result(self, both: Both) -> None:
        """kubectl apply in one namespace and kemu apply in another leave the same Deployment behind."""
        by_kubectl, by_kemu = namespace(both), namespace(both)
        first, second = yaml.safe_dump(deployment(helper=True)), yaml.safe_dump(deployment("nginx:1.26"))
        both.kubectl("apply", "-n", by_kubectl, "-f", "-", stdin=first)
        both.kemu("apply", "-n", by_kemu, "-f", "-", stdin=first)
        for ns in (by_kubectl, by_kemu):
            both.client.patch("Deployment", "web", OTHER_WRITER, ns, patch_type="strategic")
        assert both.kubectl("apply", "-n", by_kubectl, "-f", "-", stdin=second) == "deployment.apps/web configured\n"
        assert both.kemu("apply", "-n", by_kemu, "-f", "-", stdin=second) == "deployment.apps/web configured\n"
        applied_by_kubectl = comparable(both.client.get("Deployment", "web", by_kubectl))
        applied_by_kemu = comparable(both.client.get("Deployment", "web", by_kemu))
        assert applied_by_kemu == applied_by_kubectl
        assert sorted(containers({"spec": applied_by_kemu["spec"]})) == ["app", "sidecar"]

    def test_each_takes_the_others_apply_as_its_own(self, both: Both) -> None:
        """After kubectl apply, kemu apply of the same manifest is unchanged, and the other way round."""
        ns = namespace(both)
        manifest = yaml.safe_dump(deployment())
        both.kubectl("apply", "-n", ns, "-f", "-", stdin=manifest)
        assert both.kemu("apply", "-n", ns, "-f", "-", stdin=manifest) == "deployment.apps/web unchanged\n"
        changed = yaml.safe_dump(deployment("nginx:1.26"))
        assert both.kemu("apply", "-n", ns, "-f", "-", stdin=changed) == "deployment.apps/web configured\n"
        assert both.kubectl("apply", "-n", ns, "-f", "-", stdin=changed) == "deployment.apps/web unchanged\n"

    def test_kubectl_set_env_survives_kemu_apply(self, both: Both) -> None:
        """An env var added with kubectl set env stays through a kemu apply that changes the image."""
        ns = namespace(both)
        both.kemu("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(deployment()))
        both.kubectl("set", "env", "-n", ns, "deployment/web", "-c", "app", "MODE=debug")
        both.kemu("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(deployment("nginx:1.26")))
        app = containers(both.client.get("Deployment", "web", ns))["app"]
        assert app["image"] == "nginx:1.26"
        assert app["env"] == [{"name": "MODE", "value": "debug"}]
