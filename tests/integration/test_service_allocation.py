"""ClusterIP and NodePort allocation by the apiserver."""

from __future__ import annotations

import pytest

from kemu.api.errors import ApiError
from kemu.client import Client
from kemu.testing import ApiServerProcess

pytestmark = pytest.mark.timeout(60)


def svc(name: str, **spec: object) -> dict:
    body = {"selector": {"app": name}, "ports": [{"port": 80}], **spec}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


class TestAllocation:
    def test_cluster_ips_are_distinct_and_in_range(self, client: Client) -> None:
        """Each Service gets its own ClusterIP from 127.96.0.0/16."""
        ips = {client.create(svc(f"s{i}"))["spec"]["clusterIP"] for i in range(5)}
        assert len(ips) == 5
        assert all(ip.startswith("127.96.") for ip in ips)

    def test_requested_ip_taken_is_refused(self, client: Client) -> None:
        """A requested ClusterIP already in use is a 422 in Kubernetes' words."""
        client.create(svc("a", clusterIP="127.96.1.1"))
        with pytest.raises(ApiError) as exc:
            client.create(svc("b", clusterIP="127.96.1.1"))
        assert exc.value.code == 422
        assert "provided IP is already allocated" in exc.value.message

    def test_requested_ip_out_of_range_is_refused(self, client: Client) -> None:
        """A ClusterIP outside the service range is refused, naming the range."""
        with pytest.raises(ApiError) as exc:
            client.create(svc("b", clusterIP="127.0.0.55"))
        assert exc.value.code == 422
        assert "The range of valid IPs is 127.96.0.0/16" in exc.value.message

    def test_headless_gets_no_ip(self, client: Client) -> None:
        """clusterIP: None stays None."""
        assert client.create(svc("h", clusterIP="None"))["spec"]["clusterIP"] == "None"

    def test_node_ports_are_allocated_and_released(self, client: Client) -> None:
        """A NodePort service gets a port in range; deleting it frees the port."""
        first = client.create(svc("np", type="NodePort"))
        port = first["spec"]["ports"][0]["nodePort"]
        assert 30000 <= port <= 32767
        with pytest.raises(ApiError) as exc:
            client.create(svc("np2", type="NodePort", ports=[{"port": 80, "nodePort": port}]))
        assert "provided port is already allocated" in exc.value.message
        client.delete("Service", "np")
        again = client.create(svc("np2", type="NodePort", ports=[{"port": 80, "nodePort": port}]))
        assert again["spec"]["ports"][0]["nodePort"] == port

    def test_update_keeps_allocation(self, client: Client) -> None:
        """A PUT that omits clusterIP keeps the allocated one."""
        created = client.create(svc("keep"))
        body = dict(created)
        body["spec"] = {k: v for k, v in created["spec"].items() if k not in ("clusterIP", "clusterIPs")}
        assert client.update(body)["spec"]["clusterIP"] == created["spec"]["clusterIP"]

    def test_allocation_survives_restart(self, apiserver: ApiServerProcess, client: Client) -> None:
        """After a restart, an allocated IP is still taken."""
        ip = client.create(svc("persist"))["spec"]["clusterIP"]
        apiserver.stop()
        apiserver.start()
        with pytest.raises(ApiError):
            client.create(svc("other", clusterIP=ip))
