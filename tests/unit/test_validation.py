"""Strict decoding and validation, with the real apiserver's wording."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from kemu.api.defaults import apply_defaults
from kemu.api.errors import ApiError
from kemu.api.validation import ErrorList, GoLiteral, Path, check_schema, go_repr, validate

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation "
    "is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
POD_UPDATE_MSG = (
    "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
    "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)

NGINX_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  namespace: default
  labels:
    app: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
"""

SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: my-service
  namespace: default
spec:
  selector:
    app.kubernetes.io/name: MyApp
  ports:
    - name: http
      protocol: TCP
      port: 80
      targetPort: 9376
    - name: https
      port: 443
      targetPort: https
"""

PROBED_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
  labels: {app: web}
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}"}
  creationTimestamp: null
spec:
  containers:
  - name: web
    image: registry.k8s.io/e2e-test-images/agnhost:2.40
    args: [liveness]
    ports: [{name: http, containerPort: 8080}]
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    resources:
      requests: {cpu: 100m, memory: 64Mi}
      limits: {cpu: 500m, memory: 128Mi}
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
        httpHeaders: [{name: Custom-Header, value: Awesome}]
      initialDelaySeconds: 3
      periodSeconds: 3
    readinessProbe:
      tcpSocket: {port: 8080}
      initialDelaySeconds: 15
      periodSeconds: 10
    startupProbe:
      exec: {command: [cat, /tmp/healthy]}
      failureThreshold: 30
      periodSeconds: 10
    volumeMounts:
    - {name: cache, mountPath: /cache}
    - {name: config, mountPath: /etc/config, readOnly: true}
    - {name: podinfo, mountPath: /etc/podinfo}
  volumes:
  - {name: cache, emptyDir: {sizeLimit: 500Mi}}
  - name: config
    configMap:
      name: app-config
      items: [{key: app.properties, path: app.properties}]
  - name: podinfo
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: cpu_limit, resourceFieldRef: {containerName: web, resource: limits.cpu, divisor: 1m}}
status: {}
"""

MULTI_CONTAINER_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: two-containers
  namespace: default
spec:
  restartPolicy: Never
  initContainers:
  - name: init-myservice
    image: busybox:1.28
    command: ['sh', '-c', "until nslookup myservice; do echo waiting; sleep 2; done"]
  - name: log-agent
    image: busybox:1.28
    restartPolicy: Always
    command: ['sh', '-c', 'tail -F /opt/logs.txt']
    volumeMounts: [{name: data, mountPath: /opt}]
  containers:
  - name: nginx-container
    image: nginx
    volumeMounts: [{name: shared-data, mountPath: /usr/share/nginx/html}]
  - name: debian-container
    image: debian
    command: ["/bin/sh"]
    args: ["-c", "echo Hello from the debian container > /pod-data/index.html"]
    volumeMounts: [{name: shared-data, mountPath: /pod-data}]
  volumes:
  - {name: shared-data, emptyDir: {}}
  - {name: data, emptyDir: {}}
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector:
          matchExpressions: [{key: app, operator: In, values: [store]}]
        topologyKey: kubernetes.io/hostname
  tolerations:
  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 6}
  topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: foo}}}
"""

OTHER_KINDS = """
apiVersion: v1
kind: Namespace
metadata: {name: dev}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: game-demo, namespace: default}
data:
  player_initial_lives: "3"
  game.properties: |
    enemy.types=aliens,monsters
binaryData: {blob: aGVsbG8=}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: frontend, namespace: default, labels: {app: guestbook, tier: frontend}}
spec:
  replicas: 3
  selector:
    matchLabels: {tier: frontend}
  template:
    metadata: {labels: {tier: frontend}}
    spec:
      containers: [{name: php-redis, image: "us-docker.pkg.dev/google-samples/containers/gke/gb-frontend:v5"}]
---
apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {kubernetes.io/hostname: node-1}}
spec: {podCIDR: 127.244.1.0/24, taints: [{key: example.com/gpu, value: "true", effect: NoSchedule}]}
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
  addresses: [{type: InternalIP, address: 127.0.1.1}]
  daemonEndpoints: {kubeletEndpoint: {Port: 10250}}
  conditions:
  - {type: Ready, status: "True", lastHeartbeatTime: "2024-05-01T10:00:00Z", reason: KubeletReady}
---
apiVersion: v1
kind: Endpoints
metadata: {name: my-service, namespace: default}
subsets:
- addresses: [{ip: 127.244.1.5, nodeName: node-1, targetRef: {kind: Pod, name: web-1, namespace: default}}]
  ports: [{name: http, port: 9376}, {name: https, port: 8443}]
---
apiVersion: v1
kind: Event
metadata: {name: web.17a1b2c3d4e5f6a7, namespace: default}
involvedObject: {kind: Pod, name: web, namespace: default, apiVersion: v1}
reason: Scheduled
message: Successfully assigned default/web to node-1
source: {component: default-scheduler}
firstTimestamp: "2024-05-01T10:00:00Z"
lastTimestamp: "2024-05-01T10:00:00Z"
count: 1
type: Normal
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: node-1, namespace: kube-node-lease}
spec: {holderIdentity: node-1, leaseDurationSeconds: 40, renewTime: "2024-05-01T10:00:00.123456Z"}
"""


def load(text: str) -> dict[str, Any]:
    return yaml.safe_load(text)


def admit(obj: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    """The apiserver's create (or update) path: decode, default, validate."""
    check_schema(obj)
    apply_defaults(obj)
    validate(obj, old)
    return obj


def causes(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """The messages of the 422 that admitting ``obj`` raises."""
    with pytest.raises(ApiError) as info:
        admit(obj, old)
    assert (info.value.code, info.value.reason) == (422, "Invalid")
    return [cause["message"] for cause in info.value.causes]


def pod(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": [{"name": "web", "image": "nginx"}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"}, "spec": body}


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "web", "image": "nginx", **fields}


def deployment(**spec: Any) -> dict[str, Any]:
    obj = load(NGINX_DEPLOYMENT)
    obj["spec"].update(spec)
    return obj


