"""The namespace-crossing byte relay: loopback only, both directions, clean half-close."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.netns import relay

RELAY = Path(relay.__file__)


def test_only_loopback_tcp_addresses_are_accepted() -> None:
    assert relay.parse("tcp:127.0.0.1:8080") == relay.Endpoint(host="127.0.0.1", port=8080)
    assert relay.parse("tcp:[::1]:80") == relay.Endpoint(host="::1", port=80)
    assert relay.parse("unix:/run/x.sock") == relay.Endpoint(path="/run/x.sock")
    for refused in (
        "tcp:10.96.0.10:80",
        "tcp:10.244.1.5:8080",
        "tcp:0.0.0.0:80",
        "tcp:localhost:80",
    ):
        with pytest.raises(relay.AddressError):
            relay.parse(refused)


def test_a_non_loopback_target_is_refused_before_listening() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(RELAY),
            "--listen",
            "tcp:127.0.0.1:1",
            "--connect",
            "tcp:10.96.0.1:443",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "only loopback" in done.stderr


class _EchoUntilEof:
    """A loopback server that answers each connection with everything it received,
    sent only after the client half-closed, then closes."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                received = b""
                while chunk := conn.recv(65536):
                    received += chunk
                conn.sendall(b"echo:" + received)


def _spawn(*args: str, ready: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, str(RELAY), *args, "--ready-file", str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "relay did not become ready"
        time.sleep(0.02)
    return proc


@pytest.fixture
def relay_pair(
    tmp_path: Path,
) -> Iterator[tuple[int, _EchoUntilEof, list[subprocess.Popen[bytes]]]]:
    """loopback port → relay → Unix socket → relay → echo server, as across a namespace."""
    server = _EchoUntilEof()
    sock = tmp_path / "pair.sock"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        front = int(probe.getsockname()[1])
    far = _spawn(
        "--listen",
        f"unix:{sock}",
        "--connect",
        f"tcp:127.0.0.1:{server.port}",
        ready=tmp_path / "far.ready",
    )
    near = _spawn(
        "--listen",
        f"tcp:127.0.0.1:{front}",
        "--connect",
        f"unix:{sock}",
        ready=tmp_path / "near.ready",
    )
    procs = [near, far]
    yield front, server, procs
    for proc in procs:
        if proc.returncode is None:
            proc.terminate()
            proc.communicate(timeout=10)  # also closes the pipes
    server.sock.close()


def test_bytes_cross_both_relays_and_a_half_close_is_passed_on(
    relay_pair: tuple[int, _EchoUntilEof, list[subprocess.Popen[bytes]]],
) -> None:
    front, _, _ = relay_pair
    payload = bytes(range(256)) * 4096  # 1 MiB: more than one read
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", front), timeout=10) as conn:
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)  # the server answers only after this EOF
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer == b"echo:" + payload


def test_sigterm_stops_the_relays_silently_and_removes_the_socket(
    relay_pair: tuple[int, _EchoUntilEof, list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    front, _, procs = relay_pair
    with socket.create_connection(("127.0.0.1", front), timeout=10) as conn:
        conn.sendall(b"x")
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(100) == b"echo:x"
    for proc in procs:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert (out, err) == (b"", b"")
    assert not (tmp_path / "pair.sock").exists()
