"""Secret, ServiceAccount, RBAC, ResourceQuota, Ingress, PriorityClass and the
access reviews: decoding, defaulting, validation, printing, tokens, and what
the kubelet makes of a Secret."""

from __future__ import annotations

import base64
import copy
import tempfile
from pathlib import Path
from typing import Any

import pytest

from apiserver.http import discovery
from apiserver.registry import Registry
from apiserver.store import Store
from controllermanager.resourcequota import pod_counts, quota_usage
from kemu.api import reviews
from kemu.api.defaults import apply_defaults
from kemu.api.errors import ApiError
from kemu.api.kinds import resolve
from kemu.api.validation import check_schema, validate
from kemu.cli.printers import table_columns, table_row
from kubelet.podenv import EnvError, VolumeError, container_env, prepare_volumes, secrets_used
from kemu.types import Obj

NOW = 1_800_000_000.0
CREATED = "2027-01-15T08:00:00Z"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def admitted(obj: Obj, old: Obj | None = None) -> Obj:
    """``obj`` decoded, defaulted and validated as the apiserver does a create (or update)."""
    obj = copy.deepcopy(obj)
    check_schema(obj)
    apply_defaults(obj)
    validate(obj, old)
    return obj


def messages(obj: Obj, old: Obj | None = None) -> list[str]:
    """The causes of the 422 ``obj`` gets."""
    with pytest.raises(ApiError) as info:
        admitted(obj, old)
    assert info.value.code == 422, info.value.status
    return [c["message"] for c in info.value.status["details"]["causes"]]


def secret(**fields: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}, **fields}


class TestSecretDecodingAndDefaults:
    def test_type_defaults_to_opaque(self) -> None:
        """``SetDefaults_Secret``: no type is ``Opaque``."""
        assert admitted(secret(data={"a": b64("b")}))["type"] == "Opaque"

    def test_string_data_is_folded_into_data(self) -> None:
        """``stringData`` overwrites ``data`` keys, base64-encoded, and disappears."""
        out = admitted(secret(data={"a": b64("old"), "k": b64("keep")}, stringData={"a": "new", "b": "two"}))
        assert "stringData" not in out
        assert out["data"] == {"a": b64("new"), "k": b64("keep"), "b": b64("two")}

    def test_invalid_base64_is_a_bad_request(self) -> None:
        """Go's decoder wording, with the field path as the cause."""
        with pytest.raises(ApiError) as info:
            check_schema(secret(data={"a": "no base64"}))
        assert info.value.code == 400
        assert info.value.message == 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 2'
        assert info.value.status["details"]["causes"][0]["field"] == "data[a]"

    def test_unknown_field_is_strict_decoding_error(self) -> None:
        with pytest.raises(ApiError) as info:
            check_schema(secret(strngData={"a": "b"}))
        assert 'strict decoding error: unknown field "strngData"' in info.value.message


