"""Ready-made metric templates: requests and bad requests per revision, no PromQL needed.

Each builtin yields a ``MetricTemplate`` of plain series selectors, one
revision's counters; ``counters.counts`` turns them into exact counts by
subtracting raw samples taken at the analysis' start and now (never
``increase()``, which extrapolates):

* requests: the request counter (or the histogram's ``_count``); no series now
  is ``NoData``, not zero requests.
* ``*_errors``: bad = the same counter's series with a 5xx status. A revision
  that never failed has no 5xx series at all: that is zero errors, not "no data"
  (the term is ``absent_is_zero``).
* ``*_latency``: bad = requests slower than ``bound`` = the histogram's
  ``_count`` minus its ``_bucket`` at ``bound``, matched child by child. The
  bound must be one of the histogram's bucket bounds (in the histogram's unit);
  otherwise no bucket matches and ``counts`` reports ``NoData`` rather than a
  made-up number. The ``le`` value is matched in every spelling exporters and
  Prometheus versions use for the same number (``1``, ``1.0``; ``3.6e+06``,
  ``3600000``).

Label and metric names are checked; fixed values (an Ingress name, an Envoy
cluster pattern) are escaped into string literals, ``$`` included, so they
cannot inject PromQL or template placeholders.

Where names come from (checked against upstream, 2025):

* app: ``http_requests_total{code}`` and ``http_request_duration_seconds_bucket``
  are the conventional client-library names; the revision label is whatever the
  app or a relabel rule attaches (default ``revision``; Prometheus' pod service
  discovery turns the pod label ``landinggear.dev/pod-template-hash`` into
  ``landinggear_dev_pod_template_hash``).
* Istio: ``istio_requests_total{response_code}`` and
  ``istio_request_duration_milliseconds_bucket`` with ``reporter="destination"``,
  ``destination_workload_namespace``, ``destination_canonical_revision``
  (istio.io/latest/docs/reference/config/metrics; Flagger's istio observer uses
  the same labels). The canonical revision comes from the pod label
  ``service.istio.io/canonical-revision``, so pods must carry the revision hash
  there. Sidecar mode; ambient waypoints report differently (unverified).
* Linkerd: ``response_total{classification="failure", direction="inbound"}`` and
  ``response_latency_ms_bucket`` (linkerd.io/2/reference/proxy-metrics; Flagger's
  linkerd observer). Pod labels reach the series through linkerd-viz's scrape
  config (``viz/charts/linkerd-viz/templates/prometheus.yaml``: ``labelmap`` of
  ``__meta_kubernetes_pod_label_(.+)``), so ``pod-template-hash`` becomes
  ``pod_template_hash`` and our revision label ``landinggear_dev_pod_template_hash``.
* NGINX ingress: ``nginx_ingress_controller_requests{status, canary}`` and
  ``nginx_ingress_controller_request_duration_seconds_bucket``, labels
  ``namespace, ingress, service, status, canary, method, path``
  (``internal/ingress/metric/collectors/socket.go``). ``canary`` is
  ``$proxy_alternative_upstream_name``: set to the canary backend when the
  request was routed to it, empty otherwise (``rootfs/etc/nginx/lua/monitor.lua``,
  ``balancer.lua``). So canary = ``canary!=""``, stable = ``canary=""``.
* Envoy (Contour, Envoy Gateway, other Gateway API data planes):
  ``envoy_cluster_upstream_rq_xx{envoy_response_code_class="5"}`` and
  ``envoy_cluster_upstream_rq_time_bucket`` (milliseconds), keyed by
  ``envoy_cluster_name``. Envoy's tag extractor turns ``upstream_rq_5xx`` into
  ``..._rq_xx{envoy_response_code_class="5"}`` and ``upstream_rq_503`` into
  ``..._rq{envoy_response_code="503"}`` (``source/common/config/well_known_names.cc``).
  Cluster naming is the data plane's: Contour uses ``<namespace>_<service>_<port>``
  (per Flagger's contour observer); others were not verified, so the patterns
  are the caller's (RE2, fully anchored).
"""

from __future__ import annotations

import re
from decimal import Decimal

from controller.core.revisions import REVISION_LABEL
from controller.providers.counters import CounterSum, MetricTemplate
from controller.providers.templates import escape_label_value

_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
SCRAPED_REVISION_LABEL = re.sub(r"[^a-zA-Z0-9_]", "_", REVISION_LABEL)
"""Our pod label as Prometheus' Kubernetes service discovery names it."""
_REVISION = '="${revision}"'
_NAMESPACE = '="${namespace}"'


