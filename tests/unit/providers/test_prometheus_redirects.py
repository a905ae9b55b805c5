"""Redirects stay off: an allowed server cannot send a query (and its credentials) elsewhere.

Two real loopback servers: the allowed one answers 302 pointing at the other,
which records whether anything reached it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controller.providers import ErrorKind, ProviderHTTPStatus
from controller.providers.prometheus import PrometheusProvider
from controller.providers.prometheus_config import PrometheusConfig
from tests.support.aio import synchronously
from tests.support.recording_prometheus import RecordingPrometheus


@pytest.fixture
def servers() -> Iterator[tuple[RecordingPrometheus, RecordingPrometheus]]:
    elsewhere = RecordingPrometheus().start()
    allowed = RecordingPrometheus(status=302, location=f"{elsewhere.url}/api/v1/query").start()
    yield allowed, elsewhere
    allowed.stop()
    elsewhere.stop()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@synchronously
async def test_a_redirect_is_an_error_and_is_never_followed(
    servers: tuple[RecordingPrometheus, RecordingPrometheus], status: int
) -> None:
    allowed, elsewhere = servers
    allowed.status = status
    config = PrometheusConfig.model_validate(
        {"address": allowed.url, "bearer_token": "redirect-canary-token", "retries": 0}
    )
    async with PrometheusProvider(config) as provider:
        with pytest.raises(ProviderHTTPStatus) as raised:
            await provider.query("up")

    assert raised.value.kind == ErrorKind.HTTP_STATUS
    assert raised.value.status == status
    assert len(allowed.seen()) == 1
    assert elsewhere.seen() == []