class TestSecretValidation:
    def test_key_names(self) -> None:
        """Keys are config-map keys: ``a/b`` is refused under ``data[a/b]``."""
        (msg,) = messages(secret(stringData={"a/b": "x"}))
        assert msg.startswith('data[a/b]: Invalid value: "a/b": a valid config key must consist of alphanumeric characters')

    def test_size_limit_counts_decoded_bytes(self) -> None:
        """1 MiB of values is fine; one byte more is ``Too long``."""
        admitted(secret(stringData={"a": "x" * (1024 * 1024)}))
        assert messages(secret(stringData={"a": "x" * (1024 * 1024), "b": "y"})) == [
            "data: Too long: must have at most 1048576 bytes"
        ]

    @pytest.mark.parametrize(
        ("kind", "data", "expected"),
        [
            ("kubernetes.io/tls", {}, ["data[tls.crt]: Required value", "data[tls.key]: Required value"]),
            ("kubernetes.io/tls", {"tls.crt": "c"}, ["data[tls.key]: Required value"]),
            ("kubernetes.io/dockerconfigjson", {}, ["data[.dockerconfigjson]: Required value"]),
            ("kubernetes.io/ssh-auth", {}, ["data[ssh-privatekey]: Required value"]),
            ("kubernetes.io/basic-auth", {}, ["data[username]: Required value", "data[password]: Required value"]),
            (
                "kubernetes.io/service-account-token",
                {},
                ["metadata.annotations[kubernetes.io/service-account.name]: Required value"],
            ),
        ],
    )
    def test_each_type_requires_its_keys(self, kind: str, data: dict[str, str], expected: list[str]) -> None:
        assert messages(secret(type=kind, stringData=data)) == expected

    def test_well_formed_typed_secrets_pass(self) -> None:
        admitted(secret(type="kubernetes.io/tls", stringData={"tls.crt": "c", "tls.key": "k"}))
        admitted(secret(type="kubernetes.io/dockerconfigjson", stringData={".dockerconfigjson": '{"auths": {}}'}))
        admitted(secret(type="kubernetes.io/basic-auth", stringData={"username": "u"}))
        admitted(secret(type="example.com/custom", stringData={"anything": "goes"}))

    def test_docker_config_must_be_json(self) -> None:
        (msg,) = messages(secret(type="kubernetes.io/dockerconfigjson", stringData={".dockerconfigjson": "{"}))
        assert msg.startswith('data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": ')

    def test_immutable_secret(self) -> None:
        """Once ``immutable``, data and the flag itself stay; the type never changes."""
        old = admitted(secret(immutable=True, stringData={"a": "1"}))
        assert messages(secret(immutable=True, stringData={"a": "2"}), old) == [
            "data: Forbidden: field is immutable when `immutable` is set"
        ]
        assert "immutable: Forbidden: field is immutable when `immutable` is set" in messages(
            secret(stringData={"a": "1"}), old
        )
        plain = admitted(secret(stringData={"a": "1"}))
        assert messages(secret(type="kubernetes.io/tls", stringData={"tls.crt": "c", "tls.key": "k"}), plain) == [
            'type: Invalid value: "kubernetes.io/tls": field is immutable'
        ]


def rbac(kind: str, **fields: Any) -> Obj:
    meta: Obj = {"name": "r"}
    if kind in ("Role", "RoleBinding"):
        meta["namespace"] = "default"
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta, **fields}


