"""Flag credentials: one key of a Kubernetes Secret in the Rollout's namespace.

A flag's token or signing key comes only from a Kubernetes Secret named in the
spec (``tokenSecretRef`` / ``secretRef``) in the Rollout's own namespace. The
controller has no cluster-wide Secret access: the namespace's owner grants it
with a Role naming exactly those Secrets (``resourceNames``) and a RoleBinding
to the controller's ServiceAccount (README, "Feature flags"). :class:`KubeSecrets`
reads one key per request, with a timeout, and never puts the value in an
error, a log line or the status; a missing grant reads "forbidden" with what to
create.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.api.flags import SecretKeyRef
from controller.flags import FlagError
from controller.kube.transport import RequestTimeout, request_json

__all__ = ["CachedSecrets", "KubeSecrets", "SecretSource"]


class SecretSource(Protocol):
    """Reads one key of a Secret in a namespace; raises :class:`FlagError` saying why not."""

    def read(self, namespace: str, ref: SecretKeyRef) -> str: ...


class KubeSecrets:
    """Secrets through the Kubernetes API, one GET per read (flag switches are rare)."""

    def __init__(
        self,
        api: ApiClient,
        *,
        timeout: RequestTimeout = (5.0, 10.0),
        see: str = "README: Feature flags, Secrets",
    ) -> None:
        self.api = api
        self.timeout = timeout
        self.see = see
        """Where the 403 message sends the namespace's owner."""

    def read(self, namespace: str, ref: SecretKeyRef) -> str:
        where = f"Secret {namespace}/{ref.name}"
        try:
            secret = request_json(
                self.api,
                "GET",
                f"/api/v1/namespaces/{namespace}/secrets/{ref.name}",
                timeout=self.timeout,
            )
        except ApiException as err:
            if err.status == 403:
                raise FlagError(
                    f"the controller may not read {where}: create a Role in {namespace} "
                    f"allowing get on secrets named {ref.name} and bind it to the "
                    f"controller's ServiceAccount ({self.see})"
                ) from None
            if err.status == 404:
                raise FlagError(f"{where} not found") from None
            raise FlagError(f"reading {where}: {err.status} {err.reason}") from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise FlagError(f"reading {where}: {type(err).__name__}") from None
        data = (secret.get("data") or {}) if isinstance(secret, dict) else {}
        encoded = data.get(ref.key)
        if not isinstance(encoded, str):
            raise FlagError(f"{where} has no key {ref.key!r}")
        try:
            value = base64.b64decode(encoded, validate=True).decode("utf-8").strip()
        except (binascii.Error, UnicodeDecodeError):
            raise FlagError(f"{where} key {ref.key!r} is not UTF-8 text") from None
        if not value:
            raise FlagError(f"{where} key {ref.key!r} is empty")
        return value


class CachedSecrets:
    """A :class:`SecretSource` that keeps each value read for ``ttl`` seconds.

    Metrics read their ``bearerTokenSecret`` on every look (every ``interval``, per
    metric): without a cache that is one GET per look. A rotated token is picked up
    within ``ttl``; failures are not kept, so a grant created by the namespace's
    owner works on the next look. ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        source: SecretSource,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 1024,
    ) -> None:
        if ttl < 0:
            raise ValueError("ttl must not be negative")
        self.source = source
        self.ttl = ttl
        self.clock = clock
        self.max_entries = max_entries
        self._values: OrderedDict[tuple[str, str, str], tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, namespace: str, ref: SecretKeyRef) -> str:
        key = (namespace, ref.name, ref.key)
        now = self.clock()
        with self._lock:
            kept = self._values.get(key)
            if kept is not None and now - kept[0] < self.ttl:
                return kept[1]
        value = self.source.read(namespace, ref)  # raises FlagError: nothing kept
        with self._lock:
            self._values[key] = (now, value)
            self._values.move_to_end(key)
            while len(self._values) > self.max_entries:
                self._values.popitem(last=False)
        return value

    def forget(self, namespace: str, ref: SecretKeyRef) -> None:
        """Drop the kept value (its server refused it: the token may have been rotated)."""
        with self._lock:
            self._values.pop((namespace, ref.name, ref.key), None)
