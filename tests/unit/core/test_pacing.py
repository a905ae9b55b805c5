"""Status writes paced: progress alone waits (at most the interval), anything else is
written at once, and nothing is ever put off past the interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.api.v1alpha1 import (
    Condition,
    ConditionType,
    HistoryAction,
    HistoryEntry,
    Phase,
    RolloutStatus,
)
from controller.core.pacing import PROGRESS_WRITE_INTERVAL, progress_only, status_write_due

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def condition(ctype: ConditionType, status: bool, reason: str, message: str) -> Condition:
    return Condition(
        type=ctype,
        status="True" if status else "False",
        reason=reason,
        message=message,
        last_transition_time=T0,
    )


STORED = RolloutStatus(
    phase=Phase.PROGRESSING,
    message="Waiting for stable abc: 0/3 pods available",
    stable_revision="abc",
    replicas=3,
    stable_ready_replicas=0,
    conditions=[condition(ConditionType.COMPLETED, False, "StableScaling", "0/3")],
)

progress = st.fixed_dictionaries(
    {},
    optional={
        "stable_ready_replicas": st.integers(0, 10),
        "canary_ready_replicas": st.integers(0, 10),
        "message": st.text(max_size=20),
        "last_progress_at": st.datetimes(timezones=st.just(UTC)),
    },
)
"""Changes that are progress alone."""

other = st.one_of(
    st.fixed_dictionaries({"phase": st.sampled_from([Phase.HEALTHY, Phase.PAUSED])}),
    st.fixed_dictionaries({"current_step_index": st.integers(0, 5)}),
    st.fixed_dictionaries({"canary_weight": st.integers(1, 100)}),
    st.fixed_dictionaries({"canary_revision": st.just("def")}),
    st.fixed_dictionaries({"replicas": st.integers(4, 10)}),
    st.fixed_dictionaries({"step_started_at": st.just(T0)}),
    st.fixed_dictionaries(
        {
            "conditions": st.sampled_from(
                [
                    [condition(ConditionType.COMPLETED, True, "Completed", "0/3")],
                    [condition(ConditionType.COMPLETED, False, "Aborted", "0/3")],
                    [],
                ]
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "history": st.just(
                [HistoryEntry(time=T0, action=HistoryAction.ADOPTED, revision="abc", by="x")]
            )
        }
    ),
)
"""Changes that are not."""

since_write = st.timedeltas(min_value=timedelta(0), max_value=timedelta(seconds=10))


def changed(update: dict[str, Any]) -> RolloutStatus:
    return STORED.model_copy(update=update)


@given(progress, since_write)
def test_progress_alone_waits_out_the_interval_and_no_longer(
    update: dict[str, Any], elapsed: timedelta
) -> None:
    now = T0 + elapsed
    due = status_write_due(STORED, changed(update), last_written=T0, now=now)
    assert progress_only(STORED, changed(update))
    assert due == max(now, T0 + PROGRESS_WRITE_INTERVAL)
    assert now <= due <= now + PROGRESS_WRITE_INTERVAL


@given(progress, other, since_write)
def test_any_other_change_is_written_at_once(
    noise: dict[str, Any], update: dict[str, Any], elapsed: timedelta
) -> None:
    wanted = changed({**noise, **update})
    assert not progress_only(STORED, wanted)
    assert status_write_due(STORED, wanted, last_written=T0, now=T0 + elapsed) == T0 + elapsed


@given(progress)
def test_a_process_that_never_wrote_the_status_writes_at_once(update: dict[str, Any]) -> None:
    assert status_write_due(STORED, changed(update), last_written=None, now=T0) == T0


def test_a_condition_message_quoting_the_counts_is_progress() -> None:
    wanted = changed(
        {
            "stable_ready_replicas": 1,
            "message": "Waiting for stable abc: 1/3 pods available",
            "conditions": [condition(ConditionType.COMPLETED, False, "StableScaling", "1/3")],
        }
    )
    assert progress_only(STORED, wanted)
    flipped = changed(
        {"conditions": [condition(ConditionType.COMPLETED, False, "StableScaling", "1/3")]}
    )
    assert progress_only(STORED, flipped)
    reason = changed(
        {"conditions": [condition(ConditionType.COMPLETED, False, "StableAvailable", "0/3")]}
    )
    assert not progress_only(STORED, reason)