class TestRbac:
    def test_role_rules(self) -> None:
        """Verbs are required; resource rules need groups and resources; a Role has no URLs."""
        assert messages(rbac("Role", rules=[{"resources": ["pods"]}])) == [
            "rules[0].verbs: Required value: verbs must contain at least one value",
            "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
        ]
        assert messages(rbac("Role", rules=[{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}])) == [
            'rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs'
        ]
        admitted(rbac("Role", rules=[{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]))
        admitted(rbac("ClusterRole", rules=[{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]))

    def test_rbac_names_are_path_segments(self) -> None:
        """``system:viewer`` is a fine role name; ``a/b`` is not."""
        role = rbac("ClusterRole", rules=[])
        role["metadata"]["name"] = "system:viewer"
        admitted(role)
        role["metadata"]["name"] = "a/b"
        assert messages(role) == ["metadata.name: Invalid value: \"a/b\": may not contain '/'"]

    def test_binding_defaults_and_checks(self) -> None:
        """Users get the RBAC group, service accounts the core one; a bad kind is named."""
        binding = admitted(
            rbac(
                "RoleBinding",
                roleRef={"kind": "Role", "name": "reader"},
                subjects=[{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
            )
        )
        assert binding["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
        assert [s["apiGroup"] for s in binding["subjects"]] == ["rbac.authorization.k8s.io", ""]
        assert messages(rbac("ClusterRoleBinding", roleRef={"kind": "Role", "name": "x"}, subjects=[
            {"kind": "Robot", "name": "r"}, {"kind": "ServiceAccount", "name": "default"}
        ])) == [
            'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"',
            'subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"',
            "subjects[1].namespace: Required value",
        ]

    def test_role_ref_is_immutable(self) -> None:
        old = admitted(rbac("RoleBinding", roleRef={"kind": "ClusterRole", "name": "view"}))
        (msg,) = messages(rbac("RoleBinding", roleRef={"kind": "ClusterRole", "name": "edit"}), old)
        assert msg.startswith("roleRef: Invalid value: ") and msg.endswith(": cannot change roleRef")


def quota(hard: dict[str, Any], **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "default"},
            "spec": {"hard": hard, **spec}}


class TestResourceQuota:
    def test_standard_and_qualified_names(self) -> None:
        admitted(quota({"pods": "10", "requests.cpu": "2", "count/deployments.apps": "3", "example.com/gpu": "1"}))
        assert messages(quota({"widgets": "1"})) == [
            'spec.hard[widgets]: Invalid value: "widgets": must be a standard resource type or fully qualified'
        ]

    def test_quantities(self) -> None:
        """Negative amounts and fractional object counts are refused."""
        assert messages(quota({"cpu": "-1", "pods": "1500m"})) == [
            "spec.hard[cpu]: Invalid value: -1: must be greater than or equal to 0",
            "spec.hard[pods]: Invalid value: 1500m: must be an integer",
        ]

    def test_scopes(self) -> None:
        (msg,) = messages(quota({"pods": "1"}, scopes=["Weekend"]))
        assert msg.startswith('spec.scopes[0]: Unsupported value: "Weekend": supported values: "Terminating"')


def ingress(**spec: Any) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "default"},
            "spec": spec}


BACKEND = {"service": {"name": "web", "port": {"number": 80}}}


class TestIngress:
    def test_rules_or_default_backend(self) -> None:
        assert messages(ingress()) == [
            "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"
        ]
        admitted(ingress(defaultBackend=BACKEND))

    def test_paths(self) -> None:
        """pathType is required and known; Exact and Prefix paths are absolute."""
        bad = ingress(rules=[{"host": "shop.example.test", "http": {"paths": [
            {"path": "/", "backend": BACKEND},
            {"path": "rel", "pathType": "Prefix", "backend": BACKEND},
            {"path": "/", "pathType": "Regex", "backend": BACKEND},
        ]}}])
        assert messages(bad) == [
            "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
            'spec.rules[0].http.paths[1].path: Invalid value: "rel": must be an absolute path',
            'spec.rules[0].http.paths[2].pathType: Unsupported value: "Regex": supported values: "Exact", '
            '"ImplementationSpecific", "Prefix"',
        ]

    def test_hosts_and_ports(self) -> None:
        bad = ingress(rules=[
            {"host": "1.2.3.4", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                                                     "backend": {"service": {"name": "web", "port": {}}}}]}},
        ])
        assert messages(bad) == [
            'spec.rules[0].host: Invalid value: "1.2.3.4": must be a DNS name, not an IP address',
            "spec.rules[0].http.paths[0].backend.service.port: Required value: port name or number is required",
        ]
        admitted(ingress(rules=[{"host": "*.example.test", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"name": "http"}}}}]}}]))


class TestPriorityClass:
    def pc(self, name: str = "high", **fields: Any) -> Obj:
        return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, **fields}

    def test_defaults_and_limits(self) -> None:
        assert admitted(self.pc(value=1000))["preemptionPolicy"] == "PreemptLowerPriority"
        assert messages(self.pc(value=2_000_000_000)) == [
            "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
        ]
        assert messages(self.pc("system-mine", value=1)) == [
            "metadata.name: Invalid value: \"system-mine\": priority class names with 'system-' prefix are reserved"
        ]

    def test_value_may_not_change(self) -> None:
        old = admitted(self.pc(value=10))
        assert messages(self.pc(value=11), old) == ["value: Forbidden: may not be changed in an update."]

    def test_cluster_scoped(self) -> None:
        pc = self.pc(value=1)
        pc["metadata"]["namespace"] = "default"
        assert messages(pc) == ["metadata.namespace: Forbidden: not allowed on this type"]


