"""Bad input costs only its own request: regressions for the defects found by
fuzzing the request socket and the HTTP front door (issue 20).

Each test sends what a hostile or careless client sent, checks that the reply
is a ``Status`` with a 4xx code, that nothing invalid was stored, and that a
well-behaved client is still answered.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from kemu import wire
from kemu.client import Client
from kemu.testing import ApiServerProcess
from kemu.types import Obj

pytestmark = pytest.mark.timeout(90)


class RawSocket:
    """A DEALER that sends any msgpack it is given and reads replies by id."""

    def __init__(self, address: str):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(address)
        self.next_id = 1

    def close(self) -> None:
        self.sock.close(linger=0)

    def send(self, request: Obj) -> int:
        rid = self.next_id
        self.next_id += 1
        self.sock.send(msgpack.packb({"v": 1, "id": rid, **request}, use_bin_type=True))
        return rid

    def reply(self, rid: int, timeout: float = 10.0) -> wire.Reply:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if self.sock.poll(int(left * 1000)):
                reply = wire.Reply.decode(self.sock.recv())
                if reply.id == rid:
                    return reply
        raise AssertionError(f"no reply to request {rid} within {timeout}s")

    def call(self, request: Obj) -> wire.Reply:
        return self.reply(self.send(request))


@pytest.fixture
def raw(apiserver: ApiServerProcess) -> Iterator[RawSocket]:
    sock = RawSocket(apiserver.address)
    try:
        yield sock
    finally:
        sock.close()


def service(name: str, selector: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"port": 80}]}}


def cm(name: str, **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


class TestRequestSocket:
    def test_an_op_the_apiserver_does_not_serve_is_400(self, raw: RawSocket, client: Client) -> None:
        """``call`` is a kubelet's operation: the apiserver answers 400 before the store."""
        reply = raw.call({"op": "call", "kind": "Pod", "ns": "default", "name": "x", "opts": {}})
        assert reply.code == 400
        assert reply.body["reason"] == "BadRequest" and "call" in reply.body["message"]

    def test_many_bad_requests_cost_no_reload(self, raw: RawSocket, client: Client) -> None:
        """500 bad requests in a burst do not stall a good client behind them."""
        client.create(cm("keep", a="1"))
        ids = [raw.send({"op": "call", "kind": "Pod", "ns": "default", "name": "x"}) for _ in range(500)]
        started = time.monotonic()
        assert client.ping()["revision"] > 0
        elapsed = time.monotonic() - started
        assert all(raw.reply(rid).code == 400 for rid in ids)
        assert elapsed < 10  # generous: before the fix each bad request reloaded the whole store
        assert client.get("ConfigMap", "keep", "default")["data"] == {"a": "1"}

    @pytest.mark.parametrize("selector", [{"app": "x", 1: "y"}, {"app": "x", 1.5: "y"}, {True: "y"}, {b"k": "v"}])
    def test_non_string_map_keys_are_refused(self, raw: RawSocket, client: Client, selector: Obj) -> None:
        """A map key that JSON could not carry is a 400 naming the field; nothing is stored."""
        reply = raw.call({"op": "create", "kind": "Service", "ns": "default", "body": service("odd", selector)})
        assert reply.code == 400
        assert reply.body["message"].startswith("spec.selector: map keys must be strings")
        assert client.list("Service", "default")["items"] == [] or all(
            s["metadata"]["name"] != "odd" for s in client.list("Service", "default")["items"]
        )

    @pytest.mark.parametrize("where", ["labels", "annotations"])
    def test_non_string_keys_in_metadata_are_refused(self, raw: RawSocket, where: str) -> None:
        """Labels and annotations with integer keys are refused too."""
        body = cm("odd")
        body["metadata"][where] = {7: "x"}
        reply = raw.call({"op": "create", "kind": "ConfigMap", "ns": "default", "body": body})
        assert reply.code == 400 and f"metadata.{where}" in reply.body["message"]

    @pytest.mark.parametrize("value", [2**63, 2**64 - 1, float("nan"), float("inf")])
    def test_numbers_json_cannot_carry_are_refused(self, raw: RawSocket, client: Client, value: Any) -> None:
        """An integer beyond int64 or a non-finite float (msgpack carries both) is a 400 naming the field."""
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "num", "labels": {"a": "b"}},
                "data": {"a": "1"}, "extra": [value]}
        reply = raw.call({"op": "create", "kind": "ConfigMap", "ns": "default", "body": body})
        assert reply.code == 400 and reply.body["message"].startswith("extra[0]: "), reply.body
        assert all(o["metadata"]["name"] != "num" for o in client.list("ConfigMap", "default")["items"])

    def test_strategic_patch_of_the_wrong_shape_is_400(self, raw: RawSocket, client: Client) -> None:
        """``{"metadata": [1, 2]}`` as a strategic patch is a 400, and the object is unchanged."""
        client.create(cm("p", a="1"))
        reply = raw.call({"op": "patch", "kind": "ConfigMap", "ns": "default", "name": "p",
                          "body": {"metadata": [1, 2]}, "opts": {"patch_type": "strategic"}})
        assert reply.code == 400, reply.body
        assert client.get("ConfigMap", "p", "default")["data"] == {"a": "1"}

    @pytest.mark.parametrize(("patch_type", "depth"), [("merge", 1000), ("strategic", 600), ("merge", 150)])
    def test_deep_patches_are_400(self, raw: RawSocket, client: Client, patch_type: str, depth: int) -> None:
        """A patch nested hundreds deep is a 400, not a RecursionError."""
        client.create(cm(f"deep-{patch_type}-{depth}"))
        patch: Obj = {}
        inner = patch
        for _ in range(depth - 1):
            inner["x"] = {}
            inner = inner["x"]
        try:
            packed = msgpack.packb({"data": patch})
        except ValueError:
            pytest.skip("msgpack cannot encode that depth")
        del packed
        reply = raw.call({"op": "patch", "kind": "ConfigMap", "ns": "default", "name": f"deep-{patch_type}-{depth}",
                          "body": {"data": patch}, "opts": {"patch_type": patch_type}})
        assert 400 <= reply.code < 500, reply.body

    def test_json_patch_removing_metadata_is_refused(self, raw: RawSocket, client: Client) -> None:
        """A JSON patch that removes ``/metadata`` does not leave a nameless object behind."""
        client.create(cm("meta", a="1"))
        reply = raw.call({"op": "patch", "kind": "ConfigMap", "ns": "default", "name": "meta",
                          "body": [{"op": "remove", "path": "/metadata"}], "opts": {"patch_type": "json"}})
        assert 400 <= reply.code < 500, reply.body
        assert client.get("ConfigMap", "meta", "default")["metadata"]["name"] == "meta"

    @pytest.mark.parametrize("pre", [[1], "uid", {"uid": 5}, {"nope": "x"}])
    def test_malformed_preconditions_are_400(self, raw: RawSocket, client: Client, pre: Any) -> None:
        """A delete whose preconditions are not an object of strings is refused, not unconditional."""
        client.create(cm("guarded"))
        reply = raw.call({"op": "delete", "kind": "ConfigMap", "ns": "default", "name": "guarded",
                          "opts": {"preconditions": pre}})
        assert reply.code == 400, reply.body
        assert client.get("ConfigMap", "guarded", "default")["metadata"]["name"] == "guarded"

    def test_a_failing_request_fails_alone_in_its_batch(self, raw: RawSocket, client: Client) -> None:
        """Good writes sent in the same burst as bad ones are all stored."""
        ids = []
        for i in range(50):
            ids.append(raw.send({"op": "create", "kind": "ConfigMap", "ns": "default", "body": cm(f"good-{i}")}))
            ids.append(raw.send({"op": "patch", "kind": "ConfigMap", "ns": "default", "name": f"good-{i}",
                                 "body": {"metadata": [1]}, "opts": {"patch_type": "strategic"}}))
        codes = [raw.reply(rid).code for rid in ids]
        assert set(codes[0::2]) == {200}, codes[0::2]
        assert all(400 <= c < 500 for c in codes[1::2])
        names = {o["metadata"]["name"] for o in client.list("ConfigMap", "default")["items"]}
        assert {f"good-{i}" for i in range(50)} <= names


