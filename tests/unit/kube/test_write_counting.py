"""Every write that leaves the process is reported once, named as the API server's
audit log names it; reads and writes the fence refuses are not.

The requests go to a loopback stand-in of the API server that records what it
received, so the count is checked against the requests that actually arrived.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import config

from controller.kube.counting import WriteCountingApiClient, read_verb_of, resource_of, verb_of
from controller.kube.fencing import Fence, LeadershipLost
from controller.kube.ratelimit import RateLimitedApiClient, RateLimiter
from controller.kube.transport import request_json
from tests.support.fake_api import FakeApi

ROLLOUTS = "/apis/landinggear.dev/v1alpha1/namespaces/shop/rollouts"


@pytest.mark.parametrize(
    ("url", "resource"),
    [
        ("https://h:6443/api/v1/namespaces/shop/events", "events"),
        ("https://h/apis/events.k8s.io/v1/namespaces/shop/events?x=1", "events"),
        (f"https://h{ROLLOUTS}/web/status?fieldManager=lg", "rollouts/status"),
        ("https://h/apis/apps/v1/namespaces/shop/replicasets/web-1", "replicasets"),
        ("https://h/apis/coordination.k8s.io/v1/namespaces/x/leases/lg", "leases"),
        ("https://h/api/v1/namespaces/shop", "namespaces"),
        ("https://h/api/v1/namespaces", "namespaces"),
        ("https://h/apis/rbac.authorization.k8s.io/v1/clusterroles/x", "clusterroles"),
    ],
)
def test_the_resource_is_named_from_the_path(url: str, resource: str) -> None:
    assert resource_of(url) == resource


@pytest.mark.parametrize(
    ("url", "verb"),
    [
        (f"https://h{ROLLOUTS}", "list"),
        (f"https://h{ROLLOUTS}?watch=true&resourceVersion=5", "watch"),
        ("https://h/apis/apps/v1/replicasets?labelSelector=a&watch=1", "watch"),
        ("https://h/apis/apps/v1/replicasets?labelSelector=a", "list"),
        (f"https://h{ROLLOUTS}/web", "get"),
        (f"https://h{ROLLOUTS}/web/status", "get"),
        ("https://h/apis/coordination.k8s.io/v1/namespaces/x/leases/lg", "get"),
        ("https://h/api/v1/namespaces/shop", "get"),
        ("https://h/api/v1/namespaces", "list"),
    ],
)
def test_reads_are_named_get_list_or_watch(url: str, verb: str) -> None:
    assert read_verb_of(url) == verb


def test_http_methods_are_named_as_the_audit_log_names_them() -> None:
    assert [verb_of(m) for m in ("POST", "put", "PATCH", "DELETE")] == [
        "create",
        "update",
        "patch",
        "delete",
    ]


@pytest.fixture
def fake() -> Iterator[FakeApi]:
    api = FakeApi().start()
    yield api
    api.stop()


def _client(fake: FakeApi, tmp_path: Path, cls: type, **kwargs: object) -> WriteCountingApiClient:
    api = config.new_client_from_config(config_file=str(fake.kubeconfig(tmp_path)))  # type: ignore[no-untyped-call]
    client: WriteCountingApiClient = cls(api.configuration, **kwargs)
    return client


def test_each_write_sent_is_reported_once_and_each_read_apart(
    fake: FakeApi, tmp_path: Path
) -> None:
    for method, path in [
        ("POST", "/apis/events.k8s.io/v1/namespaces/shop/events"),
        ("PATCH", f"{ROLLOUTS}/web/status"),
        ("PUT", f"{ROLLOUTS}/web"),
        ("DELETE", "/apis/apps/v1/namespaces/shop/replicasets/web-1"),
        ("GET", ROLLOUTS),
    ]:
        fake.answer(method, path, 200, {})
    seen: list[tuple[str, str]] = []
    reads: list[tuple[str, str]] = []
    api = _client(
        fake,
        tmp_path,
        RateLimitedApiClient,
        limiter=RateLimiter(1000, 1000),
        on_write=lambda verb, resource: seen.append((verb, resource)),
        on_read=lambda verb, resource: reads.append((verb, resource)),
    )
    request_json(api, "POST", "/apis/events.k8s.io/v1/namespaces/shop/events", body={})
    merge = "application/merge-patch+json"
    request_json(api, "PATCH", f"{ROLLOUTS}/web/status", body={}, content_type=merge)
    request_json(api, "PUT", f"{ROLLOUTS}/web", body={})
    request_json(api, "DELETE", "/apis/apps/v1/namespaces/shop/replicasets/web-1")
    request_json(api, "GET", ROLLOUTS)
    request_json(api, "GET", ROLLOUTS)

    arrived = [(verb_of(m), resource_of(p)) for m, p, _ in fake.requests if m != "GET"]
    assert seen == arrived
    assert seen == [
        ("create", "events"),
        ("patch", "rollouts/status"),
        ("update", "rollouts"),
        ("delete", "replicasets"),
    ]
    assert (
        reads
        == [("list", "rollouts")] * 2
        == [
            (m.lower().replace("get", "list"), resource_of(p))
            for m, p, _ in fake.requests
            if m == "GET"
        ]
    )


def test_a_write_the_fence_refuses_never_leaves_and_is_not_counted(
    fake: FakeApi, tmp_path: Path
) -> None:
    seen: list[tuple[str, str]] = []
    api = _client(
        fake,
        tmp_path,
        RateLimitedApiClient,
        fence=Fence(lambda margin: False, margin=1.0),
        on_write=lambda verb, resource: seen.append((verb, resource)),
    )
    with pytest.raises(LeadershipLost):
        request_json(api, "POST", "/apis/events.k8s.io/v1/namespaces/shop/events", body={})
    assert seen == []
    assert fake.requests == []


def test_the_plain_client_of_the_lease_counts_its_writes_too(fake: FakeApi, tmp_path: Path) -> None:
    path = "/apis/coordination.k8s.io/v1/namespaces/x/leases/lg"
    fake.answer("PUT", path, 200, {})
    seen: list[tuple[str, str]] = []
    api = _client(
        fake,
        tmp_path,
        WriteCountingApiClient,
        on_write=lambda verb, resource: seen.append((verb, resource)),
    )
    request_json(api, "PUT", path, body={})
    assert (
        seen
        == [("update", "leases")]
        == [(verb_of(m), resource_of(p)) for m, p, _ in fake.requests]
    )