class TestKindsAndDiscovery:
    @pytest.mark.parametrize(
        ("word", "kind"),
        [("sa", "ServiceAccount"), ("secrets", "Secret"), ("quota", "ResourceQuota"), ("ing", "Ingress"),
         ("pc", "PriorityClass"), ("roles.rbac.authorization.k8s.io", "Role"), ("clusterrolebinding", "ClusterRoleBinding")],
    )
    def test_kubectl_words(self, word: str, kind: str) -> None:
        assert resolve(word).kind == kind

    def test_reviews_are_create_only(self) -> None:
        """Discovery lists ``create`` alone for the access reviews, as the apiserver does."""
        doc = discovery.legacy_resource_list("authorization.k8s.io", "v1")
        assert doc is not None
        assert {r["name"]: r["verbs"] for r in doc["resources"]} == {
            "selfsubjectaccessreviews": ["create"],
            "selfsubjectrulesreviews": ["create"],
        }

    def test_token_subresource(self) -> None:
        doc = discovery.legacy_resource_list("", "v1")
        assert doc is not None
        token = next(r for r in doc["resources"] if r["name"] == "serviceaccounts/token")
        assert (token["group"], token["version"], token["kind"], token["verbs"]) == (
            "authentication.k8s.io", "v1", "TokenRequest", ["create"]
        )


class TestPrinters:
    def meta(self, name: str, ns: str | None = "default") -> Obj:
        m: Obj = {"name": name, "creationTimestamp": CREATED}
        if ns:
            m["namespace"] = ns
        return m

    def test_secret(self) -> None:
        assert table_columns("Secret", False) == ["NAME", "TYPE", "DATA", "AGE"]
        row = table_row({"metadata": self.meta("s"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
                        kind="Secret", wide=False, now=NOW)
        assert row[:3] == ["s", "kubernetes.io/tls", "2"]

    def test_service_account(self) -> None:
        assert table_columns("ServiceAccount", False) == ["NAME", "SECRETS", "AGE"]
        assert table_row({"metadata": self.meta("default")}, kind="ServiceAccount", wide=False, now=NOW)[:2] == ["default", "0"]

    def test_roles_show_created_at(self) -> None:
        """Roles have no printer upstream: the apiserver's default table."""
        assert table_columns("Role", False) == ["NAME", "CREATED AT"]
        assert table_row({"metadata": self.meta("r")}, kind="Role", wide=False, now=NOW) == ["r", CREATED]

    def test_role_binding_wide(self) -> None:
        binding = {"metadata": self.meta("rb"), "roleRef": {"kind": "ClusterRole", "name": "view"},
                   "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                                {"kind": "ServiceAccount", "name": "default", "namespace": "web"}]}
        assert table_columns("RoleBinding", True) == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
        row = table_row(binding, kind="RoleBinding", wide=True, now=NOW)
        assert row[:2] == ["rb", "ClusterRole/view"] and row[3:] == ["alice", "devs", "web:default"]

    def test_resource_quota(self) -> None:
        """``used/hard`` per resource, sorted; ``limits.*`` in LIMIT."""
        q = {"metadata": self.meta("q"), "status": {"hard": {"pods": "10", "limits.cpu": "2", "requests.memory": "1Gi"},
                                                    "used": {"pods": "3", "limits.cpu": "500m"}}}
        row = table_row(q, kind="ResourceQuota", wide=False, now=NOW)
        assert row[0] == "q" and row[2:] == ["pods: 3/10, requests.memory: 0/1Gi", "limits.cpu: 500m/2"]

    def test_ingress(self) -> None:
        ing = {"metadata": self.meta("i"), "spec": {"rules": [{"host": f"h{i}.test"} for i in range(5)], "tls": [{}]},
               "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.9"}]}}}
        row = table_row(ing, kind="Ingress", wide=False, now=NOW)
        assert row[:5] == ["i", "<none>", "h0.test,h1.test,h2.test + 2 more...", "127.0.0.9", "80, 443"]
        assert table_row({"metadata": self.meta("j"), "spec": {"rules": [{}]}}, kind="Ingress", wide=False, now=NOW)[2] == "*"

    def test_priority_class(self) -> None:
        pc = {"metadata": self.meta("high", None), "value": 1000, "globalDefault": True, "preemptionPolicy": "Never"}
        row = table_row(pc, kind="PriorityClass", wide=False, now=NOW, all_namespaces=True)
        assert row[:3] == ["high", "1000", "true"] and row[-1] == "Never"


