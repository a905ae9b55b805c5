"""Raw JSON requests through the client's ``ApiClient``, never its generated models.

The ``ApiClient`` still does everything transport-related (TLS, authentication,
token refresh, connection pooling, rate limiting when it is a
:class:`~controller.kube.ratelimit.RateLimitedApiClient`); this module only
builds resource paths for any group, including the core group, which
``CustomObjectsApi`` cannot address, and decodes bodies with ``json.loads``.

Models are avoided for two reasons: decoding into them is about ten times slower
and twice the memory of a dict, and they serialise ``MicroTime`` fields with
``datetime.isoformat``, which drops the fraction when the microseconds are zero,
so the API server rejects such a Lease with 400.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3 import BaseHTTPResponse

from controller.kube.objects import KubeObject
from controller.kube.resources import Resource

__all__ = ["RequestTimeout", "Resource", "open_request", "request_json"]

RequestTimeout = float | tuple[float, float] | None
"""Total seconds, or (connect, read) seconds, or no client-side timeout."""


def open_request(
    api: ApiClient,
    method: str,
    path: str,
    *,
    query: Sequence[tuple[str, str]] = (),
    body: KubeObject | list[KubeObject] | None = None,
    timeout: RequestTimeout = None,
    content_type: str | None = None,
) -> BaseHTTPResponse:
    """Send a request and return the unread response; raise ``ApiException`` unless 2xx.

    ``content_type`` defaults to ``application/json`` when there is a body; pass
    e.g. ``application/merge-patch+json`` for a PATCH.
    """
    headers: dict[str, str] = {"Accept": "application/json"}
    if body is not None or content_type:
        headers["Content-Type"] = content_type or "application/json"
    request = api.param_serialize(
        method=method,
        resource_path=path,
        query_params=list(query),
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request, _request_timeout=timeout)
    if not 200 <= response.status <= 299:
        response.read()  # type: ignore[no-untyped-call]
        raise ApiException(http_resp=response)
    raw: BaseHTTPResponse = response.response
    return raw


def request_json(
    api: ApiClient,
    method: str,
    path: str,
    *,
    query: Sequence[tuple[str, str]] = (),
    body: KubeObject | list[KubeObject] | None = None,
    timeout: RequestTimeout = None,
    content_type: str | None = None,
) -> Any:
    """Send a request and return its JSON body decoded with ``json.loads``."""
    response = open_request(
        api, method, path, query=query, body=body, timeout=timeout, content_type=content_type
    )
    try:
        return json.loads(response.data)
    finally:
        response.release_conn()
