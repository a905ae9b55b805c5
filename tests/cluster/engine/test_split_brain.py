"""Leadership that cannot overlap, against the real control plane.

Two controllers share a Lease. The leader is frozen (SIGSTOP) past its lease
while the standby takes over and releases, or cut off from the API server by a
local TCP proxy that black-holes its traffic. The API server's audit log (the
local control plane audits every write of the admin identity, with each
process' user agent naming its identity) tells who wrote what, and when.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.kube import AuditEvent
from tests.support.scenario import ControllerProcess, Harness
from tests.support.tcpproxy import proxied_kubeconfig
from tests.support.waiting import eventually

LEASE_DURATION, RENEW_DEADLINE = 15.0, 10.0  # the defaults, which these tests keep


@pytest.fixture(autouse=True)
def _audited(harness: Harness) -> None:
    if harness.kube.audit_log is None:
        pytest.skip("needs the local control plane's audit log (not kept by this cluster)")


def writes_by(events: list[AuditEvent], identity: str, namespace: str) -> list[AuditEvent]:
    """``identity``'s writes in the test's ``namespace`` (an earlier test's controllers may
    have had the same identity, in their own namespace)."""
    return [e for e in events if e.agent.endswith(f"({identity})") and e.namespace == namespace]


def synced(controller: ControllerProcess) -> None:
    eventually(controller.metrics, timeout=30, what=f"controller {controller.identity} serving")


def new_stable(harness: Harness, old: str) -> str:
    def probe() -> str | None:
        status = harness.status()
        stable = status.get("stableRevision")
        return stable if stable != old and status.get("phase") == "Healthy" else None

    return eventually(probe, timeout=90, what="the new revision promoted")


def test_a_frozen_leader_resumed_after_a_takeover_writes_nothing_and_exits(
    harness: Harness,
) -> None:
    harness.create_app(replicas=2)
    a = harness.start_controller(identity="a")
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {"duration": "1s"}}])
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    b = harness.start_controller(identity="b")
    synced(b)

    frozen_at = datetime.now(UTC)
    a.proc.send_signal(signal.SIGSTOP)
    harness.set_image("web:v2")
    v2 = new_stable(harness, v1)  # the standby took over and released
    frozen_for = (datetime.now(UTC) - frozen_at).total_seconds()
    if frozen_for < LEASE_DURATION + 2:
        time.sleep(LEASE_DURATION + 2 - frozen_for)

    # While the old leader wakes up there is work it would do: a new template.
    b.proc.send_signal(signal.SIGSTOP)
    harness.set_image("web:v3")
    a.proc.send_signal(signal.SIGCONT)
    try:
        assert a.proc.wait(timeout=20) == 1  # it noticed, and exited non-zero
    finally:
        b.proc.send_signal(signal.SIGCONT)
    v3 = new_stable(harness, v2)  # the standby carries on
    assert v3 not in (v1, v2)

    since = frozen_at - timedelta(seconds=30)
    events = harness.kube.audit(since=since)
    by_a = writes_by(events, "a", harness.namespace)
    by_b = writes_by(events, "b", harness.namespace)
    late = [e for e in by_a if e.received > frozen_at + timedelta(seconds=1)]
    assert late == [], f"the frozen leader wrote after it was frozen: {late}"
    first_b = min(e.received for e in by_b if e.code < 300)
    last_a = max(e.received for e in by_a)
    gap = (first_b - last_a).total_seconds()
    print(f"\nfrozen leader: last write {last_a.time()}, standby's first {first_b.time()}, "
          f"gap {gap:.1f} s; frozen {frozen_for:.1f} s; "
          f"old leader's log: {'Abandoned reconcile' in a.logs()=}")  # fmt: skip
    assert gap > 0


def test_a_leader_cut_off_from_the_api_stops_by_its_deadline_and_the_standby_takes_over(
    harness: Harness, tmp_path: Path
) -> None:
    proxy, proxied = proxied_kubeconfig(
        harness.controller_kubeconfig or harness.kube.kubeconfig, tmp_path / "proxied.kubeconfig"
    )
    try:
        harness.create_app(replicas=2)
        a = harness.start_controller(identity="a", kubeconfig=proxied)
        harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {"duration": "1s"}}])
        v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
        b = harness.start_controller(identity="b")
        synced(b)

        cut_wall, cut = datetime.now(UTC), time.monotonic()
        proxy.blackhole()  # a's requests now hang: no answer, no error
        harness.set_image("web:v2")
        assert a.proc.wait(timeout=RENEW_DEADLINE + 10) == 1
        exited_after = time.monotonic() - cut
        new_stable(harness, v1)
        taken_after = min(
            (e.received - cut_wall).total_seconds()
            for e in writes_by(harness.kube.audit(since=cut_wall), "b", harness.namespace)
            if e.resource == "leases" and e.code < 300
        )
    finally:
        proxy.close()
    print(f"\ncut-off leader exited {exited_after:.1f} s after the cut; "
          f"the standby took the Lease {taken_after:.1f} s after it")  # fmt: skip
    # The leader renewed at most a retry period before the cut: it must be gone
    # by its renew deadline (plus the exit), before the standby could lead.
    assert exited_after <= RENEW_DEADLINE + 2
    assert exited_after < taken_after
