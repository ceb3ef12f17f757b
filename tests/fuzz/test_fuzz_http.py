"""Fuzzing the HTTP front door (issue 20): every verb, with bodies in JSON,
YAML and protobuf (encoded from plausible objects, and mutated bytes),
merge, strategic-merge and JSON patches, and hostile query parameters. One
apiserver and one front door for the whole module.

After each input: the answer is below 500, an error is a JSON ``Status``
with its code, every stored object of the kind is valid, and both a good
HTTP client and a good socket client are answered.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import strategies as fs
import yaml
from fuzzing import examples, REPLY_TIMEOUT, assert_good_client_served, assert_status_reply, assert_stored_objects_valid
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kemu.api import protobuf
from kemu.api.kinds import KINDS
from kemu.client import Client
from kemu.testing import ApiServerProcess

pytestmark = pytest.mark.timeout(150)

TOKEN = "fuzz-token"

FUZZ = settings(
    max_examples=examples(120),
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no explain: it reruns slow failures
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)

PATCH_MEDIA = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}
BODY_MEDIA = ("application/json", "application/yaml", protobuf.MEDIA_TYPE)


class Door(NamedTuple):
    host: str
    port: int
    client: Client


class Answer(NamedTuple):
    code: int
    media: str
    body: Any


@pytest.fixture(scope="module")
def door() -> Iterator[Door]:
    """An apiserver and its front door for every test of the module, both
    stopped at the end whatever happened."""
    from apiserver.http.testing import HttpFrontDoor

    with tempfile.TemporaryDirectory(prefix="kemu-fh-") as root:
        server = ApiServerProcess(Path(root))
        front = HttpFrontDoor(Path(root), server.address, token=TOKEN)
        try:
            server.start()
            front.start()
            host, port = front.url.removeprefix("http://").rsplit(":", 1)
            with Client(server.address, timeout=REPLY_TIMEOUT) as good:
                good.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fuzz"}})
                for kind in ("ConfigMap", "Service", "Pod", "Deployment", "Node"):
                    good.create(fs.skeleton(kind, "seed", "default" if KINDS[kind].namespaced else None))
                yield Door(host, int(port), good)
        finally:
            front.stop()
            front.kill()
            server.stop()
            server.kill()


def send(door: Door, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> Answer:
    """One request on a fresh connection; the answer decoded as JSON when it is."""
    conn = http.client.HTTPConnection(door.host, door.port, timeout=REPLY_TIMEOUT)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        media = (response.getheader("Content-Type") or "").split(";")[0]
    finally:
        conn.close()
    try:
        decoded = json.loads(payload) if payload and media == "application/json" else payload
    except ValueError:
        decoded = payload
    return Answer(response.status, media, decoded)


def path_of(kind: str, namespace: str | None, name: str | None, subresource: str | None = None) -> str:
    info = KINDS[kind]
    base = f"/api/{info.version}" if not info.group else f"/apis/{info.group}/{info.version}"
    if info.namespaced and namespace is not None:
        base += f"/namespaces/{urllib.parse.quote(namespace, safe='')}"
    base += f"/{info.plural}"
    if name is not None:
        base += f"/{urllib.parse.quote(name, safe='')}"
        if subresource:
            base += f"/{subresource}"
    return base


def query_params() -> st.SearchStrategy[dict[str, str]]:
    """Query parameters of a request, mostly plausible; now and then a watch,
    never one that could wait long: ``timeoutSeconds`` is at most 1 (``0``
    means the server's default, half an hour or more, in Kubernetes too)."""
    values = {
        "limit": st.sampled_from(["1", "0", "-1", "500", "x", "99999999999999999999999", "1.5", ""]),
        "labelSelector": fs.label_selectors(),
        "fieldSelector": fs.field_selectors(),
        "continue": st.sampled_from(["", "e30", "@@@", "bm9wZQ=="]) | st.text(max_size=10),
        "dryRun": st.sampled_from(["All", "all", "", "x"]),
        "fieldManager": st.sampled_from(["fuzz", "", "x" * 200]),
        "propagationPolicy": st.sampled_from(["Orphan", "Background", "Foreground", "nope"]),
        "gracePeriodSeconds": st.sampled_from(["0", "30", "-1", "x", "99999999999999999999"]),
        "pretty": st.sampled_from(["true", "1", "x"]),
        "fieldValidation": st.sampled_from(["Strict", "Warn", "Ignore", "nope"]),
        "nope": st.text(max_size=8),
    }
    plain = st.lists(st.sampled_from(sorted(values)), max_size=3, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({k: values[k] for k in keys}))
    watch = st.fixed_dictionaries({"watch": st.sampled_from(["1", "true", "false", "x"]),
                                   "timeoutSeconds": st.sampled_from(["1", "-1", "x", "99999999999999999999"])})
    return fs.mostly(plain, watch, 8)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()  # NaN and Infinity as Python writes them: no JSON a Go decoder reads


def _yaml_bytes(value: Any) -> bytes:
    try:
        return yaml.safe_dump(value).encode()
    except (yaml.YAMLError, RecursionError):
        return _json_bytes(value)  # JSON is YAML too


def _protobuf_bytes(value: Any, kind: str) -> bytes:
    try:
        return protobuf.encode_object(value) if isinstance(value, dict) else b""
    except (protobuf.ProtobufError, RecursionError, TypeError, ValueError, OverflowError):
        return protobuf.encode_object(fs.skeleton(kind))


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes flipped, cut short, or spliced with garbage."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not out:
            break
        how = draw(st.sampled_from(["flip", "cut", "insert", "varint"]))
        at = draw(st.integers(0, len(out) - 1))
        if how == "flip":
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "cut":
            del out[at:]
        elif how == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=6))
        else:  # a length or tag that runs past the end
            out[at:at] = b"\xff\xff\xff\xff\x0f"
    return bytes(out)


