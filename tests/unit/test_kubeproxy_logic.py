"""kube-proxy's decisions: which addresses a Service is reachable on, which
endpoints are ready, and how connections are spread (round robin, ClientIP
affinity, skipping refusing endpoints) — pure, with an injected clock. The
last class drives the real proxier on loopback sockets (no cluster)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from kubeproxy.balancer import LoadBalancerRR, rendezvous_pick
from kubeproxy.config import (
    SERVICE_PROXY_NAME_LABEL,
    ListenAddr,
    ServicePortName,
    desired_listeners,
    endpoints_by_port,
    listeners_for_service,
    should_proxy,
)
from kubeproxy import proxier as proxier_module
from kubeproxy.proxier import Proxier
from kemu.types import Obj

SPN = ServicePortName("default", "web", "http")


def service(
    *,
    kind: str = "ClusterIP",
    cluster_ip: str = "127.96.0.11",
    ports: list[Obj] | None = None,
    affinity: str | None = None,
    timeout: int | None = None,
    labels: dict[str, str] | None = None,
    external_ips: list[str] | None = None,
) -> Obj:
    spec: Obj = {
        "type": kind,
        "clusterIP": cluster_ip,
        "ports": ports if ports is not None else [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}],
    }
    if affinity:
        spec["sessionAffinity"] = affinity
        if timeout:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": timeout}}
    if external_ips:
        spec["externalIPs"] = external_ips
    return {"metadata": {"namespace": "default", "name": "web", "labels": labels or {}}, "spec": spec}


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def no_shuffle(_items: list[Any]) -> None:
    pass


class TestListeners:
    def test_cluster_ip_listener(self) -> None:
        """A ClusterIP Service listens on clusterIP:port only."""
        out = listeners_for_service(service(), "127.0.1.2")
        assert list(out) == [ListenAddr("127.96.0.11", 80)]
        assert out[ListenAddr("127.96.0.11", 80)].name == SPN

    def test_node_port_on_this_node(self) -> None:
        """A NodePort Service also listens on this node's IP at the node port."""
        out = listeners_for_service(service(kind="NodePort"), "127.0.1.2")
        assert set(out) == {ListenAddr("127.96.0.11", 80), ListenAddr("127.0.1.2", 30080)}
        assert out[ListenAddr("127.0.1.2", 30080)].kind == "NodePort"

    def test_external_ips(self) -> None:
        """Each externalIP gets a listener on the Service port."""
        out = listeners_for_service(service(external_ips=["127.50.0.1"]), None)
        assert ListenAddr("127.50.0.1", 80) in out

    def test_udp_ports_are_not_proxied(self) -> None:
        """Only TCP ports get listeners."""
        assert listeners_for_service(service(ports=[{"name": "dns", "port": 53, "protocol": "UDP"}]), None) == {}

    def test_skipped_services(self) -> None:
        """Headless, ExternalName and other proxies' Services are left alone."""
        assert not should_proxy(service(cluster_ip="None"))
        assert not should_proxy({"spec": {"type": "ExternalName", "externalName": "example.com"}})
        assert not should_proxy(service(labels={SERVICE_PROXY_NAME_LABEL: "clusterdns"}))

    def test_affinity_settings(self) -> None:
        """sessionAffinity ClientIP with its timeout reaches the listener info."""
        info = listeners_for_service(service(affinity="ClientIP", timeout=30), None)[ListenAddr("127.96.0.11", 80)]
        assert (info.affinity, info.affinity_timeout) == ("ClientIP", 30.0)

    def test_desired_listeners_union(self) -> None:
        """Two Services give the union of their listeners."""
        other = service(cluster_ip="127.96.0.12")
        other["metadata"]["name"] = "api"
        assert len(desired_listeners([service(), other], None)) == 2


class TestEndpointsByPort:
    def test_only_ready_addresses(self) -> None:
        """notReadyAddresses never receive traffic."""
        eps = {"subsets": [{"addresses": [{"ip": "127.244.1.2"}], "notReadyAddresses": [{"ip": "127.244.2.2"}],
                            "ports": [{"name": "http", "port": 80}]}]}
        assert endpoints_by_port(eps) == {"http": [("127.244.1.2", 80)]}

    def test_ports_by_name_across_subsets(self) -> None:
        """Subsets with different numbers for one port name are merged."""
        eps = {"subsets": [
            {"addresses": [{"ip": "127.244.1.2"}], "ports": [{"name": "http", "port": 80}]},
            {"addresses": [{"ip": "127.244.2.2"}], "ports": [{"name": "http", "port": 8080}]},
        ]}
        assert endpoints_by_port(eps) == {"http": [("127.244.1.2", 80), ("127.244.2.2", 8080)]}

    def test_missing(self) -> None:
        """No Endpoints object, no endpoints."""
        assert endpoints_by_port(None) == {}


