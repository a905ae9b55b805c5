"""A release's note, read from the Rollout alone: examples per state, and properties over
generated statuses (never raises; done notes offer nothing; a running canary can always
be aborted)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.chatops.commands import Verb
from controller.chatops.narrate import note_for, superseded

pytestmark = pytest.mark.unit

STEPS = [{"setWeight": 20}, {"analysis": {"metrics": ["errors"]}}, {"setWeight": 50}, {"pause": {}}]


def rollout(status: dict[str, Any], *, paused: bool = False) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "payments", "name": "web", "uid": "u1"},
        "spec": {"paused": paused, "strategy": {"canary": {"steps": STEPS}}},
        "status": status,
    }


def paused_condition(reason: str) -> dict[str, Any]:
    return {"type": "Paused", "status": "True", "reason": reason}


def entry(
    action: str, revision: str, *, by: str = "controller", reason: str = ""
) -> dict[str, Any]:
    return {"action": action, "revision": revision, "by": by, "reason": reason}


RUNNING = {"stableRevision": "s1", "previousStableRevision": "s0", "canaryRevision": "c2"}


def test_a_release_just_started_offers_pause_and_abort() -> None:
    note = note_for(rollout({**RUNNING, "currentStepIndex": 0, "canaryWeight": 0}))
    assert note is not None
    assert note.headline == "payments/web: release c2 started"
    assert note.actions == (Verb.PAUSE, Verb.ABORT)
    assert (note.revision, note.done, note.severity) == ("c2", False, "info")


def test_each_step_is_told_in_the_clis_words() -> None:
    note = note_for(rollout({**RUNNING, "currentStepIndex": 2, "canaryWeight": 50}))
    assert note is not None
    assert note.headline == "payments/web: release c2 progressing at step 3/4"
    assert "Step 3/4: set weight 50%" in note.lines


def test_paused_for_promotion_offers_promote_and_abort() -> None:
    status = {
        **RUNNING,
        "currentStepIndex": 3,
        "canaryWeight": 50,
        "conditions": [paused_condition("WaitingForPromote")],
    }
    note = note_for(rollout(status))
    assert note is not None
    assert note.headline == "payments/web: release c2 paused at step 4/4 for promotion"
    assert note.actions == (Verb.PROMOTE, Verb.ABORT)
    assert note.severity == "warning"


def test_paused_by_a_person_offers_resume_and_abort() -> None:
    note = note_for(rollout({**RUNNING, "currentStepIndex": 1}, paused=True))
    assert note is not None
    assert "paused by a person" in note.headline
    assert note.actions == (Verb.RESUME, Verb.ABORT)


def test_a_running_analysis_shows_one_evidence_line_per_metric() -> None:
    analysis = {
        "revision": "c2",
        "stage": "Canary",
        "metrics": [
            {
                "name": "errors",
                "verdict": "Undecided",
                "canaryBad": 3,
                "canaryRequests": 100,
                "stableBad": 1,
                "stableRequests": 1000,
                "evidence": 2.5,
            }
        ],
    }
    note = note_for(rollout({**RUNNING, "currentStepIndex": 1, "analysis": analysis}))
    assert note is not None
    assert "errors: Undecided, canary 3/100 (3.0%) bad vs stable 1/1000 (0.1%), LR 2.5" in (
        note.lines
    )


def test_a_failed_analysis_says_aborted_with_the_evidence_and_offers_retry_and_rollback() -> None:
    why = "AnalysisFailed: errors: canary 30/100 (30.0%) vs stable 1/1000 (0.1%), LR 812"
    status = {
        "stableRevision": "s1",
        "previousStableRevision": "s0",
        "phase": "Degraded",
        "history": [entry("ReleaseStarted", "c2"), entry("Aborted", "c2", reason=why)],
    }
    note = note_for(rollout(status))
    assert note is not None
    assert note.headline == "payments/web: release c2 analysis failed; aborted"
    assert f"Aborted by controller: {why}" in note.lines
    assert note.actions == (Verb.RETRY, Verb.ROLLBACK)
    assert (note.severity, note.done) == ("danger", False)


def test_an_abort_by_a_person_names_who_and_why() -> None:
    status = {
        "stableRevision": "s1",
        "history": [
            entry("ReleaseStarted", "c2"),
            entry("Aborted", "c2", by="slack:alice", reason="AbortedByUser: latency"),
        ],
    }
    note = note_for(rollout(status))
    assert note is not None
    assert "Aborted by slack:alice: AbortedByUser: latency" in note.lines
    assert note.actions == (Verb.RETRY,)  # no previous stable kept: nothing to roll back to


def test_a_rollback_names_who_and_where_to() -> None:
    status = {
        "stableRevision": "s0",
        "rollingBackTo": "s0",
        "history": [
            entry("Promoted", "c2"),
            entry("RolledBack", "c2", by="bob", reason="bad deploy (back to s0)"),
        ],
    }
    note = note_for(rollout(status))
    assert note is not None
    assert note.headline == "payments/web: release c2 rolled back (to s0)"
    assert "Rolled back by bob: bad deploy (back to s0)" in note.lines
    assert note.actions == (Verb.RETRY,)


def test_promoted_with_the_guard_judging_offers_rollback_then_passed_is_done() -> None:
    guard = {"revision": "c2", "stage": "Guard", "endsAt": "2026-01-01T10:00:00Z"}
    status = {
        "stableRevision": "c2",
        "previousStableRevision": "s1",
        "analysis": guard,
        "history": [entry("ReleaseStarted", "c2"), entry("Promoted", "c2", by="alice")],
    }
    judging = note_for(rollout(status))
    assert judging is not None
    assert "guard judging until 2026-01-01T10:00:00Z" in judging.headline
    assert judging.actions == (Verb.ROLLBACK,)
    assert not judging.done
    passed = note_for(rollout({**status, "analysis": {**guard, "completed": True}}))
    assert passed is not None
    assert passed.headline == "payments/web: release c2 promoted; guard passed"
    assert (passed.done, passed.actions) == (True, ())


def test_a_failed_guard_says_so() -> None:
    status = {
        "stableRevision": "s1",
        "history": [
            entry("Promoted", "c2"),
            entry("RolledBack", "c2", reason="GuardFailed: errors 9% (back to s1)"),
        ],
    }
    note = note_for(rollout(status))
    assert note is not None
    assert note.headline == "payments/web: release c2 guard failed; rolled back"


def test_flags_switched_off_are_told_and_tagged() -> None:
    status = {
        **RUNNING,
        "currentStepIndex": 1,
        "history": [
            entry("ReleaseStarted", "c2"),
            entry("FlagsOffByHand", "c2", by="alice", reason="Switched off new-checkout"),
        ],
    }
    note = note_for(rollout(status))
    assert note is not None
    assert "Flags switched off by alice: Switched off new-checkout" in note.lines
    assert note.tags == ("flags-off",)


def test_nothing_to_tell_for_a_rollout_only_adopted() -> None:
    status = {"stableRevision": "s1", "history": [entry("Adopted", "s1")]}
    assert note_for(rollout(status)) is None
    assert note_for({}) is None


def test_a_superseded_running_release_ends_without_actions() -> None:
    note = note_for(rollout({**RUNNING, "currentStepIndex": 1}))
    assert note is not None
    final = superseded(note, by_revision="c3")
    assert final.headline == "payments/web: release c2 superseded by c3"
    assert (final.done, final.actions) == (True, ())


# ------------------------------------------------------------------------ properties

_text = st.text(max_size=12)
_junk = st.one_of(
    st.none(),
    st.integers(-3, 10),
    st.booleans(),
    _text,
    st.floats(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(_text, _text, max_size=2),
)
_action = st.sampled_from(
    [
        "Adopted",
        "ReleaseStarted",
        "Promoted",
        "Aborted",
        "Retried",
        "RolledBack",
        "Superseded",
        "FlagsDisabled",
        "FlagsOffByHand",
        "Nope",
    ]
)
_revision = st.sampled_from(["s0", "s1", "c2", "c3", ""])
_entry = st.fixed_dictionaries(
    {"action": _action, "revision": _revision},
    optional={
        "by": st.one_of(_text, _junk),
        "reason": st.one_of(_text, st.sampled_from(["AnalysisFailed: x", "GuardFailed: y"]), _junk),
    },
)
_condition = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Paused", "Progressing", "Aborted"]),
        "status": st.sampled_from(["True", "False"]),
        "reason": st.sampled_from(
            [
                "WaitingForPromote",
                "TimedPause",
                "PausedByUser",
                "AnalysisInconclusive",
                "AnalysisRunning",
                "x",
            ]
        ),
    }
)
_metric = st.dictionaries(
    st.sampled_from(
        [
            "name",
            "verdict",
            "canaryBad",
            "canaryRequests",
            "stableBad",
            "stableRequests",
            "evidence",
            "measurements",
            "value",
            "reason",
        ]
    ),
    st.one_of(_junk, st.floats(allow_nan=True)),
    max_size=8,
)
_analysis = st.fixed_dictionaries(
    {"revision": _revision, "stage": st.sampled_from(["Canary", "Guard", "x"])},
    optional={
        "completed": st.booleans(),
        "metrics": st.lists(_metric, max_size=3),
        "endsAt": _junk,
    },
)
_status = st.fixed_dictionaries(
    {},
    optional={
        "phase": st.sampled_from(["Healthy", "Progressing", "Paused", "Degraded", "x"]),
        "canaryRevision": st.one_of(_revision, _junk),
        "stableRevision": _revision,
        "previousStableRevision": st.one_of(_revision, st.none()),
        "currentStepIndex": st.one_of(st.integers(-2, 6), _junk),
        "canaryWeight": st.one_of(st.integers(0, 100), _junk),
        "conditions": st.one_of(st.lists(_condition, max_size=3), _junk),
        "history": st.one_of(st.lists(st.one_of(_entry, _junk), max_size=6), _junk),
        "analysis": st.one_of(_analysis, _junk),
        "message": st.one_of(_text, _junk),
        "rollingBackTo": st.one_of(_revision, _junk),
    },
)
_steps = st.lists(
    st.one_of(
        st.fixed_dictionaries({"setWeight": st.integers(0, 100)}),
        st.fixed_dictionaries({"pause": st.one_of(st.none(), st.just({}), _junk)}),
        st.fixed_dictionaries({"analysis": st.one_of(st.none(), _junk)}),
        _junk,
    ),
    max_size=5,
)
_rollouts = st.fixed_dictionaries(
    {
        "metadata": st.one_of(st.just({"namespace": "payments", "name": "web"}), _junk),
        "spec": st.one_of(
            st.fixed_dictionaries(
                {
                    "paused": _junk,
                    "strategy": st.fixed_dictionaries(
                        {"canary": st.fixed_dictionaries({"steps": st.one_of(_steps, _junk)})}
                    ),
                }
            ),
            _junk,
        ),
        "status": st.one_of(_status, _junk),
    }
)


@settings(max_examples=400, deadline=None)
@given(_rollouts)
def test_notes_never_raise_and_keep_their_promises(obj: dict[str, Any]) -> None:
    note = note_for(obj)
    if note is None:
        return
    assert note.headline
    assert note.revision
    assert note.severity in ("info", "warning", "danger")
    assert len(set(note.actions)) == len(note.actions)
    if note.done:
        assert note.actions == ()
    status = obj["status"] if isinstance(obj["status"], dict) else {}
    canary = status.get("canaryRevision")
    if isinstance(canary, str) and canary:
        assert note.revision == canary
        assert Verb.ABORT in note.actions
        assert not note.done
    final = superseded(note, by_revision="c9")
    assert final.done
    assert final.actions == ()
