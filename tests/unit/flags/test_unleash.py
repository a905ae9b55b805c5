"""The Unleash provider's edges that the real server cannot show: a server that
accepts and never answers, one that answers 503 then recovers (an in-memory stand-in
for Unleash's admin API, ``httpx.MockTransport``: the real server is exercised in
``tests/cluster/engine/test_unleash_flags.py``), and what it refuses before sending."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from controller.api.flags import FeatureFlag, SecretKeyRef
from controller.flags import FlagError, FlagTarget
from controller.flags.endpoints import EndpointPolicy
from controller.flags.unleash import UnleashProvider

pytestmark = pytest.mark.unit

TOKEN = "canary-token-7f3a"  # must never appear in an error


class Secrets:
    def read(self, namespace: str, ref: SecretKeyRef) -> str:
        return TOKEN


def target(address: str) -> FlagTarget:
    flag = FeatureFlag.model_validate(
        {
            "name": "new-checkout",
            "unleash": {
                "address": address,
                "environment": "production",
                "feature": "checkout",
                "tokenSecretRef": {"name": "unleash", "key": "token"},
            },
        }
    )
    return FlagTarget(namespace="shop", rollout="web", flag=flag)


@pytest.fixture
def silent() -> Iterator[str]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_a_server_that_never_answers_fails_within_the_timeout(silent: str) -> None:
    provider = UnleashProvider(Secrets(), EndpointPolicy([silent]), timeout=1.5)
    started = time.monotonic()
    with pytest.raises(FlagError, match="timed out") as caught:
        provider.switch_off(target(silent), reason="test")
    assert time.monotonic() - started < 3.0
    assert TOKEN not in str(caught.value)


def test_an_address_off_the_allow_list_is_refused_before_any_request() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    transport = httpx.MockTransport(answer)
    provider = UnleashProvider(
        Secrets(), EndpointPolicy(["http://unleash.example:4242"]), transport=transport
    )
    with pytest.raises(FlagError, match="not an allowed flag endpoint"):
        provider.switch_off(target("http://elsewhere.example:4242"), reason="test")
    assert sent == []


class Admin:
    """Unleash's admin API for one feature, answering 503 ``outage`` times first."""

    def __init__(self, outage: int) -> None:
        self.outage = outage
        self.enabled = True
        self.tags: set[str] = set()
        self.auth: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.auth.add(request.headers.get("Authorization", ""))
        if self.outage:
            self.outage -= 1
            return httpx.Response(503, json={"message": "starting"})
        path, method = request.url.path, request.method
        if path == "/api/admin/projects/default/features/checkout" and method == "GET":
            envs = [{"name": "production", "enabled": self.enabled}]
            return httpx.Response(200, json={"name": "checkout", "environments": envs})
        if path == "/api/admin/features/checkout/tags" and method == "GET":
            tags = [{"type": "landinggear", "value": v} for v in sorted(self.tags)]
            return httpx.Response(200, json={"version": 1, "tags": tags})
        if path == "/api/admin/features/checkout/tags" and method == "POST":
            self.tags.add(json.loads(request.content)["value"])
            return httpx.Response(201, json={})
        if path == "/api/admin/tag-types":
            return httpx.Response(409, json={"message": "exists"})
        if path.endswith("/environments/production/off"):
            self.enabled = False
            return httpx.Response(200)
        if path.endswith("/environments/production/on"):
            self.enabled = True
            return httpx.Response(200)
        if method == "DELETE" and path.startswith("/api/admin/features/checkout/tags/landinggear/"):
            self.tags.discard(path.rsplit("/", 1)[1])
            return httpx.Response(200)
        return httpx.Response(404, json={"message": f"no route {method} {path}"})


def test_a_brief_503_is_tried_again_within_the_attempt_and_restore_is_exact() -> None:
    admin = Admin(outage=2)
    address = "http://unleash.example:4242"
    provider = UnleashProvider(
        Secrets(), EndpointPolicy([address]), transport=httpx.MockTransport(admin)
    )
    assert provider.switch_off(target(address), reason="test") == '{"enabled": true}'
    assert not admin.enabled
    provider.restore(target(address), previous='{"enabled": true}')
    assert (admin.enabled, admin.tags) == (True, set())
    assert admin.auth == {TOKEN}  # the token as Unleash wants it: bare, no scheme


def test_a_long_outage_fails_the_attempt_with_the_status() -> None:
    address = "http://unleash.example:4242"
    provider = UnleashProvider(
        Secrets(), EndpointPolicy([address]), transport=httpx.MockTransport(Admin(outage=99))
    )
    with pytest.raises(FlagError, match="503 starting"):
        provider.switch_off(target(address), reason="test")
