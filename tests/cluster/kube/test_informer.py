"""Informer against the real API server: ConfigMaps in a fresh namespace."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from controller.kube.informer import Informer
from controller.kube.listwatch import KubeListWatch, ListPage, WatchStream
from controller.kube.objects import KubeObject
from controller.kube.transport import Resource
from tests.support.kube import ClusterUnderTest
from tests.support.waiting import eventually

CONFIGMAPS = Resource(group="", version="v1", plural="configmaps")


class Recorder:
    """Keeps every notification, and the world rebuilt from them alone."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.world: dict[str, dict[str, str]] = {}
        self.values: dict[str, list[str]] = {}

    def on_add(self, obj: KubeObject) -> None:
        self._saw(obj)

    def on_update(self, old: KubeObject, new: KubeObject) -> None:
        self._saw(new)

    def on_delete(self, obj: KubeObject) -> None:
        with self.lock:
            self.world.pop(obj["metadata"]["name"], None)

    def _saw(self, obj: KubeObject) -> None:
        name = obj["metadata"]["name"]
        with self.lock:
            self.world[name] = obj.get("data") or {}
            self.values.setdefault(name, []).append((obj.get("data") or {}).get("n", ""))

    def snapshot(self) -> dict[str, dict[str, str]]:
        with self.lock:
            return dict(self.world)


class Spy:
    """A real ListWatch that counts lists, exposes its open watch, and can fake a 410."""

    def __init__(self, real: KubeListWatch) -> None:
        self.real = real
        self.lists = 0
        self.watches: list[str] = []
        self.current: WatchStream | None = None
        self.expire_next_watch = False
        self.open = threading.Event()  # cleared: new watches wait, as if the server were away
        self.open.set()

    def list_page(self, *, limit: int, continue_token: str | None) -> ListPage:
        self.lists += continue_token is None
        return self.real.list_page(limit=limit, continue_token=continue_token)

    def watch(self, *, resource_version: str, timeout_seconds: int) -> WatchStream:
        self.watches.append(resource_version)
        assert self.open.wait(30)
        if self.expire_next_watch:
            self.expire_next_watch = False
            return _Expired()
        self.current = self.real.watch(
            resource_version=resource_version, timeout_seconds=timeout_seconds
        )
        return self.current


class _Expired:
    """What the server sends for a compacted resourceVersion: one ERROR event with 410."""

    def __iter__(self) -> Iterator[KubeObject]:
        yield {
            "type": "ERROR",
            "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"},
        }

    def close(self) -> None:
        pass


def server_world(core: client.CoreV1Api, namespace: str) -> dict[str, dict[str, str]]:
    items = core.list_namespaced_config_map(namespace).items
    return {str(o.metadata.name): dict(o.data or {}) for o in items}


@pytest.fixture
def core(kube: ClusterUnderTest) -> client.CoreV1Api:
    return client.CoreV1Api(kube.api())


def start(kube: ClusterUnderTest, namespace: str, **kwargs: Any) -> tuple[Informer, Recorder, Spy]:
    read_timeout = kwargs.pop("read_timeout", 30.0)
    spy = Spy(
        KubeListWatch(
            kube.api(),
            CONFIGMAPS,
            namespace=namespace,
            label_selector=kwargs.pop("label_selector", None),
            read_timeout=read_timeout,
        )
    )
    informer = Informer(None, CONFIGMAPS, list_watch=spy, min_backoff=0.05, **kwargs)
    recorder = Recorder()
    informer.add_handler(recorder)
    informer.start()
    assert informer.wait_for_sync(10)
    return informer, recorder, spy


def cm(name: str, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data=data)


def test_informer_follows_adds_updates_and_deletes(
    kube: ClusterUnderTest, namespace: str, core: client.CoreV1Api
) -> None:
    core.create_namespaced_config_map(namespace, cm("before-start", n="0"))
    informer, recorder, spy = start(kube, namespace)
    try:
        core.create_namespaced_config_map(namespace, cm("added", n="1"))
        core.patch_namespaced_config_map("added", namespace, {"data": {"n": "2"}})
        core.delete_namespaced_config_map("before-start", namespace)
        expected = server_world(core, namespace)
        assert "before-start" not in expected
        eventually(lambda: recorder.snapshot() == expected, timeout=10, what="handlers in sync")
        cached = {o["metadata"]["name"]: o.get("data") or {} for o in informer.list()}
        assert cached == expected
        assert recorder.values["added"] == ["1", "2"]
        assert spy.lists == 1
    finally:
        informer.stop()


def test_cached_objects_carry_no_managed_fields_or_last_applied(
    kube: ClusterUnderTest, namespace: str
) -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}}
    kube.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest))
    informer, _, _ = start(kube, namespace)
    try:
        listed = informer.get(namespace, "applied")
        manifest["metadata"]["name"] = "applied-later"  # type: ignore[index]
        kube.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest))
        watched = eventually(
            lambda: informer.get(namespace, "applied-later"), timeout=10, what="watched"
        )
        for obj in (listed, watched):
            assert obj is not None
            assert "managedFields" not in obj["metadata"]
            assert "annotations" not in obj["metadata"]  # only last-applied was there
            assert obj["metadata"]["uid"]
    finally:
        informer.stop()


