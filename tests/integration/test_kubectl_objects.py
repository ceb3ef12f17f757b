"""The objects kubectl and clients expect to exist, driven by the real kubectl.

One small cluster (``kemu up`` in-process: apiserver, HTTPS front door,
controller manager, scheduler, one node) serves the module. Covered:
ServiceAccounts (``default`` in every namespace, recreated when deleted),
Secrets of every common type (through ``kubectl create secret ...
--dry-run=client -o yaml | kubectl apply -f -`` and ``apply -f``), a pod
consuming a Secret as ``env``, ``envFrom`` and a volume (seen from inside the
container, and a volume refreshed when the Secret changes), a missing Secret
failing as on a real cluster, tokens, the access reviews, and the
storage-only kinds ``kubectl create`` makes (roles, bindings, quotas,
ingresses, priority classes).

kubectl 1.32's ``create <generator>``, ``create token`` and ``auth can-i``
send protobuf bodies, which the front door decodes; each has a JSON twin
(``kubectl apply`` or a raw request) so a failure says which side broke.
"""

# mypy: disable-error-code="union-attr,attr-defined,index"

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kemu.client import Client
from kemu.procs import wait_for
from kemu.testing import free_port, kubectl_env, running_cluster

kubernetes = pytest.importorskip("kubernetes", reason="the official client is in the test extra: pip install -e '.[test]'")

from kubernetes import client as k8s
from kubernetes import config as k8s_config

KUBECTL = "/usr/bin/kubectl"

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason=f"the real kubectl is not installed at {KUBECTL}"),
]



@dataclass
class Cluster:
    root: Path
    env: dict[str, str]
    client: Client
    api: k8s.ApiClient


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="kemu-") as d:
        root = Path(d)
        with running_cluster(root, nodes=1, with_http=True, http_port=free_port(), with_dns=False, log_level="info") as local:
            assert local.kubeconfig is not None
            env = kubectl_env(root, local.kubeconfig)
            api = k8s_config.new_client_from_config(config_file=str(local.kubeconfig))
            with Client(local.spec.server, timeout=10.0) as client, api:
                yield Cluster(root, env, client, api)


