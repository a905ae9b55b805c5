"""One bounded HTTP exchange for the flag providers that speak HTTP (LaunchDarkly, webhooks).

:func:`exchange` sends one request with httpx and reads its answer under three
bounds: httpx's own timeouts (each connect, write and read), one deadline for
the whole exchange (a server that trickles its answer cannot hold a reconcile
past it), and a size limit on the body kept (the rest is not read). Redirects
are never followed: a 3xx is an answer like any other, so an allowed server
cannot send the request, and its credentials, somewhere else.

Every failure to get an answer — refused connection, TLS, timeout, a URL httpx
will not send — is a :class:`~controller.flags.FlagError` naming the exchange
and the cause; nothing else escapes. :func:`scrub` takes a credential out of any
text before it goes into an error, and :func:`excerpt` makes a short, printable
quote of an answer's body for one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from controller.flags import FlagError
from controller.redaction import scrub

__all__ = ["Answer", "excerpt", "exchange", "scrub"]

MAX_ANSWER_BYTES = 256 * 1024
"""More of an answer's body is not read (flag answers are small)."""
EXCERPT_CHARS = 200


@dataclass(frozen=True, kw_only=True)
class Answer:
    """A server's answer: status, headers, and the body (at most ``limit`` bytes of it)."""

    status: int
    reason: str
    headers: httpx.Headers
    body: bytes
    truncated: bool = False


def exchange(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    where: str,
    timeout: float,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None = None,
    content: bytes | None = None,
    limit: int = MAX_ANSWER_BYTES,
) -> Answer:
    """Send one request and read its answer within ``timeout`` seconds in all.

    Raises :class:`FlagError` (``"<where>: <cause>"``) when no complete answer came.
    """
    deadline = time.monotonic() + timeout
    try:
        with client.stream(
            method,
            url,
            params=params,
            headers=dict(headers),
            content=content,
            timeout=timeout,
            follow_redirects=False,
        ) as response:
            body = bytearray()
            truncated = False
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    del body[limit:]
                    truncated = True
                    break
                if time.monotonic() > deadline:
                    raise FlagError(f"{where}: no complete answer within {timeout:g}s")
            return Answer(
                status=response.status_code,
                reason=response.reason_phrase,
                headers=response.headers,
                body=bytes(body),
                truncated=truncated,
            )
    except httpx.TimeoutException as err:
        raise FlagError(f"{where}: no answer within {timeout:g}s ({type(err).__name__})") from None
    except httpx.InvalidURL as err:
        raise FlagError(f"{where}: httpx will not send to this URL ({err})") from None
    except (httpx.HTTPError, OSError) as err:
        cause = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise FlagError(f"{where}: {cause}") from None


def excerpt(body: bytes, *, limit: int = EXCERPT_CHARS) -> str:
    """The body as one printable line of at most ``limit`` characters (for error messages)."""
    text = body.decode("utf-8", errors="replace")
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    line = " ".join(printable.split())
    if len(line) <= limit:
        return line
    return line[: limit - 1].rstrip() + "…"
