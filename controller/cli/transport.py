"""HTTP to the API server on the standard library alone: the command line's transport.

The ``kubernetes`` client takes longer to import than a one-click command may take
in all (its package imports every generated model), so the command line sends its
few requests through :mod:`http.client` and :mod:`ssl`. :class:`Transport` is what
the verbs need — one request and its answer, or a stream of lines for ``watch`` —
and :class:`HttpTransport` carries it out for a kubeconfig's cluster and user
(:mod:`controller.cli.kubeconfig`); :mod:`controller.cli.apiclient` adapts a
``kubernetes`` ``ApiClient`` to it for the chat-ops process.

Timeouts bound each step (connecting, sending, waiting for the answer, reading it)
by what is left of the request's deadline, so a server that accepts the connection
and then says nothing fails at the deadline rather than hanging.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode, urlsplit

__all__ = [
    "Answer",
    "HttpTransport",
    "LineStream",
    "StreamRefused",
    "TimedOut",
    "Transport",
    "Unreachable",
]


@dataclass(frozen=True, kw_only=True)
class Answer:
    """The API server's answer: status code, reason phrase and the whole body."""

    status: int
    reason: str
    body: bytes


class Unreachable(Exception):
    """No answer arrived: the connection was refused or broke, or TLS failed."""


class TimedOut(Unreachable):
    """No whole answer arrived within the request's timeout."""


class LineStream(Protocol):
    """An open streaming answer (a watch): iterate for its lines; ``close`` from any
    thread ends the iteration."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """What the verbs send requests through."""

    @property
    def host(self) -> str:
        """The API server's address, for messages."""

    @property
    def timeout(self) -> float | None:
        """Seconds one request may take; None: no limit."""

    def send(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> Answer:
        """Send one request; its answer whatever the status. Raises :class:`Unreachable`."""

    def stream(
        self, path: str, *, query: Sequence[tuple[str, str]], read_timeout: float
    ) -> LineStream:
        """GET a streaming answer; raises :class:`Unreachable`, or returns the non-2xx
        answer as :class:`Answer` inside :class:`StreamRefused`."""


class StreamRefused(Exception):
    """A stream request answered with a non-2xx status."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(f"{answer.status} {answer.reason}")
        self.answer = answer


class _Connection(http.client.HTTPSConnection):
    """An HTTPS connection whose certificate is checked against ``server_name`` when the
    kubeconfig names one (``tls-server-name``), else against the host."""

    def __init__(
        self, host: str, port: int | None, *, context: ssl.SSLContext, server_name: str | None
    ) -> None:
        super().__init__(host, port, context=context)
        self._tls_context = context
        self._server_name = server_name or host

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._tls_context.wrap_socket(self.sock, server_hostname=self._server_name)


class _Deadline:
    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.at = None if seconds is None else time.monotonic() + seconds

    def left(self) -> float | None:
        if self.at is None:
            return None
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimedOut(f"no answer within {self.seconds:g}s")
        return left


class HttpTransport:
    """Requests to one API server as one user: ``headers`` carry the credentials and
    impersonation (sent with every request), ``context`` the TLS trust and client
    certificate. One kept-alive connection per thread."""

    def __init__(
        self,
        server: str,
        *,
        context: ssl.SSLContext | None,
        headers: Sequence[tuple[str, str]] = (),
        server_name: str | None = None,
        timeout: float | None,
    ) -> None:
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the server {server!r} is not an http(s) URL")
        self._scheme = parts.scheme
        self._hostname = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._context = context or ssl.create_default_context()
        self._server_name = server_name
        self._headers = tuple(headers)
        self._local = threading.local()
        self.host = server
        self.timeout = timeout

    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._scheme == "http":
            conn: http.client.HTTPConnection = http.client.HTTPConnection(
                self._hostname, self._port, timeout=timeout
            )
        else:
            conn = _Connection(
                self._hostname, self._port, context=self._context, server_name=self._server_name
            )
            conn.timeout = timeout
        conn.connect()
        return conn

    def _url(self, path: str, query: Sequence[tuple[str, str]]) -> str:
        return self._prefix + path + (f"?{urlencode(list(query))}" if query else "")

    def _request(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        url: str,
        body: bytes | None,
        content_type: str | None,
    ) -> None:
        conn.putrequest(method, url, skip_accept_encoding=True)
        conn.putheader("Accept", "application/json")
        conn.putheader("User-Agent", "landinggear")
        for name, value in self._headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Type", content_type or "application/json")
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)

    def send(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> Answer:
        deadline = _Deadline(self.timeout)
        url = self._url(path, query)
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more
            conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
            reused = conn is not None
            try:
                if conn is None:
                    conn = self._connect(deadline.left())
                    self._local.conn = conn
                _set_timeout(conn, deadline.left())
                self._request(conn, method, url, body, content_type)
                _set_timeout(conn, deadline.left())
                response = conn.getresponse()
                _set_timeout(conn, deadline.left())
                data = response.read()
                if response.will_close:
                    self._drop(conn)
                return Answer(status=response.status, reason=response.reason, body=data)
            except TimeoutError as err:
                self._drop(conn)
                raise TimedOut(f"no answer within {self.timeout:g}s") from err
            except TimedOut:
                self._drop(conn)
                raise
            except (http.client.HTTPException, OSError) as err:
                self._drop(conn)
                if reused and attempt == 1 and method == "GET":
                    continue
                raise Unreachable(_why(err)) from err
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop(self, conn: http.client.HTTPConnection | None) -> None:
        self._local.conn = None
        if conn is not None:
            conn.close()

    def stream(
        self, path: str, *, query: Sequence[tuple[str, str]], read_timeout: float
    ) -> LineStream:
        deadline = _Deadline(self.timeout)
        conn: http.client.HTTPConnection | None = None
        try:
            conn = self._connect(deadline.left())
            _set_timeout(conn, deadline.left())
            self._request(conn, "GET", self._url(path, query), None, None)
            response = conn.getresponse()
        except TimeoutError as err:
            if conn is not None:
                conn.close()
            raise TimedOut(f"no answer within {self.timeout:g}s") from err
        except (http.client.HTTPException, OSError) as err:
            if conn is not None:
                conn.close()
            raise Unreachable(_why(err)) from err
        if not 200 <= response.status <= 299:
            answer = Answer(status=response.status, reason=response.reason, body=response.read())
            conn.close()
            raise StreamRefused(answer)
        _set_timeout(conn, read_timeout)
        return _Lines(conn, response)


class _Lines:
    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse):
        self._conn = conn
        self._response = response
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        try:
            while line := self._response.readline():
                yield line
        except TimeoutError:
            return  # silent longer than the read timeout: the caller watches again
        except (http.client.HTTPException, OSError, ValueError) as err:
            if not self._closed.is_set():
                raise Unreachable(_why(err)) from err
        finally:
            self._conn.close()

    def close(self) -> None:
        self._closed.set()
        sock = self._conn.sock
        if sock is not None:  # wakes a reader blocked in recv
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _set_timeout(conn: http.client.HTTPConnection, seconds: float | None) -> None:
    conn.timeout = seconds
    if conn.sock is not None:
        conn.sock.settimeout(seconds)


def _why(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__
