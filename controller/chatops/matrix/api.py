"""The few Matrix client-server API calls the bot makes, over ``httpx``.

``whoami`` (the bot's own user id), ``join`` (a room id or alias), ``resolve``
(an alias to a room id), ``sync`` (long-polled, from a ``since`` token) and
``send`` (one ``m.room.message``; edits are messages too). That is the whole
surface, so it is written here against the spec (v3 endpoints) rather than
pulled in with a full client SDK.

- ``send`` is idempotent: the transaction id is chosen once and reused on every
  retry, so a retried send after a lost answer never posts twice (the homeserver
  deduplicates on it).
- A 429 (``M_LIMIT_EXCEEDED``) is waited out (``retry_after_ms``, at most 30 s)
  and retried; a network error is retried with a short backoff. Other errors
  raise :class:`MatrixError` with the Matrix ``errcode``.
- Every request has a timeout: ``sync``'s is the long-poll plus a margin.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from controller.redaction import scrub

__all__ = ["MatrixApi", "MatrixError"]

_V3 = "/_matrix/client/v3"
_ATTEMPTS = 4
_MAX_RETRY_AFTER = 30.0


class MatrixError(RuntimeError):
    """The homeserver refused a request (``errcode`` e.g. ``M_FORBIDDEN``), or could not
    be reached (``errcode`` ``NETWORK``)."""

    def __init__(self, what: str, *, status: int, errcode: str, message: str = "") -> None:
        super().__init__(f"{what}: {status} {errcode} {message}".rstrip())
        self.status = status
        self.errcode = errcode


class MatrixApi:
    """A homeserver's client-server API, for one access token. Thread-safe."""

    def __init__(
        self,
        homeserver: str,
        token: str,
        *,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.homeserver + _V3,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "landinggear-chatops"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def whoami(self) -> str:
        """The user id the token belongs to."""
        return str(self._call("GET", "/account/whoami", what="whoami")["user_id"])

    def join(self, room: str) -> str:
        """Join a room by id or alias (accepting an invite, or a public room); its room id."""
        answer = self._call("POST", f"/join/{quote(room, safe='')}", body={}, what=f"join {room}")
        return str(answer["room_id"])

    def resolve(self, alias: str) -> str:
        """The room id an alias (``#ops:example.org``) points at."""
        path = f"/directory/room/{quote(alias, safe='')}"
        return str(self._call("GET", path, what=f"resolve {alias}")["room_id"])

    def sync(
        self, *, since: str | None, timeout: float, sync_filter: Mapping[str, Any]
    ) -> dict[str, Any]:
        """One ``/sync``, held by the server up to ``timeout`` seconds when nothing is new."""
        params = {"timeout": str(int(timeout * 1000)), "filter": json.dumps(sync_filter)}
        if since is not None:
            params["since"] = since
        return self._call(
            "GET", "/sync", params=params, what="sync", read_timeout=timeout + self.timeout
        )

    def send(self, room_id: str, content: Mapping[str, Any]) -> str:
        """Send one ``m.room.message`` (retried under one transaction id); its event id."""
        txn = uuid.uuid4().hex
        path = f"/rooms/{quote(room_id, safe='')}/send/m.room.message/{txn}"
        answer = self._call("PUT", path, body=dict(content), what=f"send to {room_id}")
        return str(answer["event_id"])

    def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> dict[str, Any]:
        timeout = httpx.Timeout(self.timeout, read=read_timeout or self.timeout)
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                response = self._http.request(
                    method, path, json=body, params=params, timeout=timeout
                )
            except httpx.TransportError as err:
                if attempt == _ATTEMPTS:
                    text = scrub(repr(err), self._token)
                    raise MatrixError(what, status=0, errcode="NETWORK", message=text) from err
                self._sleep(0.5 * attempt)
                continue
            answer = _json(response)
            if response.status_code == 429 and attempt < _ATTEMPTS:
                wait = float(answer.get("retry_after_ms", 1000)) / 1000
                self._sleep(min(max(wait, 0.05), _MAX_RETRY_AFTER))
                continue
            if response.is_success:
                return answer
            raise MatrixError(
                what,
                status=response.status_code,
                errcode=str(answer.get("errcode", "M_UNKNOWN")),
                message=scrub(str(answer.get("error", "")), self._token)[:200],
            )
        raise AssertionError("unreachable")  # pragma: no cover


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
