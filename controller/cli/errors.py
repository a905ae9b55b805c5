"""The one exception the command line reports to the user, and API errors turned into it."""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException

__all__ = ["CliError", "from_api_exception"]


class CliError(Exception):
    """A failure explained to the user in one line; ``main`` prints it and exits with ``code``."""

    def __init__(self, message: str, *, code: int = 1, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        """The API server's HTTP status, when it answered one."""


def from_api_exception(err: ApiException) -> CliError:
    """The API server's own message, the way kubectl shows it."""
    message = ""
    reason = str(err.reason or "")
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
    if not message:
        message = f"the server answered {err.status} {err.reason or ''}".rstrip()
    return CliError(f"Error from server ({reason or err.status}): {message}", status=err.status)