class TestRoundRobin:
    def make(self, *eps: tuple[str, int], clock: FakeClock | None = None) -> LoadBalancerRR:
        lb = LoadBalancerRR(clock=clock or FakeClock(), shuffle=no_shuffle)
        lb.set_service(SPN)
        lb.set_endpoints(SPN, list(eps))
        return lb

    def test_round_robin(self) -> None:
        """Connections go to each endpoint in turn."""
        lb = self.make(("a", 1), ("b", 1), ("c", 1))
        assert [lb.next_endpoint(SPN, "127.0.0.1") for _ in range(4)] == [("a", 1), ("b", 1), ("c", 1), ("a", 1)]

    def test_exclude_skips_refusing_endpoint(self) -> None:
        """A retry after a refusal skips the endpoint that refused."""
        lb = self.make(("a", 1), ("b", 1))
        assert lb.next_endpoint(SPN, "c", reset=True, exclude=[("a", 1)]) == ("b", 1)
        assert lb.next_endpoint(SPN, "c", reset=True, exclude=[("a", 1), ("b", 1)]) is None

    def test_refused_endpoint_is_held_down(self) -> None:
        """An endpoint that refused is passed over for the hold-down, then used again."""
        clock = FakeClock()
        lb = self.make(("a", 1), ("b", 1), ("c", 1), clock=clock)
        lb.endpoint_failed(SPN, ("a", 1))
        assert ("a", 1) not in {lb.next_endpoint(SPN, "x") for _ in range(6)}
        clock.t += lb.hold_down
        assert ("a", 1) in {lb.next_endpoint(SPN, "x") for _ in range(6)}

    def test_all_held_down_still_tried(self) -> None:
        """When every endpoint refused lately, they are tried anyway (better than nothing)."""
        lb = self.make(("a", 1))
        lb.endpoint_failed(SPN, ("a", 1))
        assert lb.next_endpoint(SPN, "x") == ("a", 1)

    def test_no_endpoints(self) -> None:
        """A Service without ready endpoints gives None (the connection is reset)."""
        lb = self.make()
        assert lb.next_endpoint(SPN, "c") is None
        assert lb.next_endpoint(ServicePortName("x", "y", ""), "c") is None

    def test_unchanged_endpoints_keep_the_rotation(self) -> None:
        """Setting the same endpoints again does not reset the round robin."""
        lb = self.make(("a", 1), ("b", 1))
        lb.next_endpoint(SPN, "c")
        assert not lb.set_endpoints(SPN, [("b", 1), ("a", 1)])
        assert lb.next_endpoint(SPN, "c") == ("b", 1)

    def test_changed_endpoints_reset(self) -> None:
        """New endpoints replace the rotation."""
        lb = self.make(("a", 1))
        assert lb.set_endpoints(SPN, [("b", 1), ("c", 1)])
        assert {lb.next_endpoint(SPN, "x") for _ in range(2)} == {("b", 1), ("c", 1)}


