"""Informer against an in-memory API server: sync, watch, resume, 410 relist, handlers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from controller.kube.informer import Informer
from controller.kube.objects import LAST_APPLIED_ANNOTATION, KubeObject, owner_uids
from controller.kube.transport import Resource
from tests.support.waiting import eventually
from tests.unit.kube.fakes import FakeApiServer

CONFIGMAPS = Resource(group="", version="v1", plural="configmaps")


class Mirror:
    """Rebuilds the world from notifications alone, and records them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.objects: dict[tuple[str, str], KubeObject] = {}
        self.log: list[tuple[str, str]] = []

    @staticmethod
    def _key(o: KubeObject) -> tuple[str, str]:
        return (o["metadata"].get("namespace", ""), o["metadata"]["name"])

    def on_add(self, obj: KubeObject) -> None:
        with self.lock:
            assert self._key(obj) not in self.objects, "add for an object already known"
            self.objects[self._key(obj)] = obj
            self.log.append(("add", obj["metadata"]["name"]))

    def on_update(self, old: KubeObject, new: KubeObject) -> None:
        with self.lock:
            assert self.objects.get(self._key(old)) == old, "update's old is not the last seen"
            self.objects[self._key(new)] = new
            self.log.append(("update", new["metadata"]["name"]))

    def on_delete(self, obj: KubeObject) -> None:
        with self.lock:
            self.objects.pop(self._key(obj))
            self.log.append(("delete", obj["metadata"]["name"]))

    def data(self) -> dict[str, Any]:
        with self.lock:
            return {k[1]: o.get("data") for k, o in self.objects.items()}


def server_data(server: FakeApiServer) -> dict[str, Any]:
    return {k.name: o.get("data") for k, o in server.objects.items()}


@pytest.fixture
def server() -> FakeApiServer:
    return FakeApiServer()


@pytest.fixture
def mirror() -> Mirror:
    return Mirror()


@pytest.fixture
def informer(server: FakeApiServer, mirror: Mirror) -> Iterator[Informer]:
    informer = Informer(None, CONFIGMAPS, list_watch=server, page_size=2, min_backoff=0.001)
    informer.add_handler(mirror)
    yield informer
    informer.stop()


def rewatched_since(server: FakeApiServer, version: str) -> bool:
    return server.watch_calls[-1] != version


def in_sync(server: FakeApiServer, mirror: Mirror, informer: Informer) -> bool:
    cache = {o["metadata"]["name"]: o.get("data") for o in informer.list()}
    return cache == server_data(server) == mirror.data()


def test_initial_list_fills_the_cache_and_delivers_adds(
    server: FakeApiServer, mirror: Mirror, informer: Informer
) -> None:
    for i in range(5):
        server.apply("ns", f"cm-{i}", data={"i": str(i)})
    informer.start()
    assert informer.wait_for_sync(5)
    assert informer.has_synced()
    assert in_sync(server, mirror, informer)
    assert informer.get("ns", "cm-3")["data"] == {"i": "3"}  # type: ignore[index]
    assert informer.get("ns", "absent") is None


def test_watch_events_update_the_cache_and_reach_handlers(
    server: FakeApiServer, mirror: Mirror, informer: Informer
) -> None:
    server.apply("ns", "a", data={"v": "1"})
    informer.start()
    informer.wait_for_sync(5)
    server.apply("ns", "a", data={"v": "2"})
    server.apply("ns", "b", data={"v": "1"})
    server.delete("ns", "a")
    eventually(lambda: in_sync(server, mirror, informer), timeout=5, what="cache in sync")
    assert mirror.log == [("add", "a"), ("update", "a"), ("add", "b"), ("delete", "a")]


def test_cached_objects_are_stripped_and_transformed(server: FakeApiServer) -> None:
    def drop_data(obj: KubeObject) -> KubeObject:
        obj.pop("data", None)
        return obj

    informer = Informer(None, CONFIGMAPS, list_watch=server, transform=drop_data)
    server.apply(
        "ns",
        "listed",
        data={"big": "x" * 1000},
        metadata={
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {LAST_APPLIED_ANNOTATION: "{}"},
        },
    )
    informer.start()
    try:
        informer.wait_for_sync(5)
        server.apply("ns", "watched", metadata={"managedFields": [{"manager": "x"}]})
        watched = eventually(lambda: informer.get("ns", "watched"), timeout=5, what="watched")
        for cached in (informer.get("ns", "listed"), watched):
            assert cached is not None
            assert "managedFields" not in cached["metadata"]
            assert "annotations" not in cached["metadata"]
            assert "data" not in cached
    finally:
        informer.stop()


def test_bookmarks_advance_the_resource_version_without_touching_the_cache(
    server: FakeApiServer, mirror: Mirror, informer: Informer
) -> None:
    server.apply("ns", "a")
    informer.start()
    informer.wait_for_sync(5)
    server.bookmark()
    eventually(lambda: informer.resource_version == str(server.rv), timeout=5, what="bookmark seen")
    assert mirror.log == [("add", "a")]


