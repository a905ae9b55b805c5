"""The signature check, the five-minute window and the replay cache, with time injected."""

from __future__ import annotations

import pytest

from controller.chatops.slack.verifying import WINDOW_SECONDS, RequestVerifier
from tests.support.slack import SECRET, signed_headers

NOW = 1_800_000_000


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


def _request(n: int, at: int = NOW) -> tuple[bytes, dict[str, str]]:
    body = f"text=status+a%2Fb&n={n}".encode()
    return body, signed_headers(body, timestamp=at)


def test_each_signed_request_is_accepted_once() -> None:
    verifier = RequestVerifier(SECRET, clock=Clock())
    body, headers = _request(1)
    assert verifier.check(body, headers) is None
    rejected = verifier.check(body, headers)
    assert rejected is not None
    assert "replay" in rejected.reason


def test_the_window_is_five_minutes_either_way() -> None:
    clock = Clock()
    verifier = RequestVerifier(SECRET, clock=clock)
    assert verifier.check(*_request(1, at=NOW - WINDOW_SECONDS)) is None
    assert verifier.check(*_request(2, at=NOW + WINDOW_SECONDS)) is None
    for at in (NOW - WINDOW_SECONDS - 1, NOW + WINDOW_SECONDS + 1):
        rejected = verifier.check(*_request(3, at=at))
        assert rejected is not None
        assert "five minutes" in rejected.reason


def test_a_signature_is_forgotten_once_the_window_refuses_it_anyway() -> None:
    clock = Clock()
    verifier = RequestVerifier(SECRET, clock=clock)
    old = _request(1)
    verifier.check(*old)
    clock.now += WINDOW_SECONDS + 1
    verifier.check(*_request(2, at=int(clock.now)))
    assert len(verifier) == 1  # the first is gone
    rejected = verifier.check(*old)
    assert rejected is not None
    assert "five minutes" in rejected.reason  # still refused, by its age


def test_the_cache_is_bounded() -> None:
    verifier = RequestVerifier(SECRET, clock=Clock(), capacity=10)
    for n in range(25):
        assert verifier.check(*_request(n)) is None
    assert len(verifier) == 10


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"text=x", {"X-Slack-Request-Timestamp": str(NOW)}),
        (b"text=x", {"X-Slack-Signature": "v0=00"}),
        (b"text=x", {"X-Slack-Request-Timestamp": "1e9", "X-Slack-Signature": "v0=00"}),
        (b"text=x", {"X-Slack-Request-Timestamp": "\u0661\u0662", "X-Slack-Signature": "v0=00"}),
        (b"\xff\xfe", {"X-Slack-Request-Timestamp": str(NOW), "X-Slack-Signature": "v0=00"}),
        (b"text=x", {"x-slack-request-timestamp": str(NOW), "x-slack-signature": "v0=zz"}),
    ],
)
def test_anything_else_is_refused_without_raising(body: bytes, headers: dict[str, str]) -> None:
    assert RequestVerifier(SECRET, clock=Clock()).check(body, headers) is not None
