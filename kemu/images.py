"""The image catalog: which images "exist" in kemu, and what each one does.

kemu pulls nothing. An image reference in a pod spec is looked up in a catalog
that kemu ships as data (``kemu/data/images.yaml``) and that users extend with
their own YAML files (``KEMU_IMAGE_CATALOG=/a.yaml:/b.yaml``, or paths passed
to :meth:`ImageCatalog.load`). A later entry for the same repository replaces
an earlier one, so a user file may redefine a built-in image.

Resolution follows Kubernetes and docker:

1. :func:`parse_reference` parses the reference with the grammar of
   ``github.com/distribution/reference`` and normalises it the way
   ``ParseNormalizedNamed`` does: ``nginx`` is ``docker.io/library/nginx``,
   ``user/app`` is ``docker.io/user/app``, a first component with a ``.`` or
   ``:`` (or ``localhost``) is a registry. The kubelet's default tag is
   ``latest`` when neither tag nor digest is given. A malformed reference is
   an ``InvalidImageName`` error, as the kubelet reports it.
2. :meth:`ImageCatalog.resolve` finds the entry whose repository (or alias)
   matches and checks the tag: an unknown repository or tag raises
   :class:`ImagePullError` with reason ``ErrImagePull`` and containerd's
   wording. A digest reference (``busybox@sha256:...``) is accepted for any
   known repository: kemu cannot know real digests, so it does not pretend to.
3. The result is an :class:`ImageSpec`: the normalised name, a stable fake
   image ID, and the behaviour (``command``, ``http`` or ``pause``) with the
   image's ENTRYPOINT/CMD/ENV/WORKDIR/STOPSIGNAL where they matter.

:func:`effective_argv` applies Kubernetes' rule for ``command`` and ``args``
(``command`` replaces the ENTRYPOINT, ``args`` replace the CMD) so the runtime
and the CLI agree on what a container runs.

Everything here is pure and cheap; a catalog is an immutable value that many
kubelets in one process may share.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import re
import signal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

import yaml

__all__ = [
    "Behaviour",
    "CatalogEntry",
    "CatalogError",
    "ImageCatalog",
    "ImageConfig",
    "ImagePullError",
    "ImageReference",
    "ImageSpec",
    "CATALOG_ENV_VAR",
    "DEFAULT_TAG",
    "builtin_catalog_text",
    "effective_argv",
    "parse_reference",
    "resolve",
]

Behaviour = Literal["command", "http", "pause"]
"""What a container of the image runs: the container's command with the host's
tools, a built-in HTTP server, or a process that sleeps until stopped."""

CATALOG_ENV_VAR = "KEMU_IMAGE_CATALOG"
"""Colon-separated extra catalog files, loaded after the built-in one."""

DEFAULT_TAG = "latest"
DEFAULT_DOMAIN = "docker.io"
_LEGACY_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})

# The grammar of github.com/distribution/reference (regexp.go).
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")
_NAME_TOTAL_LENGTH_MAX = 255


class ImagePullError(Exception):
    """The image cannot be pulled: unknown repository or tag, or a malformed
    reference.

    ``reason`` is what the kubelet puts in the container's waiting state
    (``ErrImagePull``, or ``InvalidImageName`` for a malformed reference);
    ``message`` is containerd's text, which the kubelet wraps in the Failed
    event (see :attr:`event_message`).
    """

    reason: str
    message: str
    image: str

    def __init__(self, *, reason: str, message: str, image: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.image = image

    @property
    def event_message(self) -> str:
        """The kubelet's ``Failed`` event text for this error."""
        if self.reason == "InvalidImageName":
            return self.message
        code = "NotFound" if self.message.endswith(": not found") else "Unknown"
        return f'Failed to pull image "{self.image}": rpc error: code = {code} desc = {self.message}'


