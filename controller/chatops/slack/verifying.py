"""Is this request Slack's, and new? Signature, age and replay, checked before anything else.

Slack signs every request: ``X-Slack-Signature`` is ``v0=`` and the hex
HMAC-SHA256, keyed with the app's signing secret, of ``v0:<timestamp>:<raw body>``,
with the timestamp in ``X-Slack-Request-Timestamp``. :class:`RequestVerifier`
checks it with ``slack_sdk.signature.SignatureVerifier`` (constant-time compare,
a timestamp at most 300 s from now), then refuses a signature it has already
accepted: a request captured on the way (a proxy's log, a mirrored port) is
refused when sent again, however quickly.

Seen signatures are kept until their timestamp leaves the window (after that the
age check refuses them anyway), at most ``capacity`` of them; when full, the
oldest is forgotten first. The default holds far more requests than a Slack app
receives in five minutes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from slack_sdk.signature import Clock, SignatureVerifier

__all__ = ["WINDOW_SECONDS", "Rejected", "RequestVerifier"]

WINDOW_SECONDS = 300


@dataclass(frozen=True)
class Rejected:
    """Why a request was refused (logged; the sender gets only 401)."""

    reason: str


class _InjectedClock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class RequestVerifier:
    """Accepts each correctly signed, recent request once; thread-safe."""

    def __init__(
        self,
        signing_secret: str,
        *,
        clock: Callable[[], float] = time.time,
        capacity: int = 100_000,
    ) -> None:
        self._signatures = SignatureVerifier(signing_secret, clock=_InjectedClock(clock))
        self._clock = clock
        self._capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, body: bytes, headers: Mapping[str, str]) -> Rejected | None:
        """None if the request is Slack's and new, else why not."""
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("x-slack-request-timestamp", "")
        signature = lowered.get("x-slack-signature", "")
        if not timestamp or not signature:
            return Rejected("missing X-Slack-Request-Timestamp or X-Slack-Signature")
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            return Rejected("the timestamp is not a number")
        if abs(self._clock() - int(timestamp)) > WINDOW_SECONDS:
            return Rejected("the timestamp is more than five minutes from now")
        try:
            valid = self._signatures.is_valid(body=body, timestamp=timestamp, signature=signature)
        except UnicodeDecodeError:  # the SDK signs text: a body that is not UTF-8 is not Slack's
            return Rejected("the body is not UTF-8")
        if not valid:
            return Rejected("the signature does not match")
        return self._first_time(signature, expires=int(timestamp) + WINDOW_SECONDS)

    def _first_time(self, signature: str, *, expires: int) -> Rejected | None:
        now = self._clock()
        with self._lock:
            while self._seen:
                oldest, until = next(iter(self._seen.items()))
                if until >= now and len(self._seen) < self._capacity:
                    break
                del self._seen[oldest]
            if signature in self._seen:
                return Rejected("the same signed request was already received (replay)")
            self._seen[signature] = expires
        return None

    def __len__(self) -> int:
        return len(self._seen)
