"""Listing and watching one resource type, as plain dicts, for an informer.

:class:`ListWatch` is the seam between :class:`~controller.kube.informer.Informer`
and the API server: :class:`KubeListWatch` talks to a real one through an
``ApiClient``; tests substitute an in-memory fake. A watch yields raw watch
events (``{"type": ..., "object": {...}}``) and ends quietly when the server
closes it (``timeoutSeconds``) or it stays silent longer than ``read_timeout``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
import urllib3
from kubernetes.client import ApiClient

from controller.kube.objects import KubeObject
from controller.kube.transport import Resource, open_request, request_json

__all__ = ["KubeListWatch", "ListPage", "ListWatch", "WatchStream"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ListPage:
    """One page of a list: its items, the list's resourceVersion, and the continue token."""

    items: list[KubeObject]
    resource_version: str
    continue_token: str


class WatchStream(Protocol):
    """An open watch: iterate for events; ``close`` from any thread ends the iteration."""

    def __iter__(self) -> Iterator[KubeObject]: ...

    def close(self) -> None: ...


class ListWatch(Protocol):
    """Lists and watches one resource type with fixed selectors."""

    def list_page(self, *, limit: int, continue_token: str | None) -> ListPage: ...

    def watch(self, *, resource_version: str, timeout_seconds: int) -> WatchStream: ...


class _HttpWatchStream:
    """Newline-delimited JSON events from a streaming HTTP response."""

    def __init__(self, response: urllib3.BaseHTTPResponse, what: str) -> None:
        self._response = response
        self._what = what
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[KubeObject]:
        buffer = bytearray()
        try:
            for chunk in self._response.stream(None, decode_content=True):
                buffer.extend(chunk)
                start = 0
                while (end := buffer.find(b"\n", start)) != -1:
                    line = bytes(buffer[start:end])
                    start = end + 1
                    if line.strip():
                        event: KubeObject = json.loads(line)
                        yield event
                del buffer[:start]
        except urllib3.exceptions.ReadTimeoutError:
            log.info("Watch went silent; reconnecting", resource=self._what)
        except (urllib3.exceptions.HTTPError, OSError):
            if not self._closed.is_set():
                raise
        finally:
            self._release()

    def close(self) -> None:
        self._closed.set()
        # Wakes a reader blocked in recv; fails harmlessly if already released.
        with contextlib.suppress(ValueError, RuntimeError, OSError, AttributeError):
            self._response.shutdown()
        self._release()

    def _release(self) -> None:
        with contextlib.suppress(OSError, urllib3.exceptions.HTTPError):
            self._response.close()


class KubeListWatch:
    """Lists and watches ``resource`` through ``api``, in one namespace or all."""

    def __init__(
        self,
        api: ApiClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        read_timeout: float = 90.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.api = api
        self.resource = resource
        self.namespace = namespace
        self._selectors: list[tuple[str, str]] = []
        if label_selector:
            self._selectors.append(("labelSelector", label_selector))
        if field_selector:
            self._selectors.append(("fieldSelector", field_selector))
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout

    def list_page(self, *, limit: int, continue_token: str | None) -> ListPage:
        query = [*self._selectors, ("limit", str(limit))]
        if continue_token:
            query.append(("continue", continue_token))
        body: dict[str, Any] = request_json(
            self.api,
            "GET",
            self.resource.collection_path(self.namespace),
            query=query,
            timeout=(self.connect_timeout, max(self.read_timeout, 60.0)),
        )
        metadata = body.get("metadata") or {}
        return ListPage(
            items=body.get("items") or [],
            resource_version=str(metadata.get("resourceVersion") or ""),
            continue_token=str(metadata.get("continue") or ""),
        )

    def watch(self, *, resource_version: str, timeout_seconds: int) -> WatchStream:
        query = [
            *self._selectors,
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        response = open_request(
            self.api,
            "GET",
            self.resource.collection_path(self.namespace),
            query=query,
            timeout=(self.connect_timeout, self.read_timeout),
        )
        return _HttpWatchStream(response, str(self.resource))