class Kubectl:
    """``kubectl`` in one namespace of the module's cluster."""

    def __init__(self, cluster: Cluster, namespace: str):
        self.cluster = cluster
        self.namespace = namespace

    def run(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 40) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([KUBECTL, "-n", self.namespace, *args], check=False, input=stdin, capture_output=True,
                                text=True, env=self.cluster.env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        return self.run(*args, stdin=stdin).stdout

    def generate_and_apply(self, *create_args: str) -> str:
        """``kubectl create ... --dry-run=client -o yaml | kubectl apply -f -``."""
        manifest = self("create", *create_args, "--dry-run=client", "-o", "yaml")
        return self("apply", "-f", "-", stdin=manifest)

    def table(self, *args: str) -> list[list[str]]:
        """``kubectl get ...`` as rows of cells (header first)."""
        return [line.split() for line in self("get", *args).splitlines()]


_counter = iter(range(1, 10_000))


def _namespace(cluster: Cluster, prefix: str) -> Kubectl:
    name = f"{prefix}{next(_counter)}"
    cluster.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return Kubectl(cluster, name)


@pytest.fixture
def kubectl(cluster: Cluster) -> Kubectl:
    return _namespace(cluster, "obj")


def _decoded(kubectl: Kubectl, secret: str, key: str) -> str:
    data = json.loads(kubectl("get", "secret", secret, "-o", "json"))["data"]
    return base64.b64decode(data[key]).decode()


# -- ServiceAccounts ---------------------------------------------------------------


class TestServiceAccounts:
    def test_a_new_namespace_gets_a_default_service_account(self, kubectl: Kubectl) -> None:
        """``kubectl get sa`` in a namespace made a moment ago lists ``default``, as on a real cluster."""
        wait_for(lambda: "default" in kubectl("get", "sa", "-o", "name"), 10, message="the default service account")
        rows = kubectl.table("sa")
        assert rows[0] == ["NAME", "SECRETS", "AGE"]
        assert rows[1][:2] == ["default", "0"]

    def test_a_deleted_default_service_account_comes_back(self, kubectl: Kubectl) -> None:
        """The controller recreates ``default`` (a new uid) when somebody deletes it."""
        wait_for(lambda: "default" in kubectl("get", "sa", "-o", "name"), 10, message="the default service account")
        uid = kubectl("get", "sa", "default", "-o", "jsonpath={.metadata.uid}")
        assert kubectl("delete", "sa", "default").strip() == 'serviceaccount "default" deleted'

        def recreated() -> bool:
            run = kubectl.run("get", "sa", "default", "-o", "jsonpath={.metadata.uid}", check=False)
            return run.returncode == 0 and run.stdout not in ("", uid)

        wait_for(recreated, 10, message="a new default service account")

    def test_pods_run_as_the_default_service_account(self, kubectl: Kubectl) -> None:
        """A pod that names no account gets ``serviceAccountName: default``; one naming a missing account is refused."""
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}
        kubectl("apply", "-f", "-", stdin=json.dumps(pod))
        assert kubectl("get", "pod", "p", "-o", "jsonpath={.spec.serviceAccountName}") == "default"
        pod["metadata"]["name"] = "q"
        pod["spec"]["serviceAccountName"] = "robot"
        run = kubectl.run("apply", "-f", "-", stdin=json.dumps(pod), check=False)
        assert run.returncode != 0
        assert 'error looking up service account' in run.stderr and 'serviceaccount "robot" not found' in run.stderr

    def test_service_account_token_secret_is_filled(self, kubectl: Kubectl) -> None:
        """A ``kubernetes.io/service-account-token`` Secret naming an account gets its token, as on a real cluster."""
        wait_for(lambda: "default" in kubectl("get", "sa", "-o", "name"), 10, message="the default service account")
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                  "metadata": {"name": "default-token", "annotations": {"kubernetes.io/service-account.name": "default"}}}
        kubectl("apply", "-f", "-", stdin=json.dumps(secret))

        def token() -> str:
            return kubectl("get", "secret", "default-token", "-o", "jsonpath={.data.token}")

        wait_for(lambda: token() != "", 10, message="the token controller filling the secret")
        claims = base64.b64decode(token()).decode().split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
        assert payload["sub"] == f"system:serviceaccount:{kubectl.namespace}:default"
        assert _decoded(kubectl, "default-token", "namespace") == kubectl.namespace
        assert kubectl.table("secret", "default-token")[1][:3] == ["default-token", "kubernetes.io/service-account-token", "2"]

    def test_create_serviceaccount_through_apply(self, kubectl: Kubectl) -> None:
        """``kubectl create serviceaccount robot`` (generated, then applied) and ``get sa robot``."""
        assert kubectl.generate_and_apply("serviceaccount", "robot").strip() == "serviceaccount/robot created"
        assert kubectl.table("sa", "robot")[1][:2] == ["robot", "0"]

    def test_create_serviceaccount(self, kubectl: Kubectl) -> None:
        """``kubectl create serviceaccount robot`` sends protobuf."""
        assert kubectl("create", "serviceaccount", "robot").strip() == "serviceaccount/robot created"


# -- Secrets -----------------------------------------------------------------------


def _tls_pair(root: Path) -> tuple[Path, Path]:
    cert, key = root / "tls.crt", root / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=example.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


