"""Cluster DNS naming rules against a fake cluster view: A, SRV, pod and
reverse records, NODATA, NXDOMAIN and REFUSED — pure, no sockets; the last
class packs and parses real DNS messages with dnslib."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dnslib import QTYPE, RCODE, DNSRecord  # type: ignore[import-untyped]

from clusterdns.records import Record, dashed_ip, resolve
from clusterdns.server import answer_packet
from kemu.types import Obj


class FakeView:
    def __init__(self, services: list[Obj], endpoints: list[Obj], pods: list[Obj] | None = None) -> None:
        self.svcs = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in services}
        self.eps = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in endpoints}
        self.pods = pods

    def service(self, namespace: str, name: str) -> Obj | None:
        return self.svcs.get((namespace, name))

    def endpoints(self, namespace: str, name: str) -> Obj | None:
        return self.eps.get((namespace, name))

    def services_by_ip(self, ip: str) -> Sequence[Obj]:
        return [s for s in self.svcs.values() if s["spec"].get("clusterIP") == ip]

    def endpoints_by_ip(self, ip: str) -> Sequence[Obj]:
        return [e for e in self.eps.values() if any(a["ip"] == ip for s in e.get("subsets", []) for a in s.get("addresses", []))]

    def pod_ip_exists(self, namespace: str, ip: str) -> bool | None:
        if self.pods is None:
            return None
        return any(p["metadata"]["namespace"] == namespace and p["status"]["podIP"] == ip for p in self.pods)


def svc(name: str, cluster_ip: str, ports: list[Obj] | None = None, **spec: Any) -> Obj:
    return {
        "metadata": {"namespace": "default", "name": name},
        "spec": {"clusterIP": cluster_ip, "ports": ports or [{"name": "http", "port": 80, "protocol": "TCP"}], **spec},
    }


def eps(name: str, addresses: list[Obj], ports: list[Obj] | None = None) -> Obj:
    return {
        "metadata": {"namespace": "default", "name": name},
        "subsets": [{"addresses": addresses, "ports": ports or [{"name": "http", "port": 8080, "protocol": "TCP"}]}],
    }


VIEW = FakeView(
    [
        svc("web", "127.96.0.11"),
        svc("db", "None"),
        svc("ext", "", type="ExternalName", externalName="example.com"),
    ],
    [
        eps("web", [{"ip": "127.244.1.2"}, {"ip": "127.244.2.2"}]),
        eps("db", [{"ip": "127.244.1.3", "hostname": "db-0"}, {"ip": "127.244.2.3"}]),
    ],
)


def data(answer_records: list[Record]) -> list[tuple[Any, ...]]:
    return [r.data for r in answer_records]


class TestServiceRecords:
    def test_cluster_ip_a(self) -> None:
        """<svc>.<ns>.svc.cluster.local is the ClusterIP."""
        answer = resolve(VIEW, "web.default.svc.cluster.local.", "A")
        assert answer.rcode == "NOERROR"
        assert data(answer.answers) == [("127.96.0.11",)]

    def test_case_insensitive(self) -> None:
        """Names match whatever their case."""
        assert data(resolve(VIEW, "WEB.Default.SVC.cluster.local", "A").answers) == [("127.96.0.11",)]

    def test_headless_a_lists_ready_endpoints(self) -> None:
        """A headless Service answers with its ready endpoints' IPs."""
        assert data(resolve(VIEW, "db.default.svc.cluster.local", "A").answers) == [("127.244.1.3",), ("127.244.2.3",)]

    def test_headless_endpoint_hostname(self) -> None:
        """<hostname>.<svc>... and the dashed-IP form name one endpoint of a headless Service."""
        assert data(resolve(VIEW, "db-0.db.default.svc.cluster.local", "A").answers) == [("127.244.1.3",)]
        assert data(resolve(VIEW, "127-244-2-3.db.default.svc.cluster.local", "A").answers) == [("127.244.2.3",)]

    def test_external_name_cname(self) -> None:
        """An ExternalName Service is a CNAME."""
        answer = resolve(VIEW, "ext.default.svc.cluster.local", "A")
        assert [(r.rtype, r.data) for r in answer.answers] == [("CNAME", ("example.com",))]

    def test_aaaa_is_nodata(self) -> None:
        """An AAAA question for a Service is NOERROR with no answer and the SOA."""
        answer = resolve(VIEW, "web.default.svc.cluster.local", "AAAA")
        assert (answer.rcode, answer.answers) == ("NOERROR", [])
        assert [r.rtype for r in answer.authority] == ["SOA"]

    def test_unknown_service_nxdomain(self) -> None:
        """A Service that does not exist is NXDOMAIN."""
        assert resolve(VIEW, "nope.default.svc.cluster.local", "A").rcode == "NXDOMAIN"
        assert resolve(VIEW, "web.other.svc.cluster.local", "A").rcode == "NXDOMAIN"

    def test_structural_names_exist(self) -> None:
        """svc.cluster.local and <ns>.svc.cluster.local exist (NODATA, not NXDOMAIN)."""
        assert resolve(VIEW, "svc.cluster.local", "A").rcode == "NOERROR"
        assert resolve(VIEW, "default.svc.cluster.local", "A").rcode == "NOERROR"


