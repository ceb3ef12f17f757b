"""Fuzzing the request socket (issue 20): plausible but hostile requests for
every operation, as raw msgpack frames from a DEALER to a standalone
apiserver, one server for the whole module.

After each input: the reply is a ``Status`` below 500 (4xx for bad input),
every object of the request's kind still stored is valid, and a well-behaved
client on its own socket is answered.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import strategies as fs
from fuzzing import examples, RawSocket, assert_good_client_served, assert_status_reply, assert_stored_objects_valid
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kemu.api.kinds import KINDS
from kemu.client import Client
from kemu.testing import ApiServerProcess

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no explain: it reruns slow failures
)


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServerProcess]:
    """One apiserver for every test of the module, killed at the end whatever happened."""
    with tempfile.TemporaryDirectory(prefix="kemu-fz-") as root:
        proc = ApiServerProcess(Path(root))
        try:
            proc.start()
            yield proc
        finally:
            proc.stop()
            proc.kill()


@pytest.fixture(scope="module")
def good(server: ApiServerProcess) -> Iterator[Client]:
    """The well-behaved client, which also seeds the objects the fuzzer's names meet."""
    with Client(server.address, timeout=15.0) as c:
        c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fuzz"}})
        for kind in ("ConfigMap", "Service", "Pod", "Deployment", "Lease", "Node"):
            for ns in fs.NAMESPACES if KINDS[kind].namespaced else (None,):
                c.create(fs.skeleton(kind, "seed", ns))
        yield c


@pytest.fixture(scope="module")
def raw(server: ApiServerProcess) -> Iterator[RawSocket]:
    sock = RawSocket(server.address)
    try:
        yield sock
    finally:
        sock.close()


def _check_after(raw: RawSocket, good: Client, request: Any, reply: Any) -> None:
    assert_status_reply(reply.code, reply.body, context=request)
    kind = request.get("kind") if isinstance(request, dict) else None
    if isinstance(kind, str) and kind in KINDS and KINDS[kind].verbs is None:
        assert_stored_objects_valid(good, [kind])
    assert_good_client_served(good)


class TestRequestSocketFuzz:
    @FUZZ
    @given(request=fs.requests())
    def test_any_request(self, raw: RawSocket, good: Client, request: dict[str, Any]) -> None:
        """A hostile request of any operation is answered below 500 and stores nothing invalid."""
        reply = raw.reply(raw.send(request))
        _check_after(raw, good, request, reply)

    @FUZZ
    @given(kind=st.sampled_from(["ConfigMap", "Pod", "Service", "Deployment", "Node"]),
           patch_type=st.sampled_from(["merge", "strategic", "json"]), data=st.data())
    def test_patches(self, raw: RawSocket, good: Client, kind: str, patch_type: str, data: st.DataObject) -> None:
        """A patch of every type against an object that exists is answered below
        500; the patched object, if the patch applied, is valid."""
        info = KINDS[kind]
        request = {
            "op": "patch", "kind": kind, "ns": "default" if info.namespaced else None, "name": "seed",
            "body": data.draw(fs.patches(kind, patch_type)), "opts": {"patch_type": patch_type},
        }
        reply = raw.reply(raw.send(request))
        _check_after(raw, good, request, reply)

    @FUZZ
    @given(kind=st.sampled_from(sorted(KINDS)), data=st.data())
    def test_creates_of_every_kind(self, raw: RawSocket, good: Client, kind: str, data: st.DataObject) -> None:
        """A create of any kind with a plausible, mutated body is answered below 500."""
        body = data.draw(fs.objects(kind))
        request = {"op": "create", "kind": kind, "ns": "default" if KINDS[kind].namespaced else None,
                   "body": body, "opts": data.draw(st.just({}) | st.just({"dry_run": True}))}
        reply = raw.reply(raw.send(request))
        _check_after(raw, good, request, reply)

    @settings(FUZZ, max_examples=examples(100))
    @given(frame=st.one_of(
        st.binary(max_size=64),
        fs.requests().map(lambda r: msgpack.packb({"v": 1, "id": 0, **r}, use_bin_type=True)).map(
            lambda b: b[: len(b) // 2]),  # a truncated request
        st.builds(lambda v, rid, op: msgpack.packb({"v": v, "id": rid, "op": op}, use_bin_type=True),
                  fs.hostile_scalars(), fs.hostile_scalars(), fs.hostile_scalars()),
    ))
    def test_frames_that_are_not_requests(self, raw: RawSocket, good: Client, frame: bytes) -> None:
        """Bytes that are no request get a 400 (or, with no id to answer, nothing)
        and never disturb the good client."""
        raw.send_frame(frame)
        assert_good_client_served(good)
        for reply in raw.drain():
            assert_status_reply(reply.code, reply.body, context=frame)

    def test_everything_stored_is_valid(self, raw: RawSocket, good: Client) -> None:
        """At the end, every object of every kind in the store is valid (runs after the fuzzers above)."""
        assert assert_stored_objects_valid(good) > 0
        assert_good_client_served(good)
