"""Pod sandbox files and names (kubelet.sandbox): what a pod's /etc/hosts,
/etc/hostname and /etc/resolv.conf say, as the kubelet writes them."""

from __future__ import annotations

from typing import Any

import pytest

from kubelet.sandbox import PodDns, fabric_name, hostname_of, pod_files, resolv_conf

DNS = PodDns("127.96.0.10", "cluster.local")
HOST_RESOLV = "# generated\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch corp.example\noptions edns0 timeout:2\n"


def pod(name: str = "web-1", ns: str = "shop", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"containers": [], **spec}}


def test_cluster_first() -> None:
    assert resolv_conf({}, "shop", DNS, HOST_RESOLV) == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.96.0.10\noptions ndots:5\n")


def test_default_is_the_nodes() -> None:
    assert resolv_conf({"dnsPolicy": "Default"}, "shop", DNS, HOST_RESOLV) == (
        "search corp.example\nnameserver 10.0.0.2\nnameserver 10.0.0.3\noptions edns0 timeout:2\n")


def test_host_network_cluster_first_is_default_unless_with_host_net() -> None:
    assert "10.0.0.2" in resolv_conf({"hostNetwork": True}, "shop", DNS, HOST_RESOLV)
    assert "127.96.0.10" in resolv_conf({"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"}, "shop", DNS,
                                        HOST_RESOLV)


def test_none_takes_dns_config_alone_and_cluster_first_merges_it() -> None:
    config = {"nameservers": ["1.1.1.1"], "searches": ["a.test"], "options": [{"name": "ndots", "value": "2"},
                                                                               {"name": "rotate"}]}
    assert resolv_conf({"dnsPolicy": "None", "dnsConfig": config}, "x", DNS, HOST_RESOLV) == (
        "search a.test\nnameserver 1.1.1.1\noptions ndots:2 rotate\n")
    merged = resolv_conf({"dnsConfig": config}, "x", DNS, HOST_RESOLV)
    assert merged == ("search x.svc.cluster.local svc.cluster.local cluster.local a.test\n"
                      "nameserver 127.96.0.10\nnameserver 1.1.1.1\noptions ndots:2 rotate\n")


def test_no_cluster_dns_falls_back_to_the_nodes() -> None:
    assert resolv_conf({}, "x", PodDns(""), HOST_RESOLV).startswith("search corp.example\nnameserver 10.0.0.2\n")


def test_hosts_and_hostname() -> None:
    files = pod_files(pod(hostname="box", subdomain="sub", hostAliases=[{"ip": "127.1.2.3", "hostnames": ["a", "b"]}]),
                      "127.244.1.5", DNS, HOST_RESOLV)
    assert files["/etc/hostname"] == "box\n"
    hosts = files["/etc/hosts"]
    assert hosts.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost")
    assert "127.244.1.5\tbox.sub.shop.svc.cluster.local\tbox\n" in hosts
    assert hosts.endswith("\n# Entries added by HostAliases.\n127.1.2.3\ta\tb\n")
    plain = pod_files(pod(), "127.244.1.6", DNS, HOST_RESOLV)["/etc/hosts"]
    assert plain.endswith("127.244.1.6\tweb-1\n")


@pytest.mark.parametrize(("name", "expected"), [("a" * 70, "a" * 63), ("x" * 62 + "-y", "x" * 62)])
def test_hostname_is_cut_to_63(name: str, expected: str) -> None:
    assert hostname_of(pod(name)) == expected


def test_fabric_names_fit_a_device_name() -> None:
    names = {fabric_name(f"/tmp/cluster-{i}") for i in range(100)}
    assert len(names) == 100 and all(len(n) <= 15 and n.startswith("kemu-") for n in names)