def service(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"}, "spec": body}


def stored(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as the store would keep it after a create."""
    admit(obj)
    obj["metadata"].update(uid="1b4e28ba-2fa1-11d2-883f-0016d3cca427", resourceVersion="7")
    return obj


class TestRealWorldManifests:
    @pytest.mark.parametrize(
        "text", [NGINX_DEPLOYMENT, SERVICE, PROBED_POD, MULTI_CONTAINER_POD, *OTHER_KINDS.split("---")]
    )
    def test_admitted_unchanged(self, text: str) -> None:
        """Manifests written for a real cluster pass decoding, defaulting and validation."""
        admit(load(text))

    @pytest.mark.parametrize("text", [NGINX_DEPLOYMENT, SERVICE, PROBED_POD, MULTI_CONTAINER_POD])
    def test_defaulted_object_revalidates(self, text: str) -> None:
        """An admitted object passes again, as an update of itself, with store metadata."""
        obj = stored(load(text))
        admit(copy.deepcopy(obj), old=copy.deepcopy(obj))

    def test_service_with_status_and_cluster_ip(self) -> None:
        """A Service as read back from a cluster (clusterIP, status) is accepted."""
        obj = load(SERVICE)
        obj["spec"].update(clusterIP="127.96.0.10", clusterIPs=["127.96.0.10"])
        obj["status"] = {"loadBalancer": {}}
        admit(obj)


class TestCheckSchema:
    def test_unknown_fields_all_reported(self) -> None:
        """Strict decoding lists every unknown field, comma-separated, in document order."""
        obj = load(NGINX_DEPLOYMENT)
        obj["spec"]["replica"] = 3
        obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
        with pytest.raises(ApiError) as info:
            check_schema(obj)
        assert (info.value.code, info.value.reason) == (400, "BadRequest")
        assert info.value.message == (
            'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
            'unknown field "spec.template.spec.containers[0].imagePullPolice", unknown field "spec.replica"'
        )

    def test_wrong_type(self) -> None:
        """A wrong type names the Go struct field path, and the cause carries it."""
        obj = load(NGINX_DEPLOYMENT)
        obj["spec"]["replicas"] = "three"
        with pytest.raises(ApiError) as info:
            check_schema(obj)
        assert info.value.message == (
            'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go '
            "struct field DeploymentSpec.spec.replicas of type int32"
        )
        assert info.value.causes[0]["field"] == "spec.replicas"

    def test_type_error_wins_over_unknown_fields(self) -> None:
        """Decoding stops at a type error, before strict field checks."""
        obj = load(NGINX_DEPLOYMENT)
        obj["spec"].update(replicas="three", bogus=1)
        with pytest.raises(ApiError) as info:
            check_schema(obj)
        assert "cannot unmarshal string" in info.value.message

    def test_core_kind_version(self) -> None:
        """Core kinds say version "v1" too."""
        obj = pod(restartPolicy=1)
        with pytest.raises(ApiError) as info:
            check_schema(obj)
        assert info.value.message == (
            'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field '
            "PodSpec.spec.restartPolicy of type string"
        )

    @pytest.mark.parametrize(
        ("api_version", "kind", "message"),
        [
            (
                "extensions/v1beta1",
                "Deployment",
                'no kind "Deployment" is registered for version "extensions/v1beta1" in scheme '
                '"pkg/api/legacyscheme/scheme.go:30"',
            ),
            (
                "batch/v1",
                "CronJob",
                'no kind "CronJob" is registered for version "batch/v1" in scheme "pkg/api/legacyscheme/scheme.go:30"',
            ),
        ],
    )
    def test_unserved_kinds(self, api_version: str, kind: str, message: str) -> None:
        """A kind or version kemu does not serve is a 400."""
        with pytest.raises(ApiError) as info:
            check_schema({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})
        assert (info.value.code, info.value.message) == (400, message)

    def test_missing_kind(self) -> None:
        """An object without kind is refused with the decoder's words."""
        with pytest.raises(ApiError) as info:
            check_schema({"apiVersion": "v1", "metadata": {"name": "x"}})
        assert info.value.message == 'Object \'Kind\' is missing in \'{"apiVersion":"v1","metadata":{"name":"x"}}\''

    def test_missing_api_version_accepted(self) -> None:
        """Without apiVersion the kind's served version is assumed."""
        check_schema({"kind": "Namespace", "metadata": {"name": "x"}})


class TestMessageFormat:
    def test_single_cause(self) -> None:
        """One cause: no brackets, the field path leads."""
        with pytest.raises(ApiError) as info:
            admit(deployment(replicas=-1))
        assert info.value.message == (
            'Deployment.apps "nginx-deployment" is invalid: spec.replicas: Invalid value: -1: '
            "must be greater than or equal to 0"
        )
        assert info.value.causes == [
            {
                "reason": "FieldValueInvalid",
                "message": "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "field": "spec.replicas",
            }
        ]

    def test_all_causes_reported(self) -> None:
        """Every problem is reported at once, in brackets."""
        obj = deployment(replicas=-1)
        obj["metadata"]["name"] = "Web_1"
        with pytest.raises(ApiError) as info:
            admit(obj)
        assert info.value.message == (
            f'Deployment.apps "Web_1" is invalid: [metadata.name: Invalid value: "Web_1": {SUBDOMAIN_MSG}, '
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0]"
        )

    @pytest.mark.parametrize(
        ("value", "rendered"),
        [
            ("web", '"web"'),
            ('say "hi"\n', '"say \\"hi\\"\\n"'),
            (-1, "-1"),
            (2.5, "2.5"),
            (True, "true"),
            (None, "null"),
            ({"b": "2", "a": "1"}, 'map[string]string{"a":"1", "b":"2"}'),
            (["10.0.0.1", "10.0.0.2"], '[]string{"10.0.0.1", "10.0.0.2"}'),
            (GoLiteral("25%"), "25%"),
        ],
    )
    def test_go_repr(self, value: Any, rendered: str) -> None:
        """Bad values print as Go's field.Error prints them."""
        assert go_repr(value) == rendered

    def test_path_and_error_list(self) -> None:
        """Paths render like field.Path; builders render like field.Error."""
        path = Path("spec").child("containers").index(0).child("resources", "limits").key("cpu")
        errs = ErrorList()
        errs.required(path)
        errs.not_supported(Path("spec", "type"), "Foo", ("ClusterIP", "NodePort"))
        errs.too_long(Path("metadata", "annotations"), 262144)
        assert [e.message for e in errs] == [
            "spec.containers[0].resources.limits[cpu]: Required value",
            'spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "NodePort"',
            "metadata.annotations: Too long: must have at most 262144 bytes",
        ]


class TestObjectMeta:
    @pytest.mark.parametrize(
        ("kind_obj", "name", "message"),
        [
            (pod(), "Web_1", f'metadata.name: Invalid value: "Web_1": {SUBDOMAIN_MSG}'),
            (service(), "1web", f'metadata.name: Invalid value: "1web": {DNS1035_MSG}'),
            (service(), "web.svc", f'metadata.name: Invalid value: "web.svc": {DNS1035_MSG}'),
        ],
    )
    def test_name_format_per_kind(self, kind_obj: dict[str, Any], name: str, message: str) -> None:
        """Pods use DNS subdomains, Services DNS-1035 labels."""
        kind_obj["metadata"]["name"] = name
        assert causes(kind_obj) == [message]

    def test_namespace_name_is_a_label(self) -> None:
        """Namespace names are DNS-1123 labels: no dots."""
        obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team.dev"}}
        assert causes(obj) == ['metadata.name: Invalid value: "team.dev": must not contain dots']

    def test_name_too_long(self) -> None:
        """Names have a length limit, reported before the format."""
        obj = pod()
        obj["metadata"]["name"] = "a" * 254
        assert causes(obj) == [f'metadata.name: Invalid value: "{"a" * 254}": must be no more than 253 characters']

    def test_name_required(self) -> None:
        """Either name or generateName is needed."""
        obj = pod()
        del obj["metadata"]["name"]
        assert causes(obj) == ["metadata.name: Required value: name or generateName is required"]

    def test_generate_name(self) -> None:
        """A generateName may end in a dash; the store generates the name later."""
        obj = pod()
        obj["metadata"] = {"generateName": "web-", "namespace": "default"}
        admit(obj)
        obj["metadata"]["generateName"] = "Web-"
        assert causes(obj)[0].startswith('metadata.generateName: Invalid value: "Web-": a lowercase RFC 1123 subdomain')

    def test_namespace_required(self) -> None:
        """Namespaced kinds need a namespace."""
        obj = pod()
        del obj["metadata"]["namespace"]
        assert causes(obj) == ["metadata.namespace: Required value"]

    def test_namespace_forbidden_on_cluster_scoped(self) -> None:
        """Cluster-scoped kinds may not carry a namespace."""
        obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "namespace": "default"}}
        assert causes(obj) == ["metadata.namespace: Forbidden: not allowed on this type"]

    @pytest.mark.parametrize(
        ("labels", "message"),
        [
            (
                {"app": "bad value!"},
                'metadata.labels: Invalid value: "bad value!": a valid label must be an empty string or consist of '
                "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
                "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ),
            (
                {"-app": "x"},
                "metadata.labels: Invalid value: \"-app\": name part must consist of alphanumeric characters, '-', "
                "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
                "or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            ),
            (
                {"Example.com/app": "x"},
                f'metadata.labels: Invalid value: "Example.com/app": prefix part {SUBDOMAIN_MSG}',
            ),
            ({"app": "x" * 64}, f'metadata.labels: Invalid value: "{"x" * 64}": must be no more than 63 characters'),
        ],
    )
    def test_label_syntax(self, labels: dict[str, str], message: str) -> None:
        """Label keys and values follow the qualified-name rules."""
        obj = pod()
        obj["metadata"]["labels"] = labels
        assert causes(obj) == [message]

    def test_annotation_size(self) -> None:
        """Annotations may total at most 256 KiB."""
        obj = pod()
        obj["metadata"]["annotations"] = {"big": "x" * 262144}
        assert causes(obj) == ["metadata.annotations: Too long: must have at most 262144 bytes"]

    def test_annotation_keys_case_insensitive(self) -> None:
        """Annotation keys may use capitals, unlike label keys."""
        obj = pod()
        obj["metadata"]["annotations"] = {"Example.com/Note": "hi"}
        admit(obj)

    def test_owner_references(self) -> None:
        """Owner references need a version, kind, name and uid; one controller at most."""
        obj = pod()
        obj["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web"}]
        assert causes(obj) == ['metadata.ownerReferences.uid: Invalid value: "": must not be empty']

    def test_finalizer_names(self) -> None:
        """Finalizers must be standard or fully qualified."""
        obj = pod()
        obj["metadata"]["finalizers"] = ["cleanup", "example.com/cleanup"]
        assert causes(obj) == [
            'metadata.finalizers[0]: Invalid value: "cleanup": name is neither a standard finalizer name nor is it '
            "fully qualified"
        ]


class TestContainers:
    def test_image_required(self) -> None:
        """Every container needs an image."""
        assert causes(pod(containers=[{"name": "web"}])) == ["spec.containers[0].image: Required value"]

    def test_containers_required(self) -> None:
        """A pod needs at least one container."""
        assert causes(pod(containers=[])) == ["spec.containers: Required value"]

    def test_duplicate_names_across_init_and_app(self) -> None:
        """Container names are unique across init and app containers."""
        obj = pod(containers=[container(), container()], initContainers=[container()])
        assert causes(obj) == [
            'spec.containers[1].name: Duplicate value: "web"',
            'spec.initContainers[0].name: Duplicate value: "web"',
        ]

    def test_container_name_format(self) -> None:
        """Container names are DNS-1123 labels."""
        assert causes(pod(containers=[container(name="Web")])) == [
            f'spec.containers[0].name: Invalid value: "Web": {LABEL_MSG}'
        ]

    def test_restart_policy(self) -> None:
        """restartPolicy is one of Always, OnFailure, Never."""
        assert causes(pod(restartPolicy="Sometimes")) == [
            'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
        ]

    def test_image_pull_policy(self) -> None:
        """imagePullPolicy is one of Always, IfNotPresent, Never."""
        assert causes(pod(containers=[container(imagePullPolicy="Sometimes")])) == [
            'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", '
            '"IfNotPresent", "Never"'
        ]

    @pytest.mark.parametrize(
        ("port", "message"),
        [
            ({"containerPort": 0}, "spec.containers[0].ports[0].containerPort: Required value"),
            (
                {"containerPort": 70000},
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, "
                "inclusive",
            ),
            (
                {"containerPort": 80, "protocol": "HTTP"},
                'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", '
                '"UDP"',
            ),
            (
                {"containerPort": 80, "name": "web-http-server-1"},
                'spec.containers[0].ports[0].name: Invalid value: "web-http-server-1": must be no more than 15 '
                "characters",
            ),
            (
                {"containerPort": 80, "name": "8080"},
                'spec.containers[0].ports[0].name: Invalid value: "8080": must contain at least one letter (a-z)',
            ),
            (
                {"containerPort": 80, "hostPort": -1},
                "spec.containers[0].ports[0].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive",
            ),
        ],
    )
    def test_ports(self, port: dict[str, Any], message: str) -> None:
        """Container ports: number in range, IANA name, known protocol."""
        assert causes(pod(containers=[container(ports=[port])])) == [message]

    def test_duplicate_port_names(self) -> None:
        """Port names are unique within a container."""
        ports = [{"name": "http", "containerPort": 80}, {"name": "http", "containerPort": 81}]
        assert causes(pod(containers=[container(ports=ports)])) == [
            'spec.containers[0].ports[1].name: Duplicate value: "http"'
        ]

    def test_requests_above_limits(self) -> None:
        """Requests may not exceed limits; the value printed is canonical."""
        resources = {"requests": {"cpu": "2", "memory": "1.5Gi"}, "limits": {"cpu": "1000m", "memory": "1Gi"}}
        assert causes(pod(containers=[container(resources=resources)])) == [
            'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1',
            'spec.containers[0].resources.requests: Invalid value: "1536Mi": must be less than or equal to memory '
            "limit of 1Gi",
        ]

    def test_resource_names(self) -> None:
        """Only standard or fully qualified resource names are allowed."""
        resources = {"requests": {"cpus": "1"}}
        assert causes(pod(containers=[container(resources=resources)])) == [
            'spec.containers[0].resources.requests[cpus]: Invalid value: "cpus": must be a standard resource type or '
            "fully qualified",
            'spec.containers[0].resources.requests[cpus]: Invalid value: "cpus": must be a standard resource for '
            "containers",
        ]

    def test_negative_quantity(self) -> None:
        """Quantities may not be negative."""
        resources = {"requests": {"memory": "-1Mi"}}
        assert causes(pod(containers=[container(resources=resources)])) == [
            'spec.containers[0].resources.requests[memory]: Invalid value: "-1Mi": must be greater than or equal to 0'
        ]

    def test_extended_resources_not_overcommitted(self) -> None:
        """Extended resources need a limit equal to the request, in whole units."""
        resources = {"requests": {"example.com/gpu": "1"}}
        assert causes(pod(containers=[container(resources=resources)])) == [
            "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources"
        ]

    def test_env_value_from_needs_a_source(self) -> None:
        """valueFrom names exactly one source."""
        env = [{"name": "A", "valueFrom": {}}]
        assert causes(pod(containers=[container(env=env)])) == [
            'spec.containers[0].env[0].valueFrom: Invalid value: "": must specify one of: `fieldRef`, '
            "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
        ]

    def test_env_value_and_value_from(self) -> None:
        """value and valueFrom exclude each other."""
        env = [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
        assert causes(pod(containers=[container(env=env)])) == [
            'spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when `value` is not empty'
        ]

    @pytest.mark.parametrize(
        ("field_path", "message"),
        [
            (
                "status.phase",
                'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "status.phase": supported '
                'values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", '
                '"spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"',
            ),
            (
                "spec.bogus",
                'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Invalid value: "spec.bogus": error converting '
                "fieldPath: field label not supported: spec.bogus",
            ),
        ],
    )
    def test_env_field_ref(self, field_path: str, message: str) -> None:
        """Downward API env vars name a supported pod field."""
        env = [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": field_path}}}]
        assert causes(pod(containers=[container(env=env)])) == [message]

    def test_env_config_map_key(self) -> None:
        """configMapKeyRef needs a key."""
        env = [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "settings"}}}]
        assert causes(pod(containers=[container(env=env)])) == [
            "spec.containers[0].env[0].valueFrom.configMapKeyRef.key: Required value"
        ]

    def test_sidecar_restart_policy(self) -> None:
        """Init containers accept only restartPolicy Always; app containers none."""
        obj = pod(
            initContainers=[container(name="init", restartPolicy="OnFailure")],
            containers=[container(restartPolicy="Always")],
        )
        assert causes(obj) == [
            "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers",
            'spec.initContainers[0].restartPolicy: Unsupported value: "OnFailure": supported values: "Always"',
        ]

    def test_init_container_probes_forbidden(self) -> None:
        """Plain init containers may not have probes."""
        probe = {"exec": {"command": ["true"]}}
        obj = pod(initContainers=[container(name="init", readinessProbe=probe)])
        assert causes(obj) == [
            "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without "
            "restartPolicy=Always"
        ]

    def test_image_whitespace(self) -> None:
        """A pod's image may not have surrounding spaces."""
        assert causes(pod(containers=[container(image=" nginx")])) == [
            'spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace'
        ]


