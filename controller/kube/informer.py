"""An informer: a watched, indexed cache of one resource type, as plain dicts.

Like client-go's reflector plus indexer, without its flaws in the Python client:

- objects are decoded with ``json.loads``, with ``managedFields`` and the
  last-applied annotation stripped, then passed through an optional ``transform``
  that prunes more; the cache keeps them as compressed JSON and every read decodes
  a fresh dict (:mod:`~controller.kube.store`);
- it lists (in pages), then watches from the list's resourceVersion with
  bookmarks, which advance the resourceVersion while nothing changes;
- a watch that ends (server ``timeoutSeconds``), breaks, or stays silent longer
  than ``read_timeout`` is resumed from the last resourceVersion, without a list;
- only ``410 Gone`` (as the HTTP status or as an ``ERROR`` event) makes it list
  again, and the differences against the old cache are delivered as adds,
  updates and deletes; there is no periodic resync.

Handlers run on the informer's thread after the cache has changed, so they must
be quick: a controller's handler enqueues a key and returns.
"""

from __future__ import annotations

import builtins
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.kube.errors import describe
from controller.kube.listwatch import KubeListWatch, ListWatch, WatchStream
from controller.kube.objects import (
    KubeObject,
    ObjectKey,
    Transform,
    key_of,
    strip_noise,
)
from controller.kube.store import Change, IndexFunc, Store
from controller.kube.transport import Resource

__all__ = ["EventHandler", "Handlers", "Informer", "ResourceExpired"]

log = structlog.get_logger(__name__)


class EventHandler(Protocol):
    """Receives the informer's notifications; the dicts are shared, do not modify them."""

    def on_add(self, obj: KubeObject) -> None: ...

    def on_update(self, old: KubeObject, new: KubeObject) -> None: ...

    def on_delete(self, obj: KubeObject) -> None: ...


class _AddFn(Protocol):
    def __call__(self, obj: KubeObject, /) -> None: ...


class _UpdateFn(Protocol):
    def __call__(self, old: KubeObject, new: KubeObject, /) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Handlers:
    """An :class:`EventHandler` from plain functions; any of them may be left out."""

    on_add_fn: _AddFn | None = None
    on_update_fn: _UpdateFn | None = None
    on_delete_fn: _AddFn | None = None

    def on_add(self, obj: KubeObject) -> None:
        if self.on_add_fn:
            self.on_add_fn(obj)

    def on_update(self, old: KubeObject, new: KubeObject) -> None:
        if self.on_update_fn:
            self.on_update_fn(old, new)

    def on_delete(self, obj: KubeObject) -> None:
        if self.on_delete_fn:
            self.on_delete_fn(obj)


class ResourceExpired(Exception):
    """The watch's resourceVersion is too old (410 Gone): the informer must list again."""


