"""Counts never exceed what was served, and equal it without resets (hypothesis).

Random counter histories, scraped every 15 s: series that exist at the start or
appear later, counters that are reset (a restarted process) and series that go
away (a deleted pod). ``counts`` reads the samples at the start's scrape and at
now's, through a fake provider answering each (selector, time) with the series'
raw values there, as an instant query of a plain selector does on a real
Prometheus (``history.History``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as s

from controller.providers import Sample
from controller.providers.builtin_metrics import app_errors, app_latency
from controller.providers.counters import Counts, MetricTemplate, NoData, counts
from controller.providers.templates import Role
from tests.unit.providers.history import (
    COUNT,
    FAILED,
    FAST,
    REQUESTS,
    VARIABLES,
    Answer,
    History,
)

SCRAPES = 8
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(scrape: int) -> datetime:
    return T0 + timedelta(seconds=15 * scrape)


@dataclass(frozen=True)
class Step:
    reset: bool
    requests: int
    slow: int
    """Of ``requests``, how many were slow (or failed)."""


@dataclass(frozen=True)
class Child:
    """One process' counters: created at a scrape, maybe gone from a later one."""

    pod: str
    created: int
    gone: int
    steps: tuple[Step, ...]

    def values(self, scrape: int) -> tuple[int, int] | None:
        """(requests, slow) as scraped then, or None if the series did not exist."""
        if not self.created <= scrape < self.gone:
            return None
        requests = slow = 0
        for index in range(self.created, scrape + 1):
            step = self.steps[index]
            if step.reset and index > self.created:
                requests = slow = 0
            requests, slow = requests + step.requests, slow + step.slow
        return requests, slow

    def served(self, start: int, now: int) -> tuple[int, int, bool]:
        """Increments after the start's scrape up to now's, and whether any were lost."""
        steps = range(max(start + 1, self.created), min(now + 1, self.gone))
        requests = sum(self.steps[i].requests for i in steps)
        slow = sum(self.steps[i].slow for i in steps)
        lost = self.gone <= now or any(self.steps[i].reset and i > self.created for i in steps)
        return requests, slow, lost


def step() -> s.SearchStrategy[Step]:
    return s.builds(
        lambda reset, requests, share: Step(reset, requests, min(requests, share)),
        s.booleans() | s.just(False),
        s.integers(0, 30),
        s.integers(0, 30),
    )


def child(pod: str) -> s.SearchStrategy[Child]:
    return s.builds(
        lambda created, lifetime, steps: Child(pod, created, created + lifetime, tuple(steps)),
        s.integers(0, SCRAPES - 1),
        s.integers(1, SCRAPES),
        s.lists(step(), min_size=SCRAPES, max_size=SCRAPES),
    )


children = s.lists(s.sampled_from("abcd"), min_size=1, max_size=4, unique=True).flatmap(
    lambda pods: s.tuples(*(child(pod) for pod in pods))
)
looks = s.tuples(s.integers(0, SCRAPES - 2), s.integers(1, SCRAPES - 1)).filter(
    lambda pair: pair[0] < pair[1]
)


def samples(found: list[tuple[Child, tuple[int, int]]], which: str) -> list[Sample]:
    """The series one selector matches: each child's requests, slow or fast counter."""
    out = []
    for c, (requests, slow) in found:
        if which == "requests":
            out.append(Sample({"pod": c.pod}, float(requests)))
        elif which == "fast":
            out.append(Sample({"pod": c.pod, "le": "0.25"}, float(requests - slow)))
        elif slow:  # an errors counter: the 5xx series exists once a request failed
            out.append(Sample({"pod": c.pod, "code": "500"}, float(slow)))
        if which == "all" and requests - slow:
            out.append(Sample({"pod": c.pod, "code": "200"}, float(requests - slow)))
    return out


def provider(kids: tuple[Child, ...], selectors: dict[str, str], scrapes: list[int]) -> History:
    answers: dict[tuple[str, datetime], Answer] = {}
    for scrape in scrapes:
        found = [(c, v) for c in kids if (v := c.values(scrape)) is not None]
        for selector, which in selectors.items():
            answers[selector, at(scrape)] = samples(found, which)
    return History(answers)


def measure(metric: MetricTemplate, history: History, start: int, now: int) -> Counts | NoData:
    return asyncio.run(
        counts(history, metric, VARIABLES, Role.CANARY, since=at(start), now=at(now))
    )


def check(result: Counts | NoData, kids: tuple[Child, ...], start: int, now: int) -> None:
    truths = [c.served(start, now) for c in kids]
    requests = sum(t[0] for t in truths)
    slow = sum(t[1] for t in truths)
    if isinstance(result, NoData):  # no series now: no child, or none that counted a request
        assert all(v is None or v[0] == 0 for v in (c.values(now) for c in kids))
        return
    assert 0 <= result.bad <= result.requests
    assert result.requests <= requests
    assert result.bad <= slow
    if not any(t[2] for t in truths):
        assert (result.requests, result.bad) == (requests, slow)


@given(kids=children, look=looks)
@settings(max_examples=200, deadline=None)
def test_error_counts_never_exceed_what_was_served(
    kids: tuple[Child, ...], look: tuple[int, int]
) -> None:
    start, now = look
    history = provider(kids, {REQUESTS: "all", FAILED: "failed"}, [start, now])
    check(measure(app_errors(), history, start, now), kids, start, now)


@given(kids=children, look=looks)
@settings(max_examples=200, deadline=None)
def test_latency_counts_never_exceed_what_was_served(
    kids: tuple[Child, ...], look: tuple[int, int]
) -> None:
    start, now = look
    history = provider(kids, {COUNT: "requests", FAST: "fast"}, [start, now])
    check(measure(app_latency(bound_seconds=0.25), history, start, now), kids, start, now)
