"""What the API server itself says about a stretch of the benchmark: its ``/metrics``
read (as the admin) before and after, the difference reported.

- ``apf_rejected``: requests API Priority and Fairness turned away (429) in all.
- ``apf_wait_mean_ms``: the mean time requests of the service accounts' priority
  level (``workload-low``, where the controller's ServiceAccount lands) waited in
  APF's queues, and ``apf_requests`` how many were dispatched there.
- ``write_mean_ms``: the mean duration of every mutating request (POST, PUT,
  PATCH, DELETE) the server answered, anyone's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubernetes.client import ApiClient
from prometheus_client.parser import text_string_to_metric_families

from controller.kube.transport import open_request

__all__ = ["Sample", "difference", "parse", "scrape"]

Sample = dict[str, float]

PRIORITY_LEVEL = "workload-low"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def scrape(api: ApiClient) -> Sample:
    """The API server's counters that :func:`difference` reads, now."""
    response = open_request(api, "GET", "/metrics", timeout=(5.0, 30.0))
    try:
        return parse(response.data.decode())
    finally:
        response.release_conn()


def parse(text: str) -> Sample:
    """The sums :func:`difference` needs from a ``/metrics`` page."""
    found: Sample = dict.fromkeys(
        ("rejected", "wait_sum", "wait_count", "write_sum", "write_count"), 0.0
    )
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found_key = _key(sample.name, sample.labels)
            if found_key is not None:
                found[found_key] += sample.value
    return found


def _key(name: str, labels: dict[str, str]) -> str | None:
    if name == "apiserver_flowcontrol_rejected_requests_total":
        return "rejected"
    if labels.get("priority_level") == PRIORITY_LEVEL:
        if name == "apiserver_flowcontrol_request_wait_duration_seconds_sum":
            return "wait_sum"
        if name == "apiserver_flowcontrol_request_wait_duration_seconds_count":
            return "wait_count"
    if labels.get("verb") in WRITES:
        if name == "apiserver_request_duration_seconds_sum":
            return "write_sum"
        if name == "apiserver_request_duration_seconds_count":
            return "write_count"
    return None


def difference(before: Sample, after: Sample) -> dict[str, float | None]:
    """What happened between two scrapes, as the module's docstring names it."""
    delta = {k: after[k] - before.get(k, 0.0) for k in after}

    def mean_ms(total: str, count: str) -> float | None:
        return round(delta[total] / delta[count] * 1000, 1) if delta[count] > 0 else None

    return {
        "apf_rejected": delta["rejected"],
        "apf_requests": delta["wait_count"],
        "apf_wait_mean_ms": mean_ms("wait_sum", "wait_count"),
        "write_mean_ms": mean_ms("write_sum", "write_count"),
    }


def labelled(prefix: str, figures: Iterable[tuple[str, float | None]]) -> dict[str, Any]:
    """``figures`` keyed ``prefix_name``."""
    return {f"{prefix}_{name}": value for name, value in figures}
