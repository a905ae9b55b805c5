"""``/metrics`` behaves like every Prometheus exporter: HEAD, ``?name[]=``,
OpenMetrics by ``Accept``, gzip; counters end in ``_total``.

A real HTTP server on loopback serving a real :class:`Metrics`; answers are read
with prometheus_client's own parsers.
"""

from __future__ import annotations

import gzip
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from controller.core.measurements import Measurement
from controller.judge.sequential import Window
from controller.kube.objects import ObjectKey
from controller.metrics import Metrics, serve
from controller.reconcile.reconciler import Observation

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass
class World:
    observed: dict[ObjectKey, Observation] = field(default_factory=dict)
    leading: bool = False


def _start(metrics: Metrics) -> Iterator[str]:
    server = serve("127.0.0.1:0", registry=metrics.registry, ready=lambda: True)
    host, port = server.server_address[:2]
    yield f"http://{host!s}:{port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def world() -> World:
    return World(observed={ObjectKey("shop", "web"): Observation("Progressing", 25, 1)})


@pytest.fixture
def metrics(world: World) -> Metrics:
    return Metrics(
        observed=lambda: world.observed,
        queue_depth=lambda: 3,
        leading=lambda: world.leading,
    )


@pytest.fixture
def url(metrics: Metrics) -> Iterator[str]:
    yield from _start(metrics)


def fetch(url: str, *, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, dict(response.headers), response.read()


def parse_text(text: str) -> list[Metric]:
    return list(text_string_to_metric_families(text))


def samples(text: str) -> dict[str, float]:
    found = {}
    for family in parse_text(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


def test_counters_end_in_total_and_count_what_they_are_told(
    metrics: Metrics, url: str, world: World
) -> None:
    metrics.count_write("create", "events")
    metrics.count_write("create", "events")
    metrics.count_write("patch", "rollouts/status")
    metrics.count_looks(
        [
            Measurement(
                metric="a",
                window=Window(canary_requests=10, canary_bad=0, stable_requests=10, stable_bad=0),
            ),
            Measurement(metric="b", error="500"),
            Measurement(metric="c"),
            Measurement(metric="d", invalid="bad template"),
        ]
    )
    metrics.count_provider_error("prometheus", "http_status")
    metrics.reconciles.labels("done").inc()
    world.leading = True

    found = samples(fetch(f"{url}/metrics")[2].decode())

    assert found["landinggear_api_writes_total{resource=events,verb=create}"] == 2
    assert found["landinggear_api_writes_total{resource=rollouts/status,verb=patch}"] == 1
    assert "landinggear_api_writes" not in found
    for result in ("ok", "error", "no_data", "invalid"):
        assert found[f"landinggear_analysis_looks_total{{result={result}}}"] == 1
    assert found["landinggear_provider_errors_total{kind=http_status,provider=prometheus}"] == 1
    assert found["landinggear_reconcile_total{result=done}"] == 1
    assert found["landinggear_leader"] == 1
    assert found["landinggear_workqueue_depth"] == 3
    assert found["landinggear_rollout_canary_weight{namespace=shop,rollout=web}"] == 25
    assert found["process_cpu_seconds_total"] >= 0
    assert any(name.startswith("python_info{") for name in found)
    counters = {
        family.name
        for family in parse_text(fetch(f"{url}/metrics")[2].decode())
        if family.type == "counter"
    }
    assert {"landinggear_api_writes", "landinggear_analysis_looks"} <= counters


def test_leadership_is_one_only_while_leading(url: str, world: World) -> None:
    assert samples(fetch(f"{url}/metrics")[2].decode())["landinggear_leader"] == 0
    world.leading = True
    assert samples(fetch(f"{url}/metrics")[2].decode())["landinggear_leader"] == 1


def test_head_answers_the_headers_of_get_without_a_body(url: str) -> None:
    status, headers, body = fetch(f"{url}/metrics", method="HEAD")
    assert status == 200
    assert body == b""
    assert headers["Content-Type"].startswith("text/plain")
    assert int(headers["Content-Length"]) > 1000


def test_name_filters_select_families(url: str) -> None:
    text = fetch(f"{url}/metrics?name[]=landinggear_workqueue_depth&name[]=landinggear_leader")[2]
    assert set(samples(text.decode())) == {"landinggear_workqueue_depth", "landinggear_leader"}


def test_a_filtered_scrape_leaves_the_rollouts_state_unread() -> None:
    """At 10,000 Rollouts gathering their series takes 0.2 s: a scrape
    asking for other families (the scale bench polls the queue depth 4 times a
    second) must not pay it, and one asking for them must."""
    reads: list[int] = []

    def observed() -> dict[ObjectKey, Observation]:
        reads.append(1)
        return {ObjectKey("shop", "web"): Observation("Progressing", 25, 1)}

    metrics = Metrics(observed=observed, queue_depth=lambda: 7, leading=lambda: True)
    server = _start(metrics)
    url = next(server)
    try:
        depth = fetch(f"{url}/metrics?name[]=landinggear_workqueue_depth")[2].decode()
        assert samples(depth) == {"landinggear_workqueue_depth": 7}
        assert reads == []
        weight = fetch(f"{url}/metrics?name[]=landinggear_rollout_canary_weight")[2].decode()
        web = "landinggear_rollout_canary_weight{namespace=shop,rollout=web}"
        assert samples(weight) == {web: 25}
        assert reads == [1]
    finally:
        next(server, None)


def test_openmetrics_is_served_when_asked_for(url: str, metrics: Metrics) -> None:
    metrics.count_write("create", "events")
    _, headers, body = fetch(f"{url}/metrics", Accept=OPENMETRICS)
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    text = body.decode()
    assert text.endswith("# EOF\n")
    parsed = openmetrics_families(text)  # type: ignore[no-untyped-call]
    families = {family.name: family for family in parsed}
    writes = families["landinggear_api_writes"]
    assert writes.type == "counter"
    assert [s.name for s in writes.samples if s.name.endswith("_total")] == [
        "landinggear_api_writes_total"
    ]


def test_gzip_is_used_when_accepted(url: str) -> None:
    _, headers, body = fetch(f"{url}/metrics", **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert "landinggear_workqueue_depth" in samples(gzip.decompress(body).decode())


def test_per_rollout_series_can_be_turned_off(world: World) -> None:
    metrics = Metrics(
        observed=lambda: world.observed,
        queue_depth=lambda: 0,
        leading=lambda: True,
        per_rollout=False,
    )
    for url in _start(metrics):
        found = samples(fetch(f"{url}/metrics")[2].decode())
        assert "landinggear_workqueue_depth" in found
        assert not [name for name in found if "rollout=" in name]


def test_other_paths_are_not_found(url: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        fetch(f"{url}/nope")
    with caught.value as error:
        assert error.code == 404
