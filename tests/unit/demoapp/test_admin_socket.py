"""The demo app's admin endpoints on a Unix socket: how the host reads an app on a pod IP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.demoapp.app import AdminServer, AppConfig, AppServer, make_admin_server, make_server


@pytest.fixture
def app_and_admin(tmp_path: Path) -> Iterator[tuple[AppServer, AdminServer, Path]]:
    app = make_server(AppConfig(revision="r1", pod="shop/web-1", error_rate=0.5, seed=7))
    socket_path = tmp_path / "app.sock"
    admin = make_admin_server(app, socket_path)
    threads = [
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for server in (app, admin)
    ]
    for thread in threads:
        thread.start()
    yield app, admin, socket_path
    for server in (app, admin):
        server.shutdown()
        server.server_close()


def test_counts_on_the_socket_match_the_answers_given_on_tcp(
    app_and_admin: tuple[AppServer, AdminServer, Path],
) -> None:
    app, _, socket_path = app_and_admin
    port = app.server_address[1]
    with httpx.Client(trust_env=False) as client:
        answers = [client.get(f"http://127.0.0.1:{port}/") for _ in range(20)]
    codes: dict[str, int] = {}
    for answer in answers:
        assert (answer.headers["X-Revision"], answer.headers["X-Pod"]) == ("r1", "shop/web-1")
        codes[str(answer.status_code)] = codes.get(str(answer.status_code), 0) + 1
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path))) as admin:
        counts = admin.get("http://app/counts").json()
    assert counts == {"revision": "r1", "pod": "shop/web-1", "codes": codes}


def test_the_socket_serves_no_traffic_and_is_removed_on_close(
    app_and_admin: tuple[AppServer, AdminServer, Path],
) -> None:
    _, admin, socket_path = app_and_admin
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path))) as client:
        assert client.get("http://app/").status_code == 404
        assert client.get("http://app/healthz").status_code == 200
        assert 'revision="r1"' in client.get("http://app/metrics").text
    admin.shutdown()
    admin.server_close()
    assert not socket_path.exists()
