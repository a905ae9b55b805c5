"""The informer's cache: objects by key, kept as compressed JSON, with secondary indexes.

A :class:`Store` is thread-safe. It keeps each object as its JSON, compressed, and
decodes it on every read, so a reader gets a dict of its own (modifying it changes
nothing cached). Measured in a controller with 1,000 realistic Rollouts in analysis,
their 1,000 Deployments and 3,000 ReplicaSets: the decoded dicts (keys and short
strings interned) took 18.9 MB, their JSON 6.8 MB and the compressed JSON 3.1 MB,
while a reconcile decodes a handful of objects. Index values and the
``resourceVersion`` are kept beside the bytes, so indexing and :meth:`Store.replace`
decode nothing.

:meth:`Store.replace` swaps in a fresh list and returns the differences as
:class:`Change` values, the way a relist after ``410 Gone`` turns into add, update
and delete notifications.
"""

from __future__ import annotations

import builtins
import json
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from controller.kube.objects import KubeObject, ObjectKey, key_of, resource_version_of

__all__ = ["Change", "IndexFunc", "Store", "decode", "encode"]

IndexFunc = Callable[[KubeObject], Iterable[str]]
"""Maps an object to the index values it is found under (e.g. owner UIDs)."""

COMPRESSION_LEVEL = 1
"""zlib's fastest level: nearly all of the saving of the best, at a fraction of its time."""


def encode(obj: KubeObject) -> bytes:
    """``obj`` as the store keeps it: compact JSON, compressed."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return zlib.compress(text.encode(), COMPRESSION_LEVEL)


def decode(blob: bytes) -> KubeObject:
    """A fresh dict from what :func:`encode` made."""
    obj: KubeObject = json.loads(zlib.decompress(blob))
    return obj


@dataclass(frozen=True)
class Change:
    """One difference: added (``old`` is None), deleted (``new`` is None) or updated."""

    old: KubeObject | None
    new: KubeObject | None


class _Entry(NamedTuple):
    version: str
    blob: bytes
    values: tuple[tuple[str, ...], ...]
    """Per indexer (in order), the values the object is filed under."""


class Store:
    """Objects by :class:`ObjectKey`, plus one index per entry of ``indexers``."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._lock = threading.RLock()
        self._entries: dict[ObjectKey, _Entry] = {}
        self._indexers = dict(indexers or {})
        self._indexes: dict[str, dict[str, set[ObjectKey]]] = {n: {} for n in self._indexers}

    # -- reading -----------------------------------------------------------------

    def get(self, key: ObjectKey) -> KubeObject | None:
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else decode(entry.blob)

    def list(self, namespace: str | None = None) -> list[KubeObject]:
        """All objects, or those in ``namespace``."""
        with self._lock:
            blobs = [
                entry.blob
                for key, entry in self._entries.items()
                if namespace is None or key.namespace == namespace
            ]
        return [decode(blob) for blob in blobs]

    def keys(self) -> builtins.list[ObjectKey]:
        with self._lock:
            return list(self._entries)

    def by_index(self, index: str, value: str) -> builtins.list[KubeObject]:
        """Objects the indexer called ``index`` files under ``value``."""
        with self._lock:
            blobs = [self._entries[key].blob for key in self._indexes[index].get(value, ())]
        return [decode(blob) for blob in blobs]

    def keys_by_index(self, index: str, value: str) -> builtins.list[ObjectKey]:
        """Keys of the objects the indexer called ``index`` files under ``value``."""
        with self._lock:
            return list(self._indexes[index].get(value, ()))

    def index_values(self, index: str) -> builtins.list[str]:
        with self._lock:
            return list(self._indexes[index])

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # -- writing -----------------------------------------------------------------

    def upsert(self, obj: KubeObject) -> KubeObject | None:
        """Store ``obj``; return the object it replaced, if any."""
        key, entry = key_of(obj), self._entry(obj)
        with self._lock:
            old = self._entries.get(key)
            if old is not None:
                self._unindex(key, old)
            self._entries[key] = entry
            self._index(key, entry)
        return None if old is None else decode(old.blob)

    def delete(self, key: ObjectKey) -> KubeObject | None:
        """Remove the object at ``key``; return it, if there was one."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._unindex(key, old)
        return None if old is None else decode(old.blob)

    def replace(self, objects: Iterable[KubeObject]) -> builtins.list[Change]:
        """Make the store hold exactly ``objects``; return what changed.

        An object counts as updated when its ``resourceVersion`` differs; deleted
        objects are reported with their last cached state.
        """
        fresh = {key_of(obj): obj for obj in objects}
        with self._lock:
            old_entries = self._entries
            entries: dict[ObjectKey, _Entry] = {}
            changed: builtins.list[tuple[_Entry | None, KubeObject | None]] = []
            for key, obj in fresh.items():
                old = old_entries.get(key)
                if old is not None and old.version == resource_version_of(obj):
                    entries[key] = old  # unchanged: keep the cached bytes
                    continue
                entries[key] = self._entry(obj)
                changed.append((old, obj))
            changed.extend((old, None) for k, old in old_entries.items() if k not in fresh)
            self._entries = entries
            self._indexes = {name: {} for name in self._indexers}
            for key, entry in entries.items():
                self._index(key, entry)
        return [Change(None if old is None else decode(old.blob), new) for old, new in changed]

    def _entry(self, obj: KubeObject) -> _Entry:
        values = tuple(tuple(func(obj)) for func in self._indexers.values())
        return _Entry(resource_version_of(obj), encode(obj), values)

    def _index(self, key: ObjectKey, entry: _Entry) -> None:
        for name, values in zip(self._indexers, entry.values, strict=True):
            index = self._indexes[name]
            for value in values:
                index.setdefault(value, set()).add(key)

    def _unindex(self, key: ObjectKey, entry: _Entry) -> None:
        for name, values in zip(self._indexers, entry.values, strict=True):
            index = self._indexes[name]
            for value in values:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
