"""The identities ConfigMap read through the API and kept fresh (a loopback stand-in API)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes.client import ApiClient, Configuration
from structlog.testing import capture_logs

from controller.chatops.directory import IdentityDirectory
from controller.chatops.identities import Identity
from tests.support.fake_api import FakeApi
from tests.support.waiting import eventually

PATH = "/api/v1/namespaces/landinggear-system/configmaps/ids"
ALICE_KEY = "slack.T1.U1"


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi().start()
    yield fake
    fake.stop()


def _directory(fake: FakeApi, refresh: float = 60) -> IdentityDirectory:
    configuration = Configuration()
    configuration.host = fake.url
    return IdentityDirectory(
        ApiClient(configuration), namespace="landinggear-system", name="ids", refresh=refresh
    )


def _configmap(data: dict[str, str]) -> dict[str, object]:
    return {"kind": "ConfigMap", "metadata": {"name": "ids"}, "data": data}


def test_good_entries_are_used_and_bad_ones_logged_once(api: FakeApi) -> None:
    api.answer("GET", PATH, 200, _configmap(
        {ALICE_KEY: "{user: alice, groups: [oncall]}", "slack.T1.U2": "{user: system:admin}",
         "nonsense": "x"}
    ))  # fmt: skip
    directory = _directory(api)
    with capture_logs() as logs:
        assert directory.refresh()
        assert directory.refresh()
    assert directory.loaded()
    assert directory.lookup(ALICE_KEY) == Identity(user="alice", groups=("oncall",))
    assert directory.lookup("slack.T1.U2") is None
    skipped = [entry for entry in logs if entry["event"] == "Skipped an identity"]
    assert len(skipped) == 2  # not again on the second, unchanged read


def test_a_missing_configmap_maps_nobody(api: FakeApi) -> None:
    directory = _directory(api)
    with capture_logs() as logs:
        assert directory.refresh()
    assert directory.loaded()
    assert directory.lookup(ALICE_KEY) is None
    assert any("not found" in entry["event"] for entry in logs)


def test_a_failed_read_keeps_the_identities_last_read(api: FakeApi) -> None:
    api.answer("GET", PATH, 200, _configmap({ALICE_KEY: "{user: alice}"}))
    directory = _directory(api)
    assert directory.refresh()
    api.answer("GET", PATH, 500, {"kind": "Status", "code": 500})
    assert not directory.refresh()
    assert directory.lookup(ALICE_KEY) == Identity(user="alice")


def test_an_edit_takes_effect_at_the_next_read(api: FakeApi) -> None:
    api.answer("GET", PATH, 200, _configmap({}))
    directory = _directory(api, refresh=0.05)
    directory.start()
    try:
        eventually(directory.loaded, timeout=5, what="first read")
        assert directory.lookup(ALICE_KEY) is None
        api.answer("GET", PATH, 200, _configmap({ALICE_KEY: "{user: alice}"}))
        eventually(lambda: directory.lookup(ALICE_KEY), timeout=5, what="alice mapped")
        assert directory.alive()
    finally:
        directory.stop()
    assert not directory.alive()
