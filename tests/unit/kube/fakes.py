"""In-memory stand-ins for time and for an API server's list and watch."""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException

from controller.kube.lease import LeaseConflict, LeaseRecord, ObservedLease
from controller.kube.listwatch import ListPage
from controller.kube.objects import KubeObject, ObjectKey, key_of


class FakeClock:
    """Monotonic seconds that move only when told; ``sleep`` advances them."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


_END = object()


class FakeStream:
    """A watch stream fed by the fake server; ends on close or when the server breaks it."""

    def __init__(self) -> None:
        self.events: queue.Queue[Any] = queue.Queue()
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[KubeObject]:
        while True:
            item = self.events.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    def close(self) -> None:
        self.closed.set()
        self.events.put(_END)


class FakeApiServer:
    """Objects of one kind with a global resourceVersion, an event history and watches.

    Implements :class:`~controller.kube.listwatch.ListWatch`. ``expire_before``
    simulates compaction: watches from an older resourceVersion get 410, as an
    ``ERROR`` event or (with ``gone_as_http``) as the HTTP status.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rv = 100
        self.objects: dict[ObjectKey, KubeObject] = {}
        self.history: list[tuple[int, KubeObject]] = []
        self.streams: list[FakeStream] = []
        self.list_calls = 0
        self.watch_calls: list[str] = []
        self.oldest_watchable = 0
        self.gone_as_http = False
        self.refuse_watches = False

    # -- writes ------------------------------------------------------------------

    def _write(self, kind: str, obj: KubeObject) -> KubeObject:
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        event = {"type": kind, "object": obj}
        self.history.append((self.rv, event))
        for stream in self.streams:
            if not stream.closed.is_set():
                stream.events.put(copy.deepcopy(event))
        return obj

    def apply(self, namespace: str, name: str, **fields: Any) -> KubeObject:
        with self._lock:
            key = ObjectKey(namespace, name)
            kind = "MODIFIED" if key in self.objects else "ADDED"
            metadata: dict[str, Any] = {"namespace": namespace, "name": name, "uid": f"uid-{name}"}
            metadata.update(fields.pop("metadata", {}))
            obj = self._write(kind, {"metadata": metadata, **fields})
            self.objects[key] = obj
            return obj

    def delete(self, namespace: str, name: str) -> None:
        with self._lock:
            obj = self.objects.pop(ObjectKey(namespace, name))
            self._write("DELETED", obj)

    def bookmark(self) -> None:
        with self._lock:
            self.rv += 1
            event = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": str(self.rv)}}}
            for stream in self.streams:
                stream.events.put(event)

    def expire_before(self, rv: int) -> None:
        with self._lock:
            self.oldest_watchable = rv

    def break_watches(self, error: Exception | None = None) -> None:
        with self._lock:
            for stream in self.streams:
                stream.events.put(error if error is not None else _END)
            self.streams = []

    def send_to_watches(self, event: KubeObject) -> None:
        with self._lock:
            for stream in self.streams:
                stream.events.put(event)

    # -- ListWatch ---------------------------------------------------------------

    def list_page(self, *, limit: int, continue_token: str | None) -> ListPage:
        with self._lock:
            self.list_calls += continue_token is None
            ordered = sorted(self.objects.values(), key=lambda o: tuple(key_of(o)))
            start = int(continue_token or 0)
            page = ordered[start : start + limit]
            more = start + limit < len(ordered)
            return ListPage(
                items=copy.deepcopy(page),
                resource_version=str(self.rv),
                continue_token=str(start + limit) if more else "",
            )

    def watch(self, *, resource_version: str, timeout_seconds: int) -> FakeStream:
        with self._lock:
            self.watch_calls.append(resource_version)
            if self.refuse_watches:
                raise ConnectionRefusedError("watch refused")
            if int(resource_version) < self.oldest_watchable and self.gone_as_http:
                raise ApiException(status=410, reason="Gone")
            stream = FakeStream()
            if int(resource_version) < self.oldest_watchable:
                gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410}}
                stream.events.put(gone)
                return stream
            for rv, event in self.history:
                if rv > int(resource_version):
                    stream.events.put(copy.deepcopy(event))
            self.streams.append(stream)
            return stream

    @property
    def open_watches(self) -> int:
        with self._lock:
            return sum(not s.closed.is_set() for s in self.streams)


class FakeLeaseLock:
    """A Lease in memory, shared by electors, with resourceVersion checks like the server's.

    ``failing`` makes every call raise (an unreachable API server); ``before_update``
    runs just before an update is applied, to interleave a rival's write.
    """

    def __init__(self) -> None:
        self.lease: ObservedLease | None = None
        self._rv = 0
        self.failing = False
        self.before_update: Callable[[], object] | None = None

    def _check(self) -> None:
        if self.failing:
            raise ConnectionError("API server unreachable")

    def get(self, *, timeout: float) -> ObservedLease | None:
        self._check()
        return self.lease

    def create(self, record: LeaseRecord, *, timeout: float) -> ObservedLease:
        self._check()
        if self.lease is not None:
            raise LeaseConflict("exists")
        self._rv += 1
        self.lease = ObservedLease(record, str(self._rv))
        return self.lease

    def update(
        self, current: ObservedLease, record: LeaseRecord, *, timeout: float
    ) -> ObservedLease:
        self._check()
        if self.before_update is not None:
            hook, self.before_update = self.before_update, None
            hook()
        if self.lease is None or self.lease.resource_version != current.resource_version:
            raise LeaseConflict("stale resourceVersion")
        self._rv = max(self._rv, int(self.lease.resource_version)) + 1
        self.lease = ObservedLease(record, str(self._rv))
        return self.lease

    @property
    def holder(self) -> str:
        return self.lease.record.holder if self.lease else ""
