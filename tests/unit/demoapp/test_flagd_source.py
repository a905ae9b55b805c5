"""The OpenFeature SDK with flagd's in-process resolver, reading a real flagd file.

Nothing is faked: ``FlagdSource`` is the ``openfeature-sdk`` client with the
``openfeature-provider-flagd`` provider, whose file watcher reloads the file; the
file is replaced the way ``FlagSpecSync`` replaces it (``write_flagd_file``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openfeature.contrib.provider.flagd.resolvers import InProcessResolver
from openfeature.flag_evaluation import Reason

from e2e.dataplane.flagsync import write_flagd_file
from e2e.demoapp.flagd import FlagdSource
from tests.unit.demoapp.flagd_files import TARGETING, flag_document, switched_off

FLAG = "new-checkout"
SEEN_WITHIN = 1.0
"""Seconds within which the SDK must see a replaced file (its watcher polls every 0.1 s)."""


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    path = tmp_path / "flags.flagd.json"
    write_flagd_file(path, flag_document())
    return path


@pytest.fixture
def open_source() -> Iterator[Callable[..., FlagdSource]]:
    sources: list[FlagdSource] = []

    def open_one(path: Path, **kwargs: Any) -> FlagdSource:
        source = FlagdSource(path=path, flag=FLAG, **kwargs)
        sources.append(source)
        return source

    yield open_one
    for source in sources:
        source.close()


def seconds_until(condition: Callable[[], bool], *, timeout: float) -> float:
    """Poll ``condition`` every 5 ms; the seconds it took to hold, or fail the test."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout}s")
        time.sleep(0.005)
    return time.monotonic() - started


def test_the_sdk_evaluates_in_process_from_the_file(
    flag_file: Path, open_source: Callable[..., FlagdSource]
) -> None:
    source = open_source(flag_file)
    assert isinstance(source.provider.resolver, InProcessResolver)
    assert source.is_on()
    details = source.details()
    assert (details.value, details.variant, details.reason) == (True, "on", Reason.STATIC)


def test_the_switch_written_to_the_file_turns_the_flag_off_within_a_second(
    flag_file: Path, open_source: Callable[..., FlagdSource]
) -> None:
    on = flag_document(targeting=TARGETING)
    write_flagd_file(flag_file, on)
    source = open_source(flag_file, context={"email": "ann@example.com"})
    assert source.is_on()
    assert source.details().reason == Reason.TARGETING_MATCH

    write_flagd_file(flag_file, switched_off(on))
    took = seconds_until(lambda: not source.is_on(), timeout=SEEN_WITHIN)
    print(f"\nflagd file switched off → in-process SDK sees it off: {took:.3f}s")
    details = source.details()
    assert (details.value, details.variant, details.reason) == (False, "off", Reason.STATIC)

    write_flagd_file(flag_file, on)  # undone: the targeting rule is back
    took = seconds_until(source.is_on, timeout=SEEN_WITHIN)
    print(f"flagd file restored → in-process SDK sees it on: {took:.3f}s")


def test_targeting_rules_decide_per_evaluation_context(
    flag_file: Path, open_source: Callable[..., FlagdSource]
) -> None:
    write_flagd_file(flag_file, flag_document(default="off", targeting=TARGETING))
    staff = open_source(flag_file, context={"email": "ann@example.com"})
    customer = open_source(flag_file, context={"email": "bob@example.org"})
    anonymous = open_source(flag_file)
    assert (staff.is_on(), customer.is_on(), anonymous.is_on()) == (True, False, False)
    assert customer.details().variant == "off"


def test_shared_evaluators_are_resolved(
    flag_file: Path, open_source: Callable[..., FlagdSource]
) -> None:
    document = flag_document(default="off", targeting={"if": [{"$ref": "staff"}, "on", "off"]})
    document["$evaluators"] = {"staff": TARGETING["if"][0]}
    write_flagd_file(flag_file, document)
    assert open_source(flag_file, context={"email": "ann@example.com"}).is_on()
    assert not open_source(flag_file, context={"email": "bob@example.org"}).is_on()


def test_a_disabled_flag_reads_as_off(
    flag_file: Path, open_source: Callable[..., FlagdSource]
) -> None:
    source = open_source(flag_file)
    assert source.is_on()
    write_flagd_file(flag_file, flag_document(state="DISABLED"))  # default variant still "on"
    seconds_until(lambda: not source.is_on(), timeout=SEEN_WITHIN)
    assert source.details().reason == Reason.DISABLED


def test_a_missing_flag_reads_as_off(
    flag_file: Path, open_source: Callable[..., FlagdSource]
) -> None:
    document = flag_document()
    del document["flags"][FLAG]
    write_flagd_file(flag_file, document)
    source = open_source(flag_file)
    assert not source.is_on()
    assert source.details().error_code is not None


def test_a_file_that_does_not_parse_keeps_the_last_flags(
    flag_file: Path, open_source: Callable[..., FlagdSource]
) -> None:
    source = open_source(flag_file)
    flag_file.write_text('{"flags": {')  # broken; a reader polling mtime will try it
    time.sleep(0.4)  # several polls of the file watcher
    assert source.is_on()
    write_flagd_file(flag_file, switched_off(flag_document()))
    seconds_until(lambda: not source.is_on(), timeout=SEEN_WITHIN)


def test_a_closed_source_stops_evaluating(
    flag_file: Path, open_source: Callable[..., FlagdSource]
) -> None:
    source = open_source(flag_file)
    assert source.is_on()
    source.close()
    assert not source.is_on()  # the domain is unbound: the SDK's in-code default
