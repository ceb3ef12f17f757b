"""The shape of every field kemu knows, declared once.

Each kind's schema is a tree of a few node types:

- :class:`Scalar` leaves: ``STRING``, ``INT32``, ``INT64``, ``BOOL``,
  ``NUMBER``, ``INT_OR_STRING``, ``QUANTITY``, ``TIME``, ``MICRO_TIME``,
  ``BYTES`` (base64 in JSON) and ``ANY`` (free-form, never checked inside);
- :class:`ListOf` and :class:`MapOf` (string keys);
- :class:`Struct`: named fields, each of one of these types.

Structs carry their OpenAPI definition name (``io.k8s.api.core.v1.Container``),
from which the Go type name in error messages (``v1.Container``) and the
``kubectl explain`` definitions are derived, so the same table serves three
purposes:

1. :func:`check` walks an object against its schema and reports what a real
   apiserver's strict JSON decoding reports: the first value of the wrong type
   (``json: cannot unmarshal string into Go struct field
   DeploymentSpec.spec.replicas of type int32``) and every unknown field
   (``spec.template.spec.containers[0].imagePullPolice``);
2. defaulting finds every quantity to canonicalize (``kemu.api.defaults``);
3. :func:`to_openapi_v2` renders OpenAPI v2 ``definitions``.

The tables follow the real Kubernetes types (``k8s.io/api``). Fields kemu does
not act on are still declared, so that manifests written for a real cluster
are accepted unchanged; rarely used deep sub-structures (CSI volumes, Windows
options, ...) are ``ANY``. Descriptions are left out on purpose.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kemu import apimachinery
from kemu.api import quantity

__all__ = [
    "Type",
    "Scalar",
    "ListOf",
    "MapOf",
    "Struct",
    "list_of",
    "map_of",
    "struct",
    "top_level",
    "STRING",
    "INT32",
    "INT64",
    "BOOL",
    "NUMBER",
    "INT_OR_STRING",
    "QUANTITY",
    "TIME",
    "MICRO_TIME",
    "BYTES",
    "ANY",
    "RESOURCE_LIST",
    "SCHEMAS",
    "SchemaProblems",
    "schema_for",
    "check",
    "iter_definitions",
    "to_openapi_v2",
]


class Type:
    """Base of every schema node."""

    go_name: str
    """The Go type, as the apiserver's decoder names it in errors (``int32``,
    ``v1.Container``, ``map[string]string``)."""


@dataclass(frozen=True, slots=True, eq=False)
class Scalar(Type):
    """A leaf value."""

    kind: str
    """One of ``string``, ``integer``, ``boolean``, ``number``,
    ``int-or-string``, ``quantity``, ``time``, ``bytes``, ``any``."""
    go_name: str
    """Go type name for error messages."""
    openapi: Mapping[str, Any]
    """Its OpenAPI v2 schema (inline, or a ``$ref``)."""


@dataclass(frozen=True, slots=True, eq=False)
class ListOf(Type):
    """A JSON array of ``item``."""

    item: Type
    """Type of every element."""

    @property
    def go_name(self) -> str:  # type: ignore[override]
        return "[]" + self.item.go_name


@dataclass(frozen=True, slots=True, eq=False)
class MapOf(Type):
    """A JSON object with free string keys and values of ``value``."""

    value: Type
    """Type of every value."""
    named: str | None = None
    """Go name when the map is a named type (``v1.ResourceList``)."""

    @property
    def go_name(self) -> str:  # type: ignore[override]
        return self.named or "map[string]" + self.value.go_name


@dataclass(frozen=True, slots=True, eq=False)
class Struct(Type):
    """A JSON object with a fixed set of fields."""

    name: str
    """OpenAPI definition name: ``io.k8s.api.core.v1.Container``."""
    fields: Mapping[str, Type]
    """Field name -> type, in declaration order."""
    required: tuple[str, ...] = ()
    """Fields OpenAPI marks required (documentation only: validation decides)."""
    gvk: tuple[str, str, str] | None = field(default=None)
    """``(group, version, kind)`` for top-level kinds."""

    @property
    def short_name(self) -> str:
        """``Container``: the struct name in decode errors."""
        return self.name.rsplit(".", 1)[-1]

    @property
    def go_name(self) -> str:  # type: ignore[override]
        package, short = self.name.rsplit(".", 2)[-2:]
        return f"{package}.{short}"


# --- the small DSL ---------------------------------------------------------

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_CORE = "io.k8s.api.core.v1."
_APPS = "io.k8s.api.apps.v1."
_COORD = "io.k8s.api.coordination.v1."


def list_of(item: Type) -> ListOf:
    return ListOf(item)


def map_of(value: Type) -> MapOf:
    return MapOf(value)


def struct(definition: str, /, *, required: tuple[str, ...] = (), **fields: Type) -> Struct:
    """A struct whose OpenAPI name is ``definition``, with ``fields`` in order."""
    return Struct(definition, dict(fields), required)


def top_level(struct_: Struct, group: str, version: str, kind_name: str) -> Struct:
    """``struct_`` marked as the top-level type of ``group/version, Kind``."""
    return Struct(struct_.name, struct_.fields, struct_.required, (group, version, kind_name))


STRING = Scalar("string", "string", {"type": "string"})
INT32 = Scalar("integer", "int32", {"type": "integer", "format": "int32"})
INT64 = Scalar("integer", "int64", {"type": "integer", "format": "int64"})
BOOL = Scalar("boolean", "bool", {"type": "boolean"})
NUMBER = Scalar("number", "float64", {"type": "number", "format": "double"})
INT_OR_STRING = Scalar(
    "int-or-string", "intstr.IntOrString", {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}
)
QUANTITY = Scalar(
    "quantity", "resource.Quantity", {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}
)
TIME = Scalar("time", "v1.Time", {"$ref": "#/definitions/" + _META + "Time"})
MICRO_TIME = Scalar("time", "v1.MicroTime", {"$ref": "#/definitions/" + _META + "MicroTime"})
BYTES = Scalar("bytes", "[]uint8", {"type": "string", "format": "byte"})
ANY = Scalar("any", "interface {}", {"type": "object"})

STRINGS = list_of(STRING)
LABELS = map_of(STRING)
RESOURCE_LIST = MapOf(QUANTITY, named="v1.ResourceList")

# Definitions of the scalars that OpenAPI names.
_SCALAR_DEFINITIONS: dict[str, dict[str, Any]] = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
    _META + "Time": {"type": "string", "format": "date-time"},
    _META + "MicroTime": {"type": "string", "format": "date-time"},
}

# --- meta/v1 ---------------------------------------------------------------

OWNER_REFERENCE = struct(
    _META + "OwnerReference",
    required=("apiVersion", "kind", "name", "uid"),
    apiVersion=STRING,
    kind=STRING,
    name=STRING,
    uid=STRING,
    controller=BOOL,
    blockOwnerDeletion=BOOL,
)
OBJECT_META = struct(
    _META + "ObjectMeta",
    name=STRING,
    generateName=STRING,
    namespace=STRING,
    selfLink=STRING,
    uid=STRING,
    resourceVersion=STRING,
    generation=INT64,
    creationTimestamp=TIME,
    deletionTimestamp=TIME,
    deletionGracePeriodSeconds=INT64,
    labels=LABELS,
    annotations=LABELS,
    ownerReferences=list_of(OWNER_REFERENCE),
    finalizers=STRINGS,
    managedFields=list_of(ANY),
)
LABEL_SELECTOR = struct(
    _META + "LabelSelector",
    matchLabels=LABELS,
    matchExpressions=list_of(
        struct(
            _META + "LabelSelectorRequirement",
            required=("key", "operator"),
            key=STRING,
            operator=STRING,
            values=STRINGS,
        )
    ),
)
CONDITION = struct(
    _META + "Condition",
    required=("type", "status", "lastTransitionTime", "reason", "message"),
    type=STRING,
    status=STRING,
    observedGeneration=INT64,
    lastTransitionTime=TIME,
    reason=STRING,
    message=STRING,
)

# --- core/v1: small shared pieces -----------------------------------------

LOCAL_OBJECT_REFERENCE = struct(_CORE + "LocalObjectReference", name=STRING)
OBJECT_REFERENCE = struct(
    _CORE + "ObjectReference",
    kind=STRING,
    namespace=STRING,
    name=STRING,
    uid=STRING,
    apiVersion=STRING,
    resourceVersion=STRING,
    fieldPath=STRING,
)
OBJECT_FIELD_SELECTOR = struct(
    _CORE + "ObjectFieldSelector", required=("fieldPath",), apiVersion=STRING, fieldPath=STRING
)
RESOURCE_FIELD_SELECTOR = struct(
    _CORE + "ResourceFieldSelector", required=("resource",), containerName=STRING, resource=STRING, divisor=QUANTITY
)
KEY_TO_PATH = struct(_CORE + "KeyToPath", required=("key", "path"), key=STRING, path=STRING, mode=INT32)
HTTP_HEADER = struct(_CORE + "HTTPHeader", required=("name", "value"), name=STRING, value=STRING)
EXEC_ACTION = struct(_CORE + "ExecAction", command=STRINGS)
HTTP_GET_ACTION = struct(
    _CORE + "HTTPGetAction",
    required=("port",),
    path=STRING,
    port=INT_OR_STRING,
    host=STRING,
    scheme=STRING,
    httpHeaders=list_of(HTTP_HEADER),
)
TCP_SOCKET_ACTION = struct(_CORE + "TCPSocketAction", required=("port",), port=INT_OR_STRING, host=STRING)
GRPC_ACTION = struct(_CORE + "GRPCAction", required=("port",), port=INT32, service=STRING)
SLEEP_ACTION = struct(_CORE + "SleepAction", required=("seconds",), seconds=INT64)
SE_LINUX_OPTIONS = struct(_CORE + "SELinuxOptions", user=STRING, role=STRING, type=STRING, level=STRING)
SECCOMP_PROFILE = struct(_CORE + "SeccompProfile", required=("type",), type=STRING, localhostProfile=STRING)
APP_ARMOR_PROFILE = struct(_CORE + "AppArmorProfile", required=("type",), type=STRING, localhostProfile=STRING)
WINDOWS_OPTIONS = struct(
    _CORE + "WindowsSecurityContextOptions",
    gmsaCredentialSpecName=STRING,
    gmsaCredentialSpec=STRING,
    runAsUserName=STRING,
    hostProcess=BOOL,
)
RESOURCE_REQUIREMENTS = struct(
    _CORE + "ResourceRequirements",
    limits=RESOURCE_LIST,
    requests=RESOURCE_LIST,
    claims=list_of(struct(_CORE + "ResourceClaim", required=("name",), name=STRING, request=STRING)),
)
TOLERATION = struct(
    _CORE + "Toleration",
    key=STRING,
    operator=STRING,
    value=STRING,
    effect=STRING,
    tolerationSeconds=INT64,
)
TAINT = struct(_CORE + "Taint", required=("key", "effect"), key=STRING, value=STRING, effect=STRING, timeAdded=TIME)

# --- core/v1: containers ----------------------------------------------------

PROBE = struct(
    _CORE + "Probe",
    exec=EXEC_ACTION,
    httpGet=HTTP_GET_ACTION,
    tcpSocket=TCP_SOCKET_ACTION,
    grpc=GRPC_ACTION,
    initialDelaySeconds=INT32,
    timeoutSeconds=INT32,
    periodSeconds=INT32,
    successThreshold=INT32,
    failureThreshold=INT32,
    terminationGracePeriodSeconds=INT64,
)
LIFECYCLE_HANDLER = struct(
    _CORE + "LifecycleHandler",
    exec=EXEC_ACTION,
    httpGet=HTTP_GET_ACTION,
    tcpSocket=TCP_SOCKET_ACTION,
    sleep=SLEEP_ACTION,
)
LIFECYCLE = struct(_CORE + "Lifecycle", postStart=LIFECYCLE_HANDLER, preStop=LIFECYCLE_HANDLER, stopSignal=STRING)
SECURITY_CONTEXT = struct(
    _CORE + "SecurityContext",
    capabilities=struct(_CORE + "Capabilities", add=STRINGS, drop=STRINGS),
    privileged=BOOL,
    seLinuxOptions=SE_LINUX_OPTIONS,
    windowsOptions=WINDOWS_OPTIONS,
    runAsUser=INT64,
    runAsGroup=INT64,
    runAsNonRoot=BOOL,
    readOnlyRootFilesystem=BOOL,
    allowPrivilegeEscalation=BOOL,
    procMount=STRING,
    seccompProfile=SECCOMP_PROFILE,
    appArmorProfile=APP_ARMOR_PROFILE,
)
ENV_VAR = struct(
    _CORE + "EnvVar",
    required=("name",),
    name=STRING,
    value=STRING,
    valueFrom=struct(
        _CORE + "EnvVarSource",
        fieldRef=OBJECT_FIELD_SELECTOR,
        resourceFieldRef=RESOURCE_FIELD_SELECTOR,
        configMapKeyRef=struct(
            _CORE + "ConfigMapKeySelector", required=("key",), name=STRING, key=STRING, optional=BOOL
        ),
        secretKeyRef=struct(_CORE + "SecretKeySelector", required=("key",), name=STRING, key=STRING, optional=BOOL),
        fileKeyRef=ANY,
    ),
)
ENV_FROM_SOURCE = struct(
    _CORE + "EnvFromSource",
    prefix=STRING,
    configMapRef=struct(_CORE + "ConfigMapEnvSource", name=STRING, optional=BOOL),
    secretRef=struct(_CORE + "SecretEnvSource", name=STRING, optional=BOOL),
)
CONTAINER_PORT = struct(
    _CORE + "ContainerPort",
    required=("containerPort",),
    name=STRING,
    hostPort=INT32,
    containerPort=INT32,
    protocol=STRING,
    hostIP=STRING,
)
VOLUME_MOUNT = struct(
    _CORE + "VolumeMount",
    required=("name", "mountPath"),
    name=STRING,
    readOnly=BOOL,
    recursiveReadOnly=STRING,
    mountPath=STRING,
    subPath=STRING,
    mountPropagation=STRING,
    subPathExpr=STRING,
)
_CONTAINER_FIELDS: dict[str, Type] = dict(
    name=STRING,
    image=STRING,
    command=STRINGS,
    args=STRINGS,
    workingDir=STRING,
    ports=list_of(CONTAINER_PORT),
    envFrom=list_of(ENV_FROM_SOURCE),
    env=list_of(ENV_VAR),
    resources=RESOURCE_REQUIREMENTS,
    resizePolicy=list_of(
        struct(
            _CORE + "ContainerResizePolicy",
            required=("resourceName", "restartPolicy"),
            resourceName=STRING,
            restartPolicy=STRING,
        )
    ),
    restartPolicy=STRING,
    restartPolicyRules=list_of(ANY),
    volumeMounts=list_of(VOLUME_MOUNT),
    volumeDevices=list_of(
        struct(_CORE + "VolumeDevice", required=("name", "devicePath"), name=STRING, devicePath=STRING)
    ),
    livenessProbe=PROBE,
    readinessProbe=PROBE,
    startupProbe=PROBE,
    lifecycle=LIFECYCLE,
    terminationMessagePath=STRING,
    terminationMessagePolicy=STRING,
    imagePullPolicy=STRING,
    securityContext=SECURITY_CONTEXT,
    stdin=BOOL,
    stdinOnce=BOOL,
    tty=BOOL,
)
CONTAINER = struct(_CORE + "Container", required=("name",), **_CONTAINER_FIELDS)
EPHEMERAL_CONTAINER = struct(
    _CORE + "EphemeralContainer", required=("name",), **_CONTAINER_FIELDS, targetContainerName=STRING
)

# --- core/v1: volumes -----------------------------------------------------

DOWNWARD_API_VOLUME_FILE = struct(
    _CORE + "DownwardAPIVolumeFile",
    required=("path",),
    path=STRING,
    fieldRef=OBJECT_FIELD_SELECTOR,
    resourceFieldRef=RESOURCE_FIELD_SELECTOR,
    mode=INT32,
)
VOLUME_PROJECTION = struct(
    _CORE + "VolumeProjection",
    secret=struct(_CORE + "SecretProjection", name=STRING, items=list_of(KEY_TO_PATH), optional=BOOL),
    downwardAPI=struct(_CORE + "DownwardAPIProjection", items=list_of(DOWNWARD_API_VOLUME_FILE)),
    configMap=struct(_CORE + "ConfigMapProjection", name=STRING, items=list_of(KEY_TO_PATH), optional=BOOL),
    serviceAccountToken=struct(
        _CORE + "ServiceAccountTokenProjection",
        required=("path",),
        audience=STRING,
        expirationSeconds=INT64,
        path=STRING,
    ),
    clusterTrustBundle=ANY,
    podCertificate=ANY,
)
# Volume sources kemu never mounts are accepted but not looked into.
_OPAQUE_VOLUME_SOURCES = [
    "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "iscsi", "glusterfs", "rbd", "flexVolume", "cinder",
    "cephfs", "flocker", "fc", "azureFile", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
    "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral"
]
VOLUME = struct(
    _CORE + "Volume",
    required=("name",),
    name=STRING,
    hostPath=struct(_CORE + "HostPathVolumeSource", required=("path",), path=STRING, type=STRING),
    emptyDir=struct(_CORE + "EmptyDirVolumeSource", medium=STRING, sizeLimit=QUANTITY),
    secret=struct(
        _CORE + "SecretVolumeSource",
        secretName=STRING,
        items=list_of(KEY_TO_PATH),
        defaultMode=INT32,
        optional=BOOL,
    ),
    nfs=struct(_CORE + "NFSVolumeSource", required=("server", "path"), server=STRING, path=STRING, readOnly=BOOL),
    persistentVolumeClaim=struct(
        _CORE + "PersistentVolumeClaimVolumeSource", required=("claimName",), claimName=STRING, readOnly=BOOL
    ),
    downwardAPI=struct(_CORE + "DownwardAPIVolumeSource", items=list_of(DOWNWARD_API_VOLUME_FILE), defaultMode=INT32),
    configMap=struct(
        _CORE + "ConfigMapVolumeSource", name=STRING, items=list_of(KEY_TO_PATH), defaultMode=INT32, optional=BOOL
    ),
    projected=struct(_CORE + "ProjectedVolumeSource", sources=list_of(VOLUME_PROJECTION), defaultMode=INT32),
    image=struct(_CORE + "ImageVolumeSource", reference=STRING, pullPolicy=STRING),
    **dict.fromkeys(_OPAQUE_VOLUME_SOURCES, ANY),
)

# --- core/v1: scheduling ------------------------------------------------------

NODE_SELECTOR_REQUIREMENT = struct(
    _CORE + "NodeSelectorRequirement", required=("key", "operator"), key=STRING, operator=STRING, values=STRINGS
)
NODE_SELECTOR_TERM = struct(
    _CORE + "NodeSelectorTerm",
    matchExpressions=list_of(NODE_SELECTOR_REQUIREMENT),
    matchFields=list_of(NODE_SELECTOR_REQUIREMENT),
)
POD_AFFINITY_TERM = struct(
    _CORE + "PodAffinityTerm",
    required=("topologyKey",),
    labelSelector=LABEL_SELECTOR,
    namespaces=STRINGS,
    topologyKey=STRING,
    namespaceSelector=LABEL_SELECTOR,
    matchLabelKeys=STRINGS,
    mismatchLabelKeys=STRINGS,
)
WEIGHTED_POD_AFFINITY_TERM = struct(
    _CORE + "WeightedPodAffinityTerm",
    required=("weight", "podAffinityTerm"),
    weight=INT32,
    podAffinityTerm=POD_AFFINITY_TERM,
)
_POD_AFFINITY_FIELDS: dict[str, Type] = dict(
    requiredDuringSchedulingIgnoredDuringExecution=list_of(POD_AFFINITY_TERM),
    preferredDuringSchedulingIgnoredDuringExecution=list_of(WEIGHTED_POD_AFFINITY_TERM),
)
AFFINITY = struct(
    _CORE + "Affinity",
    nodeAffinity=struct(
        _CORE + "NodeAffinity",
        requiredDuringSchedulingIgnoredDuringExecution=struct(
            _CORE + "NodeSelector",
            required=("nodeSelectorTerms",),
            nodeSelectorTerms=list_of(NODE_SELECTOR_TERM),
        ),
        preferredDuringSchedulingIgnoredDuringExecution=list_of(
            struct(
                _CORE + "PreferredSchedulingTerm",
                required=("weight", "preference"),
                weight=INT32,
                preference=NODE_SELECTOR_TERM,
            )
        ),
    ),
    podAffinity=Struct(_CORE + "PodAffinity", _POD_AFFINITY_FIELDS),
    podAntiAffinity=Struct(_CORE + "PodAntiAffinity", _POD_AFFINITY_FIELDS),
)
TOPOLOGY_SPREAD_CONSTRAINT = struct(
    _CORE + "TopologySpreadConstraint",
    required=("maxSkew", "topologyKey", "whenUnsatisfiable"),
    maxSkew=INT32,
    topologyKey=STRING,
    whenUnsatisfiable=STRING,
    labelSelector=LABEL_SELECTOR,
    minDomains=INT32,
    nodeAffinityPolicy=STRING,
    nodeTaintsPolicy=STRING,
    matchLabelKeys=STRINGS,
)
POD_SECURITY_CONTEXT = struct(
    _CORE + "PodSecurityContext",
    seLinuxOptions=SE_LINUX_OPTIONS,
    windowsOptions=WINDOWS_OPTIONS,
    runAsUser=INT64,
    runAsGroup=INT64,
    runAsNonRoot=BOOL,
    supplementalGroups=list_of(INT64),
    supplementalGroupsPolicy=STRING,
    fsGroup=INT64,
    sysctls=list_of(struct(_CORE + "Sysctl", required=("name", "value"), name=STRING, value=STRING)),
    fsGroupChangePolicy=STRING,
    seccompProfile=SECCOMP_PROFILE,
    appArmorProfile=APP_ARMOR_PROFILE,
    seLinuxChangePolicy=STRING,
)

# --- core/v1: Pod ---------------------------------------------------------

POD_SPEC = struct(
    _CORE + "PodSpec",
    required=("containers",),
    volumes=list_of(VOLUME),
    initContainers=list_of(CONTAINER),
    containers=list_of(CONTAINER),
    ephemeralContainers=list_of(EPHEMERAL_CONTAINER),
    restartPolicy=STRING,
    terminationGracePeriodSeconds=INT64,
    activeDeadlineSeconds=INT64,
    dnsPolicy=STRING,
    nodeSelector=LABELS,
    serviceAccountName=STRING,
    serviceAccount=STRING,
    automountServiceAccountToken=BOOL,
    nodeName=STRING,
    hostNetwork=BOOL,
    hostPID=BOOL,
    hostIPC=BOOL,
    shareProcessNamespace=BOOL,
    securityContext=POD_SECURITY_CONTEXT,
    imagePullSecrets=list_of(LOCAL_OBJECT_REFERENCE),
    hostname=STRING,
    subdomain=STRING,
    affinity=AFFINITY,
    schedulerName=STRING,
    tolerations=list_of(TOLERATION),
    hostAliases=list_of(struct(_CORE + "HostAlias", required=("ip",), ip=STRING, hostnames=STRINGS)),
    priorityClassName=STRING,
    priority=INT32,
    dnsConfig=struct(
        _CORE + "PodDNSConfig",
        nameservers=STRINGS,
        searches=STRINGS,
        options=list_of(struct(_CORE + "PodDNSConfigOption", name=STRING, value=STRING)),
    ),
    readinessGates=list_of(struct(_CORE + "PodReadinessGate", required=("conditionType",), conditionType=STRING)),
    runtimeClassName=STRING,
    enableServiceLinks=BOOL,
    preemptionPolicy=STRING,
    overhead=RESOURCE_LIST,
    topologySpreadConstraints=list_of(TOPOLOGY_SPREAD_CONSTRAINT),
    setHostnameAsFQDN=BOOL,
    os=struct(_CORE + "PodOS", required=("name",), name=STRING),
    hostUsers=BOOL,
    schedulingGates=list_of(struct(_CORE + "PodSchedulingGate", required=("name",), name=STRING)),
    resourceClaims=list_of(ANY),
    resources=RESOURCE_REQUIREMENTS,
    hostnameOverride=STRING,
)
CONTAINER_STATE = struct(
    _CORE + "ContainerState",
    waiting=struct(_CORE + "ContainerStateWaiting", reason=STRING, message=STRING),
    running=struct(_CORE + "ContainerStateRunning", startedAt=TIME),
    terminated=struct(
        _CORE + "ContainerStateTerminated",
        required=("exitCode",),
        exitCode=INT32,
        signal=INT32,
        reason=STRING,
        message=STRING,
        startedAt=TIME,
        finishedAt=TIME,
        containerID=STRING,
    ),
)
CONTAINER_STATUS = struct(
    _CORE + "ContainerStatus",
    required=("name", "ready", "restartCount", "image", "imageID"),
    name=STRING,
    state=CONTAINER_STATE,
    lastState=CONTAINER_STATE,
    ready=BOOL,
    restartCount=INT32,
    image=STRING,
    imageID=STRING,
    containerID=STRING,
    started=BOOL,
    allocatedResources=RESOURCE_LIST,
    resources=RESOURCE_REQUIREMENTS,
    volumeMounts=list_of(
        struct(
            _CORE + "VolumeMountStatus",
            required=("name", "mountPath"),
            name=STRING,
            mountPath=STRING,
            readOnly=BOOL,
            recursiveReadOnly=STRING,
        )
    ),
    user=ANY,
    allocatedResourcesStatus=list_of(ANY),
    stopSignal=STRING,
)
POD_IP = struct(_CORE + "PodIP", ip=STRING)
POD_STATUS = struct(
    _CORE + "PodStatus",
    observedGeneration=INT64,
    phase=STRING,
    conditions=list_of(
        struct(
            _CORE + "PodCondition",
            required=("type", "status"),
            type=STRING,
            observedGeneration=INT64,
            status=STRING,
            lastProbeTime=TIME,
            lastTransitionTime=TIME,
            reason=STRING,
            message=STRING,
        )
    ),
    message=STRING,
    reason=STRING,
    nominatedNodeName=STRING,
    hostIP=STRING,
    hostIPs=list_of(struct(_CORE + "HostIP", ip=STRING)),
    podIP=STRING,
    podIPs=list_of(POD_IP),
    startTime=TIME,
    initContainerStatuses=list_of(CONTAINER_STATUS),
    containerStatuses=list_of(CONTAINER_STATUS),
    ephemeralContainerStatuses=list_of(CONTAINER_STATUS),
    qosClass=STRING,
    resize=STRING,
    resourceClaimStatuses=list_of(ANY),
    extendedResourceClaimStatus=ANY,
)
POD = top_level(
    struct(_CORE + "Pod", apiVersion=STRING, kind=STRING, metadata=OBJECT_META, spec=POD_SPEC, status=POD_STATUS),
    "",
    "v1",
    "Pod",
)
POD_TEMPLATE_SPEC = struct(_CORE + "PodTemplateSpec", metadata=OBJECT_META, spec=POD_SPEC)

# --- apps/v1 ----------------------------------------------------------------

REPLICA_SET = top_level(
    struct(
        _APPS + "ReplicaSet",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        spec=struct(
            _APPS + "ReplicaSetSpec",
            required=("selector",),
            replicas=INT32,
            minReadySeconds=INT32,
            selector=LABEL_SELECTOR,
            template=POD_TEMPLATE_SPEC,
        ),
        status=struct(
            _APPS + "ReplicaSetStatus",
            required=("replicas",),
            replicas=INT32,
            fullyLabeledReplicas=INT32,
            readyReplicas=INT32,
            availableReplicas=INT32,
            terminatingReplicas=INT32,
            observedGeneration=INT64,
            conditions=list_of(
                struct(
                    _APPS + "ReplicaSetCondition",
                    required=("type", "status"),
                    type=STRING,
                    status=STRING,
                    lastTransitionTime=TIME,
                    reason=STRING,
                    message=STRING,
                )
            ),
        ),
    ),
    "apps",
    "v1",
    "ReplicaSet",
)
DEPLOYMENT = top_level(
    struct(
        _APPS + "Deployment",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        spec=struct(
            _APPS + "DeploymentSpec",
            required=("selector", "template"),
            replicas=INT32,
            selector=LABEL_SELECTOR,
            template=POD_TEMPLATE_SPEC,
            strategy=struct(
                _APPS + "DeploymentStrategy",
                type=STRING,
                rollingUpdate=struct(
                    _APPS + "RollingUpdateDeployment", maxUnavailable=INT_OR_STRING, maxSurge=INT_OR_STRING
                ),
            ),
            minReadySeconds=INT32,
            revisionHistoryLimit=INT32,
            paused=BOOL,
            progressDeadlineSeconds=INT32,
            podReplacementPolicy=STRING,
        ),
        status=struct(
            _APPS + "DeploymentStatus",
            observedGeneration=INT64,
            replicas=INT32,
            updatedReplicas=INT32,
            readyReplicas=INT32,
            availableReplicas=INT32,
            unavailableReplicas=INT32,
            terminatingReplicas=INT32,
            conditions=list_of(
                struct(
                    _APPS + "DeploymentCondition",
                    required=("type", "status"),
                    type=STRING,
                    status=STRING,
                    lastUpdateTime=TIME,
                    lastTransitionTime=TIME,
                    reason=STRING,
                    message=STRING,
                )
            ),
            collisionCount=INT32,
        ),
    ),
    "apps",
    "v1",
    "Deployment",
)

# --- core/v1: Service, Endpoints -------------------------------------------

SERVICE = top_level(
    struct(
        _CORE + "Service",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        spec=struct(
            _CORE + "ServiceSpec",
            ports=list_of(
                struct(
                    _CORE + "ServicePort",
                    required=("port",),
                    name=STRING,
                    protocol=STRING,
                    appProtocol=STRING,
                    port=INT32,
                    targetPort=INT_OR_STRING,
                    nodePort=INT32,
                )
            ),
            selector=LABELS,
            clusterIP=STRING,
            clusterIPs=STRINGS,
            type=STRING,
            externalIPs=STRINGS,
            sessionAffinity=STRING,
            loadBalancerIP=STRING,
            loadBalancerSourceRanges=STRINGS,
            externalName=STRING,
            externalTrafficPolicy=STRING,
            healthCheckNodePort=INT32,
            publishNotReadyAddresses=BOOL,
            sessionAffinityConfig=struct(
                _CORE + "SessionAffinityConfig",
                clientIP=struct(_CORE + "ClientIPConfig", timeoutSeconds=INT32),
            ),
            ipFamilies=STRINGS,
            ipFamilyPolicy=STRING,
            allocateLoadBalancerNodePorts=BOOL,
            loadBalancerClass=STRING,
            internalTrafficPolicy=STRING,
            trafficDistribution=STRING,
        ),
        status=struct(
            _CORE + "ServiceStatus",
            loadBalancer=struct(
                _CORE + "LoadBalancerStatus",
                ingress=list_of(
                    struct(
                        _CORE + "LoadBalancerIngress",
                        ip=STRING,
                        hostname=STRING,
                        ipMode=STRING,
                        ports=list_of(
                            struct(
                                _CORE + "PortStatus",
                                required=("port", "protocol"),
                                port=INT32,
                                protocol=STRING,
                                error=STRING,
                            )
                        ),
                    )
                ),
            ),
            conditions=list_of(CONDITION),
        ),
    ),
    "",
    "v1",
    "Service",
)
ENDPOINT_ADDRESS = struct(
    _CORE + "EndpointAddress",
    required=("ip",),
    ip=STRING,
    hostname=STRING,
    nodeName=STRING,
    targetRef=OBJECT_REFERENCE,
)
ENDPOINTS = top_level(
    struct(
        _CORE + "Endpoints",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        subsets=list_of(
            struct(
                _CORE + "EndpointSubset",
                addresses=list_of(ENDPOINT_ADDRESS),
                notReadyAddresses=list_of(ENDPOINT_ADDRESS),
                ports=list_of(
                    struct(
                        _CORE + "EndpointPort",
                        required=("port",),
                        name=STRING,
                        port=INT32,
                        protocol=STRING,
                        appProtocol=STRING,
                    )
                ),
            )
        ),
    ),
    "",
    "v1",
    "Endpoints",
)

# --- core/v1: Node, Namespace, Event, ConfigMap -----------------------------

NODE = top_level(
    struct(
        _CORE + "Node",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        spec=struct(
            _CORE + "NodeSpec",
            podCIDR=STRING,
            podCIDRs=STRINGS,
            providerID=STRING,
            unschedulable=BOOL,
            taints=list_of(TAINT),
            configSource=ANY,
            externalID=STRING,
        ),
        status=struct(
            _CORE + "NodeStatus",
            capacity=RESOURCE_LIST,
            allocatable=RESOURCE_LIST,
            phase=STRING,
            conditions=list_of(
                struct(
                    _CORE + "NodeCondition",
                    required=("type", "status"),
                    type=STRING,
                    status=STRING,
                    lastHeartbeatTime=TIME,
                    lastTransitionTime=TIME,
                    reason=STRING,
                    message=STRING,
                )
            ),
            addresses=list_of(struct(_CORE + "NodeAddress", required=("type", "address"), type=STRING, address=STRING)),
            daemonEndpoints=struct(
                _CORE + "NodeDaemonEndpoints",
                kubeletEndpoint=struct(_CORE + "DaemonEndpoint", required=("Port",), Port=INT32),
            ),
            nodeInfo=struct(
                _CORE + "NodeSystemInfo",
                machineID=STRING,
                systemUUID=STRING,
                bootID=STRING,
                kernelVersion=STRING,
                osImage=STRING,
                containerRuntimeVersion=STRING,
                kubeletVersion=STRING,
                kubeProxyVersion=STRING,
                operatingSystem=STRING,
                architecture=STRING,
                swap=ANY,
            ),
            images=list_of(struct(_CORE + "ContainerImage", names=STRINGS, sizeBytes=INT64)),
            volumesInUse=STRINGS,
            volumesAttached=list_of(ANY),
            config=ANY,
            runtimeHandlers=list_of(ANY),
            features=ANY,
            declaredFeatures=STRINGS,
        ),
    ),
    "",
    "v1",
    "Node",
)
NAMESPACE = top_level(
    struct(
        _CORE + "Namespace",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        spec=struct(_CORE + "NamespaceSpec", finalizers=STRINGS),
        status=struct(
            _CORE + "NamespaceStatus",
            phase=STRING,
            conditions=list_of(
                struct(
                    _CORE + "NamespaceCondition",
                    required=("type", "status"),
                    type=STRING,
                    status=STRING,
                    lastTransitionTime=TIME,
                    reason=STRING,
                    message=STRING,
                )
            ),
        ),
    ),
    "",
    "v1",
    "Namespace",
)
EVENT = top_level(
    struct(
        _CORE + "Event",
        required=("metadata", "involvedObject"),
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        involvedObject=OBJECT_REFERENCE,
        reason=STRING,
        message=STRING,
        source=struct(_CORE + "EventSource", component=STRING, host=STRING),
        firstTimestamp=TIME,
        lastTimestamp=TIME,
        count=INT32,
        type=STRING,
        eventTime=MICRO_TIME,
        series=struct(_CORE + "EventSeries", count=INT32, lastObservedTime=MICRO_TIME),
        action=STRING,
        related=OBJECT_REFERENCE,
        reportingComponent=STRING,
        reportingInstance=STRING,
    ),
    "",
    "v1",
    "Event",
)
CONFIG_MAP = top_level(
    struct(
        _CORE + "ConfigMap",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        immutable=BOOL,
        data=LABELS,
        binaryData=map_of(BYTES),
    ),
    "",
    "v1",
    "ConfigMap",
)

# --- coordination.k8s.io/v1 -----------------------------------------------

LEASE = top_level(
    struct(
        _COORD + "Lease",
        apiVersion=STRING,
        kind=STRING,
        metadata=OBJECT_META,
        spec=struct(
            _COORD + "LeaseSpec",
            holderIdentity=STRING,
            leaseDurationSeconds=INT32,
            acquireTime=MICRO_TIME,
            renewTime=MICRO_TIME,
            leaseTransitions=INT32,
            strategy=STRING,
            preferredHolder=STRING,
        ),
    ),
    "coordination.k8s.io",
    "v1",
    "Lease",
)

SCHEMAS: dict[str, Struct] = {
    s.gvk[2]: s
    for s in (POD, REPLICA_SET, DEPLOYMENT, SERVICE, ENDPOINTS, NODE, NAMESPACE, EVENT, CONFIG_MAP, LEASE)
    if s.gvk is not None
}
"""Kind -> top-level schema, for every kind in :data:`kemu.api.kinds.KINDS`."""


def schema_for(kind_name: str) -> Struct | None:
    """The schema of ``kind_name`` (``Deployment``), or None."""
    return SCHEMAS.get(kind_name)


# --- checking ----------------------------------------------------------------

_INT_RANGES: dict[str, tuple[int, int]] = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


@dataclass(slots=True)
class SchemaProblems:
    """What :func:`check` found: the strict decoder's view of an object."""

    type_error: str | None = None
    """The first decode error, worded as the apiserver words it, or None."""
    type_error_field: str = ""
    """Where that error is (``spec.template.spec.containers[0].image``)."""
    unknown_fields: list[str] = field(default_factory=list)
    """Every field the schema does not know, in document order."""

    def __bool__(self) -> bool:
        return self.type_error is not None or bool(self.unknown_fields)


