"""The image catalog: reference parsing, resolution, errors, user extensions."""

from __future__ import annotations

from pathlib import Path

import pytest

from kemu.images import (
    CATALOG_ENV_VAR,
    CatalogError,
    ImageCatalog,
    ImagePullError,
    effective_argv,
    parse_reference,
)


@pytest.fixture(scope="module")
def catalog() -> ImageCatalog:
    return ImageCatalog.load(environ={})


class TestParseReference:
    @pytest.mark.parametrize(
        ("ref", "name"),
        [
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.25", "docker.io/library/nginx:1.25"),
            ("docker.io/library/nginx:1.25", "docker.io/library/nginx:1.25"),
            ("docker.io/nginx:1.25", "docker.io/library/nginx:1.25"),
            ("index.docker.io/library/nginx", "docker.io/library/nginx:latest"),
            ("jocatalin/kubernetes-bootcamp:v1", "docker.io/jocatalin/kubernetes-bootcamp:v1"),
            ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
            ("gcr.io/google-samples/hello-app:1.0", "gcr.io/google-samples/hello-app:1.0"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("localhost/app:v2", "localhost/app:v2"),
            ("busybox@sha256:" + "a" * 64, "docker.io/library/busybox@sha256:" + "a" * 64),
            ("busybox:1.36@sha256:" + "b" * 64, "docker.io/library/busybox:1.36@sha256:" + "b" * 64),
        ],
    )
    def test_normalises_like_docker(self, ref: str, name: str) -> None:
        """A reference is normalised as docker's ParseNormalizedNamed plus the kubelet's default tag."""
        assert parse_reference(ref).name == name

    def test_splits_domain_and_path(self) -> None:
        """The registry is the first component only when it looks like a host."""
        ref = parse_reference("gcr.io/google-samples/kubernetes-bootcamp:v1")
        assert (ref.domain, ref.path, ref.tag, ref.digest) == ("gcr.io", "google-samples/kubernetes-bootcamp", "v1", None)

    def test_digest_only_has_no_tag(self) -> None:
        """A digest reference gets no default tag."""
        ref = parse_reference("busybox@sha256:" + "c" * 64)
        assert ref.tag is None
        assert ref.digest == "sha256:" + "c" * 64

    def test_uppercase_is_refused_with_docker_wording(self) -> None:
        """Repository names must be lowercase."""
        with pytest.raises(ValueError, match="invalid reference format: repository name must be lowercase"):
            parse_reference("Nginx")

    @pytest.mark.parametrize("ref", ["", "nginx:", ":1.0", "nginx::1", "a b", "nginx@sha256:xyz", "-nginx"])
    def test_malformed_is_refused(self, ref: str) -> None:
        """Malformed references raise ValueError with 'invalid reference format'."""
        with pytest.raises(ValueError, match="invalid reference format"):
            parse_reference(ref)


class TestResolve:
    def test_nginx_defaults_to_latest(self, catalog: ImageCatalog) -> None:
        """`nginx` resolves to the nginx server on port 80, tag latest."""
        spec = catalog.resolve("nginx")
        assert (spec.name, spec.behaviour, spec.server, spec.port) == (
            "docker.io/library/nginx:latest",
            "http",
            "nginx",
            80,
        )

    def test_minor_tag_carries_patch_version(self, catalog: ImageCatalog) -> None:
        """nginx:1.25 answers as nginx/1.25.5."""
        assert catalog.resolve("nginx:1.25").data["version"] == "1.25.5"

    def test_fully_qualified_reference(self, catalog: ImageCatalog) -> None:
        """The fully qualified and the familiar form resolve to the same image."""
        assert catalog.resolve("docker.io/library/nginx:1.25").image_id == catalog.resolve("nginx:1.25").image_id

    def test_patch_tag_is_its_own_version(self, catalog: ImageCatalog) -> None:
        """A patch tag (1.14.2, the Kubernetes docs' Deployment example) is that version."""
        assert catalog.resolve("nginx:1.14.2").data["version"] == "1.14.2"

    @pytest.mark.parametrize(("ref", "version"), [("nginx:1.25.3-alpine", "1.25.3"), ("nginx:1.25-alpine", "1.25.5")])
    def test_variant_suffix(self, catalog: ImageCatalog, ref: str, version: str) -> None:
        """A variant suffix is accepted after a known tag and does not change the version."""
        assert catalog.resolve(ref).data["version"] == version

    def test_pause(self, catalog: ImageCatalog) -> None:
        """registry.k8s.io/pause is a pause image; k8s.gcr.io is an alias."""
        assert catalog.resolve("registry.k8s.io/pause:3.9").behaviour == "pause"
        assert catalog.resolve("k8s.gcr.io/pause:3.9").behaviour == "pause"

    def test_hello_app_version_from_tag(self, catalog: ImageCatalog) -> None:
        """hello-app:2.0 reports Version 2.0.0."""
        spec = catalog.resolve("gcr.io/google-samples/hello-app:2.0")
        assert (spec.server, spec.port, spec.port_env, spec.data["version"]) == ("hello-app", 8080, "PORT", "2.0.0")

    @pytest.mark.parametrize(
        ("ref", "version"),
        [
            ("gcr.io/google-samples/kubernetes-bootcamp:v1", "1"),
            ("docker.io/jocatalin/kubernetes-bootcamp:v1", "1"),
            ("jocatalin/kubernetes-bootcamp:v2", "2"),
        ],
    )
    def test_bootcamp(self, catalog: ImageCatalog, ref: str, version: str) -> None:
        """The bootcamp image exists under both tutorial names; v2 says v=2."""
        spec = catalog.resolve(ref)
        assert (spec.server, spec.port, spec.data["version"]) == ("kubernetes-bootcamp", 8080, version)

    def test_alias_keeps_the_name_as_referenced(self, catalog: ImageCatalog) -> None:
        """The status image of an alias is the alias, as the node would report it."""
        assert catalog.resolve("jocatalin/kubernetes-bootcamp:v1").name == "docker.io/jocatalin/kubernetes-bootcamp:v1"

    def test_digest_reference_uses_the_digest_as_image_id(self, catalog: ImageCatalog) -> None:
        """busybox@sha256:... resolves, with the pinned digest as imageID."""
        spec = catalog.resolve("busybox@sha256:" + "d" * 64)
        assert spec.behaviour == "command"
        assert spec.image_id == "docker.io/library/busybox@sha256:" + "d" * 64

    def test_image_id_is_stable(self, catalog: ImageCatalog) -> None:
        """The fake imageID is a pure function of the image."""
        first, second = catalog.resolve("busybox:1.36"), ImageCatalog.load(environ={}).resolve("busybox:1.36")
        assert first.image_id == second.image_id
        assert first.image_id.startswith("docker.io/library/busybox@sha256:")

    def test_kemu_echo(self, catalog: ImageCatalog) -> None:
        """kemu/echo is the echo server on 8080."""
        spec = catalog.resolve("kemu/echo")
        assert (spec.server, spec.port) == ("echo", 8080)

    def test_base_images_accept_any_tag(self, catalog: ImageCatalog) -> None:
        """Base images run commands and exist with any tag."""
        for ref in ("busybox:1.36", "alpine:3.19", "debian:bookworm", "ubuntu:22.04", "python:3.12-slim"):
            assert catalog.resolve(ref).behaviour == "command"

    def test_every_builtin_entry_resolves(self, catalog: ImageCatalog) -> None:
        """Each shipped entry resolves with at least one of its tags."""
        for entry in catalog.entries:
            exact = [r.pattern for r in entry.tags if not r.is_glob]
            tag = exact[0] if exact else "latest"
            if not entry.any_tag and not exact:
                tag = entry.tags[0].pattern.replace("*", "0")
            assert catalog.resolve(f"{entry.repository}:{tag}").repository == entry.repository


class TestPullErrors:
    def test_unknown_tag(self, catalog: ImageCatalog) -> None:
        """An unknown tag fails as containerd reports it."""
        with pytest.raises(ImagePullError) as err:
            catalog.resolve("nginx:9.99")
        assert err.value.reason == "ErrImagePull"
        assert err.value.message == (
            'failed to pull and unpack image "docker.io/library/nginx:9.99": failed to resolve reference '
            '"docker.io/library/nginx:9.99": docker.io/library/nginx:9.99: not found'
        )

    def test_unknown_tag_event_message(self, catalog: ImageCatalog) -> None:
        """The kubelet's Failed event wraps the message in the CRI error."""
        with pytest.raises(ImagePullError) as err:
            catalog.resolve("nginx:9.99")
        assert err.value.event_message.startswith(
            'Failed to pull image "nginx:9.99": rpc error: code = NotFound desc = failed to pull and unpack image'
        )

    def test_unknown_docker_hub_repository(self, catalog: ImageCatalog) -> None:
        """An unknown Docker Hub repository is 'pull access denied'."""
        with pytest.raises(ImagePullError) as err:
            catalog.resolve("no-such-image-kemu")
        assert err.value.reason == "ErrImagePull"
        assert err.value.message == (
            'failed to pull and unpack image "docker.io/library/no-such-image-kemu:latest": failed to resolve '
            'reference "docker.io/library/no-such-image-kemu:latest": pull access denied, repository does not '
            "exist or may require authorization: server message: insufficient_scope: authorization failed"
        )

    def test_unknown_repository_elsewhere_is_not_found(self, catalog: ImageCatalog) -> None:
        """Outside Docker Hub an unknown repository is 'not found'."""
        with pytest.raises(ImagePullError, match=r"gcr.io/nope/nope:1: not found$"):
            catalog.resolve("gcr.io/nope/nope:1")

    def test_tutorial_rollback_tag_does_not_exist(self, catalog: ImageCatalog) -> None:
        """kubernetes-bootcamp:v10 (the tutorial's bad update) fails to pull."""
        with pytest.raises(ImagePullError, match="not found"):
            catalog.resolve("gcr.io/google-samples/kubernetes-bootcamp:v10")

    def test_invalid_name(self, catalog: ImageCatalog) -> None:
        """A malformed reference is InvalidImageName with the kubelet's wording."""
        with pytest.raises(ImagePullError) as err:
            catalog.resolve("Nginx")
        assert err.value.reason == "InvalidImageName"
        assert err.value.message == (
            'Failed to apply default image tag "Nginx": couldn\'t parse image reference "Nginx": '
            "invalid reference format: repository name must be lowercase"
        )


class TestEffectiveArgv:
    @pytest.mark.parametrize(
        ("command", "args", "expected"),
        [
            (None, None, ("/docker-entrypoint.sh", "nginx", "-g", "daemon off;")),
            (["sh", "-c", "x"], None, ("sh", "-c", "x")),
            (None, ["nginx-debug"], ("/docker-entrypoint.sh", "nginx-debug")),
            (["nginx"], ["-T"], ("nginx", "-T")),
        ],
    )
    def test_kubernetes_rule(self, catalog: ImageCatalog, command, args, expected) -> None:  # type: ignore[no-untyped-def]
        """command replaces ENTRYPOINT (and drops CMD); args replace CMD."""
        assert effective_argv(catalog.resolve("nginx"), command, args) == expected

    def test_busybox_default_is_sh(self, catalog: ImageCatalog) -> None:
        """busybox's CMD is sh."""
        assert effective_argv(catalog.resolve("busybox"), None, None) == ("sh",)

    @pytest.mark.parametrize(
        ("args", "expected"),
        [(["curl", "-s", "http://x"], ("curl", "-s", "http://x")), (["-s", "http://x"], ("curl", "-s", "http://x"))],
    )
    def test_passthrough_entrypoint(self, catalog: ImageCatalog, args: list[str], expected: tuple[str, ...]) -> None:
        """curlimages/curl's entrypoint runs its args, prefixing curl before flags."""
        assert effective_argv(catalog.resolve("curlimages/curl"), None, args) == expected

    def test_builtin_unless_command_overrides(self, catalog: ImageCatalog) -> None:
        """An nginx container runs the server unless its command is another program."""
        spec = catalog.resolve("nginx")
        assert spec.uses_builtin(None)
        assert spec.uses_builtin(["nginx", "-g", "daemon off;"])
        assert not spec.uses_builtin(["sh", "-c", "echo hi"])
        assert not catalog.resolve("busybox").uses_builtin(None)


class TestCatalogFiles:
    EXTRA = """
images:
  - repository: example.com/team/app
    behaviour: http
    server: echo
    port: 9000
    tags: {"1.0": {version: "1.0.0"}}
  - repository: nginx
    behaviour: command
    tags: ["only"]
"""

    def test_env_var_adds_and_overrides(self, tmp_path: Path) -> None:
        """KEMU_IMAGE_CATALOG files add repositories and replace built-in ones."""
        extra = tmp_path / "extra.yaml"
        extra.write_text(self.EXTRA)
        cat = ImageCatalog.load(environ={CATALOG_ENV_VAR: f"{extra}:"})
        assert cat.resolve("example.com/team/app:1.0").port == 9000
        assert cat.resolve("nginx:only").behaviour == "command"
        with pytest.raises(ImagePullError):
            cat.resolve("nginx:1.25")

    def test_explicit_paths_come_last(self, tmp_path: Path) -> None:
        """Paths given to load() win over the environment's files."""
        first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
        first.write_text("images: [{repository: x.io/a, behaviour: pause, tags: [v1]}]")
        second.write_text("images: [{repository: x.io/a, behaviour: command, tags: [v2]}]")
        cat = ImageCatalog.load([second], environ={CATALOG_ENV_VAR: str(first)})
        assert cat.resolve("x.io/a:v2").behaviour == "command"

    def test_missing_file(self, tmp_path: Path) -> None:
        """A catalog file that does not exist is a clear error."""
        with pytest.raises(CatalogError, match="cannot read image catalog"):
            ImageCatalog.load([tmp_path / "nope.yaml"], environ={})

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("images: [{repository: x.io/a, behaviour: http}]", "server: required"),
            ("images: [{repository: x.io/a, behaviour: fly}]", "behaviour: must be one of"),
            ("images: [{repository: x.io/a, behaviour: pause, colour: red}]", "unknown field"),
            ("images: [{behaviour: pause}]", "repository: required"),
            ("images: [{repository: x.io/a, behaviour: http, server: s, port: 0}]", "port"),
            ("images: [{repository: x.io/a, behaviour: pause, stop_signal: SIGNOPE}]", "unknown signal"),
            ("images: [{repository: 'x.io/a:1', behaviour: pause}]", "must not carry a tag"),
            ("images: {a: 1}", "expected a list"),
            ("images: [", "not valid YAML"),
        ],
    )
    def test_malformed_entries_name_the_field(self, text: str, message: str) -> None:
        """Malformed entries raise CatalogError naming the entry and field."""
        with pytest.raises(CatalogError, match=message):
            ImageCatalog.from_yaml(text, source="t.yaml")

    def test_entries_are_listed_for_the_cli(self, catalog: ImageCatalog) -> None:
        """entries lists every repository once, with a description."""
        repos = [e.repository for e in catalog.entries]
        assert len(repos) == len(set(repos))
        assert "docker.io/library/nginx" in repos
        assert all(e.description for e in catalog.entries)