class TestSRV:
    def test_cluster_ip_srv(self) -> None:
        """_<port>._<proto>.<svc>... points at the Service name and port, with its A record."""
        answer = resolve(VIEW, "_http._tcp.web.default.svc.cluster.local", "SRV")
        assert data(answer.answers) == [(0, 100, 80, "web.default.svc.cluster.local")]
        assert data(answer.additional) == [("127.96.0.11",)]

    def test_headless_srv_per_endpoint(self) -> None:
        """A headless Service has one SRV per ready endpoint, at the endpoint's port."""
        answer = resolve(VIEW, "_http._tcp.db.default.svc.cluster.local", "SRV")
        assert data(answer.answers) == [
            (0, 50, 8080, "db-0.db.default.svc.cluster.local"),
            (0, 50, 8080, "127-244-2-3.db.default.svc.cluster.local"),
        ]

    def test_unknown_port_or_protocol(self) -> None:
        """A port the Service does not have is NXDOMAIN."""
        assert resolve(VIEW, "_grpc._tcp.web.default.svc.cluster.local", "SRV").rcode == "NXDOMAIN"
        assert resolve(VIEW, "_http._udp.web.default.svc.cluster.local", "SRV").rcode == "NXDOMAIN"


class TestPodsAndReverse:
    def test_pod_record_insecure(self) -> None:
        """<a-b-c-d>.<ns>.pod.cluster.local is a.b.c.d."""
        assert data(resolve(VIEW, "127-244-1-2.default.pod.cluster.local", "A").answers) == [("127.244.1.2",)]

    def test_pod_record_verified(self) -> None:
        """In verified mode only an existing pod's IP in that namespace answers."""
        view = FakeView([], [], pods=[{"metadata": {"namespace": "default"}, "status": {"podIP": "127.244.1.2"}}])
        assert resolve(view, "127-244-1-2.default.pod.cluster.local", "A", pods="verified").rcode == "NOERROR"
        assert resolve(view, "127-244-1-9.default.pod.cluster.local", "A", pods="verified").rcode == "NXDOMAIN"

    def test_bad_pod_label(self) -> None:
        """A pod label that is not a dashed IPv4 address is NXDOMAIN."""
        assert resolve(VIEW, "web.default.pod.cluster.local", "A").rcode == "NXDOMAIN"

    def test_reverse_of_cluster_ip(self) -> None:
        """The ClusterIP's PTR is the Service name."""
        answer = resolve(VIEW, "11.0.96.127.in-addr.arpa", "PTR")
        assert data(answer.answers) == [("web.default.svc.cluster.local",)]

    def test_dashed_ip(self) -> None:
        """Dots become dashes."""
        assert dashed_ip("127.0.0.1") == "127-0-0-1"


class TestOutsideTheCluster:
    def test_refused(self) -> None:
        """Names outside the cluster domain are REFUSED: kemu forwards nothing."""
        assert resolve(VIEW, "example.com", "A").rcode == "REFUSED"
        assert resolve(VIEW, "cluster.local.evil.com", "A").rcode == "REFUSED"

    def test_zone_soa(self) -> None:
        """The zone apex has an SOA."""
        assert [r.rtype for r in resolve(VIEW, "cluster.local", "SOA").answers] == ["SOA"]


def _ask(name: str, qtype: str, *, udp: bool = True) -> DNSRecord:
    packet, _, _, _ = answer_packet(DNSRecord.question(name, qtype).pack(), lambda n, t: resolve(VIEW, n, t), udp=udp)
    assert packet is not None
    return DNSRecord.parse(packet)


class TestWire:
    def test_a_answer_packet(self) -> None:
        """A query packet gets an authoritative answer packet with the A record."""
        reply = _ask("web.default.svc.cluster.local", "A")
        assert reply.header.aa == 1
        assert [str(rr.rdata) for rr in reply.rr] == ["127.96.0.11"]

    def test_nxdomain_packet_has_soa(self) -> None:
        """NXDOMAIN carries the SOA in the authority section."""
        reply = _ask("nope.default.svc.cluster.local", "A")
        assert reply.header.rcode == RCODE.NXDOMAIN
        assert [QTYPE[rr.rtype] for rr in reply.auth] == ["SOA"]

    def test_srv_packet(self) -> None:
        """SRV answers carry port and target, and the target's A as additional."""
        reply = _ask("_http._tcp.web.default.svc.cluster.local", "SRV")
        assert [(rr.rdata.port, str(rr.rdata.target)) for rr in reply.rr] == [(80, "web.default.svc.cluster.local.")]
        assert [str(rr.rdata) for rr in reply.ar] == ["127.96.0.11"]

    def test_garbage_is_not_fatal(self) -> None:
        """Malformed bytes are dropped or answered FORMERR, never raised."""
        _, _, _, rcode = answer_packet(b"\x12\x34" + b"\xff" * 20, lambda n, t: resolve(VIEW, n, t), udp=True)
        assert rcode in ("FORMERR", "DROPPED")
        assert answer_packet(b"\x01", lambda n, t: resolve(VIEW, n, t), udp=True)[0] is None

    def test_large_udp_answer_truncated(self) -> None:
        """An answer over 512 bytes on UDP is sent with TC set (the client retries on TCP)."""
        many = FakeView([svc("big", "None")], [eps("big", [{"ip": f"127.244.1.{i}"} for i in range(1, 60)])])
        query = DNSRecord.question("big.default.svc.cluster.local", "A").pack()
        udp, _, _, _ = answer_packet(query, lambda n, t: resolve(many, n, t), udp=True)
        tcp, _, _, _ = answer_packet(query, lambda n, t: resolve(many, n, t), udp=False)
        assert udp is not None and tcp is not None
        assert DNSRecord.parse(udp).header.tc == 1
        assert len(DNSRecord.parse(tcp).rr) == 59
