"""The admin's allow-lists: where the controller may send requests a Rollout asks for.

The admin, not the Rollout's author, decides where the controller may send
requests: ``--flag-endpoint`` (feature flags) and ``--prometheus-endpoint``
(metrics) list URL prefixes (scheme, host, port, and a path prefix at a ``/``
boundary). :class:`AllowList` refuses any other address before a request is
made; providers never follow redirects, so an allowed server cannot send the
request elsewhere. Pure: no I/O.

Hosts compare case-insensitively and default ports are filled in
(``http://a`` is ``http://a:80``); paths compare as written. URLs that could
leave a prefix once a server normalises them are refused outright: ``.`` and
``..`` segments, also percent-encoded or separated by ``\\`` (which some
servers read as ``/``), credentials in the URL, and whitespace or control
characters (which :func:`urllib.parse.urlsplit` would silently drop).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

__all__ = ["AllowList", "endpoint_key"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class _Prefix:
    scheme: str
    host: str
    port: int
    path: str

    def admits(self, url: SplitResult) -> bool:
        if (url.scheme, _host(url), _port(url)) != (self.scheme, self.host, self.port):
            return False
        path = url.path or "/"
        return self.path in ("/", path) or path.startswith(self.path + "/")


def _host(url: SplitResult) -> str:
    return (url.hostname or "").lower()


def _port(url: SplitResult) -> int:
    return url.port or _DEFAULT_PORTS.get(url.scheme, 0)


def _split(url: str) -> SplitResult:
    url = url.strip()
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError(f"{url!r} has whitespace or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as err:
        raise ValueError(f"{url!r} is not a URL: {err}") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise ValueError(f"{url!r} carries credentials; they belong in a Secret")
    if any(segment in (".", "..") for segment in re.split(r"[/\\]", unquote(parts.path))):
        raise ValueError(f"{url!r} has a '.' or '..' path segment")
    return parts


def endpoint_key(url: str) -> str:
    """``scheme://host:port/path`` with defaults filled in, for comparing addresses."""
    parts = _split(url)
    return f"{parts.scheme}://{_host(parts)}:{_port(parts)}{parts.path.rstrip('/') or '/'}"


class AllowList:
    """URL prefixes a kind of endpoint (``what``) must be under; ``how`` says how the
    admin adds one."""

    def __init__(self, prefixes: Iterable[str], *, what: str, how: str) -> None:
        self.what, self.how = what, how
        self.prefixes: list[_Prefix] = []
        self.written = [p.strip() for p in prefixes if p.strip()]
        for prefix in self.written:
            parts = _split(prefix)
            if parts.query or parts.fragment:
                raise ValueError(f"{what} {prefix!r} has a query or fragment")
            path = parts.path.rstrip("/") or "/"
            self.prefixes.append(_Prefix(parts.scheme, _host(parts), _port(parts), path))

    def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be used, or None when it is under an allowed prefix."""
        try:
            parts = _split(url)
        except ValueError as err:
            return str(err)
        if any(p.admits(parts) for p in self.prefixes):
            return None
        allowed = ", ".join(self.written) if self.written else "none configured"
        return (
            f"{url} is not an allowed {self.what} (allowed: {allowed}); the controller's "
            f"admin adds it with {self.how}"
        )