def _label(name: str) -> str:
    if not _NAME.match(name) or name.startswith("__"):
        raise ValueError(f"{name!r} is not a usable Prometheus label name")
    return name


def _metric(name: str) -> str:
    if not _METRIC.match(name):
        raise ValueError(f"{name!r} is not a Prometheus metric name")
    return name


def _literal(value: str) -> str:
    """A fixed value as a PromQL string literal that templates leave alone."""
    if not value:
        raise ValueError("an empty value would match every series without the label")
    return '"' + escape_label_value(value).replace("$", "$$") + '"'


def go_float(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 64)``, how Go exporters write ``le``."""
    sign, digits_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite: checked by the callers
    digits = "".join(map(str, digits_tuple))
    point = len(digits) + exponent  # position of the decimal point
    sci = point - 1
    if sci < -4 or sci >= 6:  # Go uses precision 6 for this decision when shortest
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text = f"{mantissa}e{'-' if sci < 0 else '+'}{abs(sci):02d}"
    elif point <= 0:
        text = "0." + "0" * -point + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return ("-" if sign else "") + text


def le_spellings(bound: float) -> list[str]:
    """Every ``le`` label value exporters write for ``bound``: Go, Python/OpenMetrics, plain."""
    if not (bound > 0 and bound != float("inf")):
        raise ValueError(f"a latency bound must be a positive finite bucket bound, not {bound}")
    forms = [go_float(bound)]
    if bound == int(bound):
        plain = str(int(bound))
        forms += [plain, plain + ".0"]
    return list(dict.fromkeys(forms))


def _le_matcher(bound: float) -> str:
    forms = le_spellings(bound)
    if len(forms) == 1:
        return f"le={_literal(forms[0])}"
    return f"le=~{_literal('|'.join(re.escape(form) for form in forms))}"


def _selector(*matchers: str) -> str:
    return "{" + ", ".join(matchers) + "}"


def _series(metric: str, matchers: tuple[str, ...]) -> str:
    return f"{metric}{_selector(*matchers)}"


def _errors(metric: str, matchers: tuple[str, ...], bad: str) -> tuple[CounterSum, CounterSum]:
    return (
        CounterSum.of(_series(metric, matchers)),
        CounterSum.of(_series(metric, (*matchers, bad)), absent_is_zero=True),
    )


def _latency(
    histogram: str, matchers: tuple[str, ...], bound: float
) -> tuple[CounterSum, CounterSum]:
    total = _series(f"{histogram}_count", matchers)
    fast = _series(f"{histogram}_bucket", (*matchers, _le_matcher(bound)))
    return CounterSum.of(total), CounterSum.of(total).minus(fast)


def _per_role(
    name: str, canary: tuple[CounterSum, CounterSum], stable: tuple[CounterSum, CounterSum]
) -> MetricTemplate:
    return MetricTemplate(
        name=name,
        canary_requests=canary[0],
        canary_bad=canary[1],
        stable_requests=stable[0],
        stable_bad=stable[1],
    )


def _app_matchers(revision_label: str, namespace_label: str | None) -> tuple[str, ...]:
    namespace = () if namespace_label is None else (_label(namespace_label) + _NAMESPACE,)
    return (*namespace, _label(revision_label) + _REVISION)


def app_errors(
    *,
    revision_label: str = "revision",
    namespace_label: str | None = "namespace",
    metric: str = "http_requests_total",
    code_label: str = "code",
) -> MetricTemplate:
    """Requests and 5xx responses from the app's own request counter."""
    matchers = _app_matchers(revision_label, namespace_label)
    requests, bad = _errors(_metric(metric), matchers, f'{_label(code_label)}=~"5.."')
    return MetricTemplate.uniform(name="app-errors", requests=requests, bad=bad)


def app_latency(
    *,
    bound_seconds: float,
    revision_label: str = "revision",
    namespace_label: str | None = "namespace",
    histogram: str = "http_request_duration_seconds",
) -> MetricTemplate:
    """Requests and requests slower than ``bound_seconds`` from the app's histogram."""
    matchers = _app_matchers(revision_label, namespace_label)
    requests, bad = _latency(_metric(histogram), matchers, bound_seconds)
    return MetricTemplate.uniform(name="app-latency", requests=requests, bad=bad)


_ISTIO = (
    'reporter="destination"',
    "destination_workload_namespace" + _NAMESPACE,
    "destination_canonical_revision" + _REVISION,
)


