"""What makes a controller process unhealthy (``/healthz``): checked on a real
``Manager`` built from a kubeconfig that points nowhere (nothing connects until
it runs)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from controller.kube.objects import ObjectKey
from controller.manager import Manager
from controller.settings import Settings
from tests.support.waiting import eventually

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.fixture
def manager(tmp_path: Path) -> Manager:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return Manager(Settings(kubeconfig=str(path), leader_elect=False))


def test_a_manager_whose_loops_do_not_run_says_which(manager: Manager) -> None:
    assert manager.problems() == [
        "informer rollouts.v1alpha1.landinggear.dev is not running",
        "informer deployments.v1.apps is not running",
        "informer replicasets.v1.apps is not running",
        "the measurements' event loop is not running",
    ]


def test_a_reconcile_running_too_long_is_reported_stuck(manager: Manager) -> None:
    manager.measurer.start()
    try:
        now = time.monotonic()
        stuck_since = now - manager.settings.stuck_after - 5
        manager.busy_since = {"worker-3": stuck_since, "worker-4": now - 1}
        stuck = [p for p in manager.problems() if "worker" in p]
        assert len(stuck) == 1
        assert stuck[0].startswith("worker-3 has been in one reconcile for 30")
    finally:
        manager.measurer.stop()


class _Died(BaseException):
    """Escapes the worker's ``except Exception`` (as SystemExit would): the thread dies."""


def test_a_worker_thread_that_died_is_reported_while_the_process_works(manager: Manager) -> None:
    def reconcile(key: ObjectKey) -> None:
        raise _Died(key)

    manager.measurer.start()
    manager.reconciler.reconcile = reconcile  # type: ignore[method-assign,assignment]
    manager.settings = manager.settings.model_copy(update={"workers": 2})
    original_hook = threading.excepthook
    threading.excepthook = lambda args: None  # the death is the point: keep pytest quiet
    try:
        manager.start_workers()
        assert [p for p in manager.problems() if "worker" in p] == []
        manager.queue.add(ObjectKey("shop", "web"))
        eventually(
            lambda: [p for p in manager.problems() if "worker" in p],
            timeout=10,
            what="the dead worker reported",
        )
        (dead,) = [p for p in manager.problems() if "worker" in p]
        assert dead.endswith(" is not running")
        manager.stop_workers(timeout=5)
        assert [p for p in manager.problems() if "worker" in p] == []  # stopped: not a fault
    finally:
        threading.excepthook = original_hook
        manager.measurer.stop()
