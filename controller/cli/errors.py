"""The one exception the command line reports to the user, and API errors turned into it."""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException

from controller.kube.errors import api_error

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
    error = api_error(err)
    message = error.message or f"the server answered {err.status} {err.reason or ''}".rstrip()
    reason = error.reason or err.status
    return CliError(f"Error from server ({reason}): {message}", status=err.status)