def _json_kind(value: Any) -> str:
    """JSON's name for a Python value, as Go's decoder reports it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _number_literal(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


@dataclass(slots=True)
class _Walk:
    """State of one :func:`check`: the findings and where the walk stands."""

    found: SchemaProblems
    struct_name: str = ""
    json_path: str = ""

    def fail(self, message: str, k8s_path: str) -> None:
        if self.found.type_error is None:
            self.found.type_error = message
            self.found.type_error_field = k8s_path

    def mismatch(self, value: Any, typ: Type, k8s_path: str, *, literal: bool = False) -> None:
        what = _json_kind(value)
        if literal:
            what += " " + _number_literal(value)
        where = f"Go struct field {self.struct_name}.{self.json_path}" if self.struct_name else "Go value"
        self.fail(f"json: cannot unmarshal {what} into {where} of type {typ.go_name}", k8s_path)


def _join(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name


def _check_integer(value: Any, typ: Scalar, path: str, walk: _Walk) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        walk.mismatch(value, typ, path)
        return
    low, high = _INT_RANGES.get(typ.go_name, _INT_RANGES["int32"])
    if (isinstance(value, float) and not value.is_integer()) or not low <= value <= high:
        walk.mismatch(value, typ, path, literal=True)


def _check_int_or_string(value: Any, typ: Scalar, path: str, walk: _Walk) -> None:
    if isinstance(value, str):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        walk.mismatch(value, typ, path)
    elif isinstance(value, float) and not value.is_integer():
        walk.mismatch(value, typ, path, literal=True)


def _check_quantity(value: Any, typ: Scalar, path: str, walk: _Walk) -> None:
    try:
        quantity.parse_quantity(value)
    except ValueError as exc:
        walk.fail(str(exc), path)


def _check_time(value: Any, typ: Scalar, path: str, walk: _Walk) -> None:
    """``metav1.Time``/``MicroTime.UnmarshalJSON``: Go's ``time.Parse`` with
    their layouts, and its error text, from :mod:`kemu.apimachinery`."""
    if not isinstance(value, str):
        walk.mismatch(value, typ, path)
        return
    try:
        (apimachinery.parse_micro_time if typ is MICRO_TIME else apimachinery.parse_time)(value)
    except ValueError as exc:
        walk.fail(str(exc), path)


def _check_bytes(value: Any, typ: Scalar, path: str, walk: _Walk) -> None:
    if not isinstance(value, str):
        walk.mismatch(value, typ, path)
        return
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        bad = next((i for i, ch in enumerate(value) if not (ch.isalnum() or ch in "+/=")), len(value))
        walk.fail(f"illegal base64 data at input byte {bad}", path)


def _check_simple(python_types: tuple[type, ...]) -> Any:
    def checker(value: Any, typ: Scalar, path: str, walk: _Walk) -> None:
        if isinstance(value, bool) != (bool in python_types) or not isinstance(value, python_types):
            walk.mismatch(value, typ, path)

    return checker


_SCALAR_CHECKS = {
    "string": _check_simple((str,)),
    "boolean": _check_simple((bool,)),
    "number": _check_simple((int, float)),
    "integer": _check_integer,
    "int-or-string": _check_int_or_string,
    "quantity": _check_quantity,
    "time": _check_time,
    "bytes": _check_bytes,
    "any": lambda value, typ, path, walk: None,
}


def _check_struct(value: Any, typ: Struct, path: str, walk: _Walk) -> None:
    if not isinstance(value, dict):
        walk.mismatch(value, typ, path)
        return
    outer = (walk.struct_name, walk.json_path)
    for name, item in value.items():
        child_path = _join(path, str(name))
        child_type = typ.fields.get(name)
        if child_type is None:
            walk.found.unknown_fields.append(child_path)
            continue
        walk.struct_name, walk.json_path = typ.short_name, _join(outer[1], name)
        _check_value(item, child_type, child_path, walk)
    walk.struct_name, walk.json_path = outer


def _check_value(value: Any, typ: Type, path: str, walk: _Walk) -> None:
    if value is None:
        return  # JSON null leaves the Go zero value: never an error.
    if isinstance(typ, Scalar):
        _SCALAR_CHECKS[typ.kind](value, typ, path, walk)
    elif isinstance(typ, Struct):
        _check_struct(value, typ, path, walk)
    elif isinstance(typ, ListOf):
        if not isinstance(value, (list, tuple)):
            walk.mismatch(value, typ, path)
            return
        for i, item in enumerate(value):
            _check_value(item, typ.item, f"{path}[{i}]", walk)
    elif isinstance(typ, MapOf):
        if not isinstance(value, dict):
            walk.mismatch(value, typ, path)
            return
        for key, item in value.items():
            _check_value(item, typ.value, f"{path}[{key}]", walk)


def check(obj: Any, schema: Struct) -> SchemaProblems:
    """Decode ``obj`` against ``schema`` the way the apiserver's strict JSON
    decoder would, and report the problems (empty when there are none)."""
    found = SchemaProblems()
    _check_value(obj, schema, "", _Walk(found))
    return found


# --- OpenAPI ---------------------------------------------------------------


def _children(typ: Type) -> Iterator[Type]:
    if isinstance(typ, Struct):
        yield from typ.fields.values()
    elif isinstance(typ, ListOf):
        yield typ.item
    elif isinstance(typ, MapOf):
        yield typ.value


def iter_definitions() -> Iterator[Struct]:
    """Every struct reachable from :data:`SCHEMAS`, each once, parents first."""
    seen: set[str] = set()
    stack: list[Type] = list(reversed(SCHEMAS.values()))
    while stack:
        typ = stack.pop()
        if isinstance(typ, Struct):
            if typ.name in seen:
                continue
            seen.add(typ.name)
            yield typ
        stack.extend(reversed(list(_children(typ))))


def _openapi_of(typ: Type) -> dict[str, Any]:
    if isinstance(typ, Scalar):
        return dict(typ.openapi)
    if isinstance(typ, Struct):
        return {"$ref": "#/definitions/" + typ.name}
    if isinstance(typ, ListOf):
        return {"type": "array", "items": _openapi_of(typ.item)}
    assert isinstance(typ, MapOf)
    return {"type": "object", "additionalProperties": _openapi_of(typ.value)}


def _definition(typ: Struct) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "type": "object",
        "properties": {name: _openapi_of(child) for name, child in typ.fields.items()},
    }
    if typ.required:
        definition["required"] = list(typ.required)
    if typ.gvk is not None:
        group, version, kind_name = typ.gvk
        definition["x-kubernetes-group-version-kind"] = [{"group": group, "kind": kind_name, "version": version}]
    return definition


def to_openapi_v2() -> dict[str, Any]:
    """An OpenAPI v2 document whose ``definitions`` describe every kind, as
    ``/openapi/v2`` does for ``kubectl explain``."""
    definitions: dict[str, Any] = {name: dict(body) for name, body in _SCALAR_DEFINITIONS.items()}
    for typ in iter_definitions():
        definitions[typ.name] = _definition(typ)
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.31.0"},
        "paths": {},
        "definitions": definitions,
    }
