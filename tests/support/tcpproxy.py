"""A loopback TCP proxy a test controls: forward, black-hole the traffic, or go down.

Black-holed, it keeps every connection open and accepts new ones but forwards
nothing in either direction and discards what the client sends, as a network
partition that drops packets would (the client's requests hang, they never
fail fast). Down, it resets its connections and refuses new ones, as a stopped
server would, until it comes back up on the same port.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import yaml


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target`` until :meth:`blackhole`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._holed = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listen()

    def _listen(self) -> None:
        threading.Thread(
            target=self._accept, args=(self._listener,), name="proxy-accept", daemon=True
        ).start()

    def go_down(self) -> None:
        """Reset every connection and refuse new ones (nothing listens on the port)."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._reset_all()

    def come_back(self) -> None:
        """Listen again on the same port and forward."""
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listen()

    def _reset_all(self) -> None:
        with self._lock:
            held, self._sockets = self._sockets, []
        for sock in held:
            with contextlib.suppress(OSError):
                sock.close()

    def blackhole(self) -> None:
        self._holed.set()

    def heal(self) -> None:
        """Forward again; the connections the black hole held are reset, so clients
        reconnect (as after a partition that outlived their TCP sessions)."""
        self._holed.clear()
        self._reset_all()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self, listener: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self._track(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        if not self._holed.is_set():
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                return
            self._track(upstream)
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        if upstream is not None:
            selector.register(upstream, selectors.EVENT_READ, client)
        try:
            while not self._closed.is_set():
                for key, _ in selector.select(timeout=0.2):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = source.recv(65536)
                    if not data:
                        return
                    if self._holed.is_set() or key.data is None:
                        continue  # swallowed: no answer, no error
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            selector.close()
            for sock in (client, upstream):  # each connection closes its own sockets
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()


def proxied_kubeconfig(kubeconfig: Path, dest: Path) -> tuple[TcpProxy, Path]:
    """A proxy in front of ``kubeconfig``'s API server, and a copy of it (at ``dest``)
    that talks through the proxy."""
    config = yaml.safe_load(kubeconfig.read_text())
    server = urlparse(config["clusters"][0]["cluster"]["server"])
    proxy = TcpProxy((server.hostname or "127.0.0.1", server.port or 443))
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    dest.write_text(yaml.safe_dump(config))
    return proxy, dest
