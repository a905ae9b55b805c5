"""CachedSecrets: a metric's bearerTokenSecret is read once a TTL, not once a look."""

from __future__ import annotations

import pytest

from controller.api.flags import SecretKeyRef
from controller.flags import FlagError
from controller.flags.secrets import CachedSecrets

pytestmark = pytest.mark.unit


class Source:
    """Counts reads; answers ``value`` or raises ``error`` (the real one is a GET)."""

    def __init__(self) -> None:
        self.value = "token-1"
        self.error = ""
        self.reads = 0

    def read(self, namespace: str, ref: SecretKeyRef) -> str:
        self.reads += 1
        if self.error:
            raise FlagError(self.error)
        return f"{namespace}/{ref.name}/{ref.key}={self.value}"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


REF = SecretKeyRef(name="prom", key="token")


def test_a_value_is_read_once_per_ttl_and_a_rotation_shows_after_it() -> None:
    source, clock = Source(), Clock()
    cached = CachedSecrets(source, ttl=60, clock=clock)
    assert cached.read("team-a", REF) == "team-a/prom/token=token-1"
    clock.now += 59
    source.value = "token-2"
    assert cached.read("team-a", REF).endswith("token-1")
    assert source.reads == 1
    clock.now += 1
    assert cached.read("team-a", REF).endswith("token-2")
    assert source.reads == 2


def test_namespaces_and_keys_are_kept_apart() -> None:
    source = Source()
    cached = CachedSecrets(source, ttl=60, clock=Clock())
    other_key = SecretKeyRef(name="prom", key="other")
    reads = [("team-a", REF), ("team-b", REF), ("team-a", other_key)]
    values = {cached.read(namespace, ref) for namespace, ref in reads}
    assert len(values) == 3
    assert source.reads == 3


def test_a_failure_is_not_kept_so_a_new_grant_works_on_the_next_look() -> None:
    source, clock = Source(), Clock()
    cached = CachedSecrets(source, ttl=60, clock=clock)
    source.error = "the controller may not read Secret team-a/prom"
    with pytest.raises(FlagError, match="may not read"):
        cached.read("team-a", REF)
    source.error = ""
    assert cached.read("team-a", REF).endswith("token-1")
    assert source.reads == 2


def test_the_oldest_entries_go_past_the_bound() -> None:
    source = Source()
    cached = CachedSecrets(source, ttl=60, clock=Clock(), max_entries=2)
    for namespace in ("a", "b", "c"):
        cached.read(namespace, REF)
    cached.read("a", REF)  # evicted: read again
    assert source.reads == 4
