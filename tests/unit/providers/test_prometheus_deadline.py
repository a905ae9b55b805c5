"""Each attempt's total deadline, against a real loopback HTTP server that stalls or trickles.

httpx's own timeouts bound each network operation: a server that sends one byte
every 0.2 s never trips a 1 s read timeout, and would hold a query for as long as
its answer lasts. The provider's per-attempt ``asyncio.timeout`` must end such a
query at ``timeout_seconds`` whatever the server does. The server is a raw socket
on 127.0.0.1 in a thread of this process; nothing else is contacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import pytest
from structlog.testing import capture_logs

from controller.providers import ErrorKind, ProviderError, ProviderTimeout, Sample
from controller.providers.prometheus import PrometheusConfig, PrometheusProvider

QUERY = 'sum(increase(http_requests_total{revision="abc"}[30s]))'
BODY = json.dumps(
    {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"code": "200"}, "value": [1_700_000_000.0, "12"]}],
        },
    }
).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n"
    b"Connection: close\r\n"
    b"\r\n" + BODY
)
TRICKLE_SECONDS = 0.2
"""The trickling server sends one byte of the response (status line first) this often."""
DEADLINE = 1.0
UPPER_BOUND = 2.5
"""Wall time a query against a stalled server may take with a 1 s deadline (CI slack)."""


class Behaviour(StrEnum):
    SILENT = "silent"
    """Read the request, then keep the connection open and never answer."""
    TRICKLE = "trickle"
    """Send a valid response one byte every ``TRICKLE_SECONDS``."""
    ANSWER = "answer"
    """Send the whole response at once and close."""


class LoopbackServer:
    """A raw HTTP/1.1 server on 127.0.0.1 that behaves as told on every connection."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self.bytes_sent = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.address = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="loopback-accept", daemon=True)
        self._acceptor.start()

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(timeout=5)
        with self._lock:
            threads, sockets = list(self._threads), list(self._sockets)
        for thread in threads:
            thread.join(timeout=5)
        for sock in [*sockets, self._listener]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self.connections += 1
                self._sockets.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            if self.behaviour is Behaviour.SILENT:
                self._stop.wait()
            elif self.behaviour is Behaviour.ANSWER:
                conn.sendall(RESPONSE)
                conn.shutdown(socket.SHUT_WR)
            else:
                for index in range(len(RESPONSE)):
                    if self._stop.wait(TRICKLE_SECONDS):
                        return
                    conn.sendall(RESPONSE[index : index + 1])
                    with self._lock:
                        self.bytes_sent += 1
        except OSError:
            return  # the client gave up and closed the connection


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[LoopbackServer] = []

    def start(behaviour: Behaviour) -> LoopbackServer:
        server = LoopbackServer(behaviour)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def timed_query(
    server: LoopbackServer, **settings: Any
) -> tuple[float, list[Sample] | ProviderError]:
    """Wall seconds of one ``query`` (retries included), and its samples or error."""
    config = PrometheusConfig.model_validate(
        {"address": server.address, "timeout_seconds": DEADLINE, "retries": 0, **settings}
    )

    async def run() -> tuple[float, list[Sample] | ProviderError]:
        async with PrometheusProvider(config, rng=random.Random(7)) as provider:
            started = time.monotonic()
            try:
                result: list[Sample] | ProviderError = await provider.query(QUERY)
            except ProviderError as err:
                result = err
            return time.monotonic() - started, result

    return asyncio.run(run())


def test_a_server_that_never_answers_is_given_up_at_the_deadline(serve: Any) -> None:
    server = serve(Behaviour.SILENT)
    elapsed, result = timed_query(server)
    assert isinstance(result, ProviderTimeout), result
    assert result.kind is ErrorKind.TIMEOUT
    assert result.attempts == 1
    assert server.connections == 1
    assert DEADLINE * 0.9 <= elapsed < UPPER_BOUND


def test_a_server_that_trickles_its_answer_is_given_up_at_the_deadline(serve: Any) -> None:
    server = serve(Behaviour.TRICKLE)
    elapsed, result = timed_query(server)
    assert isinstance(result, ProviderTimeout), result
    assert "no complete answer within 1s" in str(result)
    assert DEADLINE * 0.9 <= elapsed < UPPER_BOUND
    # Bytes kept coming, so no per-read timeout could have fired: the deadline did,
    # long before the whole response (over 40 s of trickling) was in.
    assert server.bytes_sent >= 3
    assert len(RESPONSE) * TRICKLE_SECONDS > 10 * DEADLINE


def test_a_server_that_answers_returns_the_samples(serve: Any) -> None:
    server = serve(Behaviour.ANSWER)
    elapsed, result = timed_query(server)
    assert result == [Sample({"code": "200"}, 12.0)]
    assert elapsed < DEADLINE


def test_timeouts_are_retried_and_the_retries_stop_within_the_budget(serve: Any) -> None:
    server = serve(Behaviour.SILENT)
    budget, deadline = 2.0, 0.5
    with capture_logs() as logs:
        elapsed, result = timed_query(
            server, timeout_seconds=deadline, retries=10, retry_budget_seconds=budget
        )
    assert isinstance(result, ProviderTimeout), result
    assert 2 <= result.attempts < 11  # the budget ended the retries, not their number
    assert server.connections == result.attempts
    assert {event["kind"] for event in logs} == {"timeout"}
    assert len(logs) == result.attempts - 1
    # No attempt starts once the budget is spent, and each one ends at its deadline.
    assert result.attempts * deadline * 0.9 <= elapsed < budget + deadline + 0.5
