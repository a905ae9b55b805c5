"""Every version of a namespace's Rollouts as etcd stored it, read from etcd's own watch.

The API server's watch can lose versions across its restarts (a relist shows the
latest state only); etcd's history cannot, as long as it is not compacted past
the revision we resume from. So the soak reads etcd's JSON gateway
(``POST /v3/watch`` on its loopback client port) from the revision before the
first Rollout was created: each ``Version`` is one write that landed, in commit
order, with the wall-clock time it was seen. Custom resources are stored as
JSON, so each version decodes to the object the API server would return.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import httpx

from controller.api import v1alpha1
from e2e.bench.soak.checks import Version

__all__ = ["EtcdLog", "Version"]


class _Compacted(Exception):
    """etcd no longer has the revision to resume from."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class EtcdLog:
    """Watch ``/registry/<group>/<plural>/<namespace>/`` from ``start_revision`` in a thread.

    A broken stream is resumed from the revision after the last one seen; a
    resume that etcd refuses (compacted) is an error kept in ``errors``, never
    silently skipped.
    """

    def __init__(self, *, etcd_port: int, namespace: str, start_revision: int) -> None:
        self.prefix = f"/registry/{v1alpha1.GROUP}/{v1alpha1.PLURAL}/{namespace}/".encode()
        self._url = f"http://127.0.0.1:{etcd_port}/v3/watch"
        self._next = start_revision
        self._lock = threading.Lock()
        self._versions: list[Version] = []
        self.errors: list[str] = []
        self.reconnects = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="etcd-log", daemon=True)
        self._client = httpx.Client(trust_env=False, timeout=httpx.Timeout(5.0, read=None))

    def start(self) -> EtcdLog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._client.close()  # ends a blocked read
        self._thread.join(10)

    def versions(self, name: str | None = None) -> list[Version]:
        with self._lock:
            return [v for v in self._versions if name in (None, v.name)]

    def latest(self) -> dict[str, Version]:
        """The last version of each Rollout seen so far."""
        with self._lock:
            return {v.name: v for v in self._versions}

    def _run(self) -> None:
        end = self.prefix[:-1] + bytes([self.prefix[-1] + 1])
        while not self._stopping.is_set():
            body = {
                "create_request": {
                    "key": _b64(self.prefix),
                    "range_end": _b64(end),
                    "start_revision": str(self._next),
                }
            }
            try:
                with self._client.stream("POST", self._url, json=body) as response:
                    response.raise_for_status()
                    for line in response.iter_lines():
                        if line.strip():
                            self._take(json.loads(line))
            except _Compacted as err:
                self.errors.append(str(err))
                return
            except (httpx.HTTPError, RuntimeError, ValueError) as err:
                if self._stopping.is_set():
                    return
                self.reconnects += 1
                self.errors.append(f"watch broke at revision {self._next}: {err}")
                time.sleep(0.5)

    def _take(self, message: dict[str, Any]) -> None:
        result = message.get("result") or message
        if result.get("compact_revision") and int(result["compact_revision"]) > self._next:
            raise _Compacted(f"etcd compacted past revision {self._next}: versions lost")
        if "error" in message:
            raise ValueError(f"etcd: {message['error']}")
        seen = time.time()
        for event in result.get("events") or []:
            kv = event["kv"]
            key = base64.b64decode(kv["key"])
            name = key[len(self.prefix) :].decode()
            revision = int(kv["mod_revision"])
            obj = (
                None
                if event.get("type") == "DELETE"
                else json.loads(base64.b64decode(kv.get("value") or ""))
            )
            with self._lock:
                self._versions.append(Version(name=name, revision=revision, seen=seen, obj=obj))
            self._next = revision + 1
