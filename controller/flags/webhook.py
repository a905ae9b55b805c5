"""The webhook provider: your own endpoint switches the flag, told by a signed JSON POST.

For a flag system Landing Gear has no provider for, the Rollout names a URL
(``webhook.url``) and a signing key (``webhook.secretRef``). The URL must be
under one of the admin's allowed flag endpoints (:mod:`controller.flags.endpoints`):
anything else is refused before the key is read or a request is made. Each
switch is one ``POST``, never redirected, bounded by ``timeout``.

The request
    Body: canonical JSON (keys sorted, no spaces, ASCII)::

        {"action": "off"|"restore", "flag": "<handle>", "previous": "<text>",
         "reason": "<why>", "rollout": "<namespace>/<name>"}

    ``previous`` only on restore (what the endpoint answered to the off);
    ``reason`` is empty on restore (the Rollout's status and Events say why).
    Headers:

    - ``X-Landinggear-Timestamp``: Unix seconds when it was signed;
    - ``X-Landinggear-Signature``: ``sha256=`` + hex HMAC-SHA256 of
      ``<timestamp>.<body>`` with the key — check it with :func:`verify`, which
      also refuses timestamps more than 5 minutes away (replays);
    - ``X-Landinggear-Delivery``: an id of the intent (rollout, flag, action and
      reason; for a restore, the previous text), the same on every retry. A
      receiver that sees the id it last applied for that rollout and flag is
      looking at a retry; the same id after another one (off, restore, off again
      for the same reason) is a new intent.

The answer
    Any 2xx means done. The body of the answer to an off may be JSON with a
    ``previous`` string: what the flag was, returned to the core, kept in the
    Rollout's status, and sent back with the restore. Any other status is an
    error carrying the status and a short, printable excerpt of the body; the
    core retries with backoff.

The receiver's duties
    Retries are certain (lost answers, controller restarts), so both actions
    must be idempotent. Several Rollouts may name the same flag: the receiver
    counts holders (``rollout`` + ``flag``), switches off on the first off and
    puts the flag back only when the last holder has restored it — Landing Gear
    keeps no count for webhooks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from controller.flags import FlagError, FlagTarget
from controller.flags.endpoints import EndpointPolicy
from controller.flags.http import Answer, excerpt, exchange, scrub
from controller.flags.secrets import SecretSource

__all__ = ["WebhookProvider", "canonical", "delivery_id", "sign", "verify"]

TIMESTAMP_HEADER = "X-Landinggear-Timestamp"
SIGNATURE_HEADER = "X-Landinggear-Signature"
DELIVERY_HEADER = "X-Landinggear-Delivery"
SIGNATURE_PREFIX = "sha256="
REPLAY_TOLERANCE = 300.0
MAX_PREVIOUS = 32768
"""What the status can keep of ``previous`` (``status.featureFlags[].previous``)."""


def canonical(payload: dict[str, Any]) -> bytes:
    """The one JSON text of ``payload`` that is signed and sent."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Landinggear-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify(
    key: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float,
    tolerance: float = REPLAY_TOLERANCE,
) -> bool:
    """Whether ``signature`` is ours for ``body`` at ``timestamp``, and ``timestamp`` is
    within ``tolerance`` seconds of ``now``. Constant-time; never raises."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 15):
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = sign(key, timestamp, body).encode("ascii")
    return hmac.compare_digest(expected, signature.encode("utf-8", errors="replace"))


def delivery_id(payload: dict[str, Any]) -> str:
    """The same id for every delivery of one intent (the payload, without its timestamp)."""
    return hashlib.sha256(canonical(payload)).hexdigest()[:32]


class WebhookProvider:
    """Switches flags by POSTing signed JSON to the Rollout's webhook URL."""

    kind = "webhook"

    def __init__(
        self,
        secrets: SecretSource,
        endpoints: EndpointPolicy,
        *,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secrets = secrets
        self.endpoints = endpoints
        self.timeout = timeout
        self.client = client or httpx.Client(follow_redirects=False, timeout=timeout)
        self.clock = clock

    def close(self) -> None:
        self.client.close()

    def switch_off(self, target: FlagTarget, *, reason: str) -> str:
        answer = self._deliver(target, {"action": "off", "reason": reason})
        return _previous(answer, where=_where(target))

    def restore(self, target: FlagTarget, *, previous: str) -> None:
        self._deliver(target, {"action": "restore", "reason": "", "previous": previous})

    def _deliver(self, target: FlagTarget, fields: dict[str, str]) -> Answer:
        spec = target.flag.webhook
        if spec is None:
            raise FlagError(f"flag {target.flag.name} is not a webhook flag")
        self.endpoints.check(spec.url)
        where = _where(target)
        key = ""
        try:
            key = self.secrets.read(target.namespace, spec.secret_ref)
            payload = {
                "rollout": f"{target.namespace}/{target.rollout}",
                "flag": target.flag.name,
                **fields,
            }
            body = canonical(payload)
            timestamp = str(int(self.clock()))
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(key.encode("utf-8"), timestamp, body),
                DELIVERY_HEADER: delivery_id(payload),
            }
            answer = exchange(
                self.client,
                "POST",
                spec.url,
                where=where,
                timeout=self.timeout,
                headers=headers,
                content=body,
            )
            if not 200 <= answer.status < 300:
                raise FlagError(_refused(answer, where=where))
            return answer
        except FlagError as err:
            raise FlagError(scrub(str(err), key)) from None
        except Exception as err:  # never anything but FlagError out of a provider
            raise FlagError(
                f"{where}: unexpected {type(err).__name__}: {scrub(str(err), key)}"
            ) from None


def _where(target: FlagTarget) -> str:
    """The webhook, named without its query (where a token might hide)."""
    url = target.flag.webhook.url if target.flag.webhook else ""
    parts = urlsplit(url)
    return f"webhook {parts.scheme}://{parts.netloc}{parts.path} (flag {target.flag.name})"


def _refused(answer: Answer, *, where: str) -> str:
    said = excerpt(answer.body)
    if 300 <= answer.status < 400:
        location = excerpt(answer.headers.get("Location", "").encode("utf-8"), limit=120)
        return (
            f"{where} answered {answer.status} {answer.reason} to {location or 'nowhere'}; "
            "redirects are not followed"
        )
    return f"{where} answered {answer.status} {answer.reason}" + (f": {said}" if said else "")


def _previous(answer: Answer, *, where: str) -> str:
    """The ``previous`` string of an off's answer; empty if the answer has none."""
    try:
        parsed = json.loads(answer.body) if answer.body.strip() else None
    except ValueError:
        if answer.truncated:
            raise FlagError(f"{where} answered with more than the controller reads") from None
        return ""
    previous = parsed.get("previous") if isinstance(parsed, dict) else None
    if not isinstance(previous, str):
        return ""
    if len(previous) > MAX_PREVIOUS:
        raise FlagError(
            f"{where} answered with a previous longer than {MAX_PREVIOUS} characters; "
            "the Rollout's status cannot keep it"
        )
    return previous