class TestProbes:
    @pytest.mark.parametrize(
        ("probe_kind", "probe", "message"),
        [
            (
                "livenessProbe",
                {"exec": {"command": ["true"]}, "successThreshold": 2},
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            ),
            (
                "readinessProbe",
                {"tcpSocket": {"port": 80}, "failureThreshold": -1},
                "spec.containers[0].readinessProbe.failureThreshold: Invalid value: -1: must be greater than or "
                "equal to 0",
            ),
            (
                "readinessProbe",
                {"tcpSocket": {"port": 80}, "terminationGracePeriodSeconds": 5},
                "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be "
                "set for "
                "readinessProbes",
            ),
            (
                "livenessProbe",
                {"initialDelaySeconds": 5},
                "spec.containers[0].livenessProbe: Required value: must specify a handler type",
            ),
            (
                "startupProbe",
                {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}},
                "spec.containers[0].startupProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
            ),
            (
                "livenessProbe",
                {"httpGet": {"port": 0}},
                "spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, "
                "inclusive",
            ),
            (
                "livenessProbe",
                {"httpGet": {"port": "http-"}},
                'spec.containers[0].livenessProbe.httpGet.port: Invalid value: "http-": must not begin or end with a '
                "hyphen",
            ),
            ("livenessProbe", {"exec": {}}, "spec.containers[0].livenessProbe.exec.command: Required value"),
            (
                "livenessProbe",
                {"httpGet": {"port": 80, "scheme": "FTP"}},
                'spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", '
                '"HTTPS"',
            ),
        ],
    )
    def test_probe_rules(self, probe_kind: str, probe: dict[str, Any], message: str) -> None:
        """Probes: one handler, non-negative counters, kind-specific rules."""
        assert causes(pod(containers=[container(**{probe_kind: probe})])) == [message]

    def test_pre_stop_sleep_within_grace_period(self) -> None:
        """A preStop sleep may not outlast the grace period."""
        lifecycle = {"preStop": {"sleep": {"seconds": 60}}}
        assert causes(pod(containers=[container(lifecycle=lifecycle)])) == [
            "spec.containers[0].lifecycle.preStop.sleep: Invalid value: 60: must be non-negative and less than "
            "terminationGracePeriodSeconds (30)"
        ]


