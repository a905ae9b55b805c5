"""Builtin metrics render to the expected plain series selectors (golden strings) per revision."""

from __future__ import annotations

import pytest

from controller.providers import builtin_metrics as builtin
from controller.providers.builtin_metrics import le_spellings
from controller.providers.counters import MetricTemplate, Rendered
from controller.providers.templates import Role, Selector, Variables

VARIABLES = Variables(
    rollout="web", namespace="shop", service="web", canary="c4n4ry", stable="st4bl3", window="30s"
)


Terms = tuple[tuple[Rendered, ...], tuple[Rendered, ...]]


def errors(metric: str, selector: str, bad: str) -> Terms:
    """Requests: the counter; bad: its 5xx series, zero when there are none."""
    return (
        (Rendered(f"{metric}{{{selector}}}"),),
        (Rendered(f"{metric}{{{selector}, {bad}}}", absent_is_zero=True),),
    )


def latency(histogram: str, selector: str, le: str) -> Terms:
    """Requests: the histogram's count; bad: the count less the bucket at the bound."""
    total = Rendered(f"{histogram}_count{{{selector}}}")
    return (total,), (total, Rendered(f"{histogram}_bucket{{{selector}, {le}}}", sign=-1))


APP = 'namespace="shop", revision="{rev}"'
ISTIO = (
    'reporter="destination", destination_workload_namespace="shop", '
    'destination_canonical_revision="{rev}"'
)
LINKERD = 'direction="inbound", namespace="shop", landinggear_dev_pod_template_hash="{rev}"'
NGINX = 'namespace="shop", ingress="web", canary{op}""'

GOLDEN: list[tuple[str, MetricTemplate, dict[Role, Terms]]] = [
    (
        "app errors",
        builtin.app_errors(),
        {
            role: errors("http_requests_total", APP.format(rev=rev), 'code=~"5.."')
            for role, rev in ((Role.CANARY, "c4n4ry"), (Role.STABLE, "st4bl3"))
        },
    ),
    (
        "app latency",
        builtin.app_latency(bound_seconds=0.25),
        {
            role: latency("http_request_duration_seconds", APP.format(rev=rev), 'le="0.25"')
            for role, rev in ((Role.CANARY, "c4n4ry"), (Role.STABLE, "st4bl3"))
        },
    ),
    (
        "app errors, custom labels",
        builtin.app_errors(revision_label="version", namespace_label=None, code_label="status"),
        {Role.CANARY: errors("http_requests_total", 'version="c4n4ry"', 'status=~"5.."')},
    ),
    (
        "istio errors",
        builtin.istio_errors(),
        {
            role: errors("istio_requests_total", ISTIO.format(rev=rev), 'response_code=~"5.."')
            for role, rev in ((Role.CANARY, "c4n4ry"), (Role.STABLE, "st4bl3"))
        },
    ),
    (
        "istio latency",
        builtin.istio_latency(bound_ms=500),
        {
            Role.CANARY: latency(
                "istio_request_duration_milliseconds",
                ISTIO.format(rev="c4n4ry"),
                'le=~"500|500\\\\.0"',
            )
        },
    ),
    (
        "linkerd errors",
        builtin.linkerd_errors(),
        {
            Role.STABLE: errors(
                "response_total", LINKERD.format(rev="st4bl3"), 'classification="failure"'
            )
        },
    ),
    (
        "linkerd latency",
        builtin.linkerd_latency(bound_ms=100),
        {
            Role.CANARY: latency(
                "response_latency_ms", LINKERD.format(rev="c4n4ry"), 'le=~"100|100\\\\.0"'
            )
        },
    ),
    (
        "nginx errors",
        builtin.nginx_errors(ingress="web"),
        {
            Role.CANARY: errors(
                "nginx_ingress_controller_requests", NGINX.format(op="!="), 'status=~"5.."'
            ),
            Role.STABLE: errors(
                "nginx_ingress_controller_requests", NGINX.format(op="="), 'status=~"5.."'
            ),
        },
    ),
    (
        "nginx latency",
        builtin.nginx_latency(ingress="web", bound_seconds=1),
        {
            Role.STABLE: latency(
                "nginx_ingress_controller_request_duration_seconds",
                NGINX.format(op="="),
                'le=~"1|1\\\\.0"',
            )
        },
    ),
    (
        "envoy errors",
        builtin.envoy_errors(canary_cluster="shop_web-canary_80", stable_cluster="shop_web_80"),
        {
            Role.CANARY: errors(
                "envoy_cluster_upstream_rq_xx",
                'envoy_cluster_name=~"shop_web-canary_80"',
                'envoy_response_code_class="5"',
            ),
            Role.STABLE: errors(
                "envoy_cluster_upstream_rq_xx",
                'envoy_cluster_name=~"shop_web_80"',
                'envoy_response_code_class="5"',
            ),
        },
    ),
    (
        "envoy latency",
        builtin.envoy_latency(canary_cluster="c", stable_cluster="s", bound_ms=3_600_000),
        {
            Role.CANARY: latency(
                "envoy_cluster_upstream_rq_time",
                'envoy_cluster_name=~"c"',
                'le=~"3\\\\.6e\\\\+06|3600000|3600000\\\\.0"',
            )
        },
    ),
]