def istio_errors() -> MetricTemplate:
    """Requests and 5xx responses reported by the serving pods' sidecars."""
    requests, bad = _errors("istio_requests_total", _ISTIO, 'response_code=~"5.."')
    return MetricTemplate.uniform(name="istio-errors", requests=requests, bad=bad)


def istio_latency(*, bound_ms: float) -> MetricTemplate:
    """Requests and requests slower than ``bound_ms`` milliseconds (sidecar-measured)."""
    requests, bad = _latency("istio_request_duration_milliseconds", _ISTIO, bound_ms)
    return MetricTemplate.uniform(name="istio-latency", requests=requests, bad=bad)


def _linkerd(revision_label: str) -> tuple[str, ...]:
    return ('direction="inbound"', "namespace" + _NAMESPACE, _label(revision_label) + _REVISION)


def linkerd_errors(*, revision_label: str = SCRAPED_REVISION_LABEL) -> MetricTemplate:
    """Inbound responses and those Linkerd classified as failures."""
    matchers = _linkerd(revision_label)
    requests, bad = _errors("response_total", matchers, 'classification="failure"')
    return MetricTemplate.uniform(name="linkerd-errors", requests=requests, bad=bad)


def linkerd_latency(
    *, bound_ms: float, revision_label: str = SCRAPED_REVISION_LABEL
) -> MetricTemplate:
    """Inbound responses and those slower (to first byte) than ``bound_ms`` milliseconds."""
    requests, bad = _latency("response_latency_ms", _linkerd(revision_label), bound_ms)
    return MetricTemplate.uniform(name="linkerd-latency", requests=requests, bad=bad)


def _nginx(ingress: str, namespace_label: str, routed_to_canary: bool) -> tuple[str, ...]:
    canary = 'canary!=""' if routed_to_canary else 'canary=""'
    return (_label(namespace_label) + _NAMESPACE, f"ingress={_literal(ingress)}", canary)


def nginx_errors(*, ingress: str, namespace_label: str = "namespace") -> MetricTemplate:
    """Requests through the main Ingress ``ingress`` and 5xx responses, split by canary routing.

    ``namespace_label``: ``exported_namespace`` when a ServiceMonitor without
    ``honorLabels`` renamed the controller's ``namespace`` label.
    """
    return _per_role(
        f"nginx-errors-{ingress}",
        _errors(
            "nginx_ingress_controller_requests",
            _nginx(ingress, namespace_label, True),
            'status=~"5.."',
        ),
        _errors(
            "nginx_ingress_controller_requests",
            _nginx(ingress, namespace_label, False),
            'status=~"5.."',
        ),
    )


def nginx_latency(
    *, ingress: str, bound_seconds: float, namespace_label: str = "namespace"
) -> MetricTemplate:
    """Requests and requests slower than ``bound_seconds`` (NGINX's request time)."""
    histogram = "nginx_ingress_controller_request_duration_seconds"
    return _per_role(
        f"nginx-latency-{ingress}",
        _latency(histogram, _nginx(ingress, namespace_label, True), bound_seconds),
        _latency(histogram, _nginx(ingress, namespace_label, False), bound_seconds),
    )


def _envoy(cluster_pattern: str) -> tuple[str, ...]:
    return (f"envoy_cluster_name=~{_literal(cluster_pattern)}",)


def envoy_errors(*, canary_cluster: str, stable_cluster: str) -> MetricTemplate:
    """Upstream responses and 5xx ones for the canary's and the stable's Envoy clusters.

    The cluster arguments are RE2 patterns on ``envoy_cluster_name``, e.g. for
    Contour ``shop_web-canary_80`` and ``shop_web-stable_80``.
    """
    metric, bad = "envoy_cluster_upstream_rq_xx", 'envoy_response_code_class="5"'
    return _per_role(
        "envoy-errors",
        _errors(metric, _envoy(canary_cluster), bad),
        _errors(metric, _envoy(stable_cluster), bad),
    )


def envoy_latency(*, canary_cluster: str, stable_cluster: str, bound_ms: float) -> MetricTemplate:
    """Upstream requests and those slower than ``bound_ms`` milliseconds, per cluster."""
    histogram = "envoy_cluster_upstream_rq_time"
    return _per_role(
        "envoy-latency",
        _latency(histogram, _envoy(canary_cluster), bound_ms),
        _latency(histogram, _envoy(stable_cluster), bound_ms),
    )
