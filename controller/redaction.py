"""Secrets scrubbed from whatever is about to be logged or said: defence in depth.

:func:`scrub` takes known secrets out of a message built from a server's
answer (which may echo the request). The controller never puts a credential
into a message on purpose: each secret it handles is tested with canary values
that must never show up in a log line, an Event or a status. The structlog
processor :func:`redact_event` catches what slips through anyway, in
structlog's events and in the standard library's records alike
(:mod:`controller.logs`):

- a field whose name says it holds a credential (``token``, ``password``,
  ``secret``, ``authorization``, ``api_key``, ``cookie`` …) loses its value;
- in any text: an ``Authorization:`` header's value, a ``Bearer``/``Basic``
  credential, the user information of a URL (``https://user:pass@host``) and
  ``token=``/``password=``-like query parameters are replaced by ``[REDACTED]``.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

__all__ = ["REDACTED", "redact_event", "redact_text", "scrub"]

REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(^|_|-)(token|password|passwd|secret|authorization|api_?key|cookie|credentials?)($|_|-)",
    re.IGNORECASE,
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer abc / "authorization": "Basic abc" / Proxy-Authorization=...
    (
        re.compile(
            r"""((?:proxy-)?authorization['"]?\s*[:=]\s*['"]?)[^'"\r\n,}]+""", re.IGNORECASE
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE), rf"\1 {REDACTED}"),
    (re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]+@", re.IGNORECASE), rf"\1{REDACTED}@"),
    (
        re.compile(
            r"([?&;](?:access_?token|token|api_?key|apikey|password|secret|sig)=)[^&\s'\"]+",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
)


def scrub(text: str, *secrets: str) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``: for a message
    built from what a server answered, which may echo the request's credentials."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def redact_text(text: str) -> str:
    """``text`` with credentials in headers, URLs and query strings replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if _secret_key(k) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    return value


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


def redact_event(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: scrub every field (run it after ``format_exc_info``)."""
    del logger, method_name
    for key, value in list(event_dict.items()):
        if _secret_key(key) and value is not None:
            event_dict[key] = REDACTED
        elif isinstance(value, str | dict | list | tuple):
            event_dict[key] = _redact(value)
    return event_dict