class TestReviews:
    def test_access_review_allows_everything(self) -> None:
        review = reviews.evaluate({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                   "metadata": {"creationTimestamp": None},
                                   "spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}})
        assert review["status"] == {"allowed": True, "reason": reviews.ADMIN_REASON}

    def test_access_review_needs_exactly_one_attribute_set(self) -> None:
        with pytest.raises(ApiError) as info:
            reviews.evaluate({"kind": "SelfSubjectAccessReview", "spec": {}})
        assert info.value.code == 422
        assert "exactly one of nonResourceAttributes or resourceAttributes must be specified" in info.value.message

    def test_self_subject_review_names_the_admin(self) -> None:
        review = reviews.evaluate({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        assert review["status"]["userInfo"]["username"] == "kubernetes-admin"
        assert "spec" not in review

    def test_rules_review_is_cluster_admin(self) -> None:
        review = reviews.evaluate({"kind": "SelfSubjectRulesReview", "spec": {"namespace": "default"}})
        assert review["status"]["resourceRules"] == [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
        assert review["status"]["nonResourceRules"] == [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
        with pytest.raises(ApiError) as info:
            reviews.evaluate({"kind": "SelfSubjectRulesReview", "spec": {}})
        assert info.value.code == 400

    def test_token_claims_and_signature(self) -> None:
        sa = {"metadata": {"name": "default", "namespace": "web", "uid": "u-1"}}
        answer = reviews.issue_token(sa, {"spec": {"audiences": ["api"], "expirationSeconds": 600}}, now=NOW, key=b"k")
        claims = reviews.decode_token_claims(answer["status"]["token"], b"k")
        assert claims["sub"] == "system:serviceaccount:web:default"
        assert claims["aud"] == ["api"] and claims["exp"] == int(NOW) + 600
        assert claims["kubernetes.io"]["serviceaccount"] == {"name": "default", "uid": "u-1"}
        assert answer["status"]["expirationTimestamp"] == "2027-01-15T08:10:00Z"
        with pytest.raises(ValueError):
            reviews.decode_token_claims(answer["status"]["token"], b"other key")

    def test_token_defaults_and_limits(self) -> None:
        sa = {"metadata": {"name": "default", "namespace": "web"}}
        answer = reviews.issue_token(sa, {}, now=NOW, key=b"k")
        assert answer["spec"]["audiences"] == [reviews.DEFAULT_AUDIENCE]
        assert answer["spec"]["expirationSeconds"] == 3600
        with pytest.raises(ApiError) as info:
            reviews.issue_token(sa, {"spec": {"expirationSeconds": 60}}, now=NOW, key=b"k")
        assert "may not specify a duration less than 10 minutes" in info.value.message


class TestRegistry:
    @pytest.fixture
    def registry(self) -> Any:
        with tempfile.TemporaryDirectory() as d:
            store = Store(Path(d) / "db.sqlite")
            reg = Registry(store)
            with store.transaction():
                reg.ensure_system_namespaces()
            yield reg
            store.close()

    def create(self, registry: Registry, kind: str, ns: str | None, body: Obj) -> Obj:
        with registry.store.transaction():
            return registry.create(kind, ns, body)

    def test_pods_default_to_the_default_service_account(self, registry: Registry) -> None:
        pod = self.create(registry, "Pod", "default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        assert (pod["spec"]["serviceAccountName"], pod["spec"]["serviceAccount"]) == ("default", "default")

    def test_a_named_service_account_must_exist(self, registry: Registry) -> None:
        body = {"metadata": {"name": "p"}, "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "image": "busybox"}]}}
        with pytest.raises(ApiError) as info:
            self.create(registry, "Pod", "default", body)
        assert info.value.code == 403
        assert 'error looking up service account default/robot: serviceaccount "robot" not found' in info.value.message
        self.create(registry, "ServiceAccount", "default", {"metadata": {"name": "robot"}})
        assert self.create(registry, "Pod", "default", body)["spec"]["serviceAccountName"] == "robot"

    def test_quota_status_mirrors_spec(self, registry: Registry) -> None:
        q = self.create(registry, "ResourceQuota", "default", {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "2"}}})
        assert q["status"] == {"hard": {"pods": "2"}, "used": {"pods": "0"}}
        with registry.store.transaction():
            q2 = registry.patch("ResourceQuota", "default", "q", {"spec": {"hard": {"pods": "5", "secrets": "1"}}})
        assert q2["status"]["hard"] == {"pods": "5", "secrets": "1"}

    def test_reviews_are_not_stored(self, registry: Registry) -> None:
        review = self.create(registry, "SelfSubjectAccessReview", None, {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}})
        assert review["status"]["allowed"] is True
        assert registry.list("SelfSubjectAccessReview", None)["items"] == []


def consumer(**container: Any) -> Obj:
    return {"metadata": {"name": "p", "namespace": "web", "uid": "u"},
            "spec": {"containers": [{"name": "c", **container}], "enableServiceLinks": False}}


SECRETS = {("web", "creds"): {"data": {"user": b64("admin"), "pass": b64("s3cret")}}}


def get_secret(ns: str, name: str) -> Obj | None:
    return SECRETS.get((ns, name))


def no_configmaps(ns: str, name: str) -> Obj | None:
    return None


class TestKubeletSecrets:
    def env(self, pod: Obj) -> dict[str, str]:
        return container_env(pod, pod["spec"]["containers"][0], node_ip="127.0.0.1", services=[],
                             get_configmap=no_configmaps, get_secret=get_secret)

    def test_secret_key_ref_and_env_from(self) -> None:
        pod = consumer(envFrom=[{"secretRef": {"name": "creds"}, "prefix": "DB_"}],
                       env=[{"name": "P", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "pass"}}}])
        assert self.env(pod) == {"DB_user": "admin", "DB_pass": "s3cret", "P": "s3cret"}

    def test_missing_secret_and_key(self) -> None:
        """The kubelet's words, which become CreateContainerConfigError."""
        with pytest.raises(EnvError, match=r'^secret "nope" not found$'):
            self.env(consumer(env=[{"name": "P", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]))
        with pytest.raises(EnvError, match=r"^couldn't find key k in Secret web/creds$"):
            self.env(consumer(env=[{"name": "P", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}]))
        with pytest.raises(EnvError, match=r'^secret "nope" not found$'):
            self.env(consumer(envFrom=[{"secretRef": {"name": "nope"}}]))
        optional = consumer(env=[{"name": "P", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}}],
                            envFrom=[{"secretRef": {"name": "nope", "optional": True}}])
        assert self.env(optional) == {}

    def test_secret_volume_with_items_and_modes(self, tmp_path: Path) -> None:
        pod = consumer()
        pod["spec"]["volumes"] = [{"name": "s", "secret": {"secretName": "creds", "defaultMode": 0o400,
                                                           "items": [{"key": "pass", "path": "db/password", "mode": 0o600},
                                                                     {"key": "user", "path": "user"}]}}]
        vols = prepare_volumes(pod, tmp_path, no_configmaps, get_secret)
        assert (vols["s"] / "db" / "password").read_bytes() == b"s3cret"
        assert (vols["s"] / "db" / "password").stat().st_mode & 0o777 == 0o600
        assert (vols["s"] / "user").stat().st_mode & 0o777 == 0o400

    def test_secret_volume_follows_changes(self, tmp_path: Path) -> None:
        """A re-sync rewrites the files from the Secret as it is now, dropping removed keys."""
        pod = consumer()
        pod["spec"]["volumes"] = [{"name": "s", "secret": {"secretName": "creds"}}]
        state = {"data": {"a": b64("1"), "b": b64("2")}}
        vols = prepare_volumes(pod, tmp_path, no_configmaps, lambda ns, name: state)
        assert sorted(p.name for p in vols["s"].iterdir()) == ["a", "b"]
        state["data"] = {"a": b64("changed")}
        prepare_volumes(pod, tmp_path, no_configmaps, lambda ns, name: state)
        assert [p.name for p in vols["s"].iterdir()] == ["a"]
        assert (vols["s"] / "a").read_text() == "changed"

    def test_missing_secret_volume(self, tmp_path: Path) -> None:
        pod = consumer()
        pod["spec"]["volumes"] = [{"name": "s", "secret": {"secretName": "nope"}}]
        with pytest.raises(VolumeError, match=r'^secret "nope" not found$'):
            prepare_volumes(pod, tmp_path, no_configmaps, get_secret)
        pod["spec"]["volumes"][0]["secret"]["optional"] = True
        assert list(prepare_volumes(pod, tmp_path, no_configmaps, get_secret)["s"].iterdir()) == []

    def test_projected_secret_source(self, tmp_path: Path) -> None:
        pod = consumer()
        pod["spec"]["volumes"] = [{"name": "all", "projected": {"sources": [
            {"secret": {"name": "creds", "items": [{"key": "user", "path": "u"}]}}]}}]
        assert (prepare_volumes(pod, tmp_path, no_configmaps, get_secret)["all"] / "u").read_text() == "admin"

    def test_secrets_used(self) -> None:
        pod = consumer(envFrom=[{"secretRef": {"name": "a"}}],
                       env=[{"name": "X", "valueFrom": {"secretKeyRef": {"name": "b", "key": "k"}}}])
        pod["spec"]["volumes"] = [{"name": "v", "secret": {"secretName": "c"}},
                                  {"name": "w", "projected": {"sources": [{"secret": {"name": "d"}}]}}]
        assert secrets_used(pod) == {"a", "b", "c", "d"}


class TestQuotaUsage:
    def pod(self, phase: str = "Running", **resources: Any) -> Obj:
        return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "resources": resources}]},
                "status": {"phase": phase}}

    def test_counts_and_compute(self) -> None:
        """Terminal pods do not count; a limit alone counts as the request."""
        pods = [self.pod(requests={"cpu": "250m", "memory": "64Mi"}, limits={"cpu": "1"}),
                self.pod(limits={"cpu": "500m", "memory": "128Mi"}),
                self.pod("Succeeded", requests={"cpu": "4"})]
        q = {"spec": {"hard": {"pods": "10", "requests.cpu": "2", "limits.cpu": "4", "requests.memory": "1Gi",
                               "secrets": "5", "count/deployments.apps": "3", "services.nodeports": "2"}}}
        services = [{"spec": {"type": "NodePort", "ports": [{"nodePort": 30001}, {"nodePort": 30002}]}}, {"spec": {}}]
        used = quota_usage(q, {"Pod": pods, "Secret": [{}], "Deployment": [{}, {}], "Service": services})
        assert used == {"pods": "2", "requests.cpu": "750m", "limits.cpu": "1500m", "requests.memory": "192Mi",
                        "secrets": "1", "count/deployments.apps": "2", "services.nodeports": "2"}

    def test_scopes(self) -> None:
        best_effort, burstable = self.pod(), self.pod(requests={"cpu": "1"})
        assert pod_counts([best_effort, burstable], ["pods"], ["BestEffort"]) == {"pods": "1"}
        assert pod_counts([best_effort, burstable], ["pods"], ["NotBestEffort"]) == {"pods": "1"}
        assert pod_counts([best_effort, burstable], ["pods"], ["Terminating"]) == {"pods": "0"}