class CatalogError(ValueError):
    """A catalog file is malformed; the message names the file, entry and field."""


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed, normalised image reference."""

    domain: str
    """Registry host (``docker.io``, ``registry.k8s.io``, ``localhost:5000``)."""
    path: str
    """Repository path inside the registry (``library/nginx``)."""
    tag: str | None
    """The tag; ``None`` when the reference has only a digest."""
    digest: str | None
    """``sha256:<hex>`` when the reference pins a digest."""

    @property
    def repository(self) -> str:
        """``docker.io/library/nginx``."""
        return f"{self.domain}/{self.path}"

    @property
    def name(self) -> str:
        """The fully qualified reference, as the kubelet reports it in
        ``status.containerStatuses[].image`` (``docker.io/library/nginx:1.25``)."""
        text = self.repository
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def parse_reference(ref: str) -> ImageReference:
    """Parse and normalise ``ref`` as docker and the kubelet do.

    >>> parse_reference("nginx").name
    'docker.io/library/nginx:latest'
    >>> parse_reference("registry.k8s.io/pause:3.9").repository
    'registry.k8s.io/pause'

    Raises :class:`ValueError` with distribution/reference's wording
    (``invalid reference format: repository name must be lowercase``).
    """
    if not ref:
        raise ValueError("invalid reference format")
    match = _REFERENCE_RE.match(ref)
    if match is None:
        lowered = _REFERENCE_RE.match(ref.lower())
        if lowered is not None:
            raise ValueError("invalid reference format: repository name must be lowercase")
        raise ValueError("invalid reference format")
    name, tag, digest = match.group(1), match.group(2), match.group(3)
    if len(name) > _NAME_TOTAL_LENGTH_MAX:
        raise ValueError(f"repository name must not be more than {_NAME_TOTAL_LENGTH_MAX} characters")
    if _HEX64_RE.match(name):
        raise ValueError(f"invalid repository name ({name}), cannot specify 64-byte hexadecimal strings")
    domain, path = _split_domain(name)
    if path.lower() != path:
        raise ValueError("invalid reference format: repository name must be lowercase")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageReference(domain=domain, path=path, tag=tag, digest=digest)


def _split_domain(name: str) -> tuple[str, str]:
    """docker's splitDockerDomain: the first component is a registry when it
    looks like a host name (has ``.`` or ``:``, or is ``localhost``)."""
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = _OFFICIAL_PREFIX + path
    return domain, path


def _normalise_repository(text: str) -> str:
    """A catalog repository or alias, written in any familiar form, as
    ``domain/path`` (``nginx`` -> ``docker.io/library/nginx``)."""
    ref = parse_reference(text)
    if ref.tag != DEFAULT_TAG or ref.digest is not None or ":" + DEFAULT_TAG in text:
        raise ValueError(f"a repository must not carry a tag or digest: {text!r}")
    return ref.repository


@dataclass(frozen=True, slots=True)
class _TagRule:
    """One ``tags`` key: an exact tag or a glob, and the per-tag data."""

    pattern: str
    data: Mapping[str, Any] = field(hash=False)

    @property
    def is_glob(self) -> bool:
        return any(ch in self.pattern for ch in "*?[")


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """What an image does, as its config says: the part of a catalog entry
    that every image resolved from it shares (:class:`CatalogEntry` and
    :class:`ImageSpec` both are one, so the fields are written once)."""

    behaviour: Behaviour
    """``command``, ``http`` or ``pause``."""
    server: str | None
    """The built-in server (``http`` behaviour)."""
    port: int | None
    """The port the real image listens on."""
    port_env: str | None
    """An environment variable that overrides :attr:`port` (hello-app's ``PORT``)."""
    entrypoint: tuple[str, ...]
    """The image's ENTRYPOINT."""
    cmd: tuple[str, ...]
    """The image's CMD."""
    entrypoint_passthrough: bool
    """The ENTRYPOINT is a docker-entrypoint.sh that execs its arguments."""
    flag_prefix: tuple[str, ...]
    """What such an entrypoint puts before arguments that start with ``-``."""
    env: tuple[tuple[str, str], ...]
    """The image's ENV, in order."""
    working_dir: str
    """The image's WORKDIR (``/`` when unset)."""
    stop_signal: str
    """The image's STOPSIGNAL (``SIGTERM`` when unset): what containerd sends on StopContainer."""
    html_root: str | None
    """The container path a built-in server serves files from."""

    def image_config(self) -> dict[str, Any]:
        """These fields by name (to build an :class:`ImageSpec` from an entry)."""
        return {f.name: getattr(self, f.name) for f in fields(ImageConfig)}


@dataclass(frozen=True, slots=True)
class CatalogEntry(ImageConfig):
    """One image repository of the catalog, as written in the YAML file."""

    repository: str
    """Canonical repository (``docker.io/library/nginx``)."""
    aliases: tuple[str, ...]
    """Other repositories that resolve to this entry (mirrors, old registries)."""
    description: str
    """One line for people (``kemu images``)."""
    tags: tuple[_TagRule, ...]
    """Accepted tags in file order; exact matches win over globs."""
    tag_suffixes: tuple[str, ...]
    """Variant suffixes accepted after a known tag (``-alpine``)."""
    data: Mapping[str, Any] = field(hash=False)
    """Server data shared by every tag; per-tag data is merged over it."""
    source: str = ""
    """The file the entry came from, for error messages and ``kemu images``."""

    @property
    def any_tag(self) -> bool:
        """True when every tag exists (``tags: "*"``)."""
        return any(rule.pattern == "*" for rule in self.tags)

    def match_tag(self, tag: str) -> Mapping[str, Any] | None:
        """The per-tag data for ``tag``, or ``None`` when the tag does not exist.

        Exact tags win over globs; a variant suffix (``1.25-alpine``) is
        accepted after any tag the entry knows.
        """
        # Order: the tag as written, then the tag without a variant suffix
        # (longest suffix first), then globs on the tag as written -- so
        # "1.25.3-alpine" is version 1.25.3 rather than a glob's "1.25.3-alpine".
        stripped = [
            tag[: -len(suffix)]
            for suffix in sorted(self.tag_suffixes, key=len, reverse=True)
            if tag.endswith(suffix) and len(tag) > len(suffix)
        ]
        attempts = [(tag, self._match_exact(tag))]
        attempts += [(base, self._match_exact(base) or self._match_glob(base)) for base in stripped]
        attempts += [(tag, self._match_glob(tag))]
        for candidate, rule in attempts:
            if rule is not None:
                return MappingProxyType(_fill_tag(dict(rule.data), candidate))
        return None

    def _match_exact(self, tag: str) -> _TagRule | None:
        return next((r for r in self.tags if not r.is_glob and r.pattern == tag), None)

    def _match_glob(self, tag: str) -> _TagRule | None:
        return next((r for r in self.tags if r.is_glob and fnmatch.fnmatchcase(tag, r.pattern)), None)


def _fill_tag(data: dict[str, Any], tag: str) -> dict[str, Any]:
    return {k: v.replace("{tag}", tag) if isinstance(v, str) else v for k, v in data.items()}


@dataclass(frozen=True, slots=True)
class ImageSpec(ImageConfig):
    """A resolved image: what a container started from ``ref`` runs (the
    entry's :class:`ImageConfig`, and what names this one image)."""

    ref: str
    """The reference as written in the pod spec (``nginx:1.25``)."""
    name: str
    """The normalised reference (``docker.io/library/nginx:1.25``), the
    container status's ``image``."""
    repository: str
    """The normalised repository as referenced (an alias stays an alias)."""
    tag: str | None
    """The tag, ``None`` for a digest-only reference."""
    digest: str | None
    """The digest the reference pinned, if any."""
    image_id: str
    """A stable ``repository@sha256:...`` for the container status's ``imageID``."""
    data: Mapping[str, Any] = field(hash=False)
    """Per-image and per-tag data for the server (``version`` ...)."""
    description: str = ""
    """The catalog's one-line description."""

    def uses_builtin(self, command: Sequence[str] | None) -> bool:
        """True when the container runs the image's own program (the built-in
        server, or the pause loop) rather than ``command`` with host tools.

        A container that sets ``command`` to something else than the image's
        program (``sh -c ...`` in an nginx image) runs that command instead.
        """
        if self.behaviour == "command":
            return False
        if not command:
            return True
        return posixpath.basename(command[0]) in self._own_binaries()

    def _own_binaries(self) -> frozenset[str]:
        names = {self.server} if self.server else set()
        if self.entrypoint:
            names.add(posixpath.basename(self.entrypoint[0]))
        elif self.cmd and posixpath.basename(self.cmd[0]) not in _SHELLS:
            names.add(posixpath.basename(self.cmd[0]))
        return frozenset(n for n in names if n)


def effective_argv(spec: ImageSpec, command: Sequence[str] | None, args: Sequence[str] | None) -> tuple[str, ...]:
    """What the container runs, by Kubernetes' rule.

    - neither ``command`` nor ``args``: ENTRYPOINT + CMD;
    - ``command`` only: ``command`` (the image's CMD is ignored);
    - ``args`` only: ENTRYPOINT + ``args``;
    - both: ``command`` + ``args``.

    For an image whose ENTRYPOINT just execs its arguments
    (``entrypoint_passthrough``), the entrypoint itself is dropped, and the
    image's ``flag_prefix`` goes before arguments that start with ``-``
    (``curlimages/curl`` with args ``["-s", "http://x"]`` runs ``curl -s http://x``).
    """
    if command:
        argv = tuple(command) + tuple(args or ())
    elif args:
        argv = spec.entrypoint + tuple(args)
    else:
        argv = spec.entrypoint + spec.cmd
    if spec.entrypoint_passthrough and spec.entrypoint and argv[: len(spec.entrypoint)] == spec.entrypoint:
        rest = argv[len(spec.entrypoint) :] or spec.cmd
        if rest and rest[0].startswith("-"):
            rest = spec.flag_prefix + rest
        argv = rest
    return argv


class ImageCatalog:
    """An immutable set of catalog entries, indexed by repository and alias.

    Build one with :meth:`load` (built-in catalog, ``KEMU_IMAGE_CATALOG``,
    explicit paths) or from entries; share it freely between threads.
    """

    _entries: tuple[CatalogEntry, ...]
    _by_repository: Mapping[str, CatalogEntry]

    def __init__(self, entries: Iterable[CatalogEntry]) -> None:
        merged: dict[str, CatalogEntry] = {}
        for entry in entries:
            merged.pop(entry.repository, None)  # a redefinition moves to the end
            merged[entry.repository] = entry
        self._entries = tuple(merged.values())
        index: dict[str, CatalogEntry] = {}
        for entry in self._entries:
            for name in (*entry.aliases, entry.repository):
                index[name] = entry  # later entries win, canonical names over aliases
        self._by_repository = MappingProxyType(index)

    @classmethod
    def load(
        cls,
        paths: Sequence[str | os.PathLike[str]] = (),
        *,
        environ: Mapping[str, str] | None = None,
        include_builtin: bool = True,
    ) -> ImageCatalog:
        """The built-in catalog, then the files in ``$KEMU_IMAGE_CATALOG``
        (colon-separated), then ``paths``; later entries replace earlier ones
        for the same repository."""
        environ = os.environ if environ is None else environ
        entries: list[CatalogEntry] = []
        if include_builtin:
            entries += parse_catalog(builtin_catalog_text(), source="<builtin kemu/data/images.yaml>")
        extra = [p for p in environ.get(CATALOG_ENV_VAR, "").split(":") if p]
        for path in [*extra, *paths]:
            entries += _load_file(Path(path))
        return cls(entries)

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<string>") -> ImageCatalog:
        """A catalog made of one YAML document (tests, embedding)."""
        return cls(parse_catalog(text, source=source))

    @property
    def entries(self) -> tuple[CatalogEntry, ...]:
        """Every entry, in load order (for ``kemu images``)."""
        return self._entries

    def lookup(self, repository: str) -> CatalogEntry | None:
        """The entry for a normalised repository or alias, if any."""
        return self._by_repository.get(repository)

    def resolve(self, image_ref: str) -> ImageSpec:
        """Resolve ``image_ref`` to what it runs, or raise :class:`ImagePullError`.

        >>> ImageCatalog.load().resolve("nginx:1.25").name
        'docker.io/library/nginx:1.25'
        """
        try:
            ref = parse_reference(image_ref)
        except ValueError as exc:
            raise ImagePullError(
                reason="InvalidImageName",
                message=f'Failed to apply default image tag "{image_ref}": '
                f'couldn\'t parse image reference "{image_ref}": {exc}',
                image=image_ref,
            ) from None
        entry = self._by_repository.get(ref.repository)
        if entry is None:
            raise ImagePullError(reason="ErrImagePull", message=_unknown_repository(ref), image=image_ref)
        data = _tag_data(entry, ref)
        if data is None:
            raise ImagePullError(reason="ErrImagePull", message=_unknown_tag(ref), image=image_ref)
        return _spec(entry, ref, image_ref, data)


def resolve(image_ref: str, catalog: ImageCatalog | None = None) -> ImageSpec:
    """Resolve ``image_ref`` with ``catalog`` (by default a freshly loaded
    :meth:`ImageCatalog.load`; long-lived callers should keep their own)."""
    return (catalog or ImageCatalog.load()).resolve(image_ref)


def _tag_data(entry: CatalogEntry, ref: ImageReference) -> Mapping[str, Any] | None:
    if ref.tag is not None:
        return entry.match_tag(ref.tag)
    # A digest alone: kemu cannot know real digests; use the default tag's data.
    return entry.match_tag(DEFAULT_TAG) or MappingProxyType({})


def _unknown_tag(ref: ImageReference) -> str:
    return (
        f'failed to pull and unpack image "{ref.name}": failed to resolve reference "{ref.name}": '
        f"{ref.name}: not found"
    )


def _unknown_repository(ref: ImageReference) -> str:
    if ref.domain == DEFAULT_DOMAIN:
        cause = (
            "pull access denied, repository does not exist or may require authorization: "
            "server message: insufficient_scope: authorization failed"
        )
    else:
        cause = f"{ref.name}: not found"
    return f'failed to pull and unpack image "{ref.name}": failed to resolve reference "{ref.name}": {cause}'


def _spec(entry: CatalogEntry, ref: ImageReference, image_ref: str, tag_data: Mapping[str, Any]) -> ImageSpec:
    data = {**entry.data, **tag_data}
    if ref.digest is not None:
        image_id = f"{ref.repository}@{ref.digest}"
    else:
        fake = hashlib.sha256(f"kemu:{entry.repository}:{ref.tag}".encode()).hexdigest()
        image_id = f"{ref.repository}@sha256:{fake}"
    return ImageSpec(
        **entry.image_config(),
        ref=image_ref,
        name=ref.name,
        repository=ref.repository,
        tag=ref.tag,
        digest=ref.digest,
        image_id=image_id,
        data=MappingProxyType(data),
        description=entry.description,
    )


# ----------------------------------------------------------------- YAML loading

_ENTRY_KEYS = frozenset(
    {
        "repository", "aliases", "description", "tags", "tag_suffixes", "behaviour", "server", "port",
        "port_env", "entrypoint", "cmd", "entrypoint_passthrough", "flag_prefix", "env", "working_dir",
        "stop_signal", "html_root", "data",
    }
)  # fmt: skip


def builtin_catalog_text() -> str:
    """The YAML text of the catalog kemu ships."""
    return (resources.files("kemu") / "data" / "images.yaml").read_text(encoding="utf-8")


def _load_file(path: Path) -> list[CatalogEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read image catalog: {exc.strerror or exc}") from None
    return parse_catalog(text, source=str(path))


def parse_catalog(text: str, *, source: str) -> list[CatalogEntry]:
    """Parse one catalog document: a mapping with an ``images`` list, or a bare list."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{source}: not valid YAML: {exc}") from None
    if doc is None:
        return []
    items = doc.get("images", []) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise CatalogError(f"{source}: expected a list of images (or a mapping with an 'images' list)")
    return [_parse_entry(item, f"{source}: images[{i}]", source) for i, item in enumerate(items)]


def _parse_entry(raw: Any, where: str, source: str) -> CatalogEntry:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected a mapping")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}")
    repository = _repository(raw.get("repository"), f"{where}.repository")
    where = f"{where} ({repository})"
    behaviour: Behaviour = raw.get("behaviour")  # type: ignore[assignment]  # checked next
    if behaviour not in get_args(Behaviour):
        raise CatalogError(f"{where}.behaviour: must be one of {', '.join(get_args(Behaviour))}, not {behaviour!r}")
    server = _opt_str(raw.get("server"), f"{where}.server")
    if behaviour == "http" and not server:
        raise CatalogError(f"{where}.server: required for behaviour http")
    return CatalogEntry(
        repository=repository,
        aliases=tuple(_repository(a, f"{where}.aliases") for a in _str_list(raw.get("aliases"), f"{where}.aliases")),
        description=str(raw.get("description") or ""),
        tags=_tag_rules(raw.get("tags"), f"{where}.tags"),
        tag_suffixes=_str_list(raw.get("tag_suffixes"), f"{where}.tag_suffixes"),
        behaviour=behaviour,
        server=server,
        port=_port(raw.get("port"), f"{where}.port"),
        port_env=_opt_str(raw.get("port_env"), f"{where}.port_env"),
        entrypoint=_str_list(raw.get("entrypoint"), f"{where}.entrypoint"),
        cmd=_str_list(raw.get("cmd"), f"{where}.cmd"),
        entrypoint_passthrough=bool(raw.get("entrypoint_passthrough", False)),
        flag_prefix=_str_list(raw.get("flag_prefix"), f"{where}.flag_prefix"),
        env=_env(raw.get("env"), f"{where}.env"),
        working_dir=_opt_str(raw.get("working_dir"), f"{where}.working_dir") or "/",
        stop_signal=_stop_signal(raw.get("stop_signal"), f"{where}.stop_signal"),
        html_root=_opt_str(raw.get("html_root"), f"{where}.html_root"),
        data=MappingProxyType(_mapping(raw.get("data"), f"{where}.data")),
        source=source,
    )


def _repository(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise CatalogError(f"{where}: required, a repository name such as docker.io/library/nginx")
    try:
        return _normalise_repository(value)
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from None


def _tag_rules(value: Any, where: str) -> tuple[_TagRule, ...]:
    if value is None or value == "*":
        return (_TagRule("*", MappingProxyType({})),)
    if isinstance(value, list):
        return tuple(_TagRule(str(tag), MappingProxyType({})) for tag in value)
    if isinstance(value, dict):
        return tuple(
            _TagRule(str(tag), MappingProxyType(_mapping(data, f"{where}[{tag}]"))) for tag, data in value.items()
        )
    raise CatalogError(f'{where}: must be "*", a list of tags, or a mapping of tag to data')


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise CatalogError(f"{where}: must be a list of strings")
    return tuple(str(v) for v in value)


def _opt_str(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CatalogError(f"{where}: must be a string")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: must be a mapping")
    return {str(k): v for k, v in value.items()}


def _env(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    return tuple((k, str(v)) for k, v in _mapping(value, where).items())


def _port(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise CatalogError(f"{where}: must be a port number between 1 and 65535")
    return value


def _stop_signal(value: Any, where: str) -> str:
    if value is None:
        return "SIGTERM"
    name = str(value).upper()
    name = name if name.startswith("SIG") else "SIG" + name
    if name not in signal.Signals.__members__:
        raise CatalogError(f"{where}: unknown signal {value!r}")
    return name
