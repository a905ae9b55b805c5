"""Status writes paced: progress alone waits (at most its interval), analysis evidence
alone at most the look interval, anything else is written at once, and nothing is
ever put off past its interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.api.analysis import AnalysisStatus, MetricStatus, Verdict
from controller.api.v1alpha1 import (
    Condition,
    ConditionType,
    HistoryAction,
    HistoryEntry,
    Phase,
    RolloutStatus,
)
from controller.core.pacing import (
    LOOK_WRITE_INTERVAL,
    PROGRESS_WRITE_INTERVAL,
    looks_only,
    progress_only,
    status_write_due,
)

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


# Analysis looks: evidence alone waits out the longer interval; a verdict does not wait.


def analysing(**metric: Any) -> RolloutStatus:
    return STORED.model_copy(
        update={
            "analysis": AnalysisStatus(
                revision="def", started_at=T0, metrics=[MetricStatus(name="errors", **metric)]
            )
        }
    )


LOOKED = analysing(canary_requests=10, measured_at=T0, log_lr=[0.1])


def looked(update: dict[str, Any]) -> RolloutStatus:
    """``LOOKED`` after a look that changed its one metric by ``update``."""
    assert LOOKED.analysis is not None
    metric = LOOKED.analysis.metrics[0].model_copy(update=update)
    return LOOKED.model_copy(
        update={"analysis": LOOKED.analysis.model_copy(update={"metrics": [metric]})}
    )


evidence = st.fixed_dictionaries(
    {"measured_at": st.datetimes(timezones=st.just(UTC))},
    optional={
        "canary_requests": st.floats(0, 1e6),
        "canary_bad": st.floats(0, 1e3),
        "stable_requests": st.floats(0, 1e6),
        "stable_bad": st.floats(0, 1e3),
        "evidence": st.floats(0.01, 99),
        "more_canary_requests_needed": st.none() | st.integers(0, 10_000),
        "log_lr": st.lists(st.floats(-5, 5), max_size=5),
        "pass_log_lr": st.floats(-5, 5),
        "value": st.none() | st.floats(0, 1),
        "measurements": st.integers(0, 100),
        "successful": st.integers(0, 100),
        "errors": st.integers(0, 100),
        "consecutive_errors": st.integers(0, 100),
    },
)
"""What a look that changes no verdict changes."""

verdicts = st.one_of(
    st.fixed_dictionaries({"verdict": st.sampled_from([Verdict.PASS, Verdict.FAIL])}),
    st.fixed_dictionaries({"reason": st.just("1 failed of 3 measurements")}),
    st.fixed_dictionaries({"failed": st.integers(1, 5)}),
    st.fixed_dictionaries({"inconclusive": st.integers(1, 5)}),
    st.fixed_dictionaries({"last_error": st.just("connection refused")}),
)
"""What a look that matters changes."""

since_look_write = st.timedeltas(min_value=timedelta(0), max_value=timedelta(seconds=60))


@given(evidence, since_look_write)
def test_evidence_alone_waits_out_the_look_interval_and_no_longer(
    update: dict[str, Any], elapsed: timedelta
) -> None:
    wanted = looked(update)
    now = T0 + elapsed
    assert looks_only(LOOKED, wanted)
    due = status_write_due(LOOKED, wanted, last_written=T0, now=now)
    assert due == max(now, T0 + LOOK_WRITE_INTERVAL)


@given(
    evidence,
    st.builds(lambda n: {"stable_ready_replicas": n}, st.integers(1, 10)),
    since_look_write,
)
def test_evidence_and_progress_together_wait_the_shorter_interval(
    evidence_update: dict[str, Any], moved: dict[str, Any], elapsed: timedelta
) -> None:
    wanted = looked(evidence_update).model_copy(update=moved)
    now = T0 + elapsed
    assert (
        now
        <= status_write_due(LOOKED, wanted, last_written=T0, now=now)
        <= max(now, T0 + PROGRESS_WRITE_INTERVAL)
    )


@given(evidence, verdicts, since_look_write)
def test_a_look_that_changes_a_verdict_or_reports_a_new_error_is_written_at_once(
    evidence_update: dict[str, Any], update: dict[str, Any], elapsed: timedelta
) -> None:
    wanted = looked({**evidence_update, **update})
    now = T0 + elapsed
    assert not looks_only(LOOKED, wanted)
    assert status_write_due(LOOKED, wanted, last_written=T0, now=now) == now


@given(evidence, other, since_look_write)
def test_evidence_never_holds_back_any_other_change(
    evidence_update: dict[str, Any], update: dict[str, Any], elapsed: timedelta
) -> None:
    wanted = looked(evidence_update).model_copy(update=update)
    now = T0 + elapsed
    assert status_write_due(LOOKED, wanted, last_written=T0, now=now) == now


def test_unjudged_since_is_written_at_once() -> None:
    """Prometheus stopped answering: the pause starts to run longer, which people see."""
    assert LOOKED.analysis is not None
    wanted = LOOKED.model_copy(
        update={"analysis": LOOKED.analysis.model_copy(update={"unjudged_since": T0})}
    )
    assert status_write_due(LOOKED, wanted, last_written=T0, now=T0) == T0


@given(since_look_write)
def test_a_metrics_first_look_and_first_canary_requests_are_written_at_once(
    elapsed: timedelta,
) -> None:
    now = T0 + elapsed
    never_looked = analysing()
    first_look = analysing(measured_at=now)  # no requests yet: the canary is new
    assert status_write_due(never_looked, first_look, last_written=T0, now=now) == now
    first_requests = analysing(measured_at=now, canary_requests=3)
    assert status_write_due(first_look, first_requests, last_written=T0, now=now) == now
    more = analysing(measured_at=now, canary_requests=9)
    assert status_write_due(first_requests, more, last_written=T0, now=now) == max(
        now, T0 + LOOK_WRITE_INTERVAL
    )