class TestVolumes:
    def test_mount_refers_to_existing_volume(self) -> None:
        """A volumeMount names a volume of the pod."""
        mounts = [{"name": "data", "mountPath": "/data"}]
        assert causes(pod(containers=[container(volumeMounts=mounts)])) == [
            'spec.containers[0].volumeMounts[0].name: Not found: "data"'
        ]

    def test_duplicate_volume_names(self) -> None:
        """Volume names are unique."""
        volumes = [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}]
        assert causes(pod(volumes=volumes)) == ['spec.volumes[1].name: Duplicate value: "data"']

    def test_one_source_per_volume(self) -> None:
        """A volume has a single source."""
        volumes = [{"name": "data", "emptyDir": {}, "hostPath": {"path": "/tmp"}}]
        assert causes(pod(volumes=volumes)) == [
            "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"
        ]

    @pytest.mark.parametrize(
        ("volume", "message"),
        [
            ({"name": "v", "configMap": {}}, "spec.volumes[0].configMap.name: Required value"),
            ({"name": "v", "secret": {}}, "spec.volumes[0].secret.secretName: Required value"),
            ({"name": "v", "hostPath": {"path": ""}}, "spec.volumes[0].hostPath.path: Required value"),
            (
                {"name": "v", "persistentVolumeClaim": {}},
                "spec.volumes[0].persistentVolumeClaim.claimName: Required value",
            ),
            (
                {"name": "v", "configMap": {"name": "c", "defaultMode": 1000}},
                "spec.volumes[0].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 "
                "(octal), both inclusive",
            ),
            (
                {"name": "v", "configMap": {"name": "c", "items": [{"key": "a", "path": "../a"}]}},
                "spec.volumes[0].configMap.items[0].path: Invalid value: \"../a\": must not contain '..'",
            ),
            ({"name": "My_Vol", "emptyDir": {}}, f'spec.volumes[0].name: Invalid value: "My_Vol": {LABEL_MSG}'),
        ],
    )
    def test_volume_sources(self, volume: dict[str, Any], message: str) -> None:
        """Each volume source checks its own required fields."""
        assert causes(pod(volumes=[volume])) == [message]

    def test_invalid_volume_not_mountable(self) -> None:
        """A volume with errors cannot be mounted either."""
        mounts = [{"name": "cfg", "mountPath": "/cfg"}]
        obj = pod(volumes=[{"name": "cfg", "configMap": {}}], containers=[container(volumeMounts=mounts)])
        assert causes(obj) == [
            "spec.volumes[0].configMap.name: Required value",
            'spec.containers[0].volumeMounts[0].name: Not found: "cfg"',
        ]

    def test_mount_paths_unique(self) -> None:
        """A container mounts one volume per path."""
        mounts = [{"name": "a", "mountPath": "/data"}, {"name": "b", "mountPath": "/data"}]
        volumes = [{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}]
        assert causes(pod(volumes=volumes, containers=[container(volumeMounts=mounts)])) == [
            'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique'
        ]


