"""The identities ConfigMap, read through the API and kept fresh.

A periodic GET of the one ConfigMap (every ``refresh`` seconds) rather than a
watch: the bot's RBAC then needs only ``get`` on that one name, and a change to
who may act from chat takes effect within ``refresh`` seconds, which is soon
enough for an admin's edit and costs one small request.

- Entries that are not valid are logged (once per content change) and skipped;
  the valid ones are used. :func:`~controller.chatops.identities.parse_identities`
  decides which are which.
- A missing ConfigMap (404) maps nobody: every chat user is refused, politely.
- Any other failure keeps the identities last read (logged), so a brief API
  outage does not lock everyone out; before the first good read nobody is mapped.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import structlog
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.chatops.identities import Identity, parse_identities
from controller.kube.errors import describe
from controller.kube.transport import Resource, request_json

__all__ = ["CONFIGMAPS", "IdentityDirectory"]

log = structlog.get_logger("landinggear.chatops.identities")

CONFIGMAPS = Resource(group="", version="v1", plural="configmaps")
_TIMEOUT = (5.0, 10.0)


class IdentityDirectory:
    """Chat identity key → Kubernetes identity, from the ConfigMap ``namespace/name``."""

    def __init__(self, api: ApiClient, *, namespace: str, name: str, refresh: float) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.refresh_seconds = refresh
        self._identities: dict[str, Identity] = {}
        self._last_data: Mapping[str, str] | None = None
        self._missing = False
        self._loaded = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def lookup(self, key: str) -> Identity | None:
        """The Kubernetes identity of a chat user (None: unmapped)."""
        return self._identities.get(key)

    def loaded(self) -> bool:
        """Whether the ConfigMap has been read (or found missing) at least once."""
        return self._loaded.is_set()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def refresh(self) -> bool:
        """Read the ConfigMap once; whether that worked (a 404 counts: nobody is mapped)."""
        path = CONFIGMAPS.object_path(self.namespace, self.name)
        try:
            obj = request_json(self.api, "GET", path, timeout=_TIMEOUT)
        except ApiException as err:
            if err.status != 404:
                log.warning("Failed to read the identities ConfigMap; keeping the last read",
                            configmap=self._ref, error=describe(err))  # fmt: skip
                return False
            obj = None
        except Exception as err:
            log.warning("Failed to read the identities ConfigMap; keeping the last read",
                        configmap=self._ref, error=describe(err))  # fmt: skip
            return False
        self._use(obj)
        return True

    def _use(self, obj: Mapping[str, object] | None) -> None:
        raw = obj.get("data") if obj is not None else None
        data = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        if obj is None and not self._missing:
            log.warning("Identities ConfigMap not found; nobody may act from chat",
                        configmap=self._ref)  # fmt: skip
        self._missing = obj is None
        if data != self._last_data:
            identities, problems = parse_identities(data)
            for problem in problems:
                log.warning("Skipped an identity", configmap=self._ref, problem=problem)
            self._identities = identities
            self._last_data = data
            log.info("Read the identities", configmap=self._ref, mapped=len(identities),
                     skipped=len(problems))  # fmt: skip
        self._loaded.set()

    @property
    def _ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def start(self) -> None:
        """Read now, then every ``refresh`` seconds from a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="identities", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=_TIMEOUT[0] + _TIMEOUT[1])

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.refresh()
            self._stopping.wait(self.refresh_seconds)
