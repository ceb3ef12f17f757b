"""What a container sees: its environment and its volumes.

Environment, in Kubernetes' order: service variables (``WEB_SERVICE_HOST``,
``WEB_SERVICE_PORT`` ... for services that existed when the container
started, when ``enableServiceLinks`` is on), then ``envFrom``, then ``env``
(later wins), with ``$(VAR)`` references to earlier variables expanded and
``valueFrom`` resolved: ``fieldRef`` (the downward API), ``resourceFieldRef``,
``configMapKeyRef``, ``secretKeyRef`` (and ``envFrom.secretRef``), with the
Secret's bytes decoded.

Volumes are directories under the pod's directory: ``emptyDir`` (removed
with the pod; ``medium: Memory`` is a plain directory too, and ``sizeLimit``
is not enforced), ``configMap`` (files written from the ConfigMap's ``data``
and ``binaryData``, or only its ``items``, rewritten -- each file replaced
atomically -- whenever the kubelet re-syncs the pod, which it does as soon as
a ConfigMap the pod uses changes), ``downwardAPI`` (labels, annotations and
other fields as files) and ``projected`` (configMap and downwardAPI sources
in one directory; a ``serviceAccountToken`` source gets a placeholder file,
as kemu issues no tokens to pods). ``secret`` volumes and projected sources
are written like configMap ones, from the Secret's decoded ``data`` (all
keys, or only ``items``, each item's ``mode`` or the volume's
``defaultMode``), and refreshed the same way when the Secret changes; a
missing Secret fails the mount (``FailedMount``, the pod stays
``ContainerCreating`` and is retried) unless the volume is ``optional``.
``hostPath`` is refused with a clear message: kemu runs on your machine, and
a pod that could mount any host path could damage it.

How a container sees a volume at its ``mountPath`` is the runtime's job
(:mod:`kubelet.runtime`: a bind mount in a private mount namespace when kemu
runs as root, path substitution otherwise).
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from pathlib import Path

from kemu.api.quantity import parse_quantity
from kubelet.runtime import Mount, expand_vars
from kemu.types import Obj

__all__ = [
    "EnvError",
    "VolumeError",
    "configmaps_used",
    "secrets_used",
    "container_env",
    "container_mounts",
    "prepare_volumes",
    "service_env",
]

ConfigMapGetter = Callable[[str, str], Obj | None]
"""``(namespace, name) -> ConfigMap`` or None."""
SecretGetter = Callable[[str, str], Obj | None]
"""``(namespace, name) -> Secret`` or None."""


def _no_secrets(namespace: str, name: str) -> Obj | None:
    return None


def secret_bytes(secret: Obj) -> dict[str, bytes]:
    """A Secret's ``data``, decoded from base64 (the API's JSON form)."""
    out: dict[str, bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        if isinstance(value, bytes):
            out[str(key)] = value
        else:
            try:
                out[str(key)] = base64.b64decode(str(value), validate=True)
            except ValueError:
                continue  # the apiserver never stores such a value
    return out


class EnvError(ValueError):
    """An env var that cannot be resolved (``CreateContainerConfigError``)."""


class VolumeError(ValueError):
    """A volume that cannot be set up (``FailedMount``)."""


def _field_ref(pod: Obj, path: str, node_ip: str) -> str:
    meta, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": status.get("podIP", ""),
        "status.podIPs": status.get("podIP", ""),
        "status.hostIP": node_ip,
        "status.hostIPs": node_ip,
    }
    if path in simple:
        return str(simple[path])
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    raise EnvError(f"unsupported fieldRef fieldPath {path!r}")


def _resource_ref(container: Obj, ref: Obj, node_allocatable: Obj) -> str:
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    res = (container.get("resources") or {}).get(kind) or {}
    value = res.get(name)
    if value is None and kind == "limits":
        value = node_allocatable.get(name)
    if value is None:
        return "0"
    divisor = parse_quantity(ref.get("divisor") or "1")
    amount = parse_quantity(value) / divisor
    return str(math.ceil(amount))


def service_env(services: list[Obj]) -> dict[str, str]:
    """The ``{SVCNAME}_SERVICE_HOST`` family of variables for ``services``
    (those of the pod's namespace), as the kubelet injects them."""
    env: dict[str, str] = {}
    for svc in services:
        spec = svc.get("spec", {})
        ip = spec.get("clusterIP")
        if not ip or ip == "None":
            continue
        prefix = svc["metadata"]["name"].upper().replace("-", "_")
        ports = spec.get("ports") or []
        if not ports:
            continue
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for p in ports:
            if p.get("name"):
                env[f"{prefix}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(p["port"])
            proto = p.get("protocol", "TCP")
            base = f"{prefix}_PORT_{p['port']}_{proto}"
            env[base] = f"{proto.lower()}://{ip}:{p['port']}"
            env[f"{base}_PROTO"] = proto.lower()
            env[f"{base}_PORT"] = str(p["port"])
            env[f"{base}_ADDR"] = ip
        first = ports[0]
        env[f"{prefix}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"
    return env


def container_env(
    pod: Obj,
    container: Obj,
    *,
    node_ip: str,
    services: list[Obj],
    get_configmap: ConfigMapGetter,
    get_secret: SecretGetter = _no_secrets,
    node_allocatable: Obj | None = None,
    master: Obj | None = None,
) -> dict[str, str]:
    """The container's environment; raises :class:`EnvError` when a
    reference cannot be resolved.

    ``master`` is ``default/kubernetes``: its ``KUBERNETES_SERVICE_HOST``
    family is given to every pod, whatever ``enableServiceLinks`` says, as
    the kubelet does (in-cluster clients find the apiserver by it)."""
    ns = pod["metadata"].get("namespace", "default")
    env: dict[str, str] = {}
    if master is not None:
        env.update(service_env([master]))
    if pod.get("spec", {}).get("enableServiceLinks", True):
        env.update(service_env(services))
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref:
            cm = get_configmap(ns, ref["name"])
            if cm is None:
                if ref.get("optional"):
                    continue
                raise EnvError(f'configmap "{ref["name"]}" not found')
            prefix = source.get("prefix", "")
            for k, v in (cm.get("data") or {}).items():
                env[prefix + k] = str(v)
        sref = source.get("secretRef")
        if sref:
            secret = get_secret(ns, sref["name"])
            if secret is None:
                if sref.get("optional"):
                    continue
                raise EnvError(f'secret "{sref["name"]}" not found')
            prefix = source.get("prefix", "")
            for k, b in secret_bytes(secret).items():
                env[prefix + k] = b.decode("utf-8", errors="replace")
    for var in container.get("env") or []:
        name = var["name"]
        if "value" in var:
            env[name] = expand_vars(str(var.get("value") or ""), env)
            continue
        vf = var.get("valueFrom") or {}
        if "fieldRef" in vf:
            env[name] = _field_ref(pod, vf["fieldRef"]["fieldPath"], node_ip)
        elif "resourceFieldRef" in vf:
            env[name] = _resource_ref(container, vf["resourceFieldRef"], node_allocatable or {})
        elif "configMapKeyRef" in vf:
            ref = vf["configMapKeyRef"]
            cm = get_configmap(ns, ref["name"])
            value = None if cm is None else (cm.get("data") or {}).get(ref["key"])
            if value is None:
                if ref.get("optional"):
                    continue
                what = f'configmap "{ref["name"]}" not found' if cm is None else f'couldn\'t find key {ref["key"]} in ConfigMap {ns}/{ref["name"]}'
                raise EnvError(what)
            env[name] = str(value)
        elif "secretKeyRef" in vf:
            ref = vf["secretKeyRef"]
            secret = get_secret(ns, ref["name"])
            raw = None if secret is None else secret_bytes(secret).get(ref["key"])
            if raw is None:
                if ref.get("optional"):
                    continue
                what = f'secret "{ref["name"]}" not found' if secret is None else f'couldn\'t find key {ref["key"]} in Secret {ns}/{ref["name"]}'
                raise EnvError(what)
            env[name] = raw.decode("utf-8", errors="replace")
        else:
            env[name] = ""
    return env


def configmaps_used(pod: Obj) -> set[str]:
    """The names of the ConfigMaps ``pod`` reads (volumes, projected sources,
    env and envFrom): a change to one of them re-syncs the pod."""
    spec = pod.get("spec") or {}
    names: set[str] = set()
    for vol in spec.get("volumes") or []:
        if vol.get("configMap"):
            names.add(str(vol["configMap"].get("name", "")))
        for source in (vol.get("projected") or {}).get("sources") or []:
            if source.get("configMap"):
                names.add(str(source["configMap"].get("name", "")))
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for source in c.get("envFrom") or []:
            if source.get("configMapRef"):
                names.add(str(source["configMapRef"].get("name", "")))
        for var in c.get("env") or []:
            ref = (var.get("valueFrom") or {}).get("configMapKeyRef")
            if ref:
                names.add(str(ref.get("name", "")))
    return names


def secrets_used(pod: Obj) -> set[str]:
    """The names of the Secrets ``pod`` reads (volumes, projected sources,
    env and envFrom): a change to one of them re-syncs the pod."""
    spec = pod.get("spec") or {}
    names: set[str] = set()
    for vol in spec.get("volumes") or []:
        if vol.get("secret"):
            names.add(str(vol["secret"].get("secretName", "")))
        for source in (vol.get("projected") or {}).get("sources") or []:
            if source.get("secret"):
                names.add(str(source["secret"].get("name", "")))
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for source in c.get("envFrom") or []:
            if source.get("secretRef"):
                names.add(str(source["secretRef"].get("name", "")))
        for var in c.get("env") or []:
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                names.add(str(ref.get("name", "")))
    return names


def prepare_volumes(
    pod: Obj, pod_dir: Path, get_configmap: ConfigMapGetter, get_secret: SecretGetter = _no_secrets
) -> dict[str, Path]:
    """Create (or refresh) every volume of ``pod`` under ``pod_dir/volumes``;
    returns volume name -> host directory."""
    out: dict[str, Path] = {}
    ns = pod["metadata"].get("namespace", "default")
    for vol in pod.get("spec", {}).get("volumes") or []:
        name = vol["name"]
        path = pod_dir / "volumes" / name
        if "emptyDir" in vol:
            path.mkdir(parents=True, exist_ok=True)
        elif "configMap" in vol:
            source = vol["configMap"] or {}
            files = _configmap_files(source, ns, get_configmap)
            _write_files(path, files or {}, int(source.get("defaultMode", 0o644)))
        elif "downwardAPI" in vol:
            source = vol["downwardAPI"] or {}
            _write_files(path, _downward_files(source, pod), int(source.get("defaultMode", 0o644)))
        elif "secret" in vol:
            source = vol["secret"] or {}
            files, modes = _secret_files(source, source.get("secretName", ""), ns, get_secret) or ({}, {})
            _write_files(path, files, int(source.get("defaultMode", 0o644)), modes)
        elif "projected" in vol:
            source = vol["projected"] or {}
            projected, modes = _projected_files(name, source, pod, ns, get_configmap, get_secret)
            _write_files(path, projected, int(source.get("defaultMode", 0o644)), modes)
        elif "hostPath" in vol:
            raise VolumeError(
                f'hostPath volume "{name}" is not allowed in kemu: pods run on your own machine; '
                "use an emptyDir or a configMap volume"
            )
        else:
            kind = next((k for k in vol if k != "name"), "unknown")
            raise VolumeError(
                f'volume "{name}": {kind} volumes are not supported by kemu '
                "(emptyDir, configMap, secret, downwardAPI and projected are)"
            )
        out[name] = path
    return out


def _write_files(path: Path, files: dict[str, bytes], mode: int, modes: dict[str, int] | None = None) -> None:
    """Make ``path`` hold exactly ``files`` (relative path -> content); each
    changed file is replaced atomically, so a reader never sees half of it.
    ``modes`` overrides ``mode`` per file (a KeyToPath item's ``mode``)."""
    path.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for rel, content in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        file_mode = (modes or {}).get(rel, mode)
        if not target.exists() or target.read_bytes() != content:
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(content)
            tmp.chmod(file_mode)
            tmp.replace(target)
        elif (target.stat().st_mode & 0o7777) != file_mode:
            target.chmod(file_mode)
        wanted.add(target)
    for existing in path.rglob("*"):
        if existing.is_file() and existing not in wanted:
            existing.unlink()


def _configmap_files(source: Obj, ns: str, get_configmap: ConfigMapGetter) -> dict[str, bytes] | None:
    """The files of a configMap volume or projected source; None for a
    missing optional ConfigMap."""
    cm = get_configmap(ns, source.get("name", ""))
    if cm is None:
        if source.get("optional"):
            return None
        raise VolumeError(f'configmap "{source.get("name")}" not found')
    data = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
    for k, v in (cm.get("binaryData") or {}).items():
        data[k] = v if isinstance(v, bytes) else base64.b64decode(str(v))
    if not source.get("items"):
        return data
    files = {}
    for item in source["items"]:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise VolumeError(f'configmap "{source.get("name")}" has no key "{item["key"]}"')
        files[item["path"]] = data[item["key"]]
    return files


def _secret_files(
    source: Obj, secret_name: str, ns: str, get_secret: SecretGetter
) -> tuple[dict[str, bytes], dict[str, int]] | None:
    """The files of a secret volume or projected source, and the per-item
    modes; None for a missing optional Secret. Messages as the kubelet's
    secret volume plugin words them."""
    secret = get_secret(ns, secret_name)
    if secret is None:
        if source.get("optional"):
            return None
        raise VolumeError(f'secret "{secret_name}" not found')
    data = secret_bytes(secret)
    if not source.get("items"):
        return data, {}
    files: dict[str, bytes] = {}
    modes: dict[str, int] = {}
    for item in source["items"]:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise VolumeError(f"references non-existent secret key: {item['key']}")
        files[item["path"]] = data[item["key"]]
        if item.get("mode") is not None:
            modes[item["path"]] = int(item["mode"])
    return files, modes


def _downward_files(source: Obj, pod: Obj) -> dict[str, bytes]:
    files = {}
    meta = pod["metadata"]
    for item in source.get("items") or []:
        ref = (item.get("fieldRef") or {}).get("fieldPath", "")
        if ref in ("metadata.labels", "metadata.annotations"):
            values = meta.get(ref.split(".")[1]) or {}
            files[item["path"]] = "".join(f'{k}="{v}"\n' for k, v in sorted(values.items())).encode()
        elif ref:
            files[item["path"]] = _field_ref(pod, ref, "").encode()
    return files


def _projected_files(
    name: str, source: Obj, pod: Obj, ns: str, get_configmap: ConfigMapGetter, get_secret: SecretGetter
) -> tuple[dict[str, bytes], dict[str, int]]:
    files: dict[str, bytes] = {}
    modes: dict[str, int] = {}
    for s in source.get("sources") or []:
        if s.get("configMap") is not None:
            files.update(_configmap_files(s["configMap"], ns, get_configmap) or {})
        elif s.get("downwardAPI") is not None:
            files.update(_downward_files(s["downwardAPI"], pod))
        elif s.get("serviceAccountToken") is not None:
            token_path = s["serviceAccountToken"].get("path", "token")
            files[token_path] = b"kemu-issues-no-service-account-tokens"
        elif s.get("secret") is not None:
            found = _secret_files(s["secret"], s["secret"].get("name", ""), ns, get_secret)
            if found is not None:
                files.update(found[0])
                modes.update(found[1])
        else:
            kind = next(iter(s), "unknown")
            raise VolumeError(f'projected volume "{name}": {kind} sources are not supported by kemu')
    return files, modes


def container_mounts(container: Obj, volumes: dict[str, Path]) -> list[Mount]:
    """The container's ``volumeMounts`` resolved to host directories."""
    mounts = []
    for vm in container.get("volumeMounts") or []:
        host = volumes.get(vm["name"])
        if host is None:
            raise VolumeError(f'volumeMount "{vm["name"]}" refers to no volume of the pod')
        mounts.append(Mount(host, vm["mountPath"], bool(vm.get("readOnly")), vm.get("subPath", "")))
    return mounts