class TestAffinity:
    def make(self, clock: FakeClock, ttl: float = 10.0) -> LoadBalancerRR:
        lb = LoadBalancerRR(clock=clock, shuffle=no_shuffle)
        lb.set_service(SPN, "ClientIP", ttl)
        lb.set_endpoints(SPN, [("a", 1), ("b", 1), ("c", 1)])
        return lb

    def test_client_sticks(self) -> None:
        """One client IP keeps its endpoint across connections."""
        lb = self.make(FakeClock())
        first = lb.next_endpoint(SPN, "127.0.9.1")
        assert all(lb.next_endpoint(SPN, "127.0.9.1") == first for _ in range(10))

    def test_first_pick_is_the_same_on_every_proxy(self) -> None:
        """Two independent balancers (two nodes' proxies) pick the same endpoint for a client."""
        one, two = self.make(FakeClock()), self.make(FakeClock())
        two.next_endpoint(SPN, "127.0.9.99")  # different history
        for i in range(20):
            ip = f"127.0.9.{i}"
            assert one.next_endpoint(SPN, ip) == two.next_endpoint(SPN, ip)

    def test_clients_spread(self) -> None:
        """Many client IPs spread over all endpoints."""
        lb = self.make(FakeClock())
        seen = Counter(lb.next_endpoint(SPN, f"127.0.{i // 250}.{i % 250}") for i in range(300))
        assert set(seen) == {("a", 1), ("b", 1), ("c", 1)}

    def test_gone_endpoint_moves_only_its_clients(self) -> None:
        """When an endpoint goes, its clients move and the others stay."""
        lb = self.make(FakeClock())
        before = {f"127.0.9.{i}": lb.next_endpoint(SPN, f"127.0.9.{i}") for i in range(30)}
        lb.set_endpoints(SPN, [("a", 1), ("b", 1)])
        for ip, ep in before.items():
            after = lb.next_endpoint(SPN, ip)
            assert after in (("a", 1), ("b", 1))
            if ep != ("c", 1):
                assert after == ep

    def test_timeout_and_cleanup(self) -> None:
        """An entry older than the timeout is dropped by the cleanup."""
        clock = FakeClock()
        lb = self.make(clock, ttl=10)
        lb.next_endpoint(SPN, "127.0.9.1")
        clock.t += 5
        assert lb.cleanup_stale_sessions() == 0
        clock.t += 10
        assert lb.cleanup_stale_sessions() == 1

    def test_retry_ignores_affinity(self) -> None:
        """After a refusal the client is placed elsewhere and sticks there."""
        lb = self.make(FakeClock())
        first = lb.next_endpoint(SPN, "127.0.9.1")
        assert first is not None
        second = lb.next_endpoint(SPN, "127.0.9.1", reset=True, exclude=[first])
        assert second != first
        assert lb.next_endpoint(SPN, "127.0.9.1") == second

    def test_rendezvous_empty(self) -> None:
        """No endpoints, no pick."""
        assert rendezvous_pick("127.0.0.1", []) is None


# -- the proxier on real loopback sockets ---------------------------------------------