class TestSecrets:
    def test_generic_secret_from_literals(self, kubectl: Kubectl) -> None:
        """``create secret generic s --from-literal=a=b``: Opaque, base64 ``data``, NAME TYPE DATA AGE."""
        out = kubectl.generate_and_apply("secret", "generic", "s", "--from-literal=a=b", "--from-literal=c=d e")
        assert out.strip() == "secret/s created"
        rows = kubectl.table("secret", "s")
        assert rows[0] == ["NAME", "TYPE", "DATA", "AGE"]
        assert rows[1][:3] == ["s", "Opaque", "2"]
        assert kubectl("get", "secret", "s", "-o", "jsonpath={.data.a}") == base64.b64encode(b"b").decode()
        assert _decoded(kubectl, "s", "c") == "d e"

    def test_describe_secret_and_service_account(self, kubectl: Kubectl) -> None:
        """kubectl's own describers: sizes, never values; the account with no tokens."""
        kubectl.generate_and_apply("secret", "generic", "shown", "--from-literal=password=hunter2")
        out = kubectl("describe", "secret", "shown")
        assert "Type:  Opaque" in out and "password:  7 bytes" in out and "hunter2" not in out
        wait_for(lambda: "default" in kubectl("get", "sa", "-o", "name"), 10, message="the default service account")
        out = kubectl("describe", "sa", "default")
        assert out.splitlines()[0].split() == ["Name:", "default"]
        assert "Tokens:" in out

    def test_tls_secret(self, kubectl: Kubectl, cluster: Cluster) -> None:
        """``create secret tls`` makes a ``kubernetes.io/tls`` Secret with both keys."""
        cert, key = _tls_pair(cluster.root)
        out = kubectl.generate_and_apply("secret", "tls", "web-tls", f"--cert={cert}", f"--key={key}")
        assert out.strip() == "secret/web-tls created"
        assert kubectl.table("secret", "web-tls")[1][:3] == ["web-tls", "kubernetes.io/tls", "2"]
        assert _decoded(kubectl, "web-tls", "tls.crt") == cert.read_text()

    def test_docker_registry_secret(self, kubectl: Kubectl) -> None:
        """``create secret docker-registry`` makes a ``.dockerconfigjson`` with the credentials."""
        kubectl.generate_and_apply("secret", "docker-registry", "reg", "--docker-server=registry.example.test",
                                   "--docker-username=u", "--docker-password=p")
        assert kubectl.table("secret", "reg")[1][:3] == ["reg", "kubernetes.io/dockerconfigjson", "1"]
        config = json.loads(_decoded(kubectl, "reg", ".dockerconfigjson"))
        assert config["auths"]["registry.example.test"]["username"] == "u"

    def test_string_data_is_merged_into_data_and_never_stored(self, kubectl: Kubectl) -> None:
        """``stringData`` overwrites ``data`` keys, base64-encoded, and is not in what comes back."""
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sd"},
                  "data": {"a": base64.b64encode(b"old").decode(), "keep": base64.b64encode(b"k").decode()},
                  "stringData": {"a": "new", "b": "two"}}
        kubectl("create", "-f", "-", stdin=json.dumps(secret))
        stored = json.loads(kubectl("get", "secret", "sd", "-o", "json"))
        assert "stringData" not in stored
        assert {k: base64.b64decode(v).decode() for k, v in stored["data"].items()} == {"a": "new", "keep": "k", "b": "two"}
        assert stored["type"] == "Opaque"

    def test_invalid_base64_is_a_bad_request(self, kubectl: Kubectl) -> None:
        """A ``data`` value that is not base64 is refused by the decoder, with Go's wording."""
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"}, "data": {"a": "not base64!"}}
        run = kubectl.run("create", "-f", "-", stdin=json.dumps(secret), check=False)
        assert run.returncode != 0
        assert "illegal base64 data at input byte 3" in run.stderr

    def test_tls_secret_without_a_key_is_invalid(self, kubectl: Kubectl) -> None:
        """A ``kubernetes.io/tls`` Secret needs ``tls.key``: a 422 naming the field."""
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "half"}, "type": "kubernetes.io/tls",
                  "stringData": {"tls.crt": "x"}}
        run = kubectl.run("apply", "-f", "-", stdin=json.dumps(secret), check=False)
        assert run.returncode != 0
        assert 'Secret "half" is invalid: data[tls.key]: ' in run.stderr and "data[tls.key]: Required value" in run.stderr

    def test_immutable_secret_refuses_changes(self, kubectl: Kubectl) -> None:
        """``immutable: true``: a change of data is Forbidden."""
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "frozen"}, "immutable": True,
                  "stringData": {"a": "1"}}
        kubectl("apply", "-f", "-", stdin=json.dumps(secret))
        secret["stringData"] = {"a": "2"}
        run = kubectl.run("apply", "-f", "-", stdin=json.dumps(secret), check=False)
        assert run.returncode != 0
        assert "data: Forbidden: field is immutable when `immutable` is set" in run.stderr

    def test_create_secret_generic(self, kubectl: Kubectl) -> None:
        """``kubectl create secret generic s --from-literal=a=b`` sends protobuf."""
        assert kubectl("create", "secret", "generic", "s", "--from-literal=a=b").strip() == "secret/s created"
        assert _decoded(kubectl, "s", "a") == "b"

    def test_create_secret_tls_and_docker_registry(self, kubectl: Kubectl, cluster: Cluster) -> None:
        cert, key = _tls_pair(cluster.root)
        assert kubectl("create", "secret", "tls", "t", f"--cert={cert}", f"--key={key}").strip() == "secret/t created"
        out = kubectl("create", "secret", "docker-registry", "r", "--docker-server=x.test", "--docker-username=u",
                      "--docker-password=p")
        assert out.strip() == "secret/r created"


