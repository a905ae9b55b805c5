"""API errors in words: the HTTP status code, the reason and the API server's message.

``repr`` of the client's ``ApiException`` is ``ApiException()`` and its ``str`` spans
lines of headers; every error the controller logs, or puts in a message, goes
through :func:`describe` instead, e.g. ``403 Forbidden: leases.coordination.k8s.io
"lg" is forbidden: User "system:serviceaccount:ns:sa" cannot get resource …``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from kubernetes.client.exceptions import ApiException

__all__ = ["ApiError", "api_error", "describe"]


@dataclass(frozen=True, kw_only=True)
class ApiError:
    """What the API server answered: ``status`` is None when no answer arrived."""

    status: int | None
    reason: str
    """The ``Status`` object's reason (``NotFound``), else the HTTP reason phrase."""
    message: str
    """The ``Status`` object's message, or the body when it is not a ``Status``; may be ""."""

    def __str__(self) -> str:
        head = " ".join(part for part in (str(self.status or ""), self.reason) if part)
        head = head or "no answer from the API server"
        return f"{head}: {self.message}" if self.message else head


def api_error(err: ApiException) -> ApiError:
    """The status, reason and message of ``err``, read from its ``Status`` body if any."""
    reason = str(err.reason or "")
    message = ""
    body = err.body
    if body:
        try:
            status = json.loads(body)
        except ValueError:
            message = str(body).strip()
        else:
            if isinstance(status, dict):
                message = str(status.get("message") or "")
                reason = str(status.get("reason") or reason)
            else:
                message = str(body).strip()
    return ApiError(status=err.status, reason=reason, message=message)


def describe(err: BaseException) -> str:
    """One line for a log or a message: :class:`ApiError` for API errors, else the
    exception's type and text (``ConnectionRefusedError: [Errno 111] …``)."""
    if isinstance(err, ApiException):
        return str(api_error(err))
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
