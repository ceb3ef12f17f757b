"""The front door's watch caches on the informer's history: a watch from an
old resourceVersion is replayed from the informer's ring when it reaches back
that far (the apiserver is not asked: it is frozen meanwhile), from the
apiserver's history when the ring overflowed, and ends with 410 Expired at
once when even the apiserver forgot.

A real apiserver and a real ``python -m apiserver.http`` per test, read
through plain HTTP (urllib) and the official Python client's watch.
"""

from __future__ import annotations

import json
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apiserver.http.testing import HttpFrontDoor
from kemu.client import Client
from kemu.testing import ApiServerProcess

pytestmark = pytest.mark.timeout(90)

TOKEN = "watch-token"


@pytest.fixture
def door(apiserver: ApiServerProcess, short_tmp: Path) -> Iterator[HttpFrontDoor]:
    yield from _door(apiserver, short_tmp)


@pytest.fixture
def small_ring_door(apiserver: ApiServerProcess, short_tmp: Path) -> Iterator[HttpFrontDoor]:
    """A front door whose watch caches remember only their last two changes."""
    yield from _door(apiserver, short_tmp, "--default-watch-cache-size", "2")


def _door(apiserver: ApiServerProcess, root: Path, *extra: str) -> Iterator[HttpFrontDoor]:
    front = HttpFrontDoor(root, apiserver.address, token=TOKEN, extra_args=list(extra))
    try:
        front.start()
        yield front
    finally:
        front.stop()
        front.kill()


def watch_events(door: HttpFrontDoor, path: str) -> list[dict[str, Any]]:
    """The events of one watch request, read until the server ends the stream."""
    request = urllib.request.Request(door.url + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return [json.loads(line) for line in response.read().splitlines() if line.strip()]


def names(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"]["name"]) for e in events if e["type"] != "BOOKMARK"]


def configmap_rv(client: Client) -> int:
    return int(client.list_all("ConfigMap", "default")["metadata"]["resourceVersion"])


def create(client: Client, *names: str) -> None:
    for name in names:
        client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})


WATCH = "/api/v1/namespaces/default/configmaps?watch=1"


def warm(door: HttpFrontDoor) -> None:
    """Start the front door's ConfigMap watch cache (the first watch of a kind does)."""
    watch_events(door, WATCH + "&timeoutSeconds=1")


class TestResume:
    def test_a_resume_within_the_ring_is_replayed_without_the_apiserver(
        self, apiserver: ApiServerProcess, door: HttpFrontDoor, client: Client
    ) -> None:
        """With the apiserver frozen (SIGSTOP), a watch from an older
        resourceVersion that the informer's history still covers gets every
        change since, in order, with its selector applied."""
        warm(door)
        rv = configmap_rv(client)
        create(client, "a", "b")
        client.patch("ConfigMap", "a", {"metadata": {"labels": {"tier": "web"}}}, "default")
        client.delete("ConfigMap", "b", "default")
        assert names(watch_events(door, f"{WATCH}&timeoutSeconds=2&resourceVersion={rv}")) == [
            ("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")
        ]  # the front door has seen all four changes
        assert apiserver.proc is not None
        apiserver.proc.signal(signal.SIGSTOP)
        try:
            replay = watch_events(door, f"{WATCH}&timeoutSeconds=2&resourceVersion={rv}")
            selected = watch_events(door, f"{WATCH}&timeoutSeconds=2&resourceVersion={rv}&labelSelector=tier%3Dweb")
        finally:
            apiserver.proc.signal(signal.SIGCONT)
        assert names(replay) == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
        assert [int(e["object"]["metadata"]["resourceVersion"]) for e in replay] == sorted(
            int(e["object"]["metadata"]["resourceVersion"]) for e in replay
        )
        assert names(selected) == [("ADDED", "a")]  # a enters the selection by its relabelling

    def test_a_resume_older_than_the_ring_is_replayed_from_the_apiserver(
        self, small_ring_door: HttpFrontDoor, client: Client
    ) -> None:
        """The ring holds two changes; five happened: the apiserver's
        history fills in, and the watch goes on with live events."""
        door = small_ring_door
        warm(door)
        rv = configmap_rv(client)
        create(client, "c1", "c2", "c3", "c4", "c5")
        events = watch_events(door, f"{WATCH}&timeoutSeconds=2&resourceVersion={rv}")
        assert names(events) == [("ADDED", f"c{i}") for i in range(1, 6)]

    def test_a_resume_that_even_the_apiserver_forgot_is_410_at_once(
        self, apiserver: ApiServerProcess, small_ring_door: HttpFrontDoor, client: Client
    ) -> None:
        """Older than the ring, and the restarted apiserver's history begins
        later: the watch is one ERROR event with a 410 Expired Status."""
        door = small_ring_door
        warm(door)
        rv = configmap_rv(client)
        create(client, "x1", "x2", "x3")
        apiserver.stop()
        apiserver.start()  # the restarted store's history begins after x3
        create(client, "after")
        assert names(watch_events(door, f"{WATCH}&timeoutSeconds=5&resourceVersion={rv + 3}")) == [("ADDED", "after")]
        events = watch_events(door, f"{WATCH}&timeoutSeconds=5&resourceVersion={rv}")
        assert [(e["type"], e["object"]["code"], e["object"]["reason"]) for e in events] == [("ERROR", 410, "Expired")]

    def test_a_watch_from_now_then_resumed_misses_nothing(self, door: HttpFrontDoor, client: Client) -> None:
        """A bookmark's resourceVersion is a place to resume from: what came
        after it is replayed, what came before it is not."""
        create(client, "old")
        first = watch_events(door, f"{WATCH}&timeoutSeconds=2&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersion=")
        bookmark = next(e for e in first if e["type"] == "BOOKMARK")
        assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert names(first) == [("ADDED", "old")]
        create(client, "new")
        rv = bookmark["object"]["metadata"]["resourceVersion"]
        assert names(watch_events(door, f"{WATCH}&timeoutSeconds=2&resourceVersion={rv}")) == [("ADDED", "new")]
