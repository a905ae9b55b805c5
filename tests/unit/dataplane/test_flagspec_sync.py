"""A FeatureFlag's ``flagSpec`` becomes a flagd file: the pure mapping, the atomic
write, and the watch loop against an in-memory API server, read back by the real
OpenFeature SDK with flagd's in-process resolver."""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.dataplane import FlagServer
from e2e.dataplane.flagsync import FlagSpecSync, flagd_document, write_flagd_file
from e2e.demoapp.flagd import FlagdSource
from tests.support.waiting import eventually
from tests.unit.demoapp.flagd_files import TARGETING, flag_document, switched_off
from tests.unit.kube.fakes import FakeApiServer

NAMESPACE, NAME = "shop", "checkout-flags"


def feature_flag(flag_spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "core.openfeature.dev/v1beta1",
        "kind": "FeatureFlag",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "resourceVersion": "7", **metadata},
        "spec": {"flagSpec": flag_spec},
    }


def test_the_document_is_the_flag_specs_flags_and_evaluators() -> None:
    spec = flag_document(targeting={"if": [{"$ref": "staff"}, "on", "off"]})
    spec["$evaluators"] = {"staff": TARGETING["if"][0]}
    obj = feature_flag(spec, annotations={"landinggear.dev/flag-restore": "{}"})
    document = flagd_document(obj)
    assert document == {"flags": spec["flags"], "$evaluators": spec["$evaluators"]}
    document["flags"]["new-checkout"]["defaultVariant"] = "off"
    assert obj["spec"]["flagSpec"]["flags"]["new-checkout"]["defaultVariant"] == "on"  # a copy


@pytest.mark.parametrize(
    "obj",
    [
        feature_flag({"flags": {}}),
        feature_flag({}),
        {"metadata": {"name": NAME}, "spec": {}},
        {"metadata": {"name": NAME}},
    ],
)
def test_absent_parts_become_empty_objects(obj: dict[str, Any]) -> None:
    assert flagd_document(obj) == {"flags": {}, "$evaluators": {}}


def test_a_write_replaces_the_file_whole_with_a_later_mtime(tmp_path: Path) -> None:
    path = tmp_path / "flags.flagd.json"
    write_flagd_file(path, flag_document())
    first = path.stat()
    os.utime(path, ns=(first.st_atime_ns, time.time_ns() + 10**9))  # a clock a second ahead
    ahead = path.stat().st_mtime_ns
    write_flagd_file(path, switched_off(flag_document()))
    second = path.stat()
    assert second.st_ino != first.st_ino  # renamed over, never rewritten in place
    assert second.st_mtime_ns >= ahead + 1_000_000
    assert json.loads(path.read_text()) == switched_off(flag_document())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flags.flagd.json"]  # no leftovers


@pytest.fixture
def server() -> FakeApiServer:
    fake = FakeApiServer()
    fake.apply("other", NAME, spec={"flagSpec": flag_document()})  # same name, not ours
    return fake


@pytest.fixture
def sync(server: FakeApiServer, tmp_path: Path) -> Iterator[FlagSpecSync]:
    running = FlagSpecSync(
        api=None, namespace=NAMESPACE, name=NAME, path=tmp_path / "f.json", list_watch=server
    )
    yield running
    running.stop()


def test_a_missing_flag_yields_an_empty_file_until_it_is_created(
    server: FakeApiServer, sync: FlagSpecSync
) -> None:
    sync.start()
    assert json.loads(sync.path.read_text()) == {"flags": {}, "$evaluators": {}}
    server.apply(NAMESPACE, NAME, spec={"flagSpec": flag_document()})
    eventually(lambda: sync.document == flag_document(), timeout=5, what="the file written")
    assert json.loads(sync.path.read_text()) == flag_document()


def test_the_sdk_follows_the_flag_through_the_sync(
    server: FakeApiServer, sync: FlagSpecSync
) -> None:
    on = flag_document(targeting=TARGETING)
    server.apply(NAMESPACE, NAME, spec={"flagSpec": on})
    sync.start()
    assert sync.writes == 1
    sdk = FlagdSource(path=sync.path, flag="new-checkout", context={"email": "a@example.com"})
    try:
        assert sdk.is_on()
        switched = time.monotonic()
        server.apply(NAMESPACE, NAME, spec={"flagSpec": switched_off(on)})
        eventually(lambda: not sdk.is_on(), timeout=2, interval=0.005, what="the SDK sees off")
        print(f"\nwatch event → in-process SDK sees it off: {time.monotonic() - switched:.3f}s")
        assert sync.resource_version == str(server.rv)

        annotated = {"annotations": {"note": "no flag change"}}
        server.apply(NAMESPACE, NAME, metadata=annotated, spec={"flagSpec": switched_off(on)})
        eventually(lambda: sync.resource_version == str(server.rv), timeout=5, what="seen")
        assert sync.writes == 2  # the same document is not written again

        server.apply(NAMESPACE, NAME, spec={"flagSpec": copy.deepcopy(on)})
        eventually(sdk.is_on, timeout=2, interval=0.005, what="the SDK sees it on again")
        server.delete(NAMESPACE, NAME)
        eventually(lambda: not sdk.is_on(), timeout=2, interval=0.005, what="deleted: off")
        assert json.loads(sync.path.read_text()) == {"flags": {}, "$evaluators": {}}
    finally:
        sdk.close()


def test_a_flag_server_hands_apps_exactly_one_source(tmp_path: Path) -> None:
    unleash = FlagServer(unleash_url="http://127.0.0.1:4242", token="client-token")
    assert unleash.app_args() == ["--unleash-url=http://127.0.0.1:4242"]
    assert unleash.app_env() == {"UNLEASH_API_TOKEN": "client-token"}
    flagd = FlagServer(flagd_file=tmp_path / "f.json")
    assert flagd.app_args() == [f"--flagd-file={tmp_path / 'f.json'}"]
    assert flagd.app_env() == {}
    with pytest.raises(ValueError, match="exactly one"):
        FlagServer()
    with pytest.raises(ValueError, match="exactly one"):
        FlagServer(unleash_url="http://127.0.0.1:4242", flagd_file=tmp_path / "f.json")