# -- Secrets in pods ---------------------------------------------------------------------

CONSUMER = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "consumer"},
    "spec": {
        "containers": [
            {
                "name": "c",
                "image": "busybox",
                "command": ["sh", "-c", "echo A=$A; echo P_a=$P_a; cat /etc/secret/a; echo; sleep 3600"],
                "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "a"}}}],
                "envFrom": [{"prefix": "P_", "secretRef": {"name": "creds"}}],
                "volumeMounts": [{"name": "secret", "mountPath": "/etc/secret", "readOnly": True}],
            }
        ],
        "volumes": [{"name": "secret", "secret": {"secretName": "creds"}}],
    },
}


def _phase_and_reason(kubectl: Kubectl, pod: str) -> tuple[str, str]:
    pod_obj = json.loads(kubectl("get", "pod", pod, "-o", "json"))
    statuses = (pod_obj.get("status") or {}).get("containerStatuses") or [{}]
    waiting = (statuses[0].get("state") or {}).get("waiting") or {}
    return pod_obj["status"].get("phase", ""), f"{waiting.get('reason', '')}: {waiting.get('message', '')}"


class TestSecretsInPods:
    def test_env_env_from_and_volume(self, kubectl: Kubectl) -> None:
        """The values reach the container as env, envFrom and a file, and a changed Secret reaches the file."""
        kubectl.generate_and_apply("secret", "generic", "creds", "--from-literal=a=s3cret")
        kubectl("apply", "-f", "-", stdin=json.dumps(CONSUMER))
        kubectl("wait", "--for=condition=Ready", "pod/consumer", "--timeout=30s")
        wait_for(lambda: "s3cret\n" in kubectl("logs", "consumer"), 10, message="the pod's output")
        assert kubectl("logs", "consumer").splitlines()[:3] == ["A=s3cret", "P_a=s3cret", "s3cret"]
        assert kubectl("exec", "consumer", "--", "cat", "/etc/secret/a") == "s3cret"
        manifest = kubectl("create", "secret", "generic", "creds", "--from-literal=a=rotated", "--dry-run=client", "-o", "yaml")
        kubectl("apply", "-f", "-", stdin=manifest)
        wait_for(lambda: kubectl("exec", "consumer", "--", "cat", "/etc/secret/a") == "rotated", 15,
                 message="the rotated value in the mounted file")

    def test_missing_secret_for_env_is_create_container_config_error(self, kubectl: Kubectl) -> None:
        """``secretKeyRef`` to a missing Secret: CreateContainerConfigError ``secret "nope" not found``."""
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "envless"},
               "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
                                        "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "a"}}}]}]}}
        kubectl("apply", "-f", "-", stdin=json.dumps(pod))
        wait_for(lambda: _phase_and_reason(kubectl, "envless")[1] == 'CreateContainerConfigError: secret "nope" not found',
                 15, message="CreateContainerConfigError")
        rows = kubectl.table("pod", "envless")
        assert rows[1][2] == "CreateContainerConfigError"

    def test_missing_secret_for_a_volume_is_failed_mount(self, kubectl: Kubectl) -> None:
        """A secret volume of a missing Secret: a FailedMount event, the pod stays ContainerCreating."""
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "mountless"},
               "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
                                        "volumeMounts": [{"name": "s", "mountPath": "/s"}]}],
                        "volumes": [{"name": "s", "secret": {"secretName": "nope"}}]}}
        kubectl("apply", "-f", "-", stdin=json.dumps(pod))

        def failed_mount() -> bool:
            events = kubectl("get", "events", "--field-selector=involvedObject.name=mountless", "-o", "json")
            return any(e["reason"] == "FailedMount" and 'secret "nope" not found' in e["message"]
                       for e in json.loads(events)["items"])

        wait_for(failed_mount, 15, message="a FailedMount event")
        assert kubectl.table("pod", "mountless")[1][2] == "ContainerCreating"
        kubectl.generate_and_apply("secret", "generic", "nope", "--from-literal=k=v")
        kubectl("wait", "--for=condition=Ready", "pod/mountless", "--timeout=40s")


