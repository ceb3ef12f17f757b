"""Names, labels and times through the HTTP front door, from the real kubectl
and the official Python client: one rule (kemu.apimachinery) behind every
door, so a bad label key reads the same in ``-l`` as in a manifest, and a
``MicroTime`` is refused or kept exactly as a v1.32 apiserver does.

One apiserver and one front door serve the module; nothing else is needed.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from apiserver.http.testing import HttpFrontDoor, self_signed_certificate
from kemu.apimachinery import is_qualified_name, is_valid_label_value
from kemu.client import Client
from kemu.testing import ApiServerProcess, kubectl_env

kubernetes = pytest.importorskip("kubernetes", reason="the official client is in the test extra: pip install -e '.[test]'")

from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

KUBECTL = "/usr/bin/kubectl"
TOKEN = "apimachinery-test-token"

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason=f"the real kubectl is not installed at {KUBECTL}"),
]


@dataclass
class Door:
    env: dict[str, str]
    api: k8s.ApiClient


@pytest.fixture(scope="module")
def door() -> Iterator[Door]:
    with tempfile.TemporaryDirectory(prefix="kemu-") as d:
        root = Path(d)
        server = ApiServerProcess(root)
        front = HttpFrontDoor(root, server.address, token=TOKEN, tls=self_signed_certificate(root))
        if front.tls is None:
            front.token = None  # without openssl: plain HTTP, where kubectl would not send a token
        try:
            server.start()
            front.start()
            kubeconfig = front.write_kubeconfig(root / "kubeconfig")
            with Client(server.address, timeout=10.0) as client:
                client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mach"}})
            with k8s_config.new_client_from_config(config_file=str(kubeconfig)) as api:
                yield Door(kubectl_env(root, kubeconfig), api)
        finally:
            front.stop()
            front.kill()
            server.stop()
            server.kill()


def kubectl(door: Door, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "-n", "mach", *args], input=stdin, capture_output=True, text=True, env=door.env, timeout=40, check=False
    )


def config_map(name: str, key: str, value: str) -> str:
    return f'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels:\n    "{key}": "{value}"\n'


class TestLabels:
    @pytest.mark.parametrize("key", ["a/b/c", "-app", "x" * 64, "Example.com/app"])
    def test_bad_key_reads_the_same_in_a_manifest_and_a_selector(self, door: Door, key: str) -> None:
        """kubectl apply and kubectl get -l report one key with one apimachinery message."""
        detail = f'Invalid value: "{key}": ' + "; ".join(is_qualified_name(key))
        applied = kubectl(door, "apply", "-f", "-", stdin=config_map("bad-key", key, "x"))
        assert applied.returncode != 0
        assert applied.stderr.startswith('The ConfigMap "bad-key" is invalid: ')
        assert f"metadata.labels: {detail}" in applied.stderr
        listed = kubectl(door, "get", "configmaps", "-l", f"{key}=x")
        assert listed.returncode != 0
        assert f"unable to parse requirement: {detail}" in listed.stderr

    def test_bad_value_is_refused_with_the_label_rule(self, door: Door) -> None:
        """A value ending in '-' is refused with IsValidLabelValue's words."""
        applied = kubectl(door, "apply", "-f", "-", stdin=config_map("bad-value", "app", "web-"))
        assert applied.returncode != 0
        assert f'metadata.labels: Invalid value: "web-": {is_valid_label_value("web-")[0]}' in applied.stderr

    def test_good_labels_still_select(self, door: Door) -> None:
        """A valid prefixed key is stored and selects its object."""
        assert kubectl(door, "apply", "-f", "-", stdin=config_map("good", "example.com/tier", "db")).returncode == 0
        listed = kubectl(door, "get", "configmaps", "-l", "example.com/tier=db", "-o", "name")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.split() == ["configmap/good"]


def lease(name: str, renew: datetime.datetime) -> k8s.V1Lease:
    return k8s.V1Lease(metadata=k8s.V1ObjectMeta(name=name), spec=k8s.V1LeaseSpec(holder_identity="me", renew_time=renew))


class TestMicroTime:
    def test_python_client_lease_with_microseconds_round_trips(self, door: Door) -> None:
        """renewTime sent as isoformat() with microseconds and an offset comes back to the
        microsecond, re-encoded in UTC as the apiserver writes every MicroTime."""
        coordination = k8s.CoordinationV1Api(door.api)
        sent = datetime.datetime(2026, 11, 25, 20, 13, 48, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
        coordination.create_namespaced_lease("mach", lease("micro", sent))
        got = coordination.read_namespaced_lease("micro", "mach").spec.renew_time
        assert got == sent
        assert got.utcoffset() == datetime.timedelta(0)

    def test_python_client_lease_on_a_whole_second_is_refused(self, door: Door) -> None:
        """isoformat() drops a zero fraction, and MicroTime's layout wants six digits: a 400, with Go's words."""
        coordination = k8s.CoordinationV1Api(door.api)
        sent = datetime.datetime(2026, 11, 25, 19, 13, 48, tzinfo=datetime.UTC)
        with pytest.raises(ApiException) as info:
            coordination.create_namespaced_lease("mach", lease("whole", sent))
        assert info.value.status == 400
        assert json.loads(info.value.body)["message"] == (
            'Lease in version "v1" cannot be handled as a Lease: parsing time "2026-11-25T19:13:48+00:00" as '
            '"2006-01-02T15:04:05.000000Z07:00": cannot parse "+00:00" as ".000000"'
        )

    def test_kubectl_apply_of_a_garbage_time(self, door: Door) -> None:
        """kubectl apply of a Lease whose renewTime is not a time gets the strict decoder's error."""
        manifest = (
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: garbage\n"
            "spec:\n  holderIdentity: me\n  renewTime: yesterday\n"
        )
        applied = kubectl(door, "apply", "-f", "-", stdin=manifest)
        assert applied.returncode != 0
        assert 'parsing time "yesterday" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "yesterday" as "2006"' in (
            applied.stderr
        )
