"""The scale bench's waits outlast an API server that is briefly behind, not a bad request."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from e2e.bench.scale.run import _wait
from e2e.bench.scale.settle import quiet

pytestmark = pytest.mark.unit


def test_a_check_answered_with_429_or_5xx_is_asked_again() -> None:
    answers: list[object] = [ApiException(status=504), ApiException(status=429), True]

    def check() -> bool:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return bool(answer)

    _wait("the cluster", check, timeout=5, every=0.01)
    assert answers == []


def test_a_check_refused_otherwise_fails_the_wait_at_once() -> None:
    def check() -> bool:
        raise ApiException(status=403)

    with pytest.raises(ApiException):
        _wait("the cluster", check, timeout=5, every=0.01)


def test_a_check_that_keeps_failing_times_out() -> None:
    def check() -> bool:
        raise ApiException(status=503)

    with pytest.raises(TimeoutError, match="waiting for the cluster"):
        _wait("the cluster", check, timeout=0.05, every=0.01)


def test_quiet_once_the_count_has_not_moved_for_the_time_asked() -> None:
    now, writes = [0.0], [10.0]
    at_rest = quiet(lambda: writes[0], for_s=5, clock=lambda: now[0])
    assert not at_rest()  # asked at once
    now[0], writes[0] = 4.0, 12.0  # Events still going out
    assert not at_rest()
    now[0] = 8.0  # 4 s since the last write
    assert not at_rest()
    now[0] = 9.0
    assert at_rest()
    writes[0] = 13.0  # one more write starts the 5 s again
    assert not at_rest()
    now[0] = 13.9
    assert not at_rest()
    now[0] = 14.0
    assert at_rest()
