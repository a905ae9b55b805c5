"""The kill switch through a webhook, with a real controller process on the real API
server: a signed POST reaches a receiver on loopback (which checks the signature
with :func:`controller.flags.webhook.verify`) when a release is aborted, and the
restore comes back with what the receiver answered on retry; a receiver that
refuses the signature reads clearly in the status."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from controller.api import v1alpha1
from controller.flags.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.support.scenario import Harness
from tests.support.waiting import eventually

KEY = b"webhook-signing-key-7d1c"


@dataclass
class Receiver:
    """A flag system of the user's own: one flag, switched by signed requests."""

    key: bytes
    on: bool = True
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        ok = verify(
            self.key,
            headers.get(TIMESTAMP_HEADER, ""),
            body,
            headers.get(SIGNATURE_HEADER, ""),
            now=time.time(),
        )
        with self.lock:
            if not ok:
                self.refused += 1
                return 401, {"error": "bad signature"}
            payload = json.loads(body)
            self.received.append((time.time(), payload))
            if payload["action"] == "off":
                previous, self.on = ("on" if self.on else "off"), False
                return 200, {"previous": previous}
            self.on = payload.get("previous") == "on"
            return 200, {}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(key=KEY)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            code, answer = found.handle(self.headers, body)
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}/flags"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


def _setup(harness: Harness, receiver: Receiver, key: bytes) -> str:
    harness.grant_secret("flag-hook")
    harness.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "flag-hook"},
            "data": {"key": base64.b64encode(key).decode()},
        }
    )
    harness.create_app(replicas=2)
    harness.start_controller(extra=("--flag-endpoint", receiver.url))
    harness.apply(
        {
            "apiVersion": v1alpha1.API_VERSION,
            "kind": v1alpha1.KIND,
            "metadata": {"name": "web"},
            "spec": {
                "workloadRef": {"name": "web"},
                "featureFlags": [
                    {
                        "name": "new-checkout",
                        "webhook": {
                            "url": receiver.url,
                            "secretRef": {"name": "flag-hook", "key": "key"},
                        },
                    }
                ],
                "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
            },
        }
    )
    stable: str = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    harness.wait_status("paused at 50 %", currentStepIndex=1, timeout=60)
    return stable


def test_an_abort_posts_a_signed_off_and_retry_restores_what_the_receiver_said(
    harness: Harness, receiver: Receiver
) -> None:
    v1 = _setup(harness, receiver, KEY)
    aborted = time.time()
    harness.cli("abort", "web", "--reason", "checkout errors")
    eventually(lambda: not receiver.on, timeout=30, what="the receiver switched the flag off")
    at, off = receiver.received[0]
    assert off["action"] == "off"
    assert off["rollout"] == f"{harness.namespace}/web"
    assert off["flag"] == "new-checkout"
    assert "checkout errors" in off["reason"]
    harness.wait_status("rolled back", phase="Degraded", stableRevision=v1)
    eventually(
        lambda: (harness.status().get("featureFlags") or [{}])[0].get("previous") == "on",
        timeout=30,
        what="the receiver's previous kept in the status",
    )

    harness.cli("retry", "web")
    eventually(lambda: receiver.on, timeout=30, what="the receiver restored the flag")
    restore = receiver.received[-1][1]
    assert (restore["action"], restore["previous"]) == ("restore", "on")
    assert receiver.refused == 0
    print(f"\nabort → signed webhook received: {at - aborted:.2f}s (CLI start included)")


def test_a_receiver_refusing_the_signature_reads_clearly_and_the_rollback_goes_on(
    harness: Harness, receiver: Receiver
) -> None:
    v1 = _setup(harness, receiver, b"some-other-key")
    harness.cli("abort", "web")
    harness.wait_status("rolled back", phase="Degraded", stableRevision=v1, timeout=30)

    def pending() -> dict[str, Any] | None:
        for condition in harness.status().get("conditions") or []:
            if condition["type"] == "FlagsPending" and condition["status"] == "True":
                return dict(condition)
        return None

    condition = eventually(pending, timeout=30, what="FlagsPending")
    assert "401" in condition["message"], condition
    assert receiver.on  # nothing was switched
    assert receiver.refused >= 1
    assert "some-other-key" not in json.dumps(harness.rollout())
