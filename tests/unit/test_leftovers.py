"""Which command lines are a cluster's components (kemu.leftovers): by its
data dir or its apiserver address, never by a name alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from kemu.leftovers import addresses, belongs, component_name

PY = "/usr/bin/python3"
ROOT = Path("/tmp/kemu-test-cluster")
ADDRESSES = {"tcp://127.0.0.1:7100", "tcp://127.0.0.1:7101"}


class TestComponentName:
    @pytest.mark.parametrize(("argv", "name"), [
        ([PY, "-m", "kubelet", "--server", "tcp://127.0.0.1:7100", "--node", "node-2"], "kubelet-node-2"),
        ([PY, "-m", "kubeproxy", "--node=node-3"], "kubeproxy-node-3"),
        ([PY, "-m", "apiserver", "--data-dir", "/x"], "apiserver"),
        ([PY, "-m", "apiserver.http", "--server", "tcp://127.0.0.1:7100"], "http"),
        ([PY, "-m", "clusterdns"], "dns"),
        ([PY, "-m", "scheduler"], "scheduler"),
        ([PY, "-m", "controllermanager"], "controllermanager"),
    ])
    def test_components_are_named_as_in_cluster_json(self, argv: list[str], name: str) -> None:
        """The process name is the one kemu up records."""
        assert component_name(argv) == name

    @pytest.mark.parametrize("argv", [
        [PY, "-m", "pytest", str(ROOT)],
        [PY, "-c", "import kubelet"],
        ["/usr/bin/kubelet", "--root-dir", str(ROOT)],
        [PY, "-m"],
    ])
    def test_anything_else_is_not_a_component(self, argv: list[str]) -> None:
        """A test, a script or a real kubelet binary is never a kemu component."""
        assert component_name(argv) is None


class TestBelongs:
    def test_a_path_under_the_data_dir_belongs(self) -> None:
        """--root-dir <data-dir>/nodes/node-2 names this cluster."""
        assert belongs([PY, "-m", "kubelet", "--root-dir", str(ROOT / "nodes" / "node-2")], ROOT, set())
        assert belongs([PY, "-m", "apiserver", f"--data-dir={ROOT / 'apiserver'}"], ROOT, set())

    def test_a_sibling_dir_with_the_same_prefix_does_not(self) -> None:
        """/tmp/kemu-test-cluster2 is another cluster's dir."""
        assert not belongs([PY, "-m", "kubelet", "--root-dir", f"{ROOT}2/nodes/node-2"], ROOT, set())

    def test_the_apiserver_address_belongs(self) -> None:
        """--server or --listen of this cluster's apiserver names it; another port does not."""
        assert belongs([PY, "-m", "scheduler", "--server", "tcp://127.0.0.1:7100"], ROOT, ADDRESSES)
        assert belongs([PY, "-m", "apiserver", "--watch-listen=tcp://127.0.0.1:7101"], ROOT, ADDRESSES)
        assert not belongs([PY, "-m", "scheduler", "--server", "tcp://127.0.0.1:7200"], ROOT, ADDRESSES)

    def test_addresses_come_from_cluster_json(self) -> None:
        """The request address and the watch address next to it."""
        assert addresses("tcp://127.0.0.1:7100", {"api_port": 7100, "bind_host": "127.0.0.1"}) == ADDRESSES
