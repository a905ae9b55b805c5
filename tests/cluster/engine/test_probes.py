"""``/readyz`` and ``/healthz`` of a real controller process, whose traffic to the
real API server goes through a loopback TCP proxy the test can black-hole.

Black-holed, every request hangs (no answer, no error): until the caches have
synced the controller is not ready; once a reconcile hangs on a write longer
than ``--stuck-after`` the process is unhealthy, and it recovers once the API
server answers again.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tests.support.scenario import ControllerProcess, Harness
from tests.support.tcpproxy import TcpProxy
from tests.support.waiting import eventually


@pytest.fixture
def proxy(harness: Harness) -> Iterator[TcpProxy]:
    config = yaml.safe_load(harness.kube.kubeconfig.read_text())
    server = urlparse(config["clusters"][0]["cluster"]["server"])
    tcp = TcpProxy((server.hostname or "127.0.0.1", server.port or 443))
    yield tcp
    tcp.close()


def proxied_kubeconfig(harness: Harness, proxy: TcpProxy, tmp_path: Path) -> Path:
    config = yaml.safe_load(harness.kube.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    path = tmp_path / "proxied.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def probe(controller: ControllerProcess, endpoint: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{controller.metrics_port}/{endpoint}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode()


def serving(controller: ControllerProcess) -> bool:
    try:
        probe(controller, "healthz")
    except OSError:
        return False
    return True


def test_not_ready_until_the_caches_have_synced(
    harness: Harness, proxy: TcpProxy, tmp_path: Path
) -> None:
    proxy.blackhole()  # the first lists hang
    controller = harness.start_controller(
        kubeconfig=proxied_kubeconfig(harness, proxy, tmp_path), extra=("--no-leader-elect",)
    )
    eventually(lambda: serving(controller), timeout=20, what="the probes served")

    assert probe(controller, "readyz") == (503, "not ready: the caches have not synced\n")
    assert probe(controller, "healthz") == (200, "ok\n")  # waiting is not a fault

    proxy.heal()
    eventually(lambda: probe(controller, "readyz")[0] == 200, timeout=30, what="ready")
    assert probe(controller, "healthz") == (200, "ok\n")


def test_unhealthy_while_a_reconcile_hangs_and_healthy_again_after(
    harness: Harness, proxy: TcpProxy, tmp_path: Path
) -> None:
    harness.create_app(replicas=2)
    controller = harness.start_controller(
        kubeconfig=proxied_kubeconfig(harness, proxy, tmp_path),
        extra=("--no-leader-elect", "--stuck-after=2"),
    )
    harness.create_rollout(
        steps=[{"setWeight": 50}, {"pause": {"duration": "4s"}}, {"setWeight": 100}]
    )
    harness.wait_status("adopted", phase="Healthy")
    harness.set_image("web:v2")
    harness.wait_status("pausing", currentStepIndex=1, timeout=30)
    assert probe(controller, "healthz") == (200, "ok\n")

    proxy.blackhole()  # the reconcile at the pause's end hangs on its first write

    def stuck() -> str | None:
        code, text = probe(controller, "healthz")
        return text if code == 503 else None

    text = eventually(stuck, timeout=20, what="/healthz failing")
    assert "has been in one reconcile for" in text
    assert probe(controller, "readyz")[0] == 200  # the caches are still there

    proxy.heal()
    eventually(lambda: probe(controller, "healthz") == (200, "ok\n"), timeout=30, what="healthy")
    harness.wait_status("past the pause", currentStepIndex=2, timeout=60)
