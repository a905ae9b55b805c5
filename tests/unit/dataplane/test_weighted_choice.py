"""Each request goes to a revision with probability proportional to its Ready pods."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from e2e.dataplane.traffic import RevisionCounts, Route, choose_route

STABLE = Route(revision="stable", address="127.0.0.1:1001", weight=3)
CANARY = Route(revision="canary", address="127.0.0.1:1002", weight=1)


def test_choices_follow_the_ready_pod_ratio() -> None:
    rng = random.Random(42)
    picks = Counter(choose_route([STABLE, CANARY], rng).revision for _ in range(20_000))
    assert picks["canary"] / 20_000 == pytest.approx(0.25, abs=0.015)


def test_a_revision_without_ready_pods_gets_nothing() -> None:
    idle = Route(revision="idle", address="127.0.0.1:1003", weight=0)
    rng = random.Random(1)
    picks = {choose_route([idle, CANARY], rng) for _ in range(500)}
    assert picks == {CANARY}


def test_no_ready_pods_anywhere_means_no_route() -> None:
    assert choose_route([], random.Random(1)) is None
    assert (
        choose_route([Route(revision="x", address="127.0.0.1:1", weight=0)], random.Random(1))
        is None
    )


def test_the_same_seed_gives_the_same_choices() -> None:
    def run(seed: int) -> list[str]:
        rng = random.Random(seed)
        return [choose_route([STABLE, CANARY], rng).revision for _ in range(100)]

    assert run(7) == run(7)
    assert run(7) != run(8)


@pytest.mark.parametrize("address", ["10.0.0.1:80", "example.com:80", "192.168.1.2:8080"])
def test_routes_off_loopback_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        Route(revision="r", address=address, weight=1)


@pytest.mark.parametrize("address", ["127.0.0.1:80", "localhost:8080", "[::1]:9000", "127.0.0.5:1"])
def test_loopback_routes_are_accepted(address: str) -> None:
    assert Route(revision="r", address=address, weight=1).address == address


def test_error_ratio_counts_5xx_and_unanswered_requests() -> None:
    assert RevisionCounts(sent=10, ok=6, errors=3, failed=1).error_ratio == pytest.approx(0.4)
    assert RevisionCounts().error_ratio == 0.0
