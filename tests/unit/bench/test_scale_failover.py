"""The sharded scale benchmark's reading of the audit log: who wrote for which Rollout."""

from __future__ import annotations

import pytest

from e2e.bench.scale.failover import _identity, _writers
from e2e.bench.scale.figures import AuditWrite
from e2e.localcluster.controlplane import CONTROLLER_USER

pytestmark = pytest.mark.unit


def write(
    name: str, agent: str, *, resource: str = "rollouts", user: str = CONTROLLER_USER
) -> AuditWrite:
    return AuditWrite(1.0, user, "update", resource, name, agent)


def test_the_identity_is_the_user_agents_parenthesis() -> None:
    assert _identity("landinggear/0.1.0 (scale-bench-1)") == "scale-bench-1"
    assert _identity("kubectl/v1.31") == ""


def test_writes_belong_to_the_rollout_their_object_is_named_after() -> None:
    names = ["s-00001", "s-00010"]
    writes = [
        write("s-00001", "lg (a)"),
        write("s-00001-7f9c", "lg (b)", resource="replicasets"),
        write("s-00010.18a2", "lg (a)", resource="events"),
        write("s-00010", "lg (b)", resource="leases"),  # a Lease: not a Rollout's write
        write("s-00010", "kubectl", user="admin"),  # not the controller
    ]
    assert _writers(writes, names) == {"s-00001": {"a", "b"}, "s-00010": {"a"}}
