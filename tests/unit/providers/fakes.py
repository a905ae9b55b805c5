"""A scripted Prometheus behind ``httpx.MockTransport``, and a provider wired to it.

The provider is asynchronous (``async with make_provider(...)``, ``await
provider.query(...)``); the scripted handler stays synchronous, which
``MockTransport`` accepts for an ``AsyncClient`` too.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import httpx

from controller.providers.prometheus import PrometheusConfig, PrometheusProvider

ADDRESS = "http://prom.test:9090"
Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class ScriptedPrometheus:
    """Answers each request with the next scripted reply (the last one repeats); records all."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        return reply

    def params(self, index: int = -1) -> dict[str, str]:
        """The query parameters of a request, from the URL (GET) or the form body (POST)."""
        request = self.requests[index]
        if request.method == "POST":
            return dict(httpx.QueryParams(request.content.decode()))
        return dict(request.url.params)


def success(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"status": "success", "data": data})


def vector(*samples: tuple[dict[str, str], str]) -> httpx.Response:
    result = [{"metric": labels, "value": [1_700_000_000.0, value]} for labels, value in samples]
    return success({"resultType": "vector", "result": result})


def scalar(value: str) -> httpx.Response:
    return success({"resultType": "scalar", "result": [1_700_000_000.0, value]})


def error(status: int, error_type: str, message: str) -> httpx.Response:
    body = {"status": "error", "errorType": error_type, "error": message}
    return httpx.Response(status, content=json.dumps(body).encode())


def make_provider(
    backend: ScriptedPrometheus,
    *,
    sleeps: list[float] | None = None,
    seed: int = 7,
    **settings: Any,
) -> PrometheusProvider:
    config = PrometheusConfig.model_validate({"address": ADDRESS, **settings})
    recorded = sleeps if sleeps is not None else []

    async def sleep(seconds: float) -> None:
        """Records the backoff instead of waiting it out."""
        recorded.append(seconds)

    return PrometheusProvider(
        config,
        transport=httpx.MockTransport(backend),
        sleep=sleep,
        rng=random.Random(seed),
    )