class TestProtobufFieldNumbers:
    def test_every_schema_field_has_a_number(self) -> None:
        """The generated protobuf table has a field for each schema field of every kind kemu serves."""
        from kemu.api import protobuf_fields, schema, schema_objects

        def json_names(message: str) -> set[str]:
            names: set[str] = set()
            for json_name, typ, _shape, flags in protobuf_fields.MESSAGES.get(message, {}).values():
                names |= json_names(typ) if flags & protobuf_fields.INLINE else {json_name}
            return names

        roots = [*schema.SCHEMAS.values(), *schema_objects.OBJECT_SCHEMAS.values(), schema_objects.TOKEN_REQUEST]
        seen: set[str] = set()
        stack: list[schema.Type] = list(roots)
        missing = []
        while stack:
            typ = stack.pop()
            if isinstance(typ, schema.ListOf):
                stack.append(typ.item)
            elif isinstance(typ, schema.MapOf):
                stack.append(typ.value)
            elif isinstance(typ, schema.Struct) and typ.name not in seen:
                seen.add(typ.name)
                numbers = json_names("k8s.io." + typ.name.removeprefix("io.k8s."))
                missing += [f"{typ.name}.{f}" for f in typ.fields if f not in ("apiVersion", "kind") and f not in numbers]
                stack.extend(typ.fields.values())
        # KEP-3973's Deployment field is newer than the generated.proto the table was made from.
        assert missing == ["io.k8s.api.apps.v1.DeploymentSpec.podReplacementPolicy"]


