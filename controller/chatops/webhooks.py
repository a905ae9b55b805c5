"""Release notes sent over plain HTTPS: Microsoft Teams cards and a signed JSON webhook.

Both are one ``POST`` per change, bounded by a timeout, never redirected (a
redirect is an error: the URL is the admin's, and a signed body or a secret URL
must not be forwarded elsewhere). Any 2xx is success; anything else raises, and
the notifier retries with backoff.

:class:`TeamsSink`
    An incoming-webhook or Workflows ("Post to a channel when a webhook request is
    received") URL, posted an Adaptive Card: the headline (coloured by severity),
    the lines, and the commands that apply now as text to type — Teams gets no
    inbound actions. Teams cannot edit a card sent this way, so an update posts a
    new card.

:class:`WebhookSink`
    Canonical JSON of the note (keys sorted, no spaces, ASCII)::

        {"event": "posted"|"updated", "handle": "<ns>/<rollout>/<revision>",
         "note": {"namespace", "rollout", "revision", "headline", "lines",
                  "actions", "done", "severity", "tags"}}

    signed as the flag webhook is (:mod:`controller.flags.webhook`):
    ``X-Landinggear-Timestamp``, ``X-Landinggear-Signature: sha256=<hex HMAC-SHA256
    of "<timestamp>.<body>">`` (check it with :func:`controller.flags.webhook.verify`,
    which also refuses stale timestamps), and ``X-Landinggear-Delivery``, the same on
    every retry of one message. ``handle`` groups the messages of one release.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from controller.chatops.notes import ReleaseNote
from controller.flags.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    canonical,
    sign,
)
from controller.redaction import scrub

__all__ = ["HttpError", "TeamsSink", "WebhookSink", "adaptive_card", "note_json"]

_COLOURS = {"info": "Default", "warning": "Warning", "danger": "Attention"}


class HttpError(Exception):
    """A destination answered something other than 2xx (or redirected)."""


def _post(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    secrets: tuple[str, ...] = (),
) -> None:
    """POST; raise :class:`HttpError` with an excerpt of the answer, ``secrets`` taken
    out of it (a server may echo the request back)."""
    response = client.post(
        url, content=body, headers={"Content-Type": "application/json", **headers}
    )
    if not response.is_success:
        text = scrub(response.text, *secrets)
        excerpt = "".join(c if c.isprintable() else "?" for c in text[:200])
        raise HttpError(f"answered {response.status_code}: {excerpt}")


def _url_secrets(url: str) -> tuple[str, ...]:
    """The parts of a secret URL a server could echo: whole, its path, its query."""
    parts = urlsplit(url)
    return tuple(p for p in (url, parts.path, parts.query) if len(p) > 1)


def _client(timeout: float, transport: httpx.BaseTransport | None) -> httpx.Client:
    return httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)


def adaptive_card(note: ReleaseNote) -> dict[str, Any]:
    """The Teams message of ``note``: one Adaptive Card."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": note.headline, "weight": "Bolder", "wrap": True,
         "color": _COLOURS.get(note.severity, "Default")},
        *({"type": "TextBlock", "text": line, "wrap": True, "spacing": "Small"}
          for line in note.lines),
    ]  # fmt: skip
    if note.actions:
        commands = ", ".join(f"`{verb.words} {note.target}`" for verb in note.actions)
        body.append({"type": "TextBlock", "text": f"Commands: {commands}", "wrap": True,
                     "isSubtle": True})  # fmt: skip
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                },
            }
        ],
    }


class TeamsSink:
    """One Teams webhook URL (a secret: never logged); see the module docstring."""

    def __init__(
        self, url: str, *, name: str, timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:  # fmt: skip
        self.name = name
        self._url = url
        self._client = _client(timeout, transport)

    def post(self, note: ReleaseNote) -> str:
        self.update("", note)
        return f"{note.target}/{note.revision}"

    def update(self, handle: str, note: ReleaseNote) -> None:
        del handle
        card = canonical(adaptive_card(note))
        _post(self._client, self._url, card, {}, secrets=_url_secrets(self._url))


def note_json(note: ReleaseNote) -> dict[str, Any]:
    """``note`` as JSON values."""
    return {
        "namespace": note.namespace,
        "rollout": note.rollout,
        "revision": note.revision,
        "headline": note.headline,
        "lines": list(note.lines),
        "actions": [verb.words for verb in note.actions],
        "done": note.done,
        "severity": note.severity,
        "tags": list(note.tags),
    }


class WebhookSink:
    """One signed webhook; see the module docstring."""

    def __init__(
        self, url: str, *, name: str, key: bytes, timeout: float,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.name = name
        self._url = url
        self._key = key
        self._clock = clock
        self._client = _client(timeout, transport)

    def post(self, note: ReleaseNote) -> str:
        handle = f"{note.target}/{note.revision}"
        self._send("posted", handle, note)
        return handle

    def update(self, handle: str, note: ReleaseNote) -> None:
        self._send("updated", handle, note)

    def _send(self, event: str, handle: str, note: ReleaseNote) -> None:
        body = canonical({"event": event, "handle": handle, "note": note_json(note)})
        stamp = str(int(self._clock()))
        headers = {
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(self._key, stamp, body),
            DELIVERY_HEADER: hashlib.sha256(body).hexdigest()[:32],
        }
        _post(self._client, self._url, body, headers, secrets=(self._key.decode(errors="replace"),))
