"""Properties of the Istio router's patches over arbitrary VirtualServices and
DestinationRules: applied, they change only the fields the controller owns (the
stable / canary weights of the weighted routes, its own header routes, the
revision label of the two subsets); applied twice, the second patch is empty."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as s

from controller.api.routing import HeaderMatch, HeaderValue, SetHeaderRoute
from controller.core.revisions import REVISION_LABEL
from controller.traffic.istio_plan import (
    HEADER_ROUTE_PREFIX,
    Backends,
    PlanError,
    apply_ops,
    http_patch,
    released_subsets,
    subset_patch,
    weighted_routes,
)

NS = "shop"
HOSTS = [
    "web",
    "web.shop",
    "web.shop.svc.cluster.local",
    "web-canary",
    "web-canary.shop.svc",
    "web-canary.shop.svc.cluster.local",
    "other",
    "web.elsewhere.svc.cluster.local",
]
SUBSETS = ["stable", "canary", "v0"]
NAMES = ["primary", "secondary", "landinggear-old", "landinggear-beta"]

destination = s.fixed_dictionaries(
    {"host": s.sampled_from(HOSTS)},
    optional={"subset": s.sampled_from(SUBSETS), "port": s.just({"number": 8080})},
)
entry = s.fixed_dictionaries(
    {"destination": destination},
    optional={"weight": s.integers(0, 100), "headers": s.just({"request": {"set": {"x": "1"}}})},
)
match = s.fixed_dictionaries(
    {},
    optional={
        "uri": s.sampled_from([{"prefix": "/"}, {"exact": "/api"}, {"regex": "/v[0-9]"}]),
        "headers": s.just({"x-team": {"exact": "a"}}),
        "gateways": s.just(["mesh"]),
    },
)
http_route = s.fixed_dictionaries(
    {"route": s.lists(entry, min_size=1, max_size=4)},
    optional={
        "name": s.sampled_from(NAMES),
        "match": s.lists(match, min_size=1, max_size=3),
        "timeout": s.just("3s"),
        "retries": s.just({"attempts": 2}),
        "rewrite": s.just({"uri": "/"}),
    },
)
stable_entry = s.fixed_dictionaries(
    {
        "destination": s.fixed_dictionaries(
            {"host": s.sampled_from(HOSTS[:3]), "subset": s.just("stable")},
            optional={"port": s.just({"number": 8080})},
        )
    },
    optional={"weight": s.integers(0, 100)},
)
canary_entry = s.fixed_dictionaries(
    {
        "destination": s.fixed_dictionaries(
            {"host": s.sampled_from(HOSTS[3:6]), "subset": s.just("canary")},
            optional={"port": s.just({"number": 8080})},
        )
    },
    optional={"weight": s.integers(0, 100)},
)


@s.composite
def virtual_service(draw: s.DrawFn) -> dict[str, Any]:
    """Some http routes, at least one of them with both destinations (by host and subset)."""
    http = draw(s.lists(http_route, max_size=4))
    for _ in range(draw(s.integers(1, 2))):
        route: dict[str, Any] = draw(http_route)
        entries = [draw(stable_entry), draw(canary_entry), *route["route"][:1]]
        route["route"] = draw(s.permutations(entries))
        http.insert(draw(s.integers(0, len(http))), route)
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": NS, "resourceVersion": "42", "generation": 3},
        "spec": {"hosts": ["web"], "gateways": ["mesh"], "http": http},
    }


header_value = s.one_of(
    s.sampled_from(["1", "beta"]).map(lambda v: HeaderValue(exact=v)),
    s.just(HeaderValue(prefix="be")),
    s.just(HeaderValue(regex="^b.*")),
)
header_match = s.tuples(s.sampled_from(["X-Canary", "x-team", "User-Agent"]), header_value).map(
    lambda t: HeaderMatch(header_name=t[0], header_value=t[1])
)
header_route = s.tuples(
    s.sampled_from(["beta", "team", "old"]), s.lists(header_match, max_size=2)
).map(lambda t: SetHeaderRoute(name=t[0], match=t[1]))
backends = s.one_of(
    s.just(Backends(namespace=NS, stable_service="web", canary_service="web-canary")),
    s.just(
        Backends(
            namespace=NS,
            stable_service="web",
            canary_service="web-canary",
            stable_subset="stable",
            canary_subset="canary",
        )
    ),
)


def _owned_out(vs: dict[str, Any], names: list[str], ends: Backends) -> dict[str, Any]:
    """``vs`` without the fields the controller owns."""
    out = copy.deepcopy(vs)
    http = [r for r in out["spec"]["http"] if not str(r.get("name", "")).startswith("landinggear-")]
    for found in weighted_routes(http, names=names, backends=ends, what="vs"):
        for j in (found.stable, found.canary):
            http[found.index]["route"][j].pop("weight", None)
    out["spec"]["http"] = http
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    vs=virtual_service(),
    ends=backends,
    weight=s.integers(0, 100),
    headers=s.lists(header_route, max_size=3, unique_by=lambda h: h.name),
    pick=s.lists(s.sampled_from(["primary", "secondary"]), max_size=2, unique=True),
)
def test_the_virtual_service_patch_changes_only_owned_fields_and_is_idempotent(
    vs: dict[str, Any],
    ends: Backends,
    weight: int,
    headers: list[SetHeaderRoute],
    pick: list[str],
) -> None:
    try:
        ops = http_patch(vs, names=pick, backends=ends, weight=weight, header_routes=headers)
    except PlanError:
        reject()
    new = apply_ops(vs, ops)
    assert _owned_out(new, pick, ends) == _owned_out(vs, pick, ends)
    assert http_patch(new, names=pick, backends=ends, weight=weight, header_routes=headers) == []
    wanted = [h for h in headers if h.match]
    http = new["spec"]["http"]
    assert [r.get("name") for r in http[: len(wanted)]] == [
        HEADER_ROUTE_PREFIX + h.name for h in wanted
    ]
    assert not any(
        str(r.get("name", "")).startswith(HEADER_ROUTE_PREFIX) for r in http[len(wanted) :]
    )
    for found in weighted_routes(http, names=pick, backends=ends, what="vs"):
        route = http[found.index]["route"]
        assert (route[found.stable]["weight"], route[found.canary]["weight"]) == (
            100 - weight,
            weight,
        )
    if ops:
        assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}


subset = s.fixed_dictionaries(
    {"name": s.sampled_from(SUBSETS)},
    optional={
        "labels": s.dictionaries(
            s.sampled_from(["version", REVISION_LABEL, "app"]), s.sampled_from(["a", "b"])
        ),
        "trafficPolicy": s.just({"loadBalancer": {"simple": "ROUND_ROBIN"}}),
    },
)
destination_rule = s.builds(
    lambda subsets: {
        "metadata": {"name": "web", "resourceVersion": "7"},
        "spec": {
            "host": "web",
            "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
            "subsets": subsets,
        },
    },
    s.lists(subset, max_size=4, unique_by=lambda x: x["name"]),
)


def _label_out(dr: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dr)
    for sub in out["spec"]["subsets"]:
        if sub.get("name") in ("stable", "canary"):
            labels = sub.pop("labels", {}) or {}
            labels.pop(REVISION_LABEL, None)
            if labels:
                sub["labels"] = labels
    return out


@settings(max_examples=300, deadline=None)
@given(
    dr=destination_rule, stable=s.sampled_from(["a", "b", "c"]), canary=s.sampled_from(["a", "c"])
)
def test_the_subset_patch_sets_only_the_revision_label_and_is_idempotent(
    dr: dict[str, Any], stable: str, canary: str
) -> None:
    wanted = {"stable": stable, "canary": canary}
    try:
        ops = subset_patch(dr, wanted)
    except PlanError:
        reject()
    new = apply_ops(dr, ops)
    assert _label_out(new) == _label_out(dr)
    assert subset_patch(new, wanted) == []
    labels = {
        sub["name"]: sub["labels"][REVISION_LABEL]
        for sub in new["spec"]["subsets"]
        if sub["name"] in wanted
    }
    assert labels == wanted
    back = apply_ops(new, released_subsets(new, ["stable", "canary"]))
    assert _label_out(back) == _label_out(dr)
    assert all(
        REVISION_LABEL not in (sub.get("labels") or {})
        for sub in back["spec"]["subsets"]
        if sub["name"] in wanted
    )
    assert released_subsets(back, ["stable", "canary"]) == []
