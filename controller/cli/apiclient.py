"""A ``kubernetes`` ``ApiClient`` as the command line's ``Transport``.

The chat-ops process carries out the CLI's verbs (:mod:`controller.cli.api`) with its
own client (its rate limits, its in-cluster credentials); this adapter lets it,
while the command line itself never imports the ``kubernetes`` package.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.cli.transport import Answer, StreamRefused, TimedOut, Unreachable
from controller.kube.transport import open_request

__all__ = ["ApiClientTransport"]


class ApiClientTransport:
    """Requests through ``api``; each may take ``timeout`` seconds."""

    def __init__(self, api: ApiClient, *, timeout: float | None = 30.0) -> None:
        self.api = api
        self.timeout = timeout

    @property
    def host(self) -> str:
        return str(self.api.configuration.host)

    def send(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> Answer:
        try:
            response = open_request(
                self.api,
                method,
                path,
                query=query,
                body=None if body is None else json.loads(body),
                timeout=self.timeout,
                content_type=content_type if body is not None else None,
            )
        except ApiException as err:
            if not err.status:  # raised before any answer arrived
                raise Unreachable(str(err.reason or "no answer")) from err
            data = err.body if isinstance(err.body, bytes) else str(err.body or "").encode()
            return Answer(status=int(err.status), reason=str(err.reason or ""), body=data)
        except urllib3.exceptions.TimeoutError as err:
            raise TimedOut(str(err)) from err
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise Unreachable(str(err)) from err
        try:
            return Answer(status=response.status, reason=str(response.reason), body=response.data)
        finally:
            response.release_conn()

    def stream(self, path: str, *, query: Sequence[tuple[str, str]], read_timeout: float) -> _Lines:
        try:
            response = open_request(
                self.api, "GET", path, query=query, timeout=(10.0, read_timeout)
            )
        except ApiException as err:
            if not err.status:
                raise Unreachable(str(err.reason or "no answer")) from err
            data = err.body if isinstance(err.body, bytes) else str(err.body or "").encode()
            raise StreamRefused(
                Answer(status=int(err.status), reason=str(err.reason or ""), body=data)
            ) from err
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise Unreachable(str(err)) from err
        return _Lines(response)


class _Lines:
    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        buffer = bytearray()
        try:
            for chunk in self._response.stream(None, decode_content=True):
                buffer.extend(chunk)
                while (end := buffer.find(b"\n")) != -1:
                    yield bytes(buffer[: end + 1])
                    del buffer[: end + 1]
        except urllib3.exceptions.ReadTimeoutError:
            return
        finally:
            self._response.close()

    def close(self) -> None:
        self._response.close()
