"""The admin's allow-list of flag endpoints (:class:`controller.endpoints.AllowList`)."""

from __future__ import annotations

from collections.abc import Iterable

from controller.endpoints import AllowList, endpoint_key
from controller.flags import FlagError

__all__ = ["EndpointPolicy", "endpoint_key"]


class EndpointPolicy(AllowList):
    """Where flag requests may go: ``--flag-endpoint`` / ``LANDINGGEAR_FLAG_ENDPOINTS``."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        super().__init__(
            prefixes,
            what="flag endpoint",
            how="--flag-endpoint or LANDINGGEAR_FLAG_ENDPOINTS",
        )

    def check(self, url: str) -> None:
        """Raise :class:`FlagError` unless ``url`` is under one of the allowed prefixes."""
        why = self.refusal(url)
        if why is not None:
            raise FlagError(why)
