"""The one exception the command line reports to the user, and API errors turned into it."""

from __future__ import annotations

import json

from controller.redaction import redact_text

__all__ = ["CliError", "api_failure"]


class CliError(Exception):
    """A failure explained to the user in one line; ``main`` prints it and exits with ``code``."""

    def __init__(self, message: str, *, code: int = 1, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        """The API server's HTTP status, when it answered one."""


def api_failure(status: int, reason: str, body: bytes | str | None) -> CliError:
    """The API server's own message, the way kubectl shows it: from its ``Status`` body,
    else the body itself, else the status line; credentials in it (a proxy in front of
    the API server may echo the request's ``Authorization``) are redacted, as the
    controller's log lines are, since a CLI's output often lands in a CI job's log."""
    message = ""
    if body:
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        try:
            parsed = json.loads(text)
        except ValueError:
            message = text.strip()
        else:
            if isinstance(parsed, dict):
                message = str(parsed.get("message") or "")
                reason = str(parsed.get("reason") or reason)
            else:
                message = text.strip()
    message = redact_text(message) or f"the server answered {status} {reason or ''}".rstrip()
    return CliError(f"Error from server ({reason or status}): {message}", status=status)
