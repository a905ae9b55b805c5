"""Which Prometheus a Rollout's metric may query, and what it may run there (pure).

The admin, not the Rollout's author, decides both:

* **where**: a Rollout's ``prometheus.address`` must be under one of the URL
  prefixes of ``--prometheus-endpoint`` / ``LANDINGGEAR_PROMETHEUS_ENDPOINTS``
  (:class:`controller.endpoints.AllowList`); the default ``--prometheus-address``
  is always allowed. Any other address is refused before a request is made.
* **what**: a threshold rule is free-form PromQL. On the controller-wide default
  Prometheus it would run with the controller's credentials over every
  tenant's series, so it runs there only for the namespaces of
  ``--threshold-namespace`` / ``LANDINGGEAR_THRESHOLD_NAMESPACES`` (``*``: all).
  The builtin comparisons are scoped by the Rollout's own labels and always run.
  A namespace not allowed may instead query an allowed address of its own,
  with a bearer token from a Secret in its namespace (``bearerTokenSecret``),
  which only that namespace's owner can let the controller read.

Refusals are ``ProviderConfigError``: the metric cannot be measured and the
release holds (never promoted, never aborted as a bad canary) with the message
in its status, until the Rollout or the controller's settings change.
"""

from __future__ import annotations

from collections.abc import Iterable

from controller.endpoints import AllowList
from controller.providers import ProviderConfigError

__all__ = ["ALL_NAMESPACES", "MetricAccess", "prometheus_endpoints"]

ALL_NAMESPACES = "*"
ENDPOINTS_SETTING = "--prometheus-endpoint or LANDINGGEAR_PROMETHEUS_ENDPOINTS"
THRESHOLD_SETTING = "--threshold-namespace or LANDINGGEAR_THRESHOLD_NAMESPACES"


def prometheus_endpoints(prefixes: Iterable[str], *, default: str | None) -> AllowList:
    """The allow-list of Prometheus addresses: ``prefixes`` and the ``default`` address
    (raises ValueError naming a bad prefix)."""
    written = [*([default] if default else []), *prefixes]
    return AllowList(written, what="Prometheus address", how=ENDPOINTS_SETTING)


class MetricAccess:
    """The admin's rules for metric queries: allowed addresses, and the namespaces whose
    threshold rules may run on the default Prometheus."""

    def __init__(
        self,
        *,
        default: str | None,
        endpoints: Iterable[str] = (),
        threshold_namespaces: Iterable[str] = (),
    ) -> None:
        self.default = default
        self.endpoints = prometheus_endpoints(endpoints, default=default)
        self._default_only = prometheus_endpoints((), default=default) if default else None
        self.threshold_namespaces = frozenset(threshold_namespaces)

    def is_default(self, address: str) -> bool:
        """Whether ``address`` is the default Prometheus (or a path under it)."""
        return self._default_only is not None and self._default_only.refusal(address) is None

    def check_address(self, address: str) -> None:
        """Raise ProviderConfigError unless ``address`` is allowed."""
        why = self.endpoints.refusal(address)
        if why is not None:
            raise ProviderConfigError(why)

    def check_threshold(self, namespace: str, address: str) -> None:
        """Raise ProviderConfigError unless a threshold rule of ``namespace`` may run on
        ``address``: anywhere but the default Prometheus, or there when allowed."""
        if not self.is_default(address):
            return
        if ALL_NAMESPACES in self.threshold_namespaces or namespace in self.threshold_namespaces:
            return
        raise ProviderConfigError(
            f"threshold rules of namespace {namespace} may not run on the controller's "
            f"default Prometheus {self.default}: the controller's admin allows the namespace "
            f"with {THRESHOLD_SETTING}, or the Rollout names an allowed address of its own "
            "(prometheus.address, with prometheus.bearerTokenSecret if it needs a token)"
        )

    def check_own_credentials(self, address: str) -> None:
        """Raise ProviderConfigError if a Rollout's own credentials would go to the default
        Prometheus (whose credentials and headers are the controller's)."""
        if self.is_default(address):
            raise ProviderConfigError(
                f"bearerTokenSecret is for an address of the Rollout's own, not the "
                f"controller's default Prometheus {self.default}"
            )
