"""Every write request an ``ApiClient`` sends, reported as it leaves.

:class:`WriteCountingApiClient` calls ``on_write(verb, resource)`` once per
write attempt that leaves the process (a retry after a 429 is another write;
a write the fence refuses never leaves and is not reported). ``verb`` is the
API server's name for it (``create``, ``update``, ``patch``, ``delete``), the
same word its audit log uses; ``resource`` is the plural, with the subresource
after a slash (``rollouts/status``). Reads go to ``on_read(verb, resource)`` the
same way, ``verb`` being ``get``, ``list`` or ``watch``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from kubernetes.client import ApiClient, Configuration
from kubernetes.client.rest import RESTResponse

from controller.kube.fencing import READ_METHODS

__all__ = ["OnRead", "OnWrite", "WriteCountingApiClient", "read_verb_of", "resource_of", "verb_of"]

OnWrite = Callable[[str, str], None]
"""Called with ``(verb, resource)`` right before a write request is sent."""
OnRead = Callable[[str, str], None]
"""Called with ``(verb, resource)`` right before a read request is sent."""

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def verb_of(method: str) -> str:
    """The API server's verb for an HTTP write ``method`` (``POST`` → ``create``)."""
    return _VERBS.get(method.upper(), method.lower())


def read_verb_of(url: str) -> str:
    """The API server's verb for a read of ``url``: ``watch``, ``list`` or ``get``."""
    split = urlsplit(url)
    if any(pair in ("watch=true", "watch=1", "watch=True") for pair in split.query.split("&")):
        return "watch"
    return "get" if len(_resource_parts(split.path)) >= 2 else "list"


def resource_of(url: str) -> str:
    """The resource a request URL addresses: ``events``, ``rollouts/status``, ``leases``."""
    parts = _resource_parts(urlsplit(url).path)
    if not parts:
        return ""
    return f"{parts[0]}/{parts[2]}" if len(parts) > 2 else parts[0]


def _resource_parts(path: str) -> list[str]:
    """``[plural]``, ``[plural, name]`` or ``[plural, name, subresource]``."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        parts = parts[2:]
    elif parts[:1] == ["apis"]:
        parts = parts[3:]
    if len(parts) > 2 and parts[0] == "namespaces":
        parts = parts[2:]
    return parts


class WriteCountingApiClient(ApiClient):
    """An ``ApiClient`` that reports each write request to ``on_write`` as it leaves,
    and each read to ``on_read``."""

    def __init__(
        self,
        configuration: Configuration | None = None,
        *,
        on_write: OnWrite | None = None,
        on_read: OnRead | None = None,
    ) -> None:
        super().__init__(configuration)
        self.on_write = on_write
        self.on_read = on_read

    def call_api(
        self,
        method: Any,
        url: Any,
        header_params: Any = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
    ) -> RESTResponse:
        if str(method).upper() not in READ_METHODS:
            if self.on_write is not None:
                self.on_write(verb_of(str(method)), resource_of(str(url)))
        elif self.on_read is not None:
            self.on_read(read_verb_of(str(url)), resource_of(str(url)))
        return super().call_api(
            method, url, header_params, body, post_params, _request_timeout=_request_timeout
        )
