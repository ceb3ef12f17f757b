"""The front door's verdict on its apiserver, and its health reports (apiserver.http.backend)."""

from __future__ import annotations

from apiserver.http.backend import BackendHealth, Check, health_report
from kemu.client import Client


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _health(clock: FakeClock) -> BackendHealth:
    return BackendHealth(Client("ipc:///nowhere/api.sock"), interval=1.0, grace=2.5, clock=clock)


class TestBackendHealth:
    def test_one_failed_ping_is_not_down(self) -> None:
        """A single slow ping inside the grace period leaves requests flowing."""
        clock = FakeClock()
        health = _health(clock)
        clock.now += 1.0
        health.observe(False, "timeout")
        assert health.available

    def test_silence_longer_than_grace_is_down(self) -> None:
        """No successful ping for the grace period makes the backend down, with its reason."""
        clock = FakeClock()
        health = _health(clock)
        clock.now += 2.6
        health.observe(False, "the server at x did not answer ping within 1s")
        assert not health.available
        assert health.check() == Check("apiserver", "the server at x did not answer ping within 1s")

    def test_one_answer_brings_it_back(self) -> None:
        """The first successful ping after an outage makes it available again."""
        clock = FakeClock()
        health = _health(clock)
        clock.now += 5
        health.observe(False, "gone")
        health.observe(True)
        assert health.available and health.confirmed
        assert health.check() == Check("apiserver")

    def test_unavailable_is_a_503_naming_the_address(self) -> None:
        """The error a request gets is ServiceUnavailable and names the backend."""
        clock = FakeClock()
        health = _health(clock)
        clock.now += 4
        health.observe(False, "gone")
        status = health.unavailable().status
        assert (status["code"], status["reason"]) == (503, "ServiceUnavailable")
        assert "ipc:///nowhere/api.sock is not answering (no answer for 4s)" in status["message"]


class TestHealthReport:
    def test_passing_is_ok_unless_verbose(self) -> None:
        """kube-apiserver answers a bare "ok", and the check lines with ?verbose."""
        checks = [Check("ping"), Check("apiserver")]
        assert health_report("readyz", checks, verbose=False) == (200, "ok")
        assert health_report("readyz", checks, verbose=True) == (
            200, "[+]ping ok\n[+]apiserver ok\nreadyz check passed\n")

    def test_failing_withholds_the_reason(self) -> None:
        """A failed check is listed with "reason withheld", verbose or not, with a 500."""
        checks = [Check("ping"), Check("apiserver", "secret detail")]
        expected = (500, "[+]ping ok\n[-]apiserver failed: reason withheld\nreadyz check failed\n")
        assert health_report("readyz", checks, verbose=False) == expected
        assert health_report("readyz", checks, verbose=True) == expected

    def test_excluded_check_does_not_fail(self) -> None:
        """?exclude=apiserver skips the failing check, as kube-apiserver does."""
        checks = [Check("ping"), Check("apiserver", "gone")]
        assert health_report("readyz", checks, verbose=True, exclude=["apiserver"]) == (
            200, "[+]ping ok\n[+]apiserver excluded: ok\nreadyz check passed\n")