GARBAGE = [
    ("Secret", "default", {"metadata": {"name": "s"}, "data": {"a": 1}}),
    ("Secret", "default", {"metadata": {"name": "s"}, "stringData": {"a": ["x"]}}),
    ("Secret", "default", {"metadata": {"name": "s"}, "data": "abc"}),
    ("Secret", "default", {"metadata": {"name": "S"}}),
    ("ServiceAccount", "default", {"metadata": {"name": "a"}, "secrets": [{"name": ""}], "imagePullSecrets": "x"}),
    ("ResourceQuota", "default", {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "lots"}}}),
    ("ResourceQuota", "default", {"metadata": {"name": "q"}, "spec": {"hard": None, "scopeSelector": {"matchExpressions": [{}]}}}),
    ("Role", "default", {"metadata": {"name": "r"}, "rules": [None, 3]}),
    ("RoleBinding", "default", {"metadata": {"name": "rb"}, "roleRef": "admin"}),
    ("RoleBinding", "default", {"metadata": {"name": "rb"}}),
    ("ClusterRoleBinding", None, {"metadata": {"name": "c"}, "roleRef": {}, "subjects": [{}]}),
    ("Ingress", "default", {"metadata": {"name": "i"}, "spec": {"rules": [{"http": {}}], "defaultBackend": {"service": {}}}}),
    ("Ingress", "default", {"metadata": {"name": "i"}, "spec": {"rules": [{"http": {"paths": [{"pathType": "Exact", "backend": {}}]}}]}}),
    ("PriorityClass", None, {"metadata": {"name": "p"}, "value": "high"}),
    ("SelfSubjectAccessReview", None, {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": "x"}),
    ("SelfSubjectAccessReview", None, {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                       "metadata": {"name": "n"}, "spec": {}}),
    ("SelfSubjectRulesReview", None, {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview"}),
]


class TestBadInputIsAClientError:
    @pytest.fixture
    def registry(self) -> Any:
        with tempfile.TemporaryDirectory() as d:
            store = Store(Path(d) / "db.sqlite")
            reg = Registry(store)
            with store.transaction():
                reg.ensure_system_namespaces()
            yield reg
            store.close()

    @pytest.mark.parametrize(("kind", "ns", "body"), GARBAGE)
    def test_refused_with_a_4xx(self, registry: Registry, kind: str, ns: str | None, body: Obj) -> None:
        """Malformed bodies get a Kubernetes-shaped 4xx, never a crash."""
        with pytest.raises(ApiError) as info, registry.store.transaction():
            registry.create(kind, ns, body)
        assert 400 <= info.value.code < 500, info.value.status

    @pytest.mark.parametrize("spec", [{"audiences": "x"}, {"expirationSeconds": True}, {"boundObjectRef": {"kind": "Job"}}, "x"])
    def test_bad_token_requests(self, spec: Any) -> None:
        with pytest.raises(ApiError) as info:
            reviews.issue_token({"metadata": {"name": "a", "namespace": "b"}}, {"spec": spec}, now=NOW, key=b"k")
        assert 400 <= info.value.code < 500
