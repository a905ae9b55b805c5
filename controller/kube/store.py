"""The informer's cache: plain-dict objects by key, with secondary indexes.

A :class:`Store` is thread-safe; readers get the cached dicts themselves, which
callers must treat as read-only (copy before modifying). :meth:`Store.replace`
swaps in a fresh list and returns the differences as :class:`Change` values, the
way a relist after ``410 Gone`` turns into add, update and delete notifications.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from controller.kube.objects import KubeObject, ObjectKey, key_of, resource_version_of

__all__ = ["Change", "IndexFunc", "Store"]

IndexFunc = Callable[[KubeObject], Iterable[str]]
"""Maps an object to the index values it is found under (e.g. owner UIDs)."""


@dataclass(frozen=True)
class Change:
    """One difference: added (``old`` is None), deleted (``new`` is None) or updated."""

    old: KubeObject | None
    new: KubeObject | None


class Store:
    """Objects by :class:`ObjectKey`, plus one index per entry of ``indexers``."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._lock = threading.RLock()
        self._objects: dict[ObjectKey, KubeObject] = {}
        self._indexers = dict(indexers or {})
        self._indexes: dict[str, dict[str, set[ObjectKey]]] = {n: {} for n in self._indexers}

    # -- reading -----------------------------------------------------------------

    def get(self, key: ObjectKey) -> KubeObject | None:
        with self._lock:
            return self._objects.get(key)

    def list(self, namespace: str | None = None) -> list[KubeObject]:
        """All objects, or those in ``namespace``."""
        with self._lock:
            if namespace is None:
                return list(self._objects.values())
            return [obj for key, obj in self._objects.items() if key.namespace == namespace]

    def keys(self) -> builtins.list[ObjectKey]:
        with self._lock:
            return list(self._objects)

    def by_index(self, index: str, value: str) -> builtins.list[KubeObject]:
        """Objects the indexer called ``index`` files under ``value``."""
        with self._lock:
            keys = self._indexes[index].get(value, ())
            return [self._objects[key] for key in keys]

    def index_values(self, index: str) -> builtins.list[str]:
        with self._lock:
            return list(self._indexes[index])

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    # -- writing -----------------------------------------------------------------

    def upsert(self, obj: KubeObject) -> KubeObject | None:
        """Store ``obj``; return the object it replaced, if any."""
        key = key_of(obj)
        with self._lock:
            old = self._objects.get(key)
            if old is not None:
                self._unindex(key, old)
            self._objects[key] = obj
            self._index(key, obj)
            return old

    def delete(self, key: ObjectKey) -> KubeObject | None:
        """Remove the object at ``key``; return it, if there was one."""
        with self._lock:
            old = self._objects.pop(key, None)
            if old is not None:
                self._unindex(key, old)
            return old

    def replace(self, objects: Iterable[KubeObject]) -> builtins.list[Change]:
        """Make the store hold exactly ``objects``; return what changed.

        An object counts as updated when its ``resourceVersion`` differs; deleted
        objects are reported with their last cached state.
        """
        fresh = {key_of(obj): obj for obj in objects}
        with self._lock:
            old_objects = self._objects
            changes: builtins.list[Change] = []
            for key, obj in fresh.items():
                old = old_objects.get(key)
                if old is None:
                    changes.append(Change(None, obj))
                elif resource_version_of(old) != resource_version_of(obj):
                    changes.append(Change(old, obj))
                else:
                    fresh[key] = old  # unchanged: keep the cached dict, drop the new copy
            changes.extend(Change(old, None) for k, old in old_objects.items() if k not in fresh)
            self._objects = fresh
            self._indexes = {name: {} for name in self._indexers}
            for key, obj in fresh.items():
                self._index(key, obj)
            return changes

    def _index(self, key: ObjectKey, obj: KubeObject) -> None:
        for name, func in self._indexers.items():
            index = self._indexes[name]
            for value in func(obj):
                index.setdefault(value, set()).add(key)

    def _unindex(self, key: ObjectKey, obj: KubeObject) -> None:
        for name, func in self._indexers.items():
            index = self._indexes[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
