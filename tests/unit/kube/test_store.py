"""Store: the cache behind informers, its indexes, and the relist diff."""

from __future__ import annotations

from typing import Any

from controller.kube.objects import (
    LAST_APPLIED_ANNOTATION,
    ObjectKey,
    compact,
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


def test_replace_keeps_the_cached_dict_of_unchanged_objects() -> None:
    store = Store()
    original = obj("kept", "1")
    store.replace([original])
    store.replace([obj("kept", "1")])
    assert store.get(ObjectKey("ns", "kept")) is original


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


def test_compact_shares_keys_and_short_strings_between_objects_and_keeps_the_rest() -> None:
    import json

    raw = {
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 3, "paused": True, "image": "r" * 100, "items": ["True", 1.5, None]},
    }
    doc = json.dumps(raw)
    first, second = compact(json.loads(doc)), compact(json.loads(doc))
    assert first == second == raw
    assert next(iter(first)) is next(iter(second))  # the key "metadata"
    assert first["metadata"]["labels"]["app"] is second["metadata"]["labels"]["app"]
    assert first["spec"]["items"][0] is second["spec"]["items"][0]
    assert first["spec"]["image"] is not second["spec"]["image"]  # long: left alone
