"""The notifier driven by a fake source of Rollout objects and recording sinks, with time
fast-forwarded: one message per release and destination, updated in place as it moves,
buttons per state, only destinations the annotation names, a failing destination retried
with backoff while another keeps working, and a restart that re-posts only running
releases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from controller.chatops.commands import Verb
from controller.chatops.notes import ReleaseNote
from controller.chatops.notifier import Notifier
from tests.support.waiting import eventually

pytestmark = pytest.mark.unit

STEPS = [{"setWeight": 50}, {"pause": {}}]


def CLOCK() -> float:  # a constant clock: the tests pass ``now`` to deliver
    return 0.0


@dataclass
class RecordingSink:
    """Records posts and updates; fails the next ``failing`` calls."""

    name: str
    failing: int = 0
    calls: list[tuple[str, str, ReleaseNote]] = field(default_factory=list)

    def post(self, note: ReleaseNote) -> str:
        self._maybe_fail()
        handle = f"{self.name}#{len(self.calls)}"
        self.calls.append(("post", handle, note))
        return handle

    def update(self, handle: str, note: ReleaseNote) -> None:
        self._maybe_fail()
        self.calls.append(("update", handle, note))

    def _maybe_fail(self) -> None:
        if self.failing:
            self.failing -= 1
            raise ConnectionError(f"{self.name} is down")

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.calls]


def rollout(status: dict[str, Any], *, notify: str = "slack", uid: str = "u1") -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "payments",
            "name": "web",
            "uid": uid,
            "annotations": {"landinggear.dev/notify": notify},
        },
        "spec": {"strategy": {"canary": {"steps": STEPS}}},
        "status": status,
    }


def started(revision: str = "c2") -> dict[str, Any]:
    return rollout({"stableRevision": "s1", "canaryRevision": revision, "currentStepIndex": 0})


def paused(revision: str = "c2") -> dict[str, Any]:
    return rollout(
        {
            "stableRevision": "s1",
            "canaryRevision": revision,
            "currentStepIndex": 1,
            "canaryWeight": 50,
            "conditions": [{"type": "Paused", "status": "True", "reason": "WaitingForPromote"}],
        }
    )


def aborted(revision: str = "c2") -> dict[str, Any]:
    return rollout(
        {
            "stableRevision": "s1",
            "phase": "Degraded",
            "history": [
                {"action": "ReleaseStarted", "revision": revision, "by": "controller"},
                {"action": "Aborted", "revision": revision, "by": "slack:alice",
                 "reason": "AbortedByUser: errors"},
            ],
        }
    )  # fmt: skip


def promoted(revision: str = "c2") -> dict[str, Any]:
    return rollout(
        {
            "stableRevision": revision,
            "phase": "Healthy",
            "history": [{"action": "Promoted", "revision": revision, "by": "controller"}],
        }
    )


def test_one_message_per_release_updated_in_place_through_its_states() -> None:
    slack = RecordingSink("slack")
    notifier = Notifier({"slack": slack}, clock=CLOCK)
    for obj in (started(), started(), paused(), paused(), aborted()):
        notifier.observe(obj)
        notifier.deliver("slack", now=0)
    assert slack.kinds() == ["post", "update", "update"]
    handles = {handle for _, handle, _ in slack.calls}
    assert handles == {"slack#0"}
    notes = [note for _, _, note in slack.calls]
    assert [n.actions for n in notes] == [
        (Verb.PAUSE, Verb.ABORT),
        (Verb.PROMOTE, Verb.ABORT),
        (Verb.RETRY,),
    ]
    assert "Aborted by slack:alice: AbortedByUser: errors" in notes[-1].lines


def test_only_the_latest_note_is_sent_when_changes_come_faster_than_delivery() -> None:
    slack = RecordingSink("slack")
    notifier = Notifier({"slack": slack}, clock=CLOCK)
    notifier.observe(started())
    notifier.observe(paused())
    notifier.deliver("slack", now=0)
    assert slack.kinds() == ["post"]
    assert slack.calls[0][2].actions == (Verb.PROMOTE, Verb.ABORT)


def test_a_failing_destination_is_retried_with_backoff_while_another_keeps_working() -> None:
    slack, teams = RecordingSink("slack"), RecordingSink("teams", failing=3)
    notifier = Notifier(
        {"slack": slack, "teams:payments": teams}, min_backoff=1, max_backoff=4, clock=CLOCK
    )
    notifier.observe(rollout(paused()["status"], notify="slack, teams:payments"))
    assert notifier.deliver("slack", now=0) is None
    assert notifier.deliver("teams:payments", now=0) == 1  # failed once: retry in 1 s
    assert notifier.deliver("teams:payments", now=0.5) == 0.5  # not due yet: nothing tried
    assert notifier.deliver("teams:payments", now=1) == 2  # failed twice: 2 s
    assert notifier.deliver("teams:payments", now=3) == 4  # failed three times: 4 s
    notifier.observe(rollout(aborted()["status"], notify="slack, teams:payments"))
    notifier.deliver("slack", now=3)
    assert slack.kinds() == ["post", "update"]
    assert notifier.deliver("teams:payments", now=7) is None
    assert teams.kinds() == ["post"]
    assert teams.calls[0][2].headline == "payments/web: release c2 aborted"


def test_only_the_destinations_the_annotation_names_and_the_process_knows_get_messages() -> None:
    slack, audit = RecordingSink("slack"), RecordingSink("webhook:audit")
    notifier = Notifier({"slack": slack, "webhook:audit": audit}, clock=CLOCK)
    notifier.observe(rollout(paused()["status"], notify="webhook:audit, teams:unknown, https://x"))
    notifier.deliver("slack", now=0)
    notifier.deliver("webhook:audit", now=0)
    assert (slack.kinds(), audit.kinds()) == ([], ["post"])


def test_no_annotation_no_message() -> None:
    slack = RecordingSink("slack")
    notifier = Notifier({"slack": slack}, clock=CLOCK)
    obj = paused()
    del obj["metadata"]["annotations"]
    notifier.observe(obj)
    assert notifier.deliver("slack", now=0) is None
    assert slack.calls == []


def test_a_newer_revision_closes_the_old_message_and_opens_its_own() -> None:
    slack = RecordingSink("slack")
    notifier = Notifier({"slack": slack}, clock=CLOCK)
    notifier.observe(paused("c2"))
    notifier.deliver("slack", now=0)
    notifier.observe(started("c3"))
    notifier.deliver("slack", now=0)
    kinds = sorted((kind, handle) for kind, handle, _ in slack.calls)
    assert kinds == [("post", "slack#0"), ("post", "slack#2"), ("update", "slack#0")]
    closing = next(note for kind, _, note in slack.calls if kind == "update")
    assert closing.headline == "payments/web: release c2 superseded by c3"
    assert closing.actions == ()


def test_after_a_restart_only_running_releases_are_posted() -> None:
    slack = RecordingSink("slack")
    notifier = Notifier({"slack": slack}, clock=CLOCK)
    notifier.observe(promoted())
    notifier.observe(aborted("c7") | {"metadata": {**aborted()["metadata"], "uid": "u2"}})
    notifier.observe(rollout(paused()["status"], uid="u3"))
    notifier.deliver("slack", now=0)
    assert slack.kinds() == ["post"]
    assert slack.calls[0][2].revision == "c2"


def test_a_done_release_is_forgotten_once_delivered() -> None:
    slack = RecordingSink("slack")
    notifier = Notifier({"slack": slack}, clock=CLOCK)
    notifier.observe(started())
    notifier.deliver("slack", now=0)
    notifier.observe(promoted())
    notifier.deliver("slack", now=0)
    notifier.observe(promoted())
    assert notifier.deliver("slack", now=0) is None
    assert slack.kinds() == ["post", "update"]
    assert slack.calls[-1][2].done


def test_a_deleted_rollout_sends_nothing_more() -> None:
    slack = RecordingSink("slack", failing=1)
    notifier = Notifier({"slack": slack}, clock=CLOCK)
    notifier.observe(paused())
    notifier.deliver("slack", now=0)
    notifier.forget(paused())
    assert notifier.deliver("slack", now=100) is None
    assert slack.calls == []


def test_the_lanes_deliver_on_their_own_threads() -> None:
    slack, teams = RecordingSink("slack"), RecordingSink("teams:payments", failing=1000)
    notifier = Notifier({"slack": slack, "teams:payments": teams}, min_backoff=0.01)
    notifier.start()
    try:
        notifier.observe(rollout(paused()["status"], notify="slack, teams:payments"))
        eventually(lambda: slack.kinds() == ["post"], timeout=5, what="slack posted")
        notifier.observe(rollout(aborted()["status"], notify="slack, teams:payments"))
        eventually(lambda: slack.kinds() == ["post", "update"], timeout=5, what="slack updated")
        assert notifier.alive()
    finally:
        notifier.stop()
    assert not notifier.alive()