class Informer:
    """Keeps a cache of one resource type in sync; see the module docstring."""

    def __init__(
        self,
        api: ApiClient | None,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Transform | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        watch_timeout_seconds: int = 300,
        read_timeout: float = 90.0,
        page_size: int = 500,
        min_backoff: float = 0.8,
        max_backoff: float = 30.0,
        list_watch: ListWatch | None = None,
    ) -> None:
        if list_watch is None:
            if api is None:
                raise ValueError("need an ApiClient or a ListWatch")
            list_watch = KubeListWatch(
                api,
                resource,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                read_timeout=read_timeout,
            )
        self.resource = resource
        self._list_watch = list_watch
        self._transform = transform
        self._store = Store(indexers)
        self._handlers: list[EventHandler] = []
        # Held while the cache changes and handlers are told, so that a handler added
        # meanwhile sees each object exactly once (replayed, or notified).
        self._delivery = threading.RLock()
        self._watch_timeout = watch_timeout_seconds
        self._page_size = page_size
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._resource_version = ""
        self._synced = threading.Event()
        self._stopping = threading.Event()
        self._stream: WatchStream | None = None
        self._stream_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- the cache ---------------------------------------------------------------

    def get(self, namespace: str, name: str) -> KubeObject | None:
        """The cached object, or None; ``namespace`` is ``""`` for cluster-scoped kinds."""
        return self._store.get(ObjectKey(namespace, name))

    def list(self, namespace: str | None = None) -> list[KubeObject]:
        return self._store.list(namespace)

    def by_index(self, index: str, value: str) -> builtins.list[KubeObject]:
        return self._store.by_index(index, value)

    def cached_keys(self) -> builtins.list[ObjectKey]:
        """The cached objects' keys (nothing decoded)."""
        return self._store.keys()

    def keys_by_index(self, index: str, value: str) -> builtins.list[ObjectKey]:
        """The keys ``by_index`` would return the objects of (nothing decoded)."""
        return self._store.keys_by_index(index, value)

    def __len__(self) -> int:
        return len(self._store)

    @property
    def resource_version(self) -> str:
        """The resourceVersion the cache is known to be current with."""
        return self._resource_version

    def alive(self) -> bool:
        """Whether the list-and-watch loop runs (started, not stopped, not crashed)."""
        return self._thread is not None and self._thread.is_alive()

    def has_synced(self) -> bool:
        """Whether the first list has been stored (and its adds delivered)."""
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def add_handler(self, handler: EventHandler) -> None:
        """Register ``handler``; objects already cached are delivered to it as adds."""
        with self._delivery:
            self._handlers.append(handler)
            if self._synced.is_set():
                for obj in self._store.list():
                    self._call(handler.on_add, obj)

    # -- running -----------------------------------------------------------------

    def start(self) -> None:
        """Run the list-and-watch loop in a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("informer already started")
        self._thread = threading.Thread(target=self.run, name=f"informer-{self.resource}")
        self._thread.daemon = True
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the loop, closing the open watch, and wait for the thread."""
        self._stopping.set()
        with self._stream_lock:
            stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def run(self) -> None:
        """List, then watch until :meth:`stop`; retries failures with backoff.

        The first ``410 Gone`` relists at once; failures, repeated expiry and
        watches that end at once without events back off exponentially
        (``min_backoff`` doubling to ``max_backoff``).
        """
        failures = expiries = 0
        while not self._stopping.is_set():
            error: dict[str, str] = {}
            try:
                if not self._resource_version:
                    self.relist()
                started = time.monotonic()
                events = self._watch_once()
                if self._stopping.is_set():
                    break
                if events or time.monotonic() - started >= 1.0:
                    failures = expiries = 0
                    continue
                reason = "Watch ended at once without events"
            except ResourceExpired:
                self._resource_version = ""
                expiries += 1
                if expiries == 1:
                    log.info("Watch expired; listing again", resource=str(self.resource))
                    continue
                reason = "Watch expired again right after listing"
            except Exception as err:
                if self._stopping.is_set():
                    break
                reason, error = "Failed to list or watch", {"error": describe(err)}
            delay = min(self._max_backoff, self._min_backoff * 2 ** min(failures, 16))
            failures += 1
            log.warning(reason, resource=str(self.resource), retry_in=delay, **error)
            self._stopping.wait(delay)

    def relist(self) -> None:
        """List everything, replace the cache and deliver the differences."""
        items: builtins.list[KubeObject] = []
        token: str | None = None
        while True:
            try:
                page = self._list_watch.list_page(limit=self._page_size, continue_token=token)
            except ApiException as err:
                if err.status == 410 and token:  # the continue token expired: start over
                    items, token = [], None
                    continue
                raise
            items.extend(self._prepare(obj) for obj in page.items)
            token = page.continue_token
            if not token:
                break
        with self._delivery:
            changes = self._store.replace(items)
            self._resource_version = page.resource_version
            self._deliver(changes)
            self._synced.set()

    def _watch_once(self) -> int:
        """Watch from the current resourceVersion until the stream ends; count events."""
        try:
            stream = self._list_watch.watch(
                resource_version=self._resource_version, timeout_seconds=self._watch_timeout
            )
        except ApiException as err:
            if err.status == 410:
                raise ResourceExpired(str(err.reason)) from err
            raise
        with self._stream_lock:
            self._stream = stream
        if self._stopping.is_set():
            stream.close()
        events = 0
        try:
            for event in stream:
                if self._stopping.is_set():
                    break
                self._apply(event)
                events += 1
        finally:
            with self._stream_lock:
                self._stream = None
            stream.close()
        return events

    def _apply(self, event: KubeObject) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise ResourceExpired(str(obj.get("message", "")))
            raise ApiException(
                status=obj.get("code"), reason=obj.get("reason"), body=json.dumps(obj)
            )
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind in ("ADDED", "MODIFIED"):
            new = self._prepare(obj)
            with self._delivery:
                old = self._store.upsert(new)
                self._deliver([Change(old, new)])
        elif kind == "DELETED":
            final = self._prepare(obj)
            with self._delivery:
                self._store.delete(key_of(obj))
                self._deliver([Change(final, None)])
        elif kind != "BOOKMARK":
            log.warning("Ignored an unknown watch event", type=kind, resource=str(self.resource))
            return
        if version:
            self._resource_version = str(version)

    def _prepare(self, obj: KubeObject) -> KubeObject:
        obj = strip_noise(obj)
        return self._transform(obj) if self._transform else obj

    def _deliver(self, changes: builtins.list[Change]) -> None:
        for change in changes:
            for handler in self._handlers:
                if change.old is None and change.new is not None:
                    self._call(handler.on_add, change.new)
                elif change.new is None and change.old is not None:
                    self._call(handler.on_delete, change.old)
                elif change.old is not None and change.new is not None:
                    self._call_update(handler, change.old, change.new)

    def _call(self, fn: _AddFn, obj: KubeObject) -> None:
        try:
            fn(obj)
        except Exception:
            log.exception("Event handler failed", resource=str(self.resource))

    def _call_update(self, handler: EventHandler, old: KubeObject, new: KubeObject) -> None:
        try:
            handler.on_update(old, new)
        except Exception:
            log.exception("Event handler failed", resource=str(self.resource))
