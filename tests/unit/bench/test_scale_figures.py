"""The scale benchmark's arithmetic: percentiles, which Rollout a write belongs to, event →
action latencies and request rates from audit-log writes, /proc readings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from e2e.bench.scale.figures import (
    AuditWrite,
    audit_writes,
    cpu_seconds,
    first_action_latencies,
    percentile,
    rate_by_verb,
    rollout_of,
    rss_mib,
    table,
)

pytestmark = pytest.mark.unit
CTRL = "system:serviceaccount:landinggear-system:landinggear-controller"


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([3.0, 1.0], 99) == 3
    assert percentile([], 50) is None


def test_a_write_belongs_to_the_rollout_its_object_is_named_after() -> None:
    rollouts = ["s-00001", "s-00010"]
    assert rollout_of("s-00001", rollouts) == "s-00001"
    assert rollout_of("s-00010-6d4f8b", rollouts) == "s-00010"
    assert rollout_of("s-00001.18a2c3", rollouts) == "s-00001"
    assert rollout_of("s-00011-6d4f8b", rollouts) is None


def test_event_to_action_is_the_first_controller_write_after_the_release() -> None:
    writes = [
        AuditWrite(at=9.0, user=CTRL, verb="update", resource="rollouts/status", name="s-00001"),
        AuditWrite(at=10.5, user=CTRL, verb="update", resource="leases", name="s-00001"),
        AuditWrite(at=10.7, user="admin", verb="patch", resource="deployments", name="s-00001"),
        AuditWrite(at=11.0, user=CTRL, verb="create", resource="replicasets", name="s-00001-ab"),
        AuditWrite(at=12.0, user=CTRL, verb="update", resource="rollouts/status", name="s-00001"),
    ]
    assert first_action_latencies({"s-00001": 10.0, "s-00002": 10.0}, writes, user=CTRL) == {
        "s-00001": 1.0
    }


def test_rates_count_the_users_writes_in_the_window_by_verb() -> None:
    writes = [
        AuditWrite(at=t, user=CTRL, verb=v, resource=r, name="x")
        for t, v, r in [(0.5, "create", "events"), (1.0, "create", "replicasets"),
                        (2.0, "update", "rollouts/status"), (2.5, "update", "leases"),
                        (4.0, "update", "rollouts/status")]
    ]  # fmt: skip
    assert rate_by_verb(writes, user=CTRL, start=1.0, end=3.0) == {"create": 0.5, "update": 0.5}


def test_audit_writes_reads_the_namespace_from_an_offset(tmp_path: Path) -> None:
    def line(ns: str, name: str, sub: str = "") -> str:
        ref = {"namespace": ns, "resource": "rollouts", "name": name, "subresource": sub}
        stamp = "2026-11-30T10:00:00.250000Z"
        user = {"username": CTRL}
        return json.dumps(
            {"requestReceivedTimestamp": stamp, "user": user, "verb": "update", "objectRef": ref}
        )

    path = tmp_path / "audit.log"
    first = line("a", "before") + "\n"
    path.write_text(first + line("a", "r", "status") + "\n" + line("b", "other") + '\n{"trunc')
    (write,) = audit_writes(path, namespace="a", offset=len(first))
    assert (write.name, write.resource, write.verb) == ("r", "rollouts/status", "update")
    assert write.at % 1 == pytest.approx(0.25)


def test_this_process_has_a_resident_set_and_cpu_time() -> None:
    sum(range(2_000_000))
    assert 5 < rss_mib(os.getpid()) < 4096
    assert cpu_seconds(os.getpid()) > 0


def test_the_table_says_not_measured_for_null() -> None:
    printed = table([{"rollouts": 100, "rss_mib": 74.4, "api_rps": None, "by": {"create": 1.0}}])
    assert "n/m" in printed
    assert "74.4" in printed
    assert "create 1" in printed
