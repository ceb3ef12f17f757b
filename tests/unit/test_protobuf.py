"""The Kubernetes protobuf codec: bodies captured from the real kubectl,
Go's JSON rules, round trips, and untrusted bytes (see
tests/unit/data/protobuf/README.md for how the bodies were captured)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apiserver.http import app as http_app
from apiserver.http.protobufmedia import accepts_only_protobuf
from kemu.api import errors
from kemu.api import protobuf as pb
from kemu.api.protobuf_fields import GROUP_VERSIONS, MESSAGES

DATA = Path(__file__).parent / "data" / "protobuf"
DEPLOYMENT_SPEC = "k8s.io.api.apps.v1.DeploymentSpec"


def captured(name: str) -> dict[str, Any]:
    return pb.decode_object((DATA / f"{name}.bin").read_bytes())


def _key(number: int, wire: int) -> bytes:
    out = bytearray()
    pb._put_key(out, number, wire)
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    pb._put_varint(out, value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return pb.encode_envelope(pb.Envelope(api_version, kind, raw))


class TestCapturedBodies:
    """What kubectl 1.32 sent decodes to what its JSON would have been."""

    def test_every_capture_is_protobuf_from_kubectl(self) -> None:
        """Each fixture was sent as protobuf, and kubectl accepted JSON as well."""
        metas = [json.loads(p.read_text()) for p in DATA.glob("*.json")]
        assert len(metas) == 20
        for meta in metas:
            assert meta["content_type"] == "application/vnd.kubernetes.protobuf"
            assert meta["accept"] == "application/vnd.kubernetes.protobuf,application/json"

    def test_create_deployment_bootcamp(self) -> None:
        """The tutorial's first command: one replica of the bootcamp image."""
        obj = captured("create-deployment-bootcamp")
        assert obj["apiVersion"] == "apps/v1" and obj["kind"] == "Deployment"
        assert obj["metadata"] == {
            "name": "kubernetes-bootcamp", "namespace": "capture", "labels": {"app": "kubernetes-bootcamp"},
        }
        assert obj["spec"]["replicas"] == 1
        assert obj["spec"]["selector"] == {"matchLabels": {"app": "kubernetes-bootcamp"}}
        containers = obj["spec"]["template"]["spec"]["containers"]
        assert containers == [{
            "name": "kubernetes-bootcamp", "image": "gcr.io/google-samples/kubernetes-bootcamp:v1", "resources": {},
        }]
        assert obj["spec"]["strategy"] == {} and obj["status"] == {}

    def test_replicas_zero_survives(self) -> None:
        """``--replicas=0`` is a pointer's explicit zero: it is kept."""
        obj = captured("create-deployment-replicas0")
        assert obj["spec"]["replicas"] == 0
        assert obj["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80}]

    def test_namespace(self) -> None:
        assert captured("create-namespace") == {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "capture"}, "spec": {}, "status": {},
        }

    def test_configmap(self) -> None:
        obj = captured("create-configmap")
        assert obj["data"] == {"a": "b", "c": "d"}
        assert "binaryData" not in obj and "immutable" not in obj

    def test_services(self) -> None:
        """targetPort is an IntOrString holding a number; nodePort is kept."""
        clusterip = captured("create-service-clusterip")
        assert clusterip["spec"] == {
            "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
            "selector": {"app": "web"},
            "type": "ClusterIP",
        }
        nodeport = captured("create-service-nodeport")
        assert nodeport["spec"]["type"] == "NodePort"
        assert nodeport["spec"]["ports"][0]["nodePort"] == 30080

    def test_secrets_keep_base64_data(self) -> None:
        """``bytes`` map values come out base64, as in the Secret's JSON."""
        generic = captured("create-secret-generic")
        assert base64.b64decode(generic["data"]["password"]) == b"hunter2"
        registry = captured("create-secret-docker-registry")
        assert registry["type"] == "kubernetes.io/dockerconfigjson"
        config = json.loads(base64.b64decode(registry["data"][".dockerconfigjson"]))
        assert config["auths"]["r.example"]["username"] == "u"

    def test_kinds_served_by_others(self) -> None:
        """ServiceAccount, Job, CronJob, PDB, quota, RBAC, Ingress, PriorityClass, HPA decode."""
        assert captured("create-serviceaccount")["metadata"] == {"name": "builder", "namespace": "capture"}
        job = captured("create-job")
        assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        cron = captured("create-cronjob")
        assert cron["spec"]["schedule"] == "*/5 * * * *"
        assert cron["spec"]["jobTemplate"]["metadata"] == {"name": "cj"}
        pdb = captured("create-pdb")
        assert pdb["spec"] == {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}
        assert captured("create-quota")["spec"]["hard"] == {"cpu": "1", "memory": "1G", "pods": "2"}
        assert captured("create-role")["rules"] == [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]
        binding = captured("create-rolebinding")
        assert binding["subjects"] == [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r1"}
        path = captured("create-ingress")["spec"]["rules"][0]["http"]["paths"][0]
        assert path == {"path": "/bar", "pathType": "Exact", "backend": {"service": {"name": "web", "port": {"number": 80}}}}
        priority = captured("create-priorityclass")
        assert (priority["value"], priority["description"]) == (1000, "high")
        hpa = captured("autoscale")
        assert hpa["spec"] == {
            "scaleTargetRef": {"kind": "Deployment", "name": "kubernetes-bootcamp", "apiVersion": "apps/v1"},
            "minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 80,
        }

    def test_token_request_as_go_marshals_it(self) -> None:
        """Nil pointers and slices without omitempty are ``null``; a zero Time is ``null``."""
        token = captured("create-token")
        assert token["kind"] == "TokenRequest" and token["apiVersion"] == "authentication.k8s.io/v1"
        assert token["spec"] == {"audiences": None, "expirationSeconds": None, "boundObjectRef": None}
        assert token["status"] == {"token": "", "expirationTimestamp": None}

    def test_self_subject_access_review(self) -> None:
        review = captured("auth-can-i")
        assert review["spec"] == {"resourceAttributes": {"namespace": "capture", "verb": "create", "resource": "pods"}}
        assert review["status"] == {"allowed": False}

    @pytest.mark.parametrize("path", sorted(DATA.glob("*.bin")), ids=lambda p: p.stem)
    def test_round_trip(self, path: Path) -> None:
        """Encoding what was decoded, then decoding again, gives the same object."""
        obj = pb.decode_object(path.read_bytes())
        assert pb.decode_object(pb.encode_object(obj)) == obj


class TestGoJsonRules:
    """gogo-protobuf writes zeros; the JSON a Go client would send does not."""

    def test_non_pointer_zeros_are_dropped_pointer_zeros_kept(self) -> None:
        raw = (
            _key(1, 0) + _varint(0)  # replicas *int32 = 0: kept
            + _key(5, 0) + _varint(0)  # minReadySeconds int32 omitempty = 0: dropped
            + _key(7, 0) + _varint(0)  # paused bool omitempty = false: dropped
            + _field(3, b"")  # template PodTemplateSpec: a struct, always written
        )
        spec = pb.decode_message(DEPLOYMENT_SPEC, raw)
        assert spec["replicas"] == 0
        assert "minReadySeconds" not in spec and "paused" not in spec
        assert spec["template"] == {"metadata": {}, "spec": {"containers": None}}

    def test_absent_non_omitempty_fields_are_zero(self) -> None:
        """ServicePort.port has no omitempty: Go writes 0 even when the bytes lack it."""
        assert pb.decode_message("k8s.io.api.core.v1.ServicePort", b"") == {"port": 0, "targetPort": 0}

    def test_negative_int32_in_ten_bytes(self) -> None:
        raw = _key(6, 0) + _varint(-1)
        assert len(raw) == 11
        assert pb.decode_message(DEPLOYMENT_SPEC, raw)["revisionHistoryLimit"] == -1

    def test_inline_volume_source(self) -> None:
        """Volume embeds VolumeSource: its fields are the volume's."""
        raw = _field(1, b"data") + _field(2, _field(2, b""))  # emptyDir = field 2 of VolumeSource
        assert pb.decode_message("k8s.io.api.core.v1.Volume", raw) == {"name": "data", "emptyDir": {}}

    def test_times(self) -> None:
        assert pb.decode_message(pb.TIME, _key(1, 0) + _varint(1700000000) + _key(2, 0) + _varint(123456789)) == (
            "2023-11-14T22:13:20Z"
        )
        assert pb.decode_message(pb.MICRO_TIME, _key(1, 0) + _varint(1700000000) + _key(2, 0) + _varint(123456789)) == (
            "2023-11-14T22:13:20.123456Z"
        )
        assert pb.decode_message(pb.TIME, b"") is None
        assert pb.decode_message(pb.TIME, _key(1, 0) + _varint(0) + _key(2, 0) + _varint(0)) == "1970-01-01T00:00:00Z"

    @pytest.mark.parametrize(
        ("nanos", "text"),
        [(0, "0s"), (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"), (1_500_000, "1.5ms"), (1500, "1.5µs"),
         (999, "999ns"), (-2 * 10**9, "-2s"), (5 * 10**9 + 10**8, "5.1s")],
    )
    def test_durations_as_go_prints_them(self, nanos: int, text: str) -> None:
        assert pb.go_duration(nanos) == text
        assert pb.parse_go_duration(text) == nanos
        assert pb.decode_message(pb.DURATION, _key(1, 0) + _varint(nanos)) == text

    def test_int_or_string_and_quantity(self) -> None:
        assert pb.decode_message(pb.INT_OR_STRING, _key(1, 0) + _varint(1) + _field(3, b"25%")) == "25%"
        assert pb.decode_message(pb.INT_OR_STRING, _key(1, 0) + _varint(0) + _key(2, 0) + _varint(8080)) == 8080
        assert pb.decode_message(pb.QUANTITY, _field(1, b"500m")) == "500m"
        assert pb.decode_message(pb.QUANTITY, b"") == "0"

    def test_raw_extension_and_fields_v1_carry_json(self) -> None:
        assert pb.decode_message(pb.RAW_EXTENSION, _field(1, b'{"a":[1,2]}')) == {"a": [1, 2]}
        assert pb.decode_message(pb.FIELDS_V1, _field(1, b'{"f:spec":{}}')) == {"f:spec": {}}

    def test_slice_messages_are_lists(self) -> None:
        """``map[string]ExtraValue`` (ExtraValue is ``[]string``) is a map of lists."""
        extra = _field(1, b"groups") + _field(2, _field(1, b"a") + _field(1, b"b"))
        raw = _field(5, extra)  # SubjectAccessReviewSpec.extra
        spec = pb.decode_message("k8s.io.api.authorization.v1.SubjectAccessReviewSpec", raw)
        assert spec["extra"] == {"groups": ["a", "b"]}

    def test_packed_repeated_scalars(self) -> None:
        """gogo writes repeated int32 unpacked; a packed encoding decodes too."""
        msg = "k8s.io.api.core.v1.PodSecurityContext"  # supplementalGroups: repeated int64
        number = next(n for n, spec in MESSAGES[msg].items() if spec[0] == "supplementalGroups")
        unpacked = _key(number, 0) + _varint(1) + _key(number, 0) + _varint(2)
        packed = _field(number, _varint(1) + _varint(2))
        assert pb.decode_message(msg, unpacked)["supplementalGroups"] == [1, 2]
        assert pb.decode_message(msg, packed)["supplementalGroups"] == [1, 2]

    def test_repeated_message_occurrences_merge(self) -> None:
        """Two occurrences of a message field merge, as protobuf says."""
        raw = _field(2, _field(1, _field(1, b"k") + _field(2, b"v"))) + _field(2, _field(1, _field(1, b"x") + _field(2, b"y")))
        selector = pb.decode_message(DEPLOYMENT_SPEC, raw)["selector"]
        assert selector == {"matchLabels": {"k": "v", "x": "y"}}


class TestEncoding:
    def test_round_trip_of_a_rich_pod(self) -> None:
        """Every special form survives encode then decode."""
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "p", "namespace": "default", "uid": "u-1", "resourceVersion": "7", "generation": 2,
                "creationTimestamp": "2024-05-01T10:00:00Z", "deletionTimestamp": "2024-05-01T10:05:00Z",
                "deletionGracePeriodSeconds": 0, "labels": {"app": "p"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-0",
                                     "controller": True, "blockOwnerDeletion": True}],
                "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                                   "time": "2024-05-01T10:00:00Z", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:spec": {"f:containers": {}}}}],
            },
            "spec": {
                "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                            {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}}],
                "containers": [{
                    "name": "c", "image": "nginx", "command": ["sh", "-c", "echo hi"],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                    "livenessProbe": {"httpGet": {"path": "/", "port": "http", "scheme": "HTTP"},
                                      "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1,
                                      "failureThreshold": 3},
                    "stdin": True, "tty": True,
                }],
                "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "nodeName": "node-1",
                "securityContext": {"runAsUser": 0, "supplementalGroups": [1, 2]},
            },
            "status": {"phase": "Running", "podIP": "127.244.1.5", "startTime": "2024-05-01T10:00:01Z",
                       "conditions": [{"type": "Ready", "status": "True",
                                       "lastTransitionTime": "2024-05-01T10:00:02Z"}]},
        }
        decoded = pb.decode_object(pb.encode_object(pod))
        assert decoded["metadata"]["deletionGracePeriodSeconds"] == 0
        assert decoded["metadata"]["managedFields"][0]["fieldsV1"] == {"f:spec": {"f:containers": {}}}
        assert decoded["spec"]["volumes"] == pod["spec"]["volumes"]
        assert decoded["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] == "http"
        assert decoded["spec"]["securityContext"] == {"runAsUser": 0, "supplementalGroups": [1, 2]}
        assert decoded == {**pod, "status": {**pod["status"], "conditions": [
            {**pod["status"]["conditions"][0], "lastProbeTime": None}]}}

    def test_status_and_lists(self) -> None:
        """A Status and a list of items without kind encode in their messages."""
        status = errors.status_dict(404, "NotFound", 'pods "x" not found', name="x", kind="pods")
        assert pb.decode_object(pb.encode_object(status))["message"] == 'pods "x" not found'
        listing = {"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "9"},
                   "items": [{"metadata": {"name": "a"}, "data": {"k": "v"}}]}
        decoded = pb.decode_object(pb.encode_object(listing))
        assert decoded["items"][0]["data"] == {"k": "v"} and decoded["metadata"]["resourceVersion"] == "9"

    def test_metrics_kinds_are_known(self) -> None:
        metrics = {"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
                   "metadata": {"name": "p", "namespace": "default"}, "timestamp": "2024-05-01T10:00:00Z",
                   "window": "10s", "containers": [{"name": "c", "usage": {"cpu": "5m", "memory": "12Mi"}}]}
        assert pb.decode_object(pb.encode_object(metrics)) == metrics

    def test_encode_refuses_wrong_types(self) -> None:
        with pytest.raises(pb.ProtobufError):
            pb.encode_object({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "three"}})
        with pytest.raises(pb.ProtobufError):
            pb.encode_object({"apiVersion": "v1", "kind": "NoSuchKind"})


