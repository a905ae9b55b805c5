"""One log format for everything the process logs: structlog's events and the
standard library's records (the ``kubernetes`` client, urllib3, httpx, tenacity)
come out as the same JSON lines, filtered at the same level, scrubbed of secrets.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from controller import logs
from controller.redaction import REDACTED, redact_text


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    yield out
    structlog.reset_defaults()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    logging.captureWarnings(False)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_standard_library_records_come_out_as_the_same_json_lines(stream: io.StringIO) -> None:
    logs.configure("info", stream=stream)
    structlog.get_logger("landinggear.manager").info("Caches synced", rollouts=3)
    logging.getLogger("kubernetes.client.rest").warning("watch ended: %s", "410 Gone")
    logging.getLogger("urllib3.connectionpool").warning("Retrying %d", 2)
    logging.getLogger("tenacity").error("gave up")

    found = lines(stream)

    assert [(line["logger"], line["level"], line["event"]) for line in found] == [
        ("landinggear.manager", "info", "Caches synced"),
        ("kubernetes.client.rest", "warning", "watch ended: 410 Gone"),
        ("urllib3.connectionpool", "warning", "Retrying 2"),
        ("tenacity", "error", "gave up"),
    ]
    assert found[0]["rollouts"] == 3
    assert all(set(line) >= {"event", "level", "logger", "timestamp"} for line in found)


def test_the_chosen_level_filters_both_kinds(stream: io.StringIO) -> None:
    logs.configure("warning", stream=stream)
    structlog.get_logger("landinggear.x").info("dropped")
    logging.getLogger("urllib3").info("dropped too")
    logging.getLogger("kubernetes").warning("kept")
    structlog.get_logger("landinggear.x").error("kept too")
    assert [line["event"] for line in lines(stream)] == ["kept", "kept too"]


def test_httpx_request_lines_show_only_at_debug(stream: io.StringIO) -> None:
    logs.configure("info", stream=stream)
    logging.getLogger("httpx").info("HTTP Request: GET http://p/api/v1/query")
    assert lines(stream) == []
    logs.configure("debug", stream=stream)
    logging.getLogger("httpx").info("HTTP Request: GET http://p/api/v1/query")
    assert [line["event"] for line in lines(stream)] == ["HTTP Request: GET http://p/api/v1/query"]


def test_an_exception_is_rendered_in_the_line(stream: io.StringIO) -> None:
    logs.configure("info", stream=stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("kubernetes").exception("watch failed")
        structlog.get_logger("landinggear.x").exception("Reconcile raised")
    found = lines(stream)
    assert len(found) == 2
    assert all("RuntimeError: boom" in line["exception"] for line in found)


def test_a_bad_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        logs.configure("loud")


CANARY = "canary-5f0c1d9e"


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {CANARY}",
        f"headers={{'Authorization': 'Basic {CANARY}'}}",
        f'{{"authorization": "{CANARY}"}}',
        f"GET https://admin:{CANARY}@prometheus.example/api/v1/query failed",
        f"GET https://{CANARY}@unleash.example/api failed",
        f"POST http://hooks.example/x?token={CANARY}&a=1",
        f"request with bearer {CANARY}",
    ],
)
def test_credentials_in_text_are_scrubbed(text: str) -> None:
    scrubbed = redact_text(text)
    assert CANARY not in scrubbed
    assert REDACTED in scrubbed


def test_text_without_credentials_is_left_alone() -> None:
    text = "Scaled canary ReplicaSet web-7d9 to 2 (https://prometheus.example:9090/api/v1/query)"
    assert redact_text(text) == text


def test_every_line_is_scrubbed_whoever_logged_it(stream: io.StringIO) -> None:
    logs.configure("debug", stream=stream)
    structlog.get_logger("landinggear.x").warning(
        "Query failed",
        url=f"https://u:{CANARY}@p/q",
        api_token=CANARY,
        headers={"Authorization": CANARY},
    )
    logging.getLogger("urllib3").debug("Starting new HTTPS connection: https://u:%s@host", CANARY)
    logging.getLogger("httpx").debug("sending Authorization: Bearer %s", CANARY)
    output = stream.getvalue()
    assert len(lines(stream)) == 3
    assert CANARY not in output
    assert lines(stream)[0]["api_token"] == REDACTED