class TestPodSpec:
    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            (
                {"terminationGracePeriodSeconds": -1},
                "spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0",
            ),
            (
                {"activeDeadlineSeconds": 0},
                "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
            ),
            (
                {"dnsPolicy": "Google"},
                'spec.dnsPolicy: Unsupported value: "Google": supported values: '
                '"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"',
            ),
            ({"nodeName": "Node_1"}, f'spec.nodeName: Invalid value: "Node_1": {SUBDOMAIN_MSG}'),
            ({"hostname": "web.1"}, 'spec.hostname: Invalid value: "web.1": must not contain dots'),
            (
                {"dnsPolicy": "None"},
                "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None",
            ),
            (
                {"securityContext": {"runAsUser": -1}},
                "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 4294967295, inclusive",
            ),
            ({"os": {"name": "plan9"}}, 'spec.os: Unsupported value: "plan9": supported values: "linux", "windows"'),
        ],
    )
    def test_pod_fields(self, spec: dict[str, Any], message: str) -> None:
        """Pod-level fields have their ranges and formats."""
        assert causes(pod(**spec)) == [message]

    @pytest.mark.parametrize(
        ("toleration", "message"),
        [
            (
                {"operator": "Equal", "value": "x"},
                'spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, '
                'which means "match all values and all keys"',
            ),
            (
                {"key": "k", "operator": "Exists", "tolerationSeconds": 5, "effect": "NoSchedule"},
                "spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when "
                "`tolerationSeconds` is set",
            ),
            (
                {"key": "k", "operator": "Exists", "value": "v"},
                "spec.tolerations[0].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
            ),
            (
                {"key": "k", "operator": "Like"},
                'spec.tolerations[0].operator: Unsupported value: "Like": supported values: "Equal", "Exists"',
            ),
            (
                {"key": "k", "operator": "Exists", "effect": "NoRun"},
                'spec.tolerations[0].effect: Unsupported value: "NoRun": supported values: "NoSchedule", '
                '"PreferNoSchedule", "NoExecute"',
            ),
        ],
    )
    def test_tolerations(self, toleration: dict[str, Any], message: str) -> None:
        """Tolerations combine key, operator, value and effect consistently."""
        assert causes(pod(tolerations=[toleration])) == [message]

    @pytest.mark.parametrize(
        ("affinity", "message"),
        [
            (
                {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required "
                "value: must have at least one node selector term",
            ),
            (
                {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In"}]}]
                        }
                    }
                },
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
                ".matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            ),
            (
                {
                    "nodeAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 0, "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}}
                        ]
                    }
                },
                "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: "
                "0: must be in the range 1-100",
            ),
            (
                {
                    "podAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "topologyKey": "zone",
                                "labelSelector": {"matchExpressions": [{"key": "app", "operator": "Near"}]},
                            }
                        ]
                    }
                },
                "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector"
                '.matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator',
            ),
        ],
    )
    def test_affinity(self, affinity: dict[str, Any], message: str) -> None:
        """Node and pod affinity terms are checked in full."""
        assert causes(pod(affinity=affinity)) == [message]

    def test_pod_affinity_topology_key_required(self) -> None:
        """A pod affinity term needs a topology key."""
        affinity = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}}
        found = causes(pod(affinity=affinity))
        assert found[0] == (
            "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required "
            "value: can not be empty"
        )

    def test_topology_spread(self) -> None:
        """Spread constraints need a positive skew, a key and a known action."""
        constraint = {"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "Maybe"}
        assert causes(pod(topologySpreadConstraints=[constraint])) == [
            "spec.topologySpreadConstraints[0].maxSkew: Invalid value: 0: must be greater than zero",
            'spec.topologySpreadConstraints[0].whenUnsatisfiable: Unsupported value: "Maybe": supported values: '
            '"DoNotSchedule", "ScheduleAnyway"',
        ]


class TestWorkloads:
    def test_selector_must_match_template(self) -> None:
        """The template's labels must be selected by the selector."""
        obj = deployment()
        obj["spec"]["template"]["metadata"]["labels"] = {"app": "x"}
        assert causes(obj) == [
            'spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: `selector` does not match '
            "template `labels`"
        ]

    def test_selector_required(self) -> None:
        """apps/v1 workloads must have a selector."""
        obj = deployment()
        del obj["spec"]["selector"]
        assert causes(obj) == ["spec.selector: Required value"]

    def test_empty_selector(self) -> None:
        """An empty selector would select everything: refused."""
        obj = deployment(selector={})
        assert causes(obj) == [
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
        ]

    def test_match_expressions_selector(self) -> None:
        """Selectors with expressions are matched against template labels."""
        selector = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["nginx", "web"]}]}
        admit(deployment(selector=selector))
        selector["matchExpressions"][0]["operator"] = "NotIn"
        assert causes(deployment(selector=selector)) == [
            'spec.template.metadata.labels: Invalid value: map[string]string{"app":"nginx"}: `selector` does not '
            "match template `labels`"
        ]

    def test_template_restart_policy(self) -> None:
        """Pods of a workload must restart Always."""
        obj = deployment()
        obj["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
        assert causes(obj) == [
            'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"'
        ]

    def test_template_container_errors_have_template_paths(self) -> None:
        """Container errors inside a template name the template path."""
        obj = deployment()
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = ""
        assert causes(obj) == ["spec.template.spec.containers[0].image: Required value"]

    @pytest.mark.parametrize(
        ("rolling", "message"),
        [
            (
                {"maxSurge": 0, "maxUnavailable": 0},
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0",
            ),
            (
                {"maxSurge": "0%", "maxUnavailable": "0%"},
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0%: may not be 0 when `maxSurge` is 0",
            ),
            (
                {"maxSurge": "20Percent"},
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: 20Percent: a valid percent string must be a "
                "numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is "
                "'[0-9]+%')",
            ),
            (
                {"maxUnavailable": "110%"},
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 110%: must not be greater than 100%",
            ),
            (
                {"maxSurge": -1},
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to 0",
            ),
        ],
    )
    def test_rolling_update(self, rolling: dict[str, Any], message: str) -> None:
        """maxSurge/maxUnavailable: int or percent, not both zero, at most 100%."""
        assert causes(deployment(strategy={"type": "RollingUpdate", "rollingUpdate": rolling})) == [message]

    def test_recreate_with_rolling_update(self) -> None:
        """Recreate takes no rollingUpdate parameters."""
        strategy = {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}
        assert causes(deployment(strategy=strategy)) == [
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
        ]

    def test_unknown_strategy(self) -> None:
        """Only Recreate and RollingUpdate exist."""
        assert causes(deployment(strategy={"type": "BlueGreen"})) == [
            'spec.strategy.type: Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"'
        ]

    def test_progress_deadline(self) -> None:
        """progressDeadlineSeconds must exceed minReadySeconds."""
        assert causes(deployment(minReadySeconds=30, progressDeadlineSeconds=30)) == [
            "spec.progressDeadlineSeconds: Invalid value: 30: must be greater than minReadySeconds"
        ]

    def test_replica_set_rules(self) -> None:
        """ReplicaSets share the selector and template rules (and wording)."""
        obj = load(OTHER_KINDS.split("---")[2])
        obj["spec"].update(replicas=-2, selector={"matchLabels": {}})
        assert causes(obj) == [
            "spec.replicas: Invalid value: -2: must be greater than or equal to 0",
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment",
        ]

    def test_template_label_errors(self) -> None:
        """Template label problems are reported at spec.template.labels, as Kubernetes does."""
        obj = deployment(selector={"matchLabels": {"app": "bad value"}})
        obj["spec"]["template"]["metadata"]["labels"] = {"app": "bad value"}
        found = causes(obj)
        assert [m.split(":")[0] for m in found] == ["spec.selector.matchLabels", "spec.template.labels"]


class TestService:
    def test_ports_required(self) -> None:
        """A ClusterIP service needs ports."""
        assert causes(service(ports=[])) == ["spec.ports: Required value"]

    def test_headless_without_ports(self) -> None:
        """A headless service may omit ports."""
        admit(service(ports=[], clusterIP="None"))

    def test_port_names_required_when_several(self) -> None:
        """With more than one port, every port is named, uniquely."""
        ports = [{"port": 80}, {"name": "a", "port": 81}, {"name": "a", "port": 82}]
        assert causes(service(ports=ports)) == [
            "spec.ports[0].name: Required value",
            'spec.ports[2].name: Duplicate value: "a"',
        ]

    def test_duplicate_port_numbers(self) -> None:
        """A (protocol, port) pair appears once."""
        ports = [{"name": "a", "port": 80}, {"name": "b", "port": 80}]
        assert causes(service(ports=ports)) == [
            'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), '
            'Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
        ]

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            (
                {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]},
                "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of "
                "valid ports is 30000-32767",
            ),
            (
                {"ports": [{"port": 80, "nodePort": 30080}]},
                "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
            ),
            (
                {"ports": [{"port": 80, "targetPort": 70000}]},
                "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            ),
            (
                {"type": "Internal"},
                'spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", '
                '"LoadBalancer", "NodePort"',
            ),
            (
                {"clusterIP": "10.0.0.300"},
                'spec.clusterIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or '
                "2001:db8::ffff)",
            ),
            (
                {"sessionAffinity": "Sticky"},
                'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"',
            ),
            (
                {"type": "NodePort", "clusterIP": "None"},
                "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services",
            ),
            (
                {"type": "ExternalName", "ports": []},
                "spec.externalName: Required value",
            ),
            (
                {"ports": [{"port": 80, "targetPort": "web--http"}]},
                'spec.ports[0].targetPort: Invalid value: "web--http": must not contain consecutive hyphens',
            ),
            (
                {"externalTrafficPolicy": "Local"},
                'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible '
                "services",
            ),
        ],
    )
    def test_service_rules(self, spec: dict[str, Any], message: str) -> None:
        """Service specs: ports, node-port range, types, IPs, affinity."""
        assert causes(service(**spec)) == [message]

    def test_port_zero_also_fails_defaulted_target_port(self) -> None:
        """Port 0 is refused, and so is the targetPort defaulted from it."""
        assert causes(service(ports=[{"port": 0}])) == [
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
        ]

    def test_upper_case_port_name(self) -> None:
        """Capitals are neither allowed characters nor letters in a port name."""
        assert causes(service(ports=[{"port": 80, "targetPort": "HTTP"}])) == [
            'spec.ports[0].targetPort: Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), '
            "and hyphens (-)",
            'spec.ports[0].targetPort: Invalid value: "HTTP": must contain at least one letter (a-z)',
        ]

    def test_node_port_in_range(self) -> None:
        """NodePort services accept ports in the node-port range."""
        admit(service(type="NodePort", ports=[{"port": 80, "nodePort": 30080}]))


