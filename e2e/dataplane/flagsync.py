"""A flagd file kept in sync with one OpenFeature ``FeatureFlag`` through the Kubernetes API.

This is what "the app's SDK is fed the CR's ``flagSpec``" means in the e2e
harness. The OpenFeature Operator turns a ``FeatureFlag``
(``featureflags.core.openfeature.dev/v1beta1``) into flagd configuration by
marshalling ``spec.flagSpec`` (its ``flags`` and ``$evaluators``) into a
ConfigMap key ``<namespace>_<name>.flagd.json`` that flagd, or an app's
in-process flagd provider, reads as a file. :class:`FlagSpecSync` does the same
directly, without the operator, the ConfigMap or a kubelet's volume refresh
(which is where the ~2 min of the real file sync comes from): it watches the
one object and, on every change to its ``flagSpec``, replaces ``path`` with
:func:`flagd_document` of it. A deleted object leaves a file with no flags, so
an SDK reads every flag as missing (its in-code default), as flagd does when its
source loses a flag.

The pure part is :func:`flagd_document`; the file is written by
:func:`write_flagd_file` (temporary file + rename, so a reader never sees half
a document, with an mtime strictly after the one it replaces, so an mtime-polling
reader such as flagd's file watcher cannot miss a quick second change on a file
system with coarse timestamps). The watching is the controller's own
:class:`~controller.kube.informer.Informer` (list, then watch with bookmarks,
resumed on disconnect), field-selected to the one name.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes.client import ApiClient

from controller.kube.informer import Handlers, Informer
from controller.kube.listwatch import ListWatch
from controller.kube.objects import KubeObject
from controller.kube.transport import Resource

__all__ = ["FEATUREFLAGS", "FlagSpecSync", "flagd_document", "write_flagd_file"]

log = logging.getLogger(__name__)

FEATUREFLAGS = Resource(group="core.openfeature.dev", version="v1beta1", plural="featureflags")

EMPTY: dict[str, Any] = {"flags": {}, "$evaluators": {}}
"""The flagd document of a FeatureFlag that does not exist: no flags at all."""


def flagd_document(feature_flag: Mapping[str, Any]) -> dict[str, Any]:
    """The flagd file content for a FeatureFlag object (a dict as the API serves it).

    ``{"flags": spec.flagSpec.flags, "$evaluators": spec.flagSpec.$evaluators}``,
    each ``{}`` when absent; a deep copy, so the object may be shared.
    """
    flag_spec = (feature_flag.get("spec") or {}).get("flagSpec") or {}
    return {
        "flags": copy.deepcopy(flag_spec.get("flags") or {}),
        "$evaluators": copy.deepcopy(flag_spec.get("$evaluators") or {}),
    }


def write_flagd_file(path: Path, document: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``document`` as JSON: a temporary file renamed over it.

    The new file's mtime is at least 1 ms after the old one's, so a reader that
    reloads when the mtime grows sees every replacement.
    """
    try:
        previous = path.stat().st_mtime_ns
    except FileNotFoundError:
        previous = 0
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2, sort_keys=True)
            out.write("\n")
        stamp = max(time.time_ns(), previous + 1_000_000)
        os.utime(tmp, ns=(stamp, stamp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class FlagSpecSync:
    """Keeps ``path`` equal to :func:`flagd_document` of FeatureFlag ``namespace/name``.

    ``start()`` lists (and writes the file, an empty document if the object is
    missing) before it returns, then a thread watches; ``stop()`` ends the watch
    and leaves the file as it is. A change that leaves the document as written
    (an annotation, a label) writes nothing. ``list_watch`` replaces the API
    server (tests); otherwise ``api`` is used.
    """

    def __init__(
        self,
        *,
        api: ApiClient | None,
        namespace: str,
        name: str,
        path: Path,
        list_watch: ListWatch | None = None,
        read_timeout: float = 30.0,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.path = path
        self._lock = threading.Lock()
        self._document: dict[str, Any] | None = None
        self._writes = 0
        self._version = ""
        self._informer = Informer(
            api,
            FEATUREFLAGS,
            namespace=namespace,
            field_selector=f"metadata.name={name}",
            list_watch=list_watch,
            read_timeout=read_timeout,
            watch_timeout_seconds=60,
        )
        self._informer.add_handler(
            Handlers(
                on_add_fn=self._changed,
                on_update_fn=lambda old, new: self._changed(new),
                on_delete_fn=self._deleted,
            )
        )

    @property
    def document(self) -> dict[str, Any] | None:
        """What the file holds, as last written by this sync (None before the first write)."""
        with self._lock:
            return copy.deepcopy(self._document)

    @property
    def writes(self) -> int:
        """How many times the file was replaced."""
        with self._lock:
            return self._writes

    @property
    def resource_version(self) -> str:
        """The FeatureFlag's resourceVersion whose ``flagSpec`` the file holds ("" if none)."""
        with self._lock:
            return self._version

    def start(self, *, timeout: float = 10.0) -> FlagSpecSync:
        """List, write the file, then keep watching in a thread; ``TimeoutError`` if the
        first list does not succeed within ``timeout`` seconds."""
        self._informer.start()
        if not self._informer.wait_for_sync(timeout):
            self._informer.stop()
            raise TimeoutError(
                f"could not list FeatureFlag {self.namespace}/{self.name} in {timeout:g}s"
            )
        with self._lock:
            if self._document is None:  # not there: an empty file, so an SDK can start
                self._write(EMPTY, version="")
        return self

    def stop(self) -> None:
        self._informer.stop()

    def __enter__(self) -> FlagSpecSync:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _mine(self, obj: KubeObject) -> bool:
        meta = obj.get("metadata") or {}
        return bool(meta.get("name") == self.name and meta.get("namespace") == self.namespace)

    def _changed(self, obj: KubeObject) -> None:
        if self._mine(obj):
            version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            with self._lock:
                self._write(flagd_document(obj), version=version)

    def _deleted(self, obj: KubeObject) -> None:
        if self._mine(obj):
            with self._lock:
                self._write(EMPTY, version="")

    def _write(self, document: dict[str, Any], *, version: str) -> None:
        """Replace the file unless it already holds ``document``; the caller holds the lock."""
        self._version = version
        if document == self._document:
            return
        write_flagd_file(self.path, document)
        self._document = copy.deepcopy(document)
        self._writes += 1
        log.info(
            "Wrote flagd file %s from FeatureFlag %s/%s (resourceVersion %s)",
            self.path,
            self.namespace,
            self.name,
            version or "-",
        )
