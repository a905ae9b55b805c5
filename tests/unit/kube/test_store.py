"""Store: the cache behind informers, its indexes, and the relist diff."""

from __future__ import annotations

import json
from typing import Any

from controller.kube.objects import (
    LAST_APPLIED_ANNOTATION,
    ObjectKey,
    key_of,
    owner_uids,
    strip_noise,
)
from controller.kube.store import Change, Store


def obj(name: str, rv: str, namespace: str = "ns", owners: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": rv,
            "ownerReferences": [{"uid": uid, "kind": "ReplicaSet", "name": uid} for uid in owners],
        }
    }


def names(objects: list[dict[str, Any]]) -> set[str]:
    return {o["metadata"]["name"] for o in objects}


def test_replace_reports_adds_updates_and_deletes_against_the_old_cache() -> None:
    store = Store()
    store.replace([obj("kept", "1"), obj("changed", "2"), obj("gone", "3")])
    changes = store.replace([obj("kept", "1"), obj("changed", "9"), obj("new", "10")])
    summary = {
        (
            "added" if c.old is None else "deleted" if c.new is None else "updated",
            key_of(c.new or c.old or {}).name,
        )
        for c in changes
    }
    assert summary == {("updated", "changed"), ("deleted", "gone"), ("added", "new")}
    assert names(store.list()) == {"kept", "changed", "new"}


def test_replace_keeps_unchanged_objects_as_cached_and_reports_nothing_for_them() -> None:
    store = Store()
    store.replace([obj("kept", "1")])
    relisted = {**obj("kept", "1"), "spec": {"seen": "only if re-read"}}
    assert store.replace([relisted]) == []
    assert store.get(ObjectKey("ns", "kept")) == obj("kept", "1")


def test_every_read_is_a_copy_of_its_own() -> None:
    store = Store({"owner": owner_uids})
    store.upsert(obj("a", "1", owners=("rs-a",)))
    for read in (store.get(ObjectKey("ns", "a")), *store.list(), *store.by_index("owner", "rs-a")):
        assert read is not None
        read["metadata"]["name"] = "changed by a reader"
    assert store.get(ObjectKey("ns", "a")) == obj("a", "1", owners=("rs-a",))
    assert store.keys_by_index("owner", "rs-a") == [ObjectKey("ns", "a")]


def test_objects_round_trip_unchanged_with_unicode_and_numbers() -> None:
    original = {
        **obj("ü-é", "3"),
        "spec": {"n": 3, "f": 0.25, "big": 2**63, "none": None, "flag": True, "s": "日本"},
    }
    store = Store()
    store.upsert(original)
    assert store.get(ObjectKey("ns", "ü-é")) == original


def test_a_cached_object_costs_a_fraction_of_its_dict() -> None:
    """The point of keeping bytes: measured with tracemalloc, not assumed."""
    import tracemalloc

    def realistic(i: int) -> dict[str, Any]:
        history = [
            {
                "revision": f"{i:04d}{r:06x}",
                "image": f"registry.example/app:v{r}",
                "outcome": "Promoted",
                "at": f"2026-01-01T00:{r:02d}:00Z",
                "steps": [{"weight": w} for w in (10, 25, 50)],
            }
            for r in range(10)
        ]
        return {**obj(f"r{i}", str(i)), "status": {"history": history, "phase": "Healthy"}}

    def held(build: Any) -> int:
        tracemalloc.start()
        kept = build()
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del kept
        return size

    objects = [realistic(i) for i in range(200)]
    text = json.dumps(objects)

    def as_dicts() -> Any:
        return json.loads(text)

    def in_store() -> Any:
        store = Store()
        for o in json.loads(text):
            store.upsert(o)
        return store

    assert objects == as_dicts()
    assert held(in_store) * 3 < held(as_dicts)


def test_deleted_objects_are_reported_with_their_last_cached_state() -> None:
    store = Store()
    last = obj("gone", "7")
    store.replace([last])
    assert store.replace([]) == [Change(last, None)]


def test_list_filters_by_namespace() -> None:
    store = Store()
    store.replace([obj("a", "1", "one"), obj("b", "1", "two")])
    assert names(store.list("one")) == {"a"}
    assert names(store.list()) == {"a", "b"}


def test_owner_index_follows_upserts_deletes_and_replaces() -> None:
    store = Store({"owner": owner_uids})
    store.upsert(obj("pod-1", "1", owners=("rs-a",)))
    store.upsert(obj("pod-2", "1", owners=("rs-a", "rs-b")))
    assert names(store.by_index("owner", "rs-a")) == {"pod-1", "pod-2"}
    store.upsert(obj("pod-2", "2", owners=("rs-b",)))  # owner changed
    assert names(store.by_index("owner", "rs-a")) == {"pod-1"}
    store.delete(ObjectKey("ns", "pod-1"))
    assert store.by_index("owner", "rs-a") == []
    assert "rs-a" not in store.index_values("owner")
    store.replace([obj("pod-3", "5", owners=("rs-c",))])
    assert names(store.by_index("owner", "rs-c")) == {"pod-3"}
    assert store.by_index("owner", "rs-b") == []


def test_custom_index_function() -> None:
    store = Store({"phase": lambda o: [o.get("status", {}).get("phase", "")]})
    running = {**obj("a", "1"), "status": {"phase": "Running"}}
    store.upsert(running)
    assert store.by_index("phase", "Running") == [running]


def test_strip_noise_drops_managed_fields_and_last_applied_only() -> None:
    raw = {
        "metadata": {
            "name": "x",
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {LAST_APPLIED_ANNOTATION: "{...}", "keep": "me"},
        },
        "spec": {"replicas": 1},
    }
    assert strip_noise(raw) == {
        "metadata": {"name": "x", "annotations": {"keep": "me"}},
        "spec": {"replicas": 1},
    }


def test_cluster_scoped_objects_have_an_empty_namespace_in_their_key() -> None:
    key = key_of({"metadata": {"name": "node-1"}})
    assert key == ObjectKey("", "node-1")
    assert str(key) == "node-1"
    assert str(ObjectKey("ns", "x")) == "ns/x"