class TestOtherKinds:
    def test_config_map_keys(self) -> None:
        """ConfigMap keys are config keys, not in both data and binaryData."""
        obj = load(OTHER_KINDS.split("---")[1])
        obj["data"] = {"bad key": "x", "blob": "y"}
        assert causes(obj) == [
            'data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '
            "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
            "'[-._a-zA-Z0-9]+')",
            'data[blob]: Invalid value: "blob": duplicate of key present in binaryData',
        ]

    def test_node_taints_and_cidr(self) -> None:
        """Node taints need a known effect, unique per key; podCIDRs are CIDRs."""
        obj = load(OTHER_KINDS.split("---")[3])
        obj["spec"] = {
            "podCIDR": "127.244.1.0",
            "taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}],
        }
        assert causes(obj) == [
            'spec.taints[1]: Duplicate value: map[string]string{"effect":"NoSchedule", "key":"a"}: taints must be '
            "unique by key and effect pair",
            'spec.podCIDRs[0]: Invalid value: "127.244.1.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or '
            "2001:db8::/64)",
        ]

    def test_endpoints(self) -> None:
        """Subsets need addresses; loopback addresses are fine in kemu."""
        obj = load(OTHER_KINDS.split("---")[4])
        obj["subsets"].append({"ports": [{"port": 80}]})
        assert causes(obj) == ["subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`"]

    def test_event_namespace_must_match(self) -> None:
        """A core/v1 event lives in its object's namespace."""
        obj = load(OTHER_KINDS.split("---")[5])
        obj["involvedObject"]["namespace"] = "other"
        assert causes(obj) == ['involvedObject.namespace: Invalid value: "other": does not match event.namespace']

    def test_event_for_cluster_scoped_object(self) -> None:
        """Events about nodes live in the default namespace."""
        obj = load(OTHER_KINDS.split("---")[5])
        obj["involvedObject"] = {"kind": "Node", "name": "node-1"}
        admit(obj)

    def test_lease_duration(self) -> None:
        """A lease lasts a positive number of seconds."""
        obj = load(OTHER_KINDS.split("---")[6])
        obj["spec"].update(leaseDurationSeconds=0, leaseTransitions=-1)
        assert causes(obj) == [
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
            "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
        ]

    def test_namespace_finalizers(self) -> None:
        """Namespace spec finalizers are standard or qualified."""
        obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}, "spec": {"finalizers": ["keep"]}}
        assert causes(obj) == [
            'spec.finalizers: Invalid value: "keep": name is neither a standard finalizer name nor is it fully '
            "qualified"
        ]