def test_a_broken_watch_resumes_without_losing_events(
    kube: ClusterUnderTest, namespace: str, core: client.CoreV1Api
) -> None:
    core.create_namespaced_config_map(namespace, cm("counter", n="0"))
    informer, recorder, spy = start(kube, namespace)
    try:
        for n in range(1, 31):
            core.patch_namespaced_config_map("counter", namespace, {"data": {"n": str(n)}})
            if n % 5 == 0 and spy.current is not None:
                spy.current.close()  # the connection drops; writes continue meanwhile
        eventually(
            lambda: recorder.values.get("counter", [])[-1:] == ["30"],
            timeout=10,
            what="last write seen",
        )
        assert recorder.values["counter"] == [str(n) for n in range(31)]
        assert len(spy.watches) > 1
        assert spy.lists == 1
    finally:
        informer.stop()


def test_server_side_watch_timeouts_are_resumed_without_relisting(
    kube: ClusterUnderTest, namespace: str, core: client.CoreV1Api
) -> None:
    informer, recorder, spy = start(kube, namespace, watch_timeout_seconds=1)
    try:
        eventually(lambda: len(spy.watches) >= 3, timeout=10, what="three watches")
        core.create_namespaced_config_map(namespace, cm("after-timeouts", n="1"))
        eventually(
            lambda: "after-timeouts" in recorder.snapshot(), timeout=10, what="seen after timeouts"
        )
        assert spy.lists == 1
    finally:
        informer.stop()


def test_a_silent_watch_is_reconnected_after_the_read_timeout(
    kube: ClusterUnderTest, namespace: str, core: client.CoreV1Api
) -> None:
    informer, recorder, spy = start(kube, namespace, read_timeout=1.0)
    try:
        eventually(lambda: len(spy.watches) >= 2, timeout=10, what="reconnect after silence")
        core.create_namespaced_config_map(namespace, cm("after-silence", n="1"))
        eventually(
            lambda: "after-silence" in recorder.snapshot(), timeout=10, what="seen after silence"
        )
        assert spy.lists == 1
    finally:
        informer.stop()


def test_410_gone_relists_and_delivers_what_was_missed(
    kube: ClusterUnderTest, namespace: str, core: client.CoreV1Api
) -> None:
    for name in ("kept", "changed", "deleted"):
        core.create_namespaced_config_map(namespace, cm(name, n="1"))
    informer, recorder, spy = start(kube, namespace, read_timeout=30.0)
    try:
        # The watch drops and cannot reconnect while these changes are made; then the
        # server answers the resumed watch with 410, as for a compacted resourceVersion.
        current = eventually(lambda: spy.current, timeout=10, what="watching")
        spy.open.clear()
        current.close()
        eventually(lambda: len(spy.watches) == 2, timeout=10, what="reconnect attempt")
        core.patch_namespaced_config_map("changed", namespace, {"data": {"n": "2"}})
        core.delete_namespaced_config_map("deleted", namespace)
        core.create_namespaced_config_map(namespace, cm("added", n="1"))
        spy.expire_next_watch = True
        spy.open.set()
        expected = server_world(core, namespace)
        eventually(lambda: recorder.snapshot() == expected, timeout=10, what="relisted")
        assert set(expected) - {"kube-root-ca.crt"} == {"kept", "changed", "added"}
        assert {o["metadata"]["name"] for o in informer.list()} == set(expected)
        assert recorder.values["changed"] == ["1", "2"]
        assert spy.lists == 2
    finally:
        informer.stop()


def test_a_label_selector_limits_the_cache_and_unlabelling_reads_as_delete(
    kube: ClusterUnderTest, namespace: str, core: client.CoreV1Api
) -> None:
    labelled = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="mine", labels={"owner": "landing-gear"})
    )
    core.create_namespaced_config_map(namespace, labelled)
    core.create_namespaced_config_map(namespace, cm("other"))
    informer, recorder, _ = start(kube, namespace, label_selector="owner=landing-gear")
    try:
        assert [o["metadata"]["name"] for o in informer.list()] == ["mine"]
        core.patch_namespaced_config_map("mine", namespace, {"metadata": {"labels": None}})
        eventually(lambda: informer.get(namespace, "mine") is None, timeout=10, what="dropped")
        # The cache drops it before the handlers hear of it (as client-go's): wait for both.
        eventually(lambda: recorder.snapshot() == {}, timeout=10, what="handlers told")
    finally:
        informer.stop()


def test_list_and_watch_across_all_namespaces_and_for_a_custom_group(
    kube: ClusterUnderTest, namespace: str
) -> None:
    leases = Resource(group="coordination.k8s.io", version="v1", plural="leases")
    informer = Informer(kube.api(), leases)
    informer.start()
    try:
        assert informer.wait_for_sync(10)
        assert informer.list("kube-node-lease"), "node heartbeats are Leases"
    finally:
        informer.stop()
