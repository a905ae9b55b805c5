"""Pure: which target URLs a load generator may use where."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["loopback_only"]


def loopback_only(url: str) -> bool:
    """Whether ``url`` is http(s) to a loopback address (``localhost`` counts)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False