class TestTable:
    def test_every_group_version_of_k8s_io_api(self) -> None:
        """The table knows the kinds the other engineers add, in their served versions."""
        for api_version, kind in [
            ("v1", "Secret"), ("v1", "ServiceAccount"), ("v1", "ReplicationController"),
            ("authentication.k8s.io/v1", "TokenRequest"), ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
            ("authorization.k8s.io/v1", "SelfSubjectRulesReview"), ("policy/v1", "Eviction"),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), ("batch/v1", "Job"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"), ("policy/v1", "PodDisruptionBudget"),
            ("v1", "DeleteOptions"), ("apps/v1", "DeleteOptions"), ("metrics.k8s.io/v1beta1", "NodeMetrics"),
            ("v1", "Status"),
        ]:
            assert pb.message_for(api_version, kind) is not None, (api_version, kind)
        assert len(GROUP_VERSIONS) > 50

    def test_eviction_with_delete_options(self) -> None:
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p", "namespace": "d"},
                    "deleteOptions": {"gracePeriodSeconds": 0, "propagationPolicy": "Foreground",
                                      "preconditions": {"uid": "u"}}}
        assert pb.decode_object(pb.encode_object(eviction)) == eviction


class TestBadInput:
    """Untrusted bytes raise ProtobufError, a ValueError, and nothing else."""

    @pytest.mark.parametrize(
        ("data", "fragment"),
        [
            (b"k8s", "magic"),
            (b"\x00\x00\x00\x00\n\x00", "magic"),
            (pb.MAGIC + b"\x0a", "end of data"),  # typeMeta's length is missing
            (pb.MAGIC + b"\x0a\x05\x0a\x02v1", "past the end"),
            (pb.MAGIC + b"\x08\x01", "wire type"),  # typeMeta as a varint
            (pb.MAGIC + b"\x0b", "wire type 3"),  # a group
            (pb.MAGIC + b"\x0a" + b"\xff" * 11, "varint"),
            (pb.MAGIC + b"\x0a" + b"\xff\xff\xff\xff\x0f", "past the end"),  # a 4 GiB length
            (_envelope("v1", "NoSuchKind", b""), "no kind"),
            (_envelope("nope/v9", "Pod", b""), "no kind"),
            (_envelope("apps/v1", "Deployment", _key(2, 0) + _varint(1)), "wire type 0 for a message"),
            (_envelope("apps/v1", "Deployment", _field(2, _key(1, 2) + b"\x01\x01")), "wire type 2 for a int32"),
            (_envelope("apps/v1", "Deployment", _field(1, b"\x0a\x10abc")), "past the end"),
            (_envelope("apps/v1", "Deployment", _key(0, 0) + b"\x00"), "illegal field number 0"),
        ],
    )
    def test_clean_errors(self, data: bytes, fragment: str) -> None:
        with pytest.raises(pb.ProtobufError, match=fragment):
            pb.decode_object(data)

    def test_deep_nesting_is_refused(self) -> None:
        """v1 List items are RawExtensions that may hold envelopes: 200 nested Lists stop at MAX_DEPTH."""
        body = _envelope("v1", "ConfigMap", b"")
        for _ in range(200):
            body = _envelope("v1", "List", _field(2, _field(1, body)))
        with pytest.raises(pb.ProtobufError, match="nested"):
            pb.decode_object(body)

    def test_deep_json_in_a_raw_extension(self) -> None:
        with pytest.raises(pb.ProtobufError):
            pb.decode_message(pb.RAW_EXTENSION, _field(1, b"[" * 100_000))

    def test_the_front_door_answers_400(self) -> None:
        with pytest.raises(errors.ApiError) as caught:
            http_app._decode_body(pb.MAGIC + b"\x0a\xff", "application/vnd.kubernetes.protobuf")
        assert caught.value.code == 400
        assert caught.value.status["reason"] == "BadRequest"

    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(st.binary(max_size=400))
    def test_fuzz_random_bytes(self, data: bytes) -> None:
        for body in (data, pb.MAGIC + data):
            try:
                pb.decode_object(body)
            except pb.ProtobufError:
                pass

    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def test_fuzz_mutated_captures(self, data: st.DataObject) -> None:
        """A captured body cut, or with bytes changed, decodes or fails cleanly."""
        paths = sorted(DATA.glob("*.bin"))
        original = data.draw(st.sampled_from(paths)).read_bytes()
        body = bytearray(original[: data.draw(st.integers(0, len(original)))])
        for _ in range(data.draw(st.integers(0, 4))):
            if body:
                body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
        try:
            pb.decode_object(bytes(body))
        except pb.ProtobufError:
            pass

    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def test_fuzz_plausible_messages(self, data: st.DataObject) -> None:
        """Fields of the right numbers with any wire type, length and nesting."""
        name = data.draw(st.sampled_from(sorted(MESSAGES)))

        def message(depth: int) -> bytes:
            out = bytearray()
            numbers = sorted(MESSAGES.get(name, {})) or [1]
            for _ in range(data.draw(st.integers(0, 6))):
                number = data.draw(st.sampled_from([*numbers, 1, 2, 99]))
                wire = data.draw(st.sampled_from([0, 1, 2, 5, 3, 7]))
                out += _key(number, wire)
                if wire == 0:
                    out += _varint(data.draw(st.integers(-(2**63), 2**64 - 1)))
                elif wire == 1:
                    out += data.draw(st.binary(min_size=8, max_size=8))
                elif wire == 5:
                    out += data.draw(st.binary(min_size=4, max_size=4))
                elif wire == 2:
                    payload = message(depth + 1) if depth < 4 and data.draw(st.booleans()) else data.draw(st.binary(max_size=20))
                    length = len(payload) + data.draw(st.sampled_from([0, 0, 0, 1, -1, 1000]))
                    out += _varint(max(length, 0)) + payload
            return bytes(out)

        raw = message(0)
        try:
            pb.decode_message(name, raw)
        except pb.ProtobufError:
            pass


class TestAccept:
    @pytest.mark.parametrize(
        ("accept", "only"),
        [
            ("application/vnd.kubernetes.protobuf,application/json", False),  # kubectl's typed clients
            ("application/json, */*", False),
            ("application/vnd.kubernetes.protobuf", True),
            ("application/vnd.kubernetes.protobuf;stream=watch", True),
            ("application/vnd.kubernetes.protobuf, */*", False),
            (None, False),
        ],
    )
    def test_only_protobuf(self, accept: str | None, only: bool) -> None:
        assert accepts_only_protobuf(accept) is only


class TestEncodeFuzz:
    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.sampled_from(sorted(MESSAGES)),
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                st.sampled_from(["metadata", "spec", "name", "items", "replicas", "data", "x", "time", "raw"]),
                inner, max_size=4),
            max_leaves=12,
        ),
    )
    def test_any_json_encodes_or_fails_cleanly(self, name: str, value: Any) -> None:
        """Whatever JSON kemu holds, encoding gives bytes that decode, or ProtobufError."""
        try:
            raw = pb.encode_message(name, value)
        except pb.ProtobufError:
            return
        try:
            pb.decode_message(name, raw)
        except pb.ProtobufError:
            pass
