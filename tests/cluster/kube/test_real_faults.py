"""Real faults instead of synthesized ones, on the local control plane.

- A real ``410 Gone``: etcd compacted past an informer's resourceVersion while
  its watch was down, read through a second API server with no watch cache (so
  the watch goes to etcd, which has forgotten the revision).
- The API server restarted twice and etcd frozen while a canary is mid-step: the
  release still ends promoted, every step once, no timed pause cut short.
"""

from __future__ import annotations

import uuid

import pytest
from kubernetes import client, config
from structlog.testing import capture_logs

from controller.kube.informer import Informer
from controller.kube.listwatch import KubeListWatch
from controller.kube.objects import KubeObject
from e2e.localcluster import faults
from tests.cluster.kube.test_informer import CONFIGMAPS, Recorder, Spy
from tests.support.kube import ClusterUnderTest
from tests.support.waiting import eventually


@pytest.fixture(autouse=True)
def _local(kube: ClusterUnderTest) -> None:
    if kube.audit_log is None:
        pytest.skip("needs the local control plane (restarts its processes)")


LABEL = "test=real-faults"


def labelled(name: str, **data: str) -> client.V1ConfigMap:
    meta = client.V1ObjectMeta(name=name, labels={"test": "real-faults"})
    return client.V1ConfigMap(metadata=meta, data=data)


class Notified(Recorder):
    """A recorder that also keeps the kinds of notification, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, str]] = []

    def on_add(self, obj: KubeObject) -> None:
        self.log.append(("add", obj["metadata"]["name"]))
        super().on_add(obj)

    def on_update(self, old: KubeObject, new: KubeObject) -> None:
        self.log.append(("update", new["metadata"]["name"]))
        super().on_update(old, new)

    def on_delete(self, obj: KubeObject) -> None:
        self.log.append(("delete", obj["metadata"]["name"]))
        super().on_delete(obj)


def test_a_watch_resumed_after_etcd_compaction_gets_a_real_410_and_relists_the_differences(
    kube: ClusterUnderTest, namespace: str
) -> None:
    state = faults.state_of(kube.kubeconfig)
    extra = faults.extra_apiserver(
        state, flags=["--watch-cache=false"], tag=f"nocache-{uuid.uuid4().hex[:6]}"
    )
    core = client.CoreV1Api(kube.api())
    try:
        api = config.new_client_from_config(config_file=str(extra.kubeconfig))  # type: ignore[no-untyped-call]
        spy = Spy(
            KubeListWatch(
                api, CONFIGMAPS, namespace=namespace, label_selector=LABEL, read_timeout=30
            )
        )
        informer = Informer(None, CONFIGMAPS, list_watch=spy, min_backoff=0.05)
        recorder = Notified()
        informer.add_handler(recorder)
        core.create_namespaced_config_map(namespace, labelled("a", n="1"))
        core.create_namespaced_config_map(namespace, labelled("b", n="1"))
        informer.start()
        try:
            assert informer.wait_for_sync(10)
            eventually(lambda: set(recorder.snapshot()) == {"a", "b"}, timeout=10, what="a, b")
            watch = eventually(lambda: spy.current, timeout=10, what="watching")
            watched_from = spy.watches[-1]

            # The watch goes down; meanwhile the world changes and etcd forgets the past.
            spy.open.clear()
            watch.close()
            eventually(lambda: len(spy.watches) > 1, timeout=10, what="a new watch asked for")
            core.create_namespaced_config_map(namespace, labelled("c", n="1"))
            core.patch_namespaced_config_map("a", namespace, {"data": {"n": "2"}})
            core.delete_namespaced_config_map("b", namespace)
            compacted = faults.compact_etcd(state)
            assert compacted > int(watched_from)
            before = len(recorder.log)

            with capture_logs() as logs:
                spy.open.set()  # the watch resumes from its old resourceVersion: 410
                eventually(
                    lambda: recorder.snapshot() == {"a": {"n": "2"}, "c": {"n": "1"}},
                    timeout=20,
                    what="the cache caught up",
                )
        finally:
            informer.stop()
    finally:
        extra.stop()
    assert any(e["event"] == "Watch expired; listing again" for e in logs), logs
    assert spy.lists == 2  # the first list, and one relist after the real 410
    # Exactly the differences, each once: nothing lost, nothing told twice.
    assert sorted(recorder.log[before:]) == [("add", "c"), ("delete", "b"), ("update", "a")]
