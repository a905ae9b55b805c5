"""The record leader election keeps in a ``coordination.k8s.io/v1`` Lease.

:class:`LeaseLock` is the narrow interface the elector needs (get, create, and
update guarded by resourceVersion); :class:`KubeLeaseLock` implements it on a
real Lease with JSON bodies, and :meth:`KubeLeaseLock.check` tells at start-up
whether the Lease can be used at all (:class:`LeaseUnusable`). Times are written
as RFC 3339 with exactly six fractional digits, the ``MicroTime`` format the API
server insists on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.kube.errors import describe
from controller.kube.objects import KubeObject
from controller.kube.transport import RequestTimeout, Resource, request_json

__all__ = [
    "LEASES",
    "KubeLeaseLock",
    "LeaseConflict",
    "LeaseLock",
    "LeaseRecord",
    "LeaseUnusable",
    "ObservedLease",
    "format_micro_time",
    "parse_micro_time",
]

LEASES = Resource(group="coordination.k8s.io", version="v1", plural="leases")
_DRY_RUN = [("dryRun", "All")]


def format_micro_time(moment: datetime) -> str:
    """``2006-01-02T15:04:05.000000Z``: the only form ``MicroTime`` accepts."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True, kw_only=True)
class LeaseRecord:
    """The Lease's spec: who holds it, for how long, and since when."""

    holder: str
    lease_duration_seconds: int
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "leaseTransitions": self.transitions,
        }
        if self.acquire_time is not None:
            spec["acquireTime"] = format_micro_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = format_micro_time(self.renew_time)
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LeaseRecord:
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=parse_micro_time(spec.get("acquireTime")),
            renew_time=parse_micro_time(spec.get("renewTime")),
            transitions=int(spec.get("leaseTransitions") or 0),
        )


@dataclass(frozen=True)
class ObservedLease:
    """A record as read or written, with the resourceVersion an update must quote."""

    record: LeaseRecord
    resource_version: str


class LeaseConflict(Exception):
    """Someone else wrote the Lease first (409): this round is lost."""


class LeaseUnusable(Exception):
    """The Lease cannot be used as the cluster is set up: its namespace does not exist,
    or RBAC forbids a verb the election needs. The message says what to do."""


class LeaseLock(Protocol):
    """Storage for the election record; ``timeout`` bounds each call, in seconds."""

    def get(self, *, timeout: float) -> ObservedLease | None:
        """The current record, or None if the Lease does not exist."""

    def create(self, record: LeaseRecord, *, timeout: float) -> ObservedLease:
        """Create the Lease; raise :class:`LeaseConflict` if it exists."""

    def update(
        self, current: ObservedLease, record: LeaseRecord, *, timeout: float
    ) -> ObservedLease:
        """Replace the record if still at ``current``; else raise :class:`LeaseConflict`."""


class KubeLeaseLock:
    """A :class:`LeaseLock` on the Lease ``namespace/name``."""

    def __init__(self, api: ApiClient, *, namespace: str, name: str) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self._last: KubeObject | None = None

    def __str__(self) -> str:
        return f"lease {self.namespace}/{self.name}"

    def get(self, *, timeout: float) -> ObservedLease | None:
        try:
            lease = self._request("GET", LEASES.object_path(self.namespace, self.name), timeout)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return self._observe(lease)

    def create(self, record: LeaseRecord, *, timeout: float) -> ObservedLease:
        path = LEASES.collection_path(self.namespace)
        return self._observe(self._request("POST", path, timeout, self._body(record)))

    def update(
        self, current: ObservedLease, record: LeaseRecord, *, timeout: float
    ) -> ObservedLease:
        # Keep labels, annotations and owners of the last Lease read; replace the spec.
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self._last is not None:
            metadata = dict(self._last.get("metadata") or metadata)
            metadata.pop("managedFields", None)
        metadata["resourceVersion"] = current.resource_version
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": record.to_spec(),
        }
        path = LEASES.object_path(self.namespace, self.name)
        return self._observe(self._request("PUT", path, timeout, body))

    def check(self, *, timeout: float) -> None:
        """Read the Lease and try the write the election would make first (a create, or
        an update of the Lease as read) with ``dryRun=All``, so nothing changes; raise
        :class:`LeaseUnusable` on 401, 403 or a missing namespace. Other failures (an API
        server briefly away, a conflict) are left to the election's retries."""
        path = LEASES.object_path(self.namespace, self.name)
        lease: KubeObject | None = None
        try:
            lease = self._request("GET", path, timeout)
        except ApiException as err:
            if err.status != 404:
                self._refuse("get", err)
                return
        try:
            if lease is None:
                record = LeaseRecord(holder="", lease_duration_seconds=1)
                collection = LEASES.collection_path(self.namespace)
                self._request("POST", collection, timeout, self._body(record), _DRY_RUN)
            else:
                metadata = {k: v for k, v in lease["metadata"].items() if k != "managedFields"}
                self._request("PUT", path, timeout, {**lease, "metadata": metadata}, _DRY_RUN)
        except LeaseConflict:
            return
        except ApiException as err:
            self._refuse("create" if lease is None else "update", err)

    def _refuse(self, verb: str, err: ApiException) -> None:
        """Raise :class:`LeaseUnusable` if ``err`` says RBAC forbids ``verb``, or (a 404
        on create) that the namespace does not exist, or (401) that the API server does
        not accept the controller's credentials at all."""
        if err.status == 401:
            raise LeaseUnusable(
                f"the API server rejects the controller's credentials ({describe(err)}) "
                f"reading {self}: check the kubeconfig's user, or the ServiceAccount token "
                "mounted in the pod"
            ) from err
        if err.status == 403:
            raise LeaseUnusable(
                f"RBAC forbids {verb} on {self}: {describe(err)}. Grant the controller's "
                "identity get, create and update on leases (API group coordination.k8s.io) "
                f"in namespace {self.namespace} with a Role and a RoleBinding"
            ) from err
        if err.status == 404 and verb == "create":
            raise LeaseUnusable(
                f"the namespace of {self} does not exist: {describe(err)}. Create it "
                f"(kubectl create namespace {self.namespace}) or choose another namespace"
            ) from err

    def _body(self, record: LeaseRecord) -> KubeObject:
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": record.to_spec(),
        }

    def _request(
        self,
        method: str,
        path: str,
        timeout: float,
        body: KubeObject | None = None,
        query: list[tuple[str, str]] | None = None,
    ) -> KubeObject:
        limit: RequestTimeout = max(timeout, 0.001)
        try:
            lease: KubeObject = request_json(
                self.api, method, path, body=body, timeout=limit, query=query or []
            )
        except ApiException as err:
            if err.status == 409:
                raise LeaseConflict(str(self)) from err
            raise
        return lease

    def _observe(self, lease: KubeObject) -> ObservedLease:
        self._last = lease
        metadata = lease.get("metadata") or {}
        return ObservedLease(
            LeaseRecord.from_spec(lease.get("spec") or {}),
            str(metadata.get("resourceVersion") or ""),
        )