@st.composite
def bodies(draw: st.DrawFn, kind: str) -> tuple[bytes, str]:
    """``(body, content type)`` of a create or update of ``kind``."""
    obj = draw(fs.objects(kind, "json"))
    media = draw(st.sampled_from(BODY_MEDIA))
    if media == "application/json":
        data = _json_bytes(obj)
    elif media == "application/yaml":
        data = _yaml_bytes(obj)
    else:
        data = _protobuf_bytes(obj, kind)
    if draw(st.integers(0, 4)) == 0:
        data = draw(mutated_bytes(data))
    if draw(st.integers(0, 9)) == 0:
        media = draw(st.sampled_from(["text/plain", "application/xml", "", "application/json; charset=latin-1",
                                      *PATCH_MEDIA.values()]))
    return data, media


def _check_after(door: Door, kind: str, request: Any, answer: Answer) -> None:
    if answer.code == 504 and isinstance(answer.body, dict):  # "Too large resource version", as the real apiserver
        causes = (answer.body.get("details") or {}).get("causes") or [{}]
        assert causes[0].get("reason") == "ResourceVersionTooLarge", answer
    else:
        assert answer.code < 500, f"{answer}\nrequest: {request!r:.600}"
    if answer.code >= 400 and request[0] != "HEAD":
        assert answer.media == "application/json", (answer, request)
        assert_status_reply(answer.code, answer.body, context=request)
    if KINDS[kind].verbs is None:
        assert_stored_objects_valid(door.client, [kind])
    assert_good_client_served(door.client)
    alive = send(door, "GET", "/api/v1/namespaces/default")
    assert alive.code == 200 and alive.body["metadata"]["name"] == "default", alive


KIND_NAMES = sorted(KINDS)


class TestHttpFuzz:
    @FUZZ
    @given(kind=st.sampled_from(KIND_NAMES), method=st.sampled_from(["GET", "HEAD", "DELETE"]),
           named=st.booleans(), query=query_params(), data=st.data())
    def test_reads_and_deletes(self, door: Door, kind: str, method: str, named: bool, query: dict[str, str],
                               data: st.DataObject) -> None:
        """GET, HEAD and DELETE with hostile query parameters are answered below 500."""
        name = data.draw(st.sampled_from(fs.NAMES)) if named else None  # no name: list or deletecollection
        path = path_of(kind, data.draw(st.sampled_from(["default", "fuzz", "nope"])), name)
        path += "?" + urllib.parse.urlencode(query) if query else ""
        request = (method, path)
        answer = send(door, method, path)
        _check_after(door, kind, request, answer)

    @FUZZ
    @given(kind=st.sampled_from(KIND_NAMES), method=st.sampled_from(["POST", "PUT"]),
           status=st.booleans(), data=st.data())
    def test_creates_and_updates(self, door: Door, kind: str, method: str, status: bool, data: st.DataObject) -> None:
        """A POST or PUT of a plausible, mutated object in JSON, YAML or protobuf is answered below 500."""
        body, media = data.draw(bodies(kind))
        name = "seed" if method == "PUT" else None
        path = path_of(kind, "default", name, "status" if status and name else None)
        if data.draw(st.integers(0, 3)) == 0:
            path += "?" + urllib.parse.urlencode(data.draw(query_params()))
        request = (method, path, media, body[:600])
        answer = send(door, method, path, body, media)
        _check_after(door, kind, request, answer)

    @FUZZ
    @given(kind=st.sampled_from(["ConfigMap", "Service", "Pod", "Deployment", "Node"]),
           patch_type=st.sampled_from(sorted(PATCH_MEDIA)), status=st.booleans(), data=st.data())
    def test_patches(self, door: Door, kind: str, patch_type: str, status: bool, data: st.DataObject) -> None:
        """A merge, strategic-merge or JSON patch of an existing object is answered below 500."""
        patch = data.draw(fs.patches(kind, patch_type, "json"))
        body = data.draw(st.just(_json_bytes(patch)) | st.just(_json_bytes(patch)).flatmap(mutated_bytes))
        media = PATCH_MEDIA[patch_type] if data.draw(st.integers(0, 9)) else data.draw(
            st.sampled_from(["application/apply-patch+yaml", "application/json", *PATCH_MEDIA.values()]))
        path = path_of(kind, "default", "seed", "status" if status else None)
        request = ("PATCH", path, media, body[:600])
        answer = send(door, "PATCH", path, body, media)
        _check_after(door, kind, request, answer)

    def test_everything_stored_is_valid(self, door: Door) -> None:
        """At the end, every object of every kind in the store is valid (runs after the fuzzers above)."""
        assert assert_stored_objects_valid(door.client) > 0
