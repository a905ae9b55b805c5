"""Looks off the reconcile path: a slow Prometheus delays nobody else's reconcile.

The providers are fakes (answering at once, or never), on the measurer's real
event loop thread: what is checked is that ``collect`` never waits, that a look
ends at its deadline whatever the server does, that results come back through
``on_ready`` and belong to the analysis they were taken for, and that providers
are bounded and closed.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from controller.api.v1alpha1 import Rollout
from controller.kube.objects import ObjectKey
from controller.providers import Sample
from controller.providers.prometheus_config import PrometheusConfig
from controller.reconcile.analyst import Analyst
from controller.reconcile.measuring import Measurer
from controller.reconcile.slots import PER_PROVIDER_LOOKS

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FAST, SLOW = "http://fast.test:9090", "http://slow.test:9090"
DEFAULT = PrometheusConfig.model_validate(
    {"address": FAST, "timeout_seconds": 0.3, "retry_budget_seconds": 0.2, "retries": 0}
)
DEADLINE = 0.5  # one attempt's timeout after the retry budget


class Provider:
    """Answers every query with one sample (none before ``T0``: a counter that appeared
    since the analysis began), or (``hang``) never answers."""

    def __init__(self, *, hang: bool, delay: float = 0.0) -> None:
        self.hang = hang
        self.delay = delay
        """Seconds each answer takes (a busy but answering server)."""
        self.in_flight = 0
        self.most_in_flight = 0
        self.closed = False

    async def query(self, promql: str, *, at: datetime | None = None) -> list[Sample]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.hang:
                await asyncio.Event().wait()  # a server that never answers
            await asyncio.sleep(self.delay)
            return [] if at is not None and at < T0 else [Sample(labels={}, value=10.0)]
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        self.closed = True


def rollout(name: str, address: str, *, canary: str = "bbb", metrics: int = 1) -> Rollout:
    return Rollout.model_validate(
        {
            "name": name,
            "namespace": "shop",
            "spec": {
                "workloadRef": {"name": name},
                "strategy": {
                    "canary": {
                        "steps": [{"setWeight": 50}],
                        "analysis": {
                            "prometheus": {"address": address},
                            "metrics": [
                                {"name": f"m{i}", "builtin": "app-errors"} for i in range(metrics)
                            ],
                        },
                    }
                },
            },
            "status": {
                "stableRevision": "aaa",
                "canaryRevision": canary,
                # begun a minute ago, never looked at: every metric is due
                "analysis": {"revision": canary, "startedAt": (T0 - timedelta(minutes=1))},
            },
        }
    )


class Ready:
    """``on_ready``: records keys, lets a test wait for one."""

    def __init__(self) -> None:
        self.keys: list[ObjectKey] = []
        self.at: dict[ObjectKey, float] = {}
        self._cond = threading.Condition()

    def __call__(self, key: ObjectKey) -> None:
        with self._cond:
            self.keys.append(key)
            self.at.setdefault(key, time.monotonic())
            self._cond.notify_all()

    def wait(self, key: ObjectKey, timeout: float = 5.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: key in self.keys, timeout), f"{key} never ready"


@pytest.fixture
def providers() -> dict[str, Provider]:
    return {FAST: Provider(hang=False), SLOW: Provider(hang=True)}


@pytest.fixture
def measurer(providers: dict[str, Provider]) -> Any:
    ready = Ready()
    subject = Measurer(
        Analyst(
            default=DEFAULT, endpoints=[SLOW], connect=lambda config: providers[config.address]
        ),
        on_ready=ready,
    )
    subject.start()
    yield subject, ready
    subject.stop()


def test_collect_never_waits_and_a_hanging_server_costs_only_its_own_look_an_error(
    measurer: Any, providers: dict[str, Provider]
) -> None:
    subject, ready = measurer
    slow, fast = ObjectKey("shop", "slow"), ObjectKey("shop", "fast")
    started = time.monotonic()
    assert subject.collect(slow, rollout("slow", SLOW), T0).pending
    assert subject.collect(fast, rollout("fast", FAST), T0).pending
    assert time.monotonic() - started < 0.2  # nothing waited for a server

    ready.wait(fast)
    fast_looked = subject.collect(fast, rollout("fast", FAST), T0 + timedelta(seconds=1))
    assert fast_looked.measurements is not None
    window = fast_looked.measurements.results[0].window
    assert window is not None
    assert window.canary_requests == 10.0
    assert slow not in ready.keys  # the slow look is still running …

    ready.wait(slow)  # … and ends at its deadline with an error
    took = ready.at[slow] - started
    assert DEADLINE <= took < DEADLINE + 1.0
    looked = subject.collect(slow, rollout("slow", SLOW), T0 + timedelta(seconds=1))
    assert looked.measurements is not None
    assert "no answer within 0.5s" in looked.measurements.results[0].error
    assert ready.at[fast] - started < 0.3  # the fast one never waited for it


def test_a_look_in_flight_holds_no_rollout(providers: dict[str, Provider]) -> None:
    """When Prometheus falls behind, every Rollout in analysis has a look waiting: what
    it holds is a few names, not the parsed Rollout (~50 KB with a full history; a
    1,000-Rollout run held 48 MB in them), nor its analysis' spec and status (~8 KB
    parsed: 1,000 of them held 7.7 MB in a later run).

    The look's deadline here is a minute, so that it is surely still waiting while
    the whole heap is scanned twice (in a full suite's heap that took longer than
    the fixture's half-second deadline once); the deadline itself is the test above's.
    """
    patient = DEFAULT.model_copy(update={"timeout_seconds": 60.0})
    ready = Ready()
    subject = Measurer(
        Analyst(default=patient, endpoints=[SLOW], connect=lambda c: providers[c.address]),
        on_ready=ready,
    )
    subject.start()
    try:
        _holds_no_rollout(subject, ready, providers[SLOW])
    finally:
        subject.stop()


def _holds_no_rollout(subject: Measurer, ready: Ready, server: Provider) -> None:
    key = ObjectKey("shop", "slow")
    parsed = rollout("slow", SLOW)
    gone = weakref.ref(parsed)
    heavy = {"Analysis", "AnalysisStatus", "Target", "RolloutStatus"}
    before = [o for o in gc.get_objects() if type(o).__name__ in heavy]  # kept: ids not reused
    assert subject.collect(key, parsed, T0).pending
    deadline = time.monotonic() + 5.0
    while server.in_flight == 0:  # the look has reached the silent server
        assert time.monotonic() < deadline, "the look never asked the server"
        time.sleep(0.01)
    del parsed
    gc.collect()
    assert gone() is None
    old = {id(o) for o in before}
    held = [o for o in gc.get_objects() if type(o).__name__ in heavy and id(o) not in old]
    assert held == []
    assert server.in_flight == 1  # it was waiting all along
    assert key not in ready.keys


def test_stopping_with_looks_in_flight_logs_no_error_and_records_no_result(
    providers: dict[str, Provider],
) -> None:
    """A shutdown or a lost lease cancels every look waiting on Prometheus: at 1,000
    Rollouts that logged 1,000 "Measurement raised CancelledError()" errors."""
    ready = Ready()
    subject = Measurer(
        Analyst(default=DEFAULT, endpoints=[SLOW], connect=lambda c: providers[c.address]),
        on_ready=ready,
    )
    subject.start()
    keys = [ObjectKey("shop", f"slow-{i}") for i in range(5)]
    for key in keys:
        assert subject.collect(key, rollout(key.name, SLOW), T0).pending
    with capture_logs() as logs:
        subject.stop()
        time.sleep(0.1)  # done callbacks run on the loop's thread
    assert [e for e in logs if e["log_level"] == "error"] == []
    assert ready.keys == []
    subject.start()  # started again, the Rollouts are looked at again
    try:
        assert subject.collect(keys[0], rollout(keys[0].name, FAST), T0).pending
        ready.wait(keys[0])
    finally:
        subject.stop()


def test_a_look_in_flight_is_not_started_twice(measurer: Any) -> None:
    subject, _ = measurer
    key = ObjectKey("shop", "slow")
    assert subject.collect(key, rollout("slow", SLOW), T0).pending
    assert subject.collect(key, rollout("slow", SLOW), T0 + timedelta(seconds=1)).pending
    assert subject.started == 1


def test_results_for_an_analysis_that_moved_on_are_dropped(measurer: Any) -> None:
    subject, ready = measurer
    key = ObjectKey("shop", "fast")
    subject.collect(key, rollout("fast", FAST, canary="bbb"), T0)
    ready.wait(key)
    looked = subject.collect(key, rollout("fast", FAST, canary="ccc"), T0 + timedelta(seconds=1))
    assert looked.measurements is None  # bbb's counts never reach ccc's judge
    assert looked.pending  # ccc's own looks started


def test_one_provider_runs_a_bounded_number_of_queries_at_once(
    measurer: Any, providers: dict[str, Provider]
) -> None:
    subject, ready = measurer
    keys = [ObjectKey("shop", f"slow-{i}") for i in range(3)]
    for key in keys:
        subject.collect(key, rollout(key.name, SLOW, metrics=3), T0)
    for key in keys:
        ready.wait(key)
    assert providers[SLOW].most_in_flight == PER_PROVIDER_LOOKS


def test_queued_looks_on_a_silent_server_fail_at_its_deadline_not_one_after_another(
    measurer: Any,
) -> None:
    """15 looks, 4 at a time: waiting for a turn at a server that answers nothing
    fails like the looks holding the turns (not four rounds of deadlines)."""
    subject, ready = measurer
    keys = [ObjectKey("shop", f"slow-{i}") for i in range(5)]
    started = time.monotonic()
    for key in keys:
        subject.collect(key, rollout(key.name, SLOW, metrics=3), T0)
    for key in keys:
        ready.wait(key)
    assert max(ready.at.values()) - started < 2 * DEADLINE + 0.3
    for key in keys:
        looked = subject.collect(key, rollout(key.name, SLOW, metrics=3), T0)
        assert looked.measurements is not None
        assert all("no answer within" in r.error for r in looked.measurements.results)


def test_looks_behind_a_busy_server_that_answers_are_late_not_failed() -> None:
    """40 looks of 8 queries at 20 ms each, 4 at a time, take ~1.6 s: three times the
    0.5 s deadline. None fails (failing them would hold every release as
    inconclusive when the controller asks more than Prometheus serves), and each
    look's wait is reported."""
    busy = Provider(hang=False, delay=0.02)
    waits: list[float] = []
    ready = Ready()
    subject = Measurer(
        Analyst(default=DEFAULT, connect=lambda config: busy, on_wait=waits.append),
        on_ready=ready,
    )
    subject.start()
    try:
        keys = [ObjectKey("shop", f"r{i}") for i in range(40)]
        for key in keys:
            subject.collect(key, rollout(key.name, FAST), T0)
        for key in keys:
            ready.wait(key, timeout=10)
        for key in keys:
            looked = subject.collect(key, rollout(key.name, FAST), T0)
            assert looked.measurements is not None
            (result,) = looked.measurements.results
            assert result.error == "", result
            assert result.window is not None
    finally:
        subject.stop()
    assert len(waits) == 40
    assert max(waits) > 3 * DEADLINE / 2  # the last looks waited past the deadline
    assert busy.most_in_flight == PER_PROVIDER_LOOKS


def test_providers_beyond_the_bound_are_closed_least_recently_used_first() -> None:
    made: list[Provider] = []

    def connect(config: PrometheusConfig) -> Provider:
        made.append(Provider(hang=False))
        return made[-1]

    subject = Analyst(
        default=DEFAULT,
        endpoints=["http://p0.test:9090", "http://p1.test:9090", "http://p2.test:9090"],
        connect=connect,
        max_providers=2,
    )
    specs = [rollout("r", f"http://p{i}.test:9090").spec.strategy.canary.analysis for i in range(3)]

    async def use() -> None:
        for spec in specs:
            assert spec is not None
            subject.provider(spec, spec.metrics[0])
        await asyncio.sleep(0)  # the eviction closes on the loop
        await asyncio.sleep(0)

    asyncio.run(use())
    assert [p.closed for p in made] == [True, False, False]
    asyncio.run(subject.aclose())
    assert all(p.closed for p in made)