# -- tokens and access reviews ---------------------------------------------------------------


class TestTokensAndReviews:
    def test_token_request_through_the_official_client(self, kubectl: Kubectl, cluster: Cluster) -> None:
        """``serviceaccounts/default/token`` answers a JWT naming the account (JSON, as the Python client sends)."""
        wait_for(lambda: "default" in kubectl("get", "sa", "-o", "name"), 10, message="the default service account")
        core = k8s.CoreV1Api(cluster.api)
        answer = core.create_namespaced_service_account_token(
            "default", kubectl.namespace, k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[]))
        )
        _header, payload, signature = answer.status.token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["sub"] == f"system:serviceaccount:{kubectl.namespace}:default"
        assert claims["kubernetes.io"]["serviceaccount"]["name"] == "default"
        assert claims["exp"] - claims["iat"] == 3600
        assert signature

    def test_token_for_a_missing_account_is_not_found(self, kubectl: Kubectl, cluster: Cluster) -> None:
        core = k8s.CoreV1Api(cluster.api)
        with pytest.raises(k8s.ApiException) as caught:
            core.create_namespaced_service_account_token(
                "ghost", kubectl.namespace, k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[]))
            )
        assert caught.value.status == 404

    def test_self_subject_access_review_through_the_official_client(self, cluster: Cluster) -> None:
        """An access review is answered (allowed) and not stored: list is not even a verb."""
        authz = k8s.AuthorizationV1Api(cluster.api)
        review = authz.create_self_subject_access_review(k8s.V1SelfSubjectAccessReview(
            spec=k8s.V1SelfSubjectAccessReviewSpec(resource_attributes=k8s.V1ResourceAttributes(verb="create", resource="pods"))
        ))
        assert review.status.allowed is True
        rules = authz.create_self_subject_rules_review(k8s.V1SelfSubjectRulesReview(
            spec=k8s.V1SelfSubjectRulesReviewSpec(namespace="default")
        ))
        assert rules.status.resource_rules[0].verbs == ["*"]
        run = Kubectl(cluster, "default").run("get", "selfsubjectaccessreviews", check=False)
        assert run.returncode != 0
        assert "MethodNotAllowed" in run.stderr

    def test_api_resources_lists_the_kinds(self, kubectl: Kubectl) -> None:
        """``kubectl api-resources``: short names, groups and the reviews' create-only verb."""
        out = kubectl("api-resources", "-o", "wide")
        rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
        assert rows["serviceaccounts"][1] == "sa"
        assert rows["resourcequotas"][1] == "quota"
        assert rows["ingresses"][1:3] == ["ing", "networking.k8s.io/v1"]
        assert rows["priorityclasses"][1:3] == ["pc", "scheduling.k8s.io/v1"]
        assert rows["secrets"][1:3] == ["v1", "true"]
        assert rows["selfsubjectaccessreviews"][-1] == "create"
        assert rows["clusterroles"][1] == "rbac.authorization.k8s.io/v1"

    def test_self_subject_review_through_the_official_client(self, cluster: Cluster) -> None:
        """What ``kubectl auth whoami`` asks: the admin user."""
        review = k8s.AuthenticationV1Api(cluster.api).create_self_subject_review(k8s.V1SelfSubjectReview())
        assert review.status.user_info.username == "kubernetes-admin"

    def test_auth_whoami(self, kubectl: Kubectl) -> None:
        lines = kubectl("auth", "whoami").splitlines()
        assert lines[1].split() == ["Username", "kubernetes-admin"]

    def test_create_token(self, kubectl: Kubectl) -> None:
        """``kubectl create token default`` prints a token."""
        wait_for(lambda: "default" in kubectl("get", "sa", "-o", "name"), 10, message="the default service account")
        token = kubectl("create", "token", "default").strip()
        assert token.count(".") == 2

    def test_auth_can_i(self, kubectl: Kubectl) -> None:
        """``kubectl auth can-i create deployments`` says yes; ``--list`` prints the rules table."""
        assert kubectl("auth", "can-i", "create", "deployments").strip() == "yes"
        assert kubectl("auth", "can-i", "create", "pods").strip() == "yes"
        listing = kubectl("auth", "can-i", "--list").splitlines()
        assert listing[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
        assert listing[1].split() == ["*.*", "[]", "[]", "[*]"]


# -- storage-only kinds ------------------------------------------------------------------------


class TestStorageKinds:
    def test_role_and_rolebinding(self, kubectl: Kubectl) -> None:
        """``create role`` and ``create rolebinding`` (generated and applied); ROLE column is Kind/name."""
        assert kubectl.generate_and_apply("role", "reader", "--verb=get,list", "--resource=pods").strip() == \
            "role.rbac.authorization.k8s.io/reader created"
        out = kubectl.generate_and_apply("rolebinding", "read", "--role=reader", "--user=alice",
                                         f"--serviceaccount={kubectl.namespace}:default")
        assert out.strip() == "rolebinding.rbac.authorization.k8s.io/read created"
        assert kubectl.table("role")[0] == ["NAME", "CREATED", "AT"]
        rows = kubectl.table("rolebinding", "-o", "wide")
        assert rows[0] == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
        assert rows[1][:2] == ["read", "Role/reader"]
        assert rows[1][3:] == ["alice", f"{kubectl.namespace}:default"]

    def test_rolebinding_role_ref_cannot_change(self, kubectl: Kubectl) -> None:
        kubectl.generate_and_apply("rolebinding", "rb", "--clusterrole=view", "--user=bob")
        manifest = kubectl("create", "rolebinding", "rb", "--clusterrole=edit", "--user=bob", "--dry-run=client", "-o", "json")
        run = kubectl.run("apply", "-f", "-", stdin=manifest, check=False)
        assert run.returncode != 0
        assert "cannot change roleRef" in run.stderr

    def test_clusterrole_and_binding(self, kubectl: Kubectl) -> None:
        name = f"viewer-{kubectl.namespace}"
        kubectl.generate_and_apply("clusterrole", name, "--verb=get", "--resource=nodes")
        kubectl.generate_and_apply("clusterrolebinding", name, f"--clusterrole={name}", "--group=devs")
        rows = kubectl.table("clusterrolebinding", name)
        assert rows[1][:2] == [name, f"ClusterRole/{name}"]
        kubectl("delete", "clusterrolebinding", name)
        kubectl("delete", "clusterrole", name)

    def test_quota(self, kubectl: Kubectl) -> None:
        """``create quota``: status.hard mirrors spec.hard, the controller counts usage; REQUEST and LIMIT columns."""
        kubectl.generate_and_apply("quota", "q", "--hard=pods=10,limits.cpu=2,requests.memory=1Gi")
        rows = kubectl.table("quota", "q")
        assert rows[0] == ["NAME", "AGE", "REQUEST", "LIMIT"]
        text = kubectl("get", "quota", "q")
        assert "pods: 0/10, requests.memory: 0/1Gi" in text and "limits.cpu: 0/2" in text
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "counted"},
               "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
                                        "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}]}}
        kubectl("apply", "-f", "-", stdin=json.dumps(pod))
        wait_for(lambda: "pods: 1/10, requests.memory: 64Mi/1Gi" in kubectl("get", "quota", "q"), 10,
                 message="the quota controller counting the pod")
        assert "limits.cpu: 500m/2" in kubectl("get", "quota", "q")

    def test_ingress(self, kubectl: Kubectl) -> None:
        """``create ingress --rule=host/path=svc:port``."""
        out = kubectl.generate_and_apply("ingress", "web", "--rule=shop.example.test/=web:80", "--class=nginx")
        assert out.strip() == "ingress.networking.k8s.io/web created"
        rows = kubectl.table("ing", "web")
        assert rows[0] == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
        assert rows[1][:4] == ["web", "nginx", "shop.example.test", "80"]

    def test_ingress_without_path_type_is_invalid(self, kubectl: Kubectl) -> None:
        ing = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "bad"},
               "spec": {"rules": [{"http": {"paths": [{"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}
        run = kubectl.run("apply", "-f", "-", stdin=json.dumps(ing), check=False)
        assert run.returncode != 0
        assert "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified" in run.stderr

    def test_priorityclass(self, kubectl: Kubectl) -> None:
        name = f"high-{kubectl.namespace}"
        kubectl.generate_and_apply("priorityclass", name, "--value=1000", "--description=high")
        rows = kubectl.table("pc", name)
        assert rows[0] == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
        assert rows[1][:3] == [name, "1000", "false"] and rows[1][-1] == "PreemptLowerPriority"
        kubectl("delete", "pc", name)

    def test_namespace_deletion_takes_the_new_kinds_with_it(self, cluster: Cluster) -> None:
        """Secrets, roles and quotas go with their namespace; the controller does not recreate ``default`` in it."""
        kubectl = _namespace(cluster, "gone")
        kubectl.generate_and_apply("secret", "generic", "s", "--from-literal=a=b")
        kubectl.generate_and_apply("role", "r", "--verb=get", "--resource=pods")
        kubectl("delete", "namespace", kubectl.namespace, "--timeout=30s")
        wait_for(lambda: not cluster.client.list("Secret", kubectl.namespace)["items"], 10, message="secrets gone")
        assert not cluster.client.list("ServiceAccount", kubectl.namespace)["items"]

    def test_create_generators(self, kubectl: Kubectl) -> None:
        """The direct ``kubectl create`` generators (protobuf bodies)."""
        assert kubectl("create", "role", "r", "--verb=get", "--resource=pods").strip() == "role.rbac.authorization.k8s.io/r created"
        assert kubectl("create", "rolebinding", "rb", "--role=r", "--user=u").strip() == \
            "rolebinding.rbac.authorization.k8s.io/rb created"
        name = f"cr-{kubectl.namespace}"
        assert kubectl("create", "clusterrole", name, "--verb=get", "--resource=pods").strip() == \
            f"clusterrole.rbac.authorization.k8s.io/{name} created"
        assert kubectl("create", "quota", "q", "--hard=pods=1").strip() == "resourcequota/q created"
        assert kubectl("create", "ingress", "i", "--rule=a.test/=s:80").strip() == "ingress.networking.k8s.io/i created"
        assert kubectl("create", "priorityclass", f"pc-{kubectl.namespace}", "--value=10").strip() == \
            f"priorityclass.scheduling.k8s.io/pc-{kubectl.namespace} created"
        kubectl("delete", "clusterrole", name)
        kubectl("delete", "pc", f"pc-{kubectl.namespace}")
