"""The pure answers that keep the step machine at a step: pauses, canary scaling.

Each function answers with a :class:`Hold` (the reason and when time alone may end
it), an :class:`Abort`, or None (go on). These tests pin every reason each function
can give, every wake-up time, the precedence :func:`step_hold` applies, and that the
functions neither change their inputs nor depend on anything but them. The
analysis gates' answers are :mod:`tests.unit.core.test_gates`.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.api.reasons import AbortCode, HoldReason
from controller.api.v1alpha1 import Step
from controller.core.holds import (
    Abort,
    Answer,
    Hold,
    pause_end,
    pause_hold,
    scaling_hold,
    step_hold,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
TEN_MINUTES = timedelta(minutes=10)


def step(data: dict[str, Any]) -> Step:
    return Step.model_validate(data)


FAILED_EVIDENCE = "errors: canary 20/100 bad (20.00%) vs stable 1/100 (1.00%), likelihood ratio 150"


# ---------------------------------------------------------------- pause_hold


@pytest.mark.parametrize(
    "data", [{"setWeight": 20}, {"analysis": {}}], ids=["setWeight", "analysis"]
)
def test_a_step_without_a_pause_never_holds_as_a_pause(data: dict[str, Any]) -> None:
    assert pause_hold(step(data), started=T0, now=T0) is None
    assert pause_hold(step(data), started=T0, now=T0 + timedelta(days=1)) is None


@pytest.mark.parametrize("after", [timedelta(0), timedelta(hours=1), timedelta(days=365)])
def test_an_untimed_pause_waits_for_promote_without_a_wake_up(after: timedelta) -> None:
    hold = pause_hold(step({"pause": {}}), started=T0, now=T0 + after)
    assert hold == Hold(reason=HoldReason.WAITING_FOR_PROMOTE, detail="", wake_at=None)


@pytest.mark.parametrize(
    ("duration", "length"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5s", timedelta(milliseconds=1500)),
    ],
)
def test_timed_pause_holds_until_its_end_and_wakes_then(duration: str, length: timedelta) -> None:
    pause = step({"pause": {"duration": duration}})
    end = T0 + length
    expected = Hold(reason=HoldReason.TIMED_PAUSE, wake_at=end)
    assert pause_end(pause, T0) == end
    assert pause_hold(pause, started=T0, now=T0) == expected
    assert pause_hold(pause, started=T0, now=end - timedelta(milliseconds=1)) == expected
    assert pause_hold(pause, started=T0, now=end) is None
    assert pause_hold(pause, started=T0, now=end + timedelta(days=1)) is None


def test_a_timed_pause_counts_from_when_the_step_started() -> None:
    pause = step({"pause": {"duration": "1m"}})
    started = T0 + timedelta(hours=2)
    hold = pause_hold(pause, started=started, now=started + SECOND)
    assert hold == Hold(reason=HoldReason.TIMED_PAUSE, wake_at=started + timedelta(minutes=1))
    # A minute after T0 is no end for a pause that started two hours later.
    assert pause_hold(pause, started=started, now=T0 + timedelta(minutes=1)) is not None


def test_a_pause_ends_when_its_duration_is_over() -> None:
    pause = step({"pause": {"duration": "1s"}})
    assert pause_hold(pause, started=T0, now=T0 + SECOND) is None


@pytest.mark.parametrize("data", [{"pause": {}}, {"setWeight": 10}])
def test_only_a_timed_pause_has_an_end(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not a timed pause"):
        pause_end(step(data), T0)


# -------------------------------------------------------------- scaling_hold


def scaling(now: datetime, *, last_progress: datetime = T0) -> Hold | Abort:
    return scaling_hold(
        available=1,
        want=3,
        last_progress=last_progress,
        deadline_seconds=600,
        replica_set="web-abcde12345",
        now=now,
    )


@pytest.mark.parametrize("after", [timedelta(0), timedelta(seconds=300), timedelta(seconds=599)])
def test_scaling_holds_before_the_deadline_and_wakes_at_it(after: timedelta) -> None:
    assert scaling(T0 + after) == Hold(
        reason=HoldReason.CANARY_SCALING,
        detail="1/3 available",
        wake_at=T0 + timedelta(seconds=600),
    )


@pytest.mark.parametrize(
    "after", [timedelta(seconds=600), timedelta(seconds=601), timedelta(days=2)]
)
def test_scaling_aborts_at_and_after_the_progress_deadline(after: timedelta) -> None:
    assert scaling(T0 + after) == Abort(
        code=AbortCode.PROGRESS_DEADLINE_EXCEEDED,
        reason="canary ReplicaSet web-abcde12345 had 1/3 pods available with no progress for 600s",
    )


def test_the_progress_deadline_counts_from_the_last_progress() -> None:
    progress = T0 + timedelta(minutes=15)
    hold = scaling(T0 + timedelta(minutes=20), last_progress=progress)
    assert isinstance(hold, Hold)
    assert hold.wake_at == progress + timedelta(seconds=600)
    assert isinstance(scaling(progress + timedelta(seconds=600), last_progress=progress), Abort)


# ----------------------------------------------------------------- step_hold

USER_PAUSE = Hold(reason=HoldReason.PAUSED_BY_USER)
ANALYSIS_HOLD = Hold(reason=HoldReason.ANALYSIS_INCONCLUSIVE, detail="errors: broken")
SCALING_HOLD = Hold(reason=HoldReason.CANARY_SCALING, detail="1/3 available", wake_at=T0)
SCALING_ABORT = Abort(code=AbortCode.PROGRESS_DEADLINE_EXCEEDED, reason="stuck")
STEP_HOLD = Hold(reason=HoldReason.TIMED_PAUSE, wake_at=T0 + TEN_MINUTES)
STEP_ABORT = Abort(code=AbortCode.ANALYSIS_FAILED, reason=FAILED_EVIDENCE)


def test_a_users_pause_beats_every_other_answer() -> None:
    answer = step_hold(paused=True, analysis=ANALYSIS_HOLD, scaling=SCALING_ABORT, step=STEP_ABORT)
    assert answer == USER_PAUSE
    assert step_hold(paused=True, analysis=None, scaling=None, step=None) == USER_PAUSE


def test_an_analysis_hold_beats_scaling_and_the_step() -> None:
    answer = step_hold(paused=False, analysis=ANALYSIS_HOLD, scaling=SCALING_ABORT, step=STEP_ABORT)
    assert answer is ANALYSIS_HOLD


@pytest.mark.parametrize("scaling_answer", [SCALING_HOLD, SCALING_ABORT])
@pytest.mark.parametrize("step_answer", [STEP_HOLD, STEP_ABORT, None])
def test_scaling_beats_the_steps_own_answer(
    scaling_answer: Hold | Abort, step_answer: Answer
) -> None:
    answer = step_hold(paused=False, analysis=None, scaling=scaling_answer, step=step_answer)
    assert answer is scaling_answer


@pytest.mark.parametrize("step_answer", [STEP_HOLD, STEP_ABORT, None])
def test_the_steps_own_answer_applies_when_nothing_earlier_does(step_answer: Answer) -> None:
    assert step_hold(paused=False, analysis=None, scaling=None, step=step_answer) is step_answer


def test_step_hold_takes_the_first_answer_in_every_combination() -> None:
    seen: set[str] = set()
    for paused, analysis, scaling_answer, step_answer in itertools.product(
        [False, True],
        [None, ANALYSIS_HOLD],
        [None, SCALING_HOLD, SCALING_ABORT],
        [None, STEP_HOLD, STEP_ABORT],
    ):
        first = next(
            (
                a
                for a in (USER_PAUSE if paused else None, analysis, scaling_answer)
                if a is not None
            ),
            step_answer,
        )
        answer = step_hold(
            paused=paused, analysis=analysis, scaling=scaling_answer, step=step_answer
        )
        assert answer == first
        seen.add(repr(answer))
    # user pause, analysis hold, two scaling answers, two step answers, and None
    assert len(seen) == 7


# ------------------------------------------------------------------- purity


def test_the_holds_are_pure() -> None:
    pause = step({"pause": {"duration": "5m"}})
    before = pause.model_dump()
    answers = [pause_hold(pause, started=T0, now=T0 + SECOND) for _ in range(2)]
    assert (
        answers[0]
        == answers[1]
        == Hold(reason=HoldReason.TIMED_PAUSE, wake_at=T0 + timedelta(minutes=5))
    )
    assert pause.model_dump() == before
    assert scaling(T0) == scaling(T0)
    assert scaling(T0 + TEN_MINUTES) == scaling(T0 + TEN_MINUTES)
    combined = [
        step_hold(paused=False, analysis=None, scaling=SCALING_HOLD, step=STEP_ABORT)
        for _ in range(2)
    ]
    assert combined[0] == combined[1] == SCALING_HOLD
