"""A hostile metrics server on loopback: it accepts, then trickles a byte at a time.

It answers every connection with the start of a valid HTTP response, one byte
every ``every`` seconds, and never finishes it: a client whose timeouts are per
read waits forever.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 999999\r\n\r\n"
    b'{"status":"success","data":{"resultType":"vector","result":['
)


class TrickleServer:
    def __init__(self, every: float = 0.5) -> None:
        self.every = every
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="trickle", daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1.0)
            with contextlib.suppress(OSError):
                conn.recv(65536)  # the request
            for index in range(10**9):
                if self._closed.is_set():
                    return
                byte = _RESPONSE[index % len(_RESPONSE) : index % len(_RESPONSE) + 1]
                try:
                    conn.sendall(byte)
                except OSError:
                    return
                time.sleep(self.every)
