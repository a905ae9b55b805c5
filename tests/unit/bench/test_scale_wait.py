"""The scale bench's waits outlast an API server that is briefly behind, not a bad request."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from e2e.bench.scale.run import _wait

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