class TestUpdates:
    def test_name_and_namespace_immutable(self) -> None:
        """An update cannot rename or move an object."""
        old = stored(pod())
        new = copy.deepcopy(old)
        new["metadata"].update(name="web2", namespace="other")
        assert causes(new, old)[:2] == [
            'metadata.name: Invalid value: "web2": field is immutable',
            'metadata.namespace: Invalid value: "other": field is immutable',
        ]

    def test_uid_mismatch(self) -> None:
        """A uid, when both sides carry one, cannot change."""
        old = stored(pod())
        new = copy.deepcopy(old)
        new["metadata"]["uid"] = "other"
        assert causes(new, old) == ['metadata.uid: Invalid value: "other": field is immutable']

    def test_update_without_store_metadata(self) -> None:
        """An update body without uid/resourceVersion/status is accepted."""
        old = stored(pod())
        new = pod()
        new["metadata"]["labels"] = {"tier": "web"}
        admit(new, old)

    def test_pod_image_may_change(self) -> None:
        """Pods accept a new container image."""
        old = stored(pod())
        new = copy.deepcopy(old)
        new["spec"]["containers"][0]["image"] = "nginx:1.27"
        admit(new, old)

    def test_pod_spec_otherwise_immutable(self) -> None:
        """Any other spec change is forbidden, with the real message and a diff."""
        old = stored(pod())
        new = copy.deepcopy(old)
        new["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}]
        new["spec"]["nodeName"] = "node-2"
        [message] = causes(new, old)
        assert message == (
            POD_UPDATE_MSG + "\n  core.PodSpec{\n"
            '+ \tContainers[0].Ports: []interface {}{map[string]interface {}{"containerPort":8080, '
            '"protocol":"TCP"}},\n'
            '+ \tNodeName: "node-2",\n'
            "  }"
        )

    def test_pod_containers_cannot_be_added(self) -> None:
        """Adding a container is refused outright."""
        old = stored(pod())
        new = copy.deepcopy(old)
        new["spec"]["containers"].append(container(name="sidecar"))
        assert causes(new, old) == ["spec.containers: Forbidden: pod updates may not add or remove containers"]

    def test_pod_tolerations_may_be_added(self) -> None:
        """Tolerations may be added, and their seconds changed, never removed."""
        toleration = {"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
        old = stored(pod(tolerations=[toleration]))
        new = copy.deepcopy(old)
        new["spec"]["tolerations"][0]["tolerationSeconds"] = 10
        new["spec"]["tolerations"].append({"key": "other", "operator": "Exists"})
        admit(new, old)
        new["spec"]["tolerations"] = []
        assert causes(new, old) == [
            "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
        ]

    @pytest.mark.parametrize(
        ("before", "after", "message"),
        [
            (None, 60, None),
            (60, 30, None),
            (30, 60, "spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value"),
            (
                30,
                None,
                "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value",
            ),
        ],
    )
    def test_pod_active_deadline(self, before: int | None, after: int | None, message: str | None) -> None:
        """activeDeadlineSeconds may be set or lowered, not raised or removed."""
        old = stored(pod(**({} if before is None else {"activeDeadlineSeconds": before})))
        new = copy.deepcopy(old)
        new["spec"].pop("activeDeadlineSeconds", None)
        if after is not None:
            new["spec"]["activeDeadlineSeconds"] = after
        if message is None:
            admit(new, old)
        else:
            assert causes(new, old) == [message]

    def test_pod_grace_period_may_change(self) -> None:
        """terminationGracePeriodSeconds is not in the allowed list unless it was negative."""
        old = stored(pod())
        new = copy.deepcopy(old)
        new["spec"]["terminationGracePeriodSeconds"] = 5
        assert causes(new, old)[0].startswith(POD_UPDATE_MSG)

    def test_pod_status_update(self) -> None:
        """A status-only change on a pod passes the update rules."""
        old = stored(pod())
        new = copy.deepcopy(old)
        new["status"] = {"phase": "Running", "podIP": "127.244.1.5", "startTime": "2024-05-01T10:00:00Z"}
        admit(new, old)

    @pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet"])
    def test_selector_immutable(self, kind: str) -> None:
        """apps/v1 selectors never change."""
        old = deployment()
        old["kind"] = kind
        old = stored(old)
        new = copy.deepcopy(old)
        new["spec"]["selector"] = {"matchLabels": {"app": "web-2"}}
        new["spec"]["template"]["metadata"]["labels"] = {"app": "web-2"}
        assert causes(new, old) == [
            'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web-2"}, '
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
        ]

    def test_deployment_scale_and_image(self) -> None:
        """Replicas and the template may change freely."""
        old = stored(deployment())
        new = copy.deepcopy(old)
        new["spec"]["replicas"] = 10
        new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
        admit(new, old)

    def test_service_cluster_ip_immutable(self) -> None:
        """A cluster IP, once set, stays."""
        old = stored(service(clusterIP="127.96.0.10"))
        new = copy.deepcopy(old)
        new["spec"].update(clusterIP="127.96.0.11", clusterIPs=["127.96.0.11"])
        assert causes(new, old) == [
            'spec.clusterIPs[0]: Invalid value: []string{"127.96.0.11"}: may not change once set'
        ]

    def test_service_cluster_ip_cannot_be_unset(self) -> None:
        """Dropping the cluster IP is refused (carry_over_allocated avoids it)."""
        old = stored(service(clusterIP="127.96.0.10"))
        new = service()
        assert causes(new, old) == ["spec.clusterIPs[0]: Invalid value: []string{}: primary clusterIP can not be unset"]

    def test_service_cluster_ip_may_be_allocated(self) -> None:
        """The first allocation of a cluster IP is an allowed update."""
        old = stored(service())
        new = copy.deepcopy(old)
        new["spec"].update(clusterIP="127.96.0.10", clusterIPs=["127.96.0.10"])
        admit(new, old)

    def test_node_pod_cidr_set_once(self) -> None:
        """A node's podCIDR may be assigned once, never changed."""
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}}
        old = stored(copy.deepcopy(node))
        new = copy.deepcopy(old)
        new["spec"] = {"podCIDR": "127.244.1.0/24"}
        admit(new, old)
        newer = copy.deepcopy(new)
        newer["spec"] = {"podCIDR": "127.244.2.0/24"}
        assert causes(newer, new) == [
            'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid'
        ]

    def test_immutable_config_map(self) -> None:
        """An immutable ConfigMap keeps its data and stays immutable."""
        old = load(OTHER_KINDS.split("---")[1])
        old["immutable"] = True
        old = stored(old)
        new = copy.deepcopy(old)
        new["data"]["player_initial_lives"] = "5"
        new["immutable"] = False
        assert causes(new, old) == [
            "immutable: Forbidden: field is immutable when `immutable` is set",
            "data: Forbidden: field is immutable when `immutable` is set",
        ]


class TestRobustness:
    def test_validate_without_check_schema_never_crashes(self) -> None:
        """Wrongly typed input yields causes, not exceptions."""
        obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "x", "namespace": "d"},
            "spec": {"containers": "nginx", "volumes": [1]},
        }
        with pytest.raises(ApiError) as info:
            validate(obj)
        assert info.value.code == 422

    def test_unknown_kind(self) -> None:
        """validate refuses kinds it does not serve."""
        with pytest.raises(ApiError) as info:
            validate({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}})
        assert info.value.code == 400
