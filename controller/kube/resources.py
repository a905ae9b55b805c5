"""Resource types of the API and their URL paths: plain values, no client."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["Resource"]


@dataclass(frozen=True, kw_only=True)
class Resource:
    """One resource type of the API: ``group`` is ``""`` for the core group."""

    group: str
    version: str
    plural: str

    def collection_path(self, namespace: str | None = None) -> str:
        """The URL path of the collection, across namespaces if ``namespace`` is None."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        return f"{base}/{self.plural}"

    def object_path(self, namespace: str | None, name: str) -> str:
        """The URL path of one object."""
        return f"{self.collection_path(namespace)}/{quote(name, safe='')}"

    def __str__(self) -> str:
        return f"{self.plural}.{self.version}.{self.group}" if self.group else self.plural