@pytest.mark.parametrize(
    ("metric", "role", "expected"),
    [(m, role, q) for _, m, roles in GOLDEN for role, q in roles.items()],
    ids=[f"{name}-{role}" for name, _, roles in GOLDEN for role in roles],
)
def test_builtin_renders_the_golden_selectors(
    metric: MetricTemplate, role: Role, expected: Terms
) -> None:
    assert metric.render(VARIABLES, role) == expected


@pytest.mark.parametrize(
    ("metric", "role"),
    [(m, role) for _, m, _ in GOLDEN for role in Role],
    ids=[f"{name}-{role}" for name, _, _ in GOLDEN for role in Role],
)
def test_every_builtin_counts_plain_selectors_of_one_revision(
    metric: MetricTemplate, role: Role
) -> None:
    """Plain (no function, range or operator), and selecting the measured revision only."""
    requests, bad = metric.render(VARIABLES, role)
    other = VARIABLES.stable if role is Role.CANARY else VARIABLES.canary
    for term in (*requests, *bad):
        assert Selector(term.selector).text == term.selector
        assert other not in term.selector
        assert "[" not in term.selector


@pytest.mark.parametrize(
    ("bound", "spellings"),
    [
        (0.25, ["0.25"]),
        (1.0, ["1", "1.0"]),
        (2.5, ["2.5"]),
        (1_800_000, ["1.8e+06", "1800000", "1800000.0"]),
        (1e-5, ["1e-05"]),
    ],
)
def test_le_is_matched_in_every_spelling_exporters_use(bound: float, spellings: list[str]) -> None:
    assert le_spellings(bound) == spellings


@pytest.mark.parametrize("bound", [0.0, -1.0, float("inf"), float("nan")])
def test_latency_bound_must_be_a_positive_finite_bucket(bound: float) -> None:
    with pytest.raises(ValueError, match="positive finite"):
        builtin.app_latency(bound_seconds=bound)


@pytest.mark.parametrize("label", ["pod-template-hash", "9lives", "__name__", ""])
def test_label_names_are_checked(label: str) -> None:
    with pytest.raises(ValueError, match="label name"):
        builtin.app_errors(revision_label=label)


def test_metric_names_are_checked() -> None:
    with pytest.raises(ValueError, match="metric name"):
        builtin.app_errors(metric="http_requests_total{} or vector(1)")


def test_fixed_values_are_escaped_including_template_dollars() -> None:
    metric = builtin.envoy_errors(canary_cluster='a"b$c${canary}', stable_cluster="s")
    requests, _ = metric.render(VARIABLES, Role.CANARY)
    assert requests == (
        Rendered('envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"a\\"b$c${canary}"}'),
    )


def test_empty_fixed_value_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        builtin.nginx_errors(ingress="")


def test_scraped_revision_label_follows_service_discovery_sanitising() -> None:
    assert builtin.SCRAPED_REVISION_LABEL == "landinggear_dev_pod_template_hash"