def _serve(ip: str, name: bytes) -> socket.socket:
    """A tiny backend: answers each connection with its name, then echoes until EOF."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((ip, 0))
    lsock.listen(64)

    def loop() -> None:
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return

            def handle(c: socket.socket = conn) -> None:
                with c, contextlib.suppress(ConnectionResetError):  # a reset is passed on by the proxy
                    c.sendall(name + b"\n")
                    while data := c.recv(65536):
                        c.sendall(data)

            threading.Thread(target=handle, daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return lsock


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def _talk(ip: str, port: int, payload: bytes = b"") -> tuple[bytes, bytes]:
    with socket.create_connection((ip, port), timeout=5) as c:
        f = c.makefile("rb")
        name = f.readline().strip()
        echoed = b""
        if payload:
            c.sendall(payload)
            c.shutdown(socket.SHUT_WR)
            echoed = f.read()
        return name, echoed


@pytest.fixture
def backends() -> Iterator[list[tuple[str, int]]]:
    socks = [_serve("127.0.88.1", b"one"), _serve("127.0.88.2", b"two")]
    try:
        yield [(s.getsockname()[0], s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.mark.timeout(30)
class TestProxierOnLoopback:
    def run(self, coro_fn: Any) -> Any:
        return asyncio.run(coro_fn())

    def _objects(self, cluster_ip: str, port: int, eps: list[tuple[str, int]]) -> tuple[Obj, Obj]:
        svc = service(cluster_ip=cluster_ip, ports=[{"name": "p", "port": port, "protocol": "TCP"}])
        endpoints = {"subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "p", "port": p}]} for ip, p in eps]}
        return svc, endpoints

    @pytest.mark.parametrize("splice", [True, False], ids=["splice", "recv-send"])
    def test_relays_and_spreads(self, backends: list[tuple[str, int]], splice: bool, monkeypatch: pytest.MonkeyPatch) -> None:
        """Connections to the ClusterIP reach both backends, bytes echo both ways intact (splice and copy paths)."""
        monkeypatch.setattr(proxier_module, "_HAVE_SPLICE", splice)
        port = _free_port("127.0.89.1")
        svc, eps = self._objects("127.0.89.1", port, backends)

        async def scenario() -> tuple[set[bytes], bytes]:
            proxier = Proxier(node_ip=None)
            proxier.sync([svc], lambda _k: eps)
            loop = asyncio.get_running_loop()
            names = set()
            for _ in range(4):
                name, _ = await loop.run_in_executor(None, _talk, "127.0.89.1", port)
                names.add(name)
            big = bytes(range(256)) * 8192  # 2 MiB
            _, echoed = await loop.run_in_executor(None, _talk, "127.0.89.1", port, big)
            await proxier.close()
            return names, (echoed == big and b"ok") or b"bad"

        names, ok = self.run(scenario)
        assert names == {b"one", b"two"}
        assert ok == b"ok"

    def test_refusing_endpoint_is_skipped(self, backends: list[tuple[str, int]]) -> None:
        """An endpoint that refuses is retried elsewhere: every connection succeeds."""
        port = _free_port("127.0.89.2")
        dead = ("127.0.88.9", _free_port("127.0.88.9"))
        svc, eps = self._objects("127.0.89.2", port, [dead, backends[0]])

        async def scenario() -> tuple[list[bytes], int]:
            proxier = Proxier(node_ip=None)
            proxier.sync([svc], lambda _k: eps)
            loop = asyncio.get_running_loop()
            names = [(await loop.run_in_executor(None, _talk, "127.0.89.2", port))[0] for _ in range(6)]
            await proxier.close()
            return names, proxier.stats.dial_failures

        names, failures = self.run(scenario)
        assert names == [b"one"] * 6
        assert failures >= 1

    def test_listener_follows_service_changes(self, backends: list[tuple[str, int]]) -> None:
        """A removed Service stops accepting; an open connection to another Service keeps working."""
        port_a, port_b = _free_port("127.0.89.3"), _free_port("127.0.89.4")
        svc_a, eps = self._objects("127.0.89.3", port_a, backends[:1])
        svc_b, _ = self._objects("127.0.89.4", port_b, backends[:1])
        svc_b["metadata"]["name"] = "other"

        async def scenario() -> tuple[bytes, bool]:
            proxier = Proxier(node_ip=None)
            proxier.sync([svc_a, svc_b], lambda _k: eps)
            loop = asyncio.get_running_loop()

            def open_conn() -> socket.socket:
                c = socket.create_connection(("127.0.89.3", port_a), timeout=5)
                c.makefile("rb").readline()
                return c

            held = await loop.run_in_executor(None, open_conn)
            proxier.sync([svc_a], lambda _k: eps)  # "other" deleted

            def still_echoes() -> bytes:
                held.sendall(b"ping")
                return held.recv(4)

            echoed = await loop.run_in_executor(None, still_echoes)
            held.close()

            def refused() -> bool:
                try:
                    socket.create_connection(("127.0.89.4", port_b), timeout=2).close()
                    return False
                except ConnectionRefusedError:
                    return True

            gone = await loop.run_in_executor(None, refused)
            await proxier.close()
            return echoed, gone

        echoed, gone = self.run(scenario)
        assert echoed == b"ping"
        assert gone

    def test_client_reset_closes_the_upstream_side(self, backends: list[tuple[str, int]]) -> None:
        """A client that resets an idle connection does not leave the relay waiting on the pod."""
        port = _free_port("127.0.89.6")
        svc, eps = self._objects("127.0.89.6", port, backends[:1])

        async def scenario() -> tuple[int, int]:
            proxier = Proxier(node_ip=None)
            proxier.sync([svc], lambda _k: eps)
            loop = asyncio.get_running_loop()

            def connect_and_reset() -> None:
                c = socket.create_connection(("127.0.89.6", port), timeout=5)
                c.makefile("rb").readline()  # the backend said its name and now waits for us
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()  # RST

            await loop.run_in_executor(None, connect_and_reset)
            await asyncio.sleep(0.05)
            busy = len(proxier._tasks)
            for _ in range(100):
                if not proxier._tasks:
                    break
                await asyncio.sleep(0.02)
            left = len(proxier._tasks)
            await proxier.close()
            return busy, left

        _busy, left = self.run(scenario)
        assert left == 0

    def test_two_proxies_share_a_cluster_ip(self, backends: list[tuple[str, int]]) -> None:
        """Two proxiers (two nodes) bind the same ClusterIP:port; closing one leaves the other serving."""
        port = _free_port("127.0.89.5")
        svc, eps = self._objects("127.0.89.5", port, backends)

        async def scenario() -> list[bytes]:
            one, two = Proxier(node_ip=None), Proxier(node_ip=None)
            one.sync([svc], lambda _k: eps)
            two.sync([svc], lambda _k: eps)
            assert not one.failed and not two.failed
            await one.close()
            loop = asyncio.get_running_loop()
            names = [(await loop.run_in_executor(None, _talk, "127.0.89.5", port))[0] for _ in range(4)]
            await two.close()
            return names

        assert set(self.run(scenario)) == {b"one", b"two"}