def test_a_broken_watch_resumes_from_the_last_version_without_listing(
    server: FakeApiServer, mirror: Mirror, informer: Informer
) -> None:
    informer.start()
    informer.wait_for_sync(5)
    for round_ in range(5):
        server.apply("ns", "counter", data={"n": str(round_)})
        eventually(lambda: server.open_watches == 1, timeout=5, what="watch reopened")
        seen = informer.resource_version
        server.break_watches()
        server.apply("ns", f"while-broken-{round_}")
        eventually(partial(rewatched_since, server, seen), timeout=5, what="rewatch")
    eventually(lambda: in_sync(server, mirror, informer), timeout=5, what="cache in sync")
    assert server.list_calls == 1
    assert mirror.log.count(("update", "counter")) == 4


def test_a_watch_failing_with_an_error_is_retried_from_the_same_version(
    server: FakeApiServer, mirror: Mirror, informer: Informer
) -> None:
    informer.start()
    informer.wait_for_sync(5)
    eventually(lambda: server.open_watches == 1, timeout=5, what="watching")
    server.break_watches(ConnectionResetError("peer went away"))
    server.apply("ns", "after-error")
    eventually(lambda: in_sync(server, mirror, informer), timeout=5, what="cache in sync")
    assert server.list_calls == 1


@pytest.mark.parametrize("gone_as_http", [False, True], ids=["error-event", "http-status"])
def test_410_gone_relists_and_delivers_the_differences(
    server: FakeApiServer, mirror: Mirror, informer: Informer, gone_as_http: bool
) -> None:
    server.gone_as_http = gone_as_http
    for name in ("kept", "changed", "deleted"):
        server.apply("ns", name, data={"v": "1"})
    informer.start()
    informer.wait_for_sync(5)
    eventually(lambda: server.open_watches == 1, timeout=5, what="watching")
    # The informer misses these (its watch is cut), then its version is compacted away.
    server.refuse_watches = True
    server.break_watches(ConnectionResetError())
    server.apply("ns", "changed", data={"v": "2"})
    server.delete("ns", "deleted")
    server.apply("ns", "added", data={"v": "1"})
    server.history.clear()
    server.expire_before(server.rv)
    server.refuse_watches = False
    eventually(lambda: in_sync(server, mirror, informer), timeout=5, what="relisted")
    assert server.list_calls == 2
    assert sorted(mirror.log[3:]) == [
        ("add", "added"),
        ("delete", "deleted"),
        ("update", "changed"),
    ]


def test_an_error_event_other_than_410_rewatches_without_listing(
    server: FakeApiServer, mirror: Mirror, informer: Informer
) -> None:
    informer.start()
    informer.wait_for_sync(5)
    eventually(lambda: server.open_watches == 1, timeout=5, what="watching")
    server.send_to_watches({"type": "ERROR", "object": {"code": 500, "message": "etcd hiccup"}})
    server.apply("ns", "later")
    eventually(lambda: in_sync(server, mirror, informer), timeout=5, what="cache in sync")
    assert server.list_calls == 1


def test_pages_of_a_list_are_all_collected(server: FakeApiServer, informer: Informer) -> None:
    for i in range(7):
        server.apply("ns", f"cm-{i}")
    informer.start()
    informer.wait_for_sync(5)
    assert len(informer) == 7


def test_a_handler_added_late_is_told_about_existing_objects(
    server: FakeApiServer, informer: Informer
) -> None:
    server.apply("ns", "early")
    informer.start()
    informer.wait_for_sync(5)
    late = Mirror()
    informer.add_handler(late)
    assert late.log == [("add", "early")]


def test_a_failing_handler_neither_starves_the_others_nor_restarts_the_watch(
    server: FakeApiServer,
) -> None:
    class Exploding(Mirror):
        def on_add(self, obj: KubeObject) -> None:
            raise RuntimeError("boom")

        def on_update(self, old: KubeObject, new: KubeObject) -> None:
            raise RuntimeError("boom")

    informer = Informer(None, CONFIGMAPS, list_watch=server)
    healthy = Mirror()
    informer.add_handler(Exploding())
    informer.add_handler(healthy)
    informer.start()
    try:
        informer.wait_for_sync(5)
        server.apply("ns", "x")
        server.apply("ns", "x", data={"v": "2"})
        server.apply("ns", "y")
        eventually(lambda: len(healthy.log) == 3, timeout=5, what="three notifications")
        # Told once each, in order, by the one watch: no relist, no second watch.
        assert healthy.log == [("add", "x"), ("update", "x"), ("add", "y")]
        assert server.list_calls == 1
        assert len(server.watch_calls) == 1
    finally:
        informer.stop()


def test_owner_index(server: FakeApiServer) -> None:
    informer = Informer(None, CONFIGMAPS, list_watch=server, indexers={"owner": owner_uids})
    server.apply("ns", "child", metadata={"ownerReferences": [{"uid": "parent-uid"}]})
    informer.start()
    try:
        informer.wait_for_sync(5)
        assert [o["metadata"]["name"] for o in informer.by_index("owner", "parent-uid")] == [
            "child"
        ]
    finally:
        informer.stop()


def test_stop_ends_the_thread_and_closes_the_watch(
    server: FakeApiServer, informer: Informer
) -> None:
    informer.start()
    informer.wait_for_sync(5)
    eventually(lambda: server.open_watches == 1, timeout=5, what="watching")
    informer.stop()
    assert server.open_watches == 0
    assert not any(t.name.startswith("informer-") and t.is_alive() for t in threading.enumerate())
