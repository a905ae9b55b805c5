"""TLS settings against a real loopback HTTPS server that demands a client certificate."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from controller.providers import ErrorKind, ProviderError, Sample
from controller.providers.prometheus import PrometheusConfig, PrometheusProvider
from e2e.localcluster import pki

BODY = json.dumps({"status": "success", "data": {"resultType": "scalar", "result": [0, "1"]}})


@dataclass
class Seen:
    clients: list[str] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    seen: Seen

    def do_GET(self) -> None:
        assert isinstance(self.request, ssl.SSLSocket)
        peer: Any = self.request.getpeercert() or {}
        subject = dict(pair[0] for pair in peer.get("subject", ()))
        self.seen.clients.append(subject.get("commonName", ""))
        self.seen.authorization.append(self.headers.get("Authorization"))
        payload = BODY.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass
class Server:
    address: str
    certs: Path
    seen: Seen


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    certs = tmp_path_factory.mktemp("pki")
    pki.generate(certs)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs / "ca.crt"))
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(str(certs / "apiserver.crt"), str(certs / "apiserver.key"))
    seen = Seen()
    handler = type("Handler", (_Handler,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(address=f"https://127.0.0.1:{httpd.server_address[1]}", certs=certs, seen=seen)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def query(server: Server, tls: dict[str, Any], **settings: Any) -> list[Sample]:
    config = PrometheusConfig.model_validate(
        {"address": server.address, "retries": 0, "tls": tls, **settings}
    )

    async def ask() -> list[Sample]:
        async with PrometheusProvider(config) as provider:
            return await provider.query("vector(1)")

    return asyncio.run(ask())


def test_mutual_tls_with_our_ca_and_client_certificate(server: Server) -> None:
    tls = {
        "ca_file": str(server.certs / "ca.crt"),
        "client_cert_file": str(server.certs / "admin.crt"),
        "client_key_file": str(server.certs / "admin.key"),
    }
    assert query(server, tls, bearer_token="over-tls") == [Sample({}, 1.0)]
    assert server.seen.clients[-1] == "landinggear-admin"
    assert server.seen.authorization[-1] == "Bearer over-tls"


def test_server_signed_by_an_unknown_ca_is_refused(server: Server) -> None:
    tls = {
        "client_cert_file": str(server.certs / "admin.crt"),
        "client_key_file": str(server.certs / "admin.key"),
    }
    with pytest.raises(ProviderError) as caught:
        query(server, tls)
    assert caught.value.kind is ErrorKind.UNREACHABLE
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


def test_without_a_client_certificate_the_handshake_fails(server: Server) -> None:
    with pytest.raises(ProviderError) as caught:
        query(server, {"ca_file": str(server.certs / "ca.crt")})
    assert caught.value.kind is ErrorKind.UNREACHABLE


def test_insecure_skip_verify_still_presents_the_client_certificate(server: Server) -> None:
    tls = {
        "insecure_skip_verify": True,
        "client_cert_file": str(server.certs / "admin.crt"),
        "client_key_file": str(server.certs / "admin.key"),
    }
    assert query(server, tls) == [Sample({}, 1.0)]
    assert server.seen.clients[-1] == "landinggear-admin"
