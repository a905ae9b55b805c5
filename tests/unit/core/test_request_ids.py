"""A request whose id the status could not keep is refused once, with a Warning Event,
instead of wedging every status write (``handledRequests`` values are at most 128
characters in the CRD)."""

from __future__ import annotations

from typing import Any

from controller.api.reasons import EventReason, EventType
from controller.api.v1alpha1 import MAX_REQUEST_ID
from controller.core.world import Verb
from tests.unit.core.sim import Sim

STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {}}]


def paused_canary() -> Sim:
    sim = Sim(steps=STEPS)
    sim.settle()
    sim.set_image("web:v2")
    sim.settle(rounds=3)
    assert sim.status.current_step_index == 1
    return sim


def test_an_over_long_request_id_is_refused_once_with_a_warning_and_the_status_stays_valid() -> (
    None
):
    sim = paused_canary()
    stable = sim.status.stable_revision
    sim.request(Verb.PROMOTE, full=True, request_id="x" * (MAX_REQUEST_ID + 1))

    decision = sim.reconcile()

    assert sim.status.stable_revision == stable  # not promoted
    kept = sim.status.handled_requests["promote"]
    assert kept.startswith("sha256:")
    assert len(kept) <= MAX_REQUEST_ID
    [event] = [e for e in decision.events if e.reason == EventReason.REQUEST_IGNORED]
    assert event.type == EventType.WARNING
    assert event.message == (
        "promote by alice refused: its id is 129 characters long, at most 128 are allowed; "
        "request it again with the landinggear CLI"
    )
    again = sim.reconcile()
    assert not [e for e in again.events if e.reason == EventReason.REQUEST_IGNORED]


def test_a_request_id_of_the_maximum_length_is_acted_on() -> None:
    sim = paused_canary()
    request_id = "y" * MAX_REQUEST_ID
    sim.request(Verb.PROMOTE, full=True, request_id=request_id)
    sim.settle(rounds=3)
    assert sim.status.stable_revision == sim.revision
    assert sim.status.handled_requests["promote"] == request_id