# -- the HTTP front door --------------------------------------------------------------

TOKEN = "bad-input-token"


@pytest.fixture
def door(apiserver: ApiServerProcess, short_tmp: Any) -> Iterator[Any]:
    from apiserver.http.testing import HttpFrontDoor

    front = HttpFrontDoor(short_tmp, apiserver.address, token=TOKEN)
    try:
        front.start()
        yield front
    finally:
        front.stop()
        front.kill()


def http(door: Any, method: str, path: str, body: bytes | None = None, *,
         content_type: str = "application/json") -> tuple[int, str, Any]:
    """``(code, content type, decoded body)`` of one request over a plain socket."""
    import json
    import socket

    host, port = door.url.removeprefix("http://").rsplit(":", 1)
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return _exchange(host, int(port), head.encode() + b"\r\n" + (body or b""), json, socket)


def _exchange(host: str, port: int, data: bytes, json: Any, socket: Any) -> tuple[int, str, Any]:
    with socket.create_connection((host, port), timeout=15) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, payload = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    code = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        body, rest = b"", payload
        while rest:
            size_text, _, rest = rest.partition(b"\r\n")
            size = int(size_text, 16)
            if size == 0:
                break
            body, rest = body + rest[:size], rest[size + 2:]
        payload = body
    try:
        decoded = json.loads(payload) if payload else None
    except ValueError:
        decoded = payload.decode(errors="replace")
    return code, headers.get("content-type", ""), decoded


