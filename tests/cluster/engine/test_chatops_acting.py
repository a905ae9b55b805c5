"""Chat commands carried out on the real API server by :class:`controller.chatops.acting.Actor`,
with a real controller process: the person's rights are checked with a
SubjectAccessReview against real RBAC, refusals change nothing and leave a
Warning Event, and a hundred simultaneous clicks make exactly one abort."""

from __future__ import annotations

import threading
import time

from controller.chatops.acting import Actor, Outcome
from controller.chatops.commands import Command, Verb
from controller.chatops.identities import Identity
from tests.support.chatops import chatops_events, grant_oncall, paused_canary
from tests.support.scenario import Harness
from tests.support.waiting import eventually

ALICE = Identity(user="alice", groups=("payments-oncall",))
BOB = Identity(user="bob")


def _command(harness: Harness, verb: Verb, reason: str = "") -> Command:
    return Command(verb=verb, namespace=harness.namespace, rollout="web", reason=reason)


def test_only_people_the_cluster_authorises_act_and_a_refusal_changes_nothing(
    harness: Harness,
) -> None:
    grant_oncall(harness)
    stable = paused_canary(harness)
    actor = Actor(harness.kube.api(), instance="test")
    before = harness.rollout()["metadata"].get("annotations") or {}

    unmapped = actor.act(_command(harness, Verb.ABORT), None, who="slack:mallory")
    assert not unmapped.done
    assert "not mapped to a Kubernetes user" in unmapped.text
    refused = actor.act(_command(harness, Verb.ABORT), BOB, who="slack:bob")
    assert not refused.done
    assert "may not patch rollout" in refused.text
    assert (harness.rollout()["metadata"].get("annotations") or {}) == before
    warnings = [e for e in chatops_events(harness) if e.type == "Warning"]
    assert {e.reason for e in warnings} == {"AbortRefused"}
    assert any("slack:bob" in e.note and "bob may not patch" in e.note for e in warnings)

    status = actor.act(_command(harness, Verb.STATUS), BOB, who="slack:bob")
    assert not status.done  # bob may not even read it
    shown = actor.act(_command(harness, Verb.STATUS), ALICE, who="slack:alice")
    assert shown.done
    assert "web" in shown.text

    asked = time.monotonic()
    done = actor.act(_command(harness, Verb.ABORT, "errors in checkout"), ALICE, who="slack:alice")
    assert done.done, done.text
    harness.wait_status("rolled back", phase="Degraded", stableRevision=stable, timeout=30)
    eventually(lambda: harness.replica_sets().get(stable) == (2, 2), timeout=30, what="stable back")
    restored = time.monotonic() - asked
    aborted = [h for h in harness.status()["history"] if h["action"] == "Aborted"]
    assert aborted[-1]["by"] == "slack:alice"
    assert any(
        e.type == "Normal"
        and "slack:alice (as alice) requested abort: errors in checkout" in e.note
        for e in chatops_events(harness)
    )
    print(f"\nchat abort → stable at full size again: {restored:.2f}s")


def test_a_hundred_simultaneous_clicks_make_one_abort(harness: Harness) -> None:
    grant_oncall(harness)
    stable = paused_canary(harness)
    actors = [Actor(harness.kube.api(), instance=f"bot-{i % 4}") for i in range(4)]
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    start = threading.Barrier(100)

    def click(i: int) -> None:
        start.wait()
        outcome = actors[i % 4].act(_command(harness, Verb.ABORT), ALICE, who=f"slack:u{i}")
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=click, args=(i,)) for i in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 100
    assert sum(o.done for o in outcomes) == 1, [o.text for o in outcomes if o.done]
    harness.wait_status("rolled back", phase="Degraded", stableRevision=stable, timeout=30)
    time.sleep(2)
    aborted = [h for h in harness.status()["history"] if h["action"] == "Aborted"]
    assert len(aborted) == 1
    refusals = {o.text.split(":")[0] for o in outcomes if not o.done}
    print(f"\n100 clicks: 1 abort; the other 99 answered: {sorted(refusals)}")


def test_an_unknown_rollout_is_answered_politely(harness: Harness) -> None:
    grant_oncall(harness)
    actor = Actor(harness.kube.api(), instance="test")
    command = Command(verb=Verb.ROLLBACK, namespace=harness.namespace, rollout="no-such-web")
    outcome = actor.act(command, ALICE, who="slack:alice")
    assert not outcome.done
    assert f"rollout {harness.namespace}/no-such-web not found" in outcome.text
    status = actor.act(
        Command(verb=Verb.STATUS, namespace=harness.namespace, rollout="no-such-web"),
        ALICE,
        who="slack:alice",
    )
    assert not status.done
    assert "not found" in status.text