class TestHttpFrontDoor:
    @pytest.mark.parametrize(("body", "content_type"), [
        (b"[" * 100_000, "application/json"),
        (b"a:\n" + b"".join(b"  " * i + b"- \n" for i in range(1, 400)), "application/yaml"),
        (b"[" * 5000 + b"]" * 5000, "application/yaml"),
        (b"metadata: {name: x}\ndata: {a: " + b"9" * 5000 + b"}\n", "application/yaml"),
        (b'{"metadata": {"name": "x"}, "data": {"a": ' + b"9" * 5000 + b"}}", "application/json"),
    ])
    def test_pathological_bodies_are_400_statuses(self, door: Any, body: bytes, content_type: str) -> None:
        """Deep nesting and 5,000-digit numbers in JSON or YAML are 400 Statuses, not 500s."""
        code, media, status = http(door, "POST", "/api/v1/namespaces/default/configmaps", body,
                                   content_type=content_type)
        assert (code, media.split(";")[0], status["kind"], status["reason"]) == (
            400, "application/json", "Status", "BadRequest")

    def test_yaml_keys_that_are_not_strings_become_strings(self, door: Any, client: Client) -> None:
        """``1: x`` in a YAML label map reads as the JSON key ``"1"``, as the apiserver's YAML decoding makes it."""
        body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yk\n  labels: {1: one, 2.5: half, false: 'no'}\n"
        code, _, obj = http(door, "POST", "/api/v1/namespaces/default/configmaps", body,
                            content_type="application/yaml")
        assert code == 201, obj
        assert client.get("ConfigMap", "yk", "default")["metadata"]["labels"] == {"1": "one", "2.5": "half", "false": "no"}

    @pytest.mark.parametrize(("extra", "code"), [
        ('"": "x"', 201),  # the empty key is an unknown field, dropped with a warning
        ('"a[x": 1', 400),  # a key that looks like a field path's index: refused as unknown
        ('"b[]": 1', 400),
    ])
    def test_odd_unknown_top_level_keys_are_not_500(self, door: Any, extra: str, code: int) -> None:
        """Unknown keys that do not parse back as field paths (found by the fuzz suite:
        IndexError and ValueError in dropping them) are dropped or refused, never a 500."""
        body = ('{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", '
                f'"metadata": {{"name": "odd-{len(extra)}"}}, {extra}}}').encode()
        answer, _, obj = http(door, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", body)
        assert answer == code, obj
        if code == 201:
            assert "" not in obj

    def test_a_control_character_in_an_unknown_field_name_is_escaped_in_the_warning(self, door: Any) -> None:
        """The Warning header names the unknown field with its CR/LF written as \\u000d\\u000a (found by the
        fuzz suite: aiohttp refused the raw header and the client lost the whole response)."""
        import http.client

        host, port = door.url.removeprefix("http://").rsplit(":", 1)
        body = b'{"metadata": {"name": "ctl", "a\\r\\nX-Injected: yes": 1}}'
        conn = http.client.HTTPConnection(host, int(port), timeout=15)
        try:
            conn.request("POST", "/api/v1/namespaces/default/configmaps", body=body,
                         headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        assert response.status == 201
        assert response.getheader("X-Injected") is None
        [warning] = response.headers.get_all("Warning")
        assert "a\\u000d\\u000aX-Injected: yes" in warning, warning

    @pytest.mark.parametrize(("method", "path", "content_type", "body"), [
        ("POST", "/api/v1/namespaces/default/configmaps", "application/json",
         b'{"metadata": {"name": "n"}, "data": {"a": 18446744073709551616}}'),
        ("POST", "/api/v1/namespaces/default/configmaps", "application/yaml",
         b"metadata: {name: n}\ndata: {a: -9223372036854775809}\n"),
        ("POST", "/api/v1/namespaces/default/configmaps", "application/json",
         b'{"metadata": {"name": "n"}, "data": {"a": NaN}}'),
        ("PATCH", "/api/v1/namespaces/default/configmaps/n", "application/strategic-merge-patch+json",
         b'{"data": {"a": 18446744073709551616}}'),
        ("PATCH", "/api/v1/namespaces/default/configmaps/n", "application/json-patch+json",
         b'[{"op": "add", "path": "/data/a", "value": 18446744073709551616}]'),
    ])
    def test_numbers_beyond_int64_are_400(self, door: Any, method: str, path: str, content_type: str,
                                          body: bytes) -> None:
        """A number no Go int64 holds (found by the fuzz suite: OverflowError in the
        wire's pack, a 500), or NaN, is a 400 Status naming the field."""
        code, _, status = http(door, method, path, body, content_type=content_type)
        assert (code, status["reason"]) == (400, "BadRequest"), status
        assert "data.a: " in status["message"] or "value: " in status["message"], status

    @pytest.mark.parametrize(("method", "path", "content_type", "body"), [
        ("POST", "/api/v1/namespaces/default/configmaps", "application/json",
         b'{"metadata": {"name": "s"}, "data": {"a": "\\ud83e"}}'),
        ("POST", "/api/v1/namespaces/default/configmaps", "application/yaml",
         b'metadata: {name: s}\ndata: {a: "\\ud83e\\udd80"}\n'),
        ("POST", "/api/v1/namespaces/default/configmaps", "application/json",
         b'{"metadata": {"name": "s"}, "data": {"\\udd80": "x"}}'),
        ("PATCH", "/api/v1/namespaces/default/configmaps/s", "application/apply-patch+yaml",
         b'{"data": {"a": "\\ud83e\\udd80"}}'),
    ])
    def test_lone_surrogates_are_400(self, door: Any, method: str, path: str, content_type: str, body: bytes) -> None:
        """A ``\ud83e`` escape that makes no character (found by the fuzz suite: YAML reads a
        pair as two lone surrogates, UnicodeEncodeError on the wire, a 500) is a 400 naming the field."""
        code, _, status = http(door, method, path, body, content_type=content_type)
        assert (code, status["reason"]) == (400, "BadRequest"), status
        assert status["message"].startswith("data") and "invalid UTF-8" in status["message"], status

    def test_a_surrogate_pair_in_json_is_one_character(self, door: Any, client: Client) -> None:
        """A JSON escape pair is the character it spells, as in Go's decoder."""
        body = b'{"metadata": {"name": "pair"}, "data": {"a": "\\ud83e\\udd80"}}'
        code, _, obj = http(door, "POST", "/api/v1/namespaces/default/configmaps", body)
        assert code == 201, obj
        assert client.get("ConfigMap", "pair", "default")["data"] == {"a": "\U0001f980"}

    def test_huge_limit_is_400(self, door: Any) -> None:
        """``limit`` beyond int64 is the apiserver's ParseInt error, not an OverflowError."""
        code, _, status = http(door, "GET", "/api/v1/pods?limit=99999999999999999999999")
        assert (code, status["reason"]) == (400, "BadRequest") and "out of range" in status["message"]

    @pytest.mark.parametrize("request_bytes", [b"GARBAGE\r\n\r\n", b"GET /api HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"])
    def test_unparsable_requests_get_a_status(self, door: Any, request_bytes: bytes) -> None:
        """aiohttp's own parse errors are answered with a JSON Status too."""
        import json
        import socket

        host, port = door.url.removeprefix("http://").rsplit(":", 1)
        code, media, status = _exchange(host, int(port), request_bytes, json, socket)
        assert (code, media.split(";")[0], status["kind"], status["code"]) == (400, "application/json", "Status", 400)

    def test_head_answers_as_get(self, door: Any, client: Client) -> None:
        """HEAD gets GET's code and content type, without a body."""
        client.create(cm("h"))
        assert http(door, "HEAD", "/api/v1/namespaces/default/configmaps/h")[:2] == (200, "application/json")
        assert http(door, "HEAD", "/api/v1/namespaces/default/configmaps/nope")[0] == 404

    def test_watch_with_a_negative_timeout_ends_at_once(self, door: Any) -> None:
        """``timeoutSeconds=-1`` ends the stream at once, as Go's timer does in the apiserver."""
        code, _, body = http(door, "GET", "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=-1")
        assert (code, body) == (200, None)

    def test_watch_resource_version_beyond_uint64_is_400(self, door: Any) -> None:
        """A resourceVersion no uint64 can hold is a 400."""
        code, _, status = http(door, "GET", "/api/v1/configmaps?watch=1&resourceVersion=99999999999999999999")
        assert (code, status["reason"]) == (400, "BadRequest")

    def test_watch_resource_version_from_the_future_is_504_too_large(self, door: Any) -> None:
        """A resourceVersion ahead of the cluster is "Too large resource version" after a short wait."""
        code, _, status = http(door, "GET", "/api/v1/configmaps?watch=1&resourceVersion=999999999")
        assert (code, status["reason"]) == (504, "Timeout")
        assert status["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
        assert status["message"].startswith("Too large resource version: 999999999, current: ")

    def test_token_is_not_on_the_command_line(self, door: Any) -> None:
        """The bearer token is passed by file: /proc/<pid>/cmdline, readable by any user, never holds it."""
        assert door.proc is not None
        cmdline = Path(f"/proc/{door.proc.pid}/cmdline").read_bytes()
        assert TOKEN.encode() not in cmdline and b"--token-file" in cmdline


class TestSecretsOnDisk:
    def test_store_and_data_files_are_owner_only(self, tmp_path: Any) -> None:
        """The store is created 0600 whatever the umask, and so is cluster.json."""
        import os
        import stat

        from apiserver.store import Store
        from kemu.launcher import ClusterState

        old = os.umask(0o022)
        try:
            store = Store(tmp_path / "kemu.db")
            store.close()
            ClusterState("tcp://x", str(tmp_path), {}, {}, {"tls": {"token_file": "/x"}}).save(tmp_path)
        finally:
            os.umask(old)
        for name in ("kemu.db", "cluster.json"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


class TestBigLists:
    def test_lists_beyond_one_message_are_paged_and_informers_sync(self, client: Client, apiserver: ApiServerProcess) -> None:
        """70 ConfigMaps of 1 MB each (more than the 64 MiB message limit) list
        whole through the client and an informer syncs them all."""
        from kemu.informer import Informer

        blob = "x" * (1000 * 1000)
        for i in range(70):
            client.create(cm(f"big-{i:02d}", blob=blob))
        listing = client.list("ConfigMap", "default")
        assert len([o for o in listing["items"] if o["metadata"]["name"].startswith("big-")]) == 70
        assert "continue" not in listing["metadata"]
        page = client.list("ConfigMap", "default", limit=100)
        assert 0 < len(page["items"]) < 70 and page["metadata"]["continue"]  # cut by bytes, not by count
        informer = Informer(client, "ConfigMap", namespace="default")
        informer.start()
        try:
            assert informer.wait_synced(60)
            assert len([k for k in informer.keys() if "big-" in k]) == 70  # noqa: SIM118 (Informer.keys(), not a dict's)
        finally:
            informer.stop()

    def test_one_object_over_the_limit_is_413(self, raw: RawSocket, client: Client) -> None:
        """A single object over 1.5 MiB is refused with 413, and nothing is stored."""
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge"},
               "spec": {"containers": [{"name": "c", "image": "pause", "env": [{"name": "X", "value": "y" * 2_000_000}]}]}}
        reply = raw.call({"op": "create", "kind": "Pod", "ns": "default", "body": pod})
        assert (reply.code, reply.body["reason"]) == (413, "RequestEntityTooLarge")
        assert client.list("Pod", "default")["items"] == []
