"""The Istio router's patches, by example."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api.routing import HeaderMatch, HeaderValue, SetHeaderRoute
from controller.core.revisions import REVISION_LABEL
from controller.traffic.istio_plan import (
    Backends,
    PlanError,
    apply_ops,
    http_patch,
    released_subsets,
    removed_header_routes,
    subset_patch,
)

BY_HOST = Backends(namespace="shop", stable_service="web", canary_service="web-canary")
BY_SUBSET = Backends(
    namespace="shop",
    stable_service="web-stable",
    canary_service="web-canary",
    stable_subset="stable",
    canary_subset="canary",
)


def vs(*http: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "web", "resourceVersion": "5"}, "spec": {"http": list(http)}}


def primary(stable: str = "web", canary: str = "web-canary", **extra: Any) -> dict[str, Any]:
    return {
        "name": "primary",
        "route": [
            {"destination": {"host": stable}, "weight": 100},
            {"destination": {"host": canary}, "weight": 0},
        ],
        **extra,
    }


@pytest.mark.parametrize(
    ("stable", "canary"),
    [
        ("web", "web-canary"),
        ("web.shop.svc.cluster.local", "web-canary.shop.svc.cluster.local"),
        ("web.shop", "web-canary.shop.svc"),
    ],
)
def test_destinations_are_found_by_short_or_qualified_host(stable: str, canary: str) -> None:
    observed = vs(primary(stable, canary))
    new = apply_ops(observed, http_patch(observed, names=[], backends=BY_HOST, weight=30))
    assert [d["weight"] for d in new["spec"]["http"][0]["route"]] == [70, 30]


def test_a_host_in_another_namespace_is_not_the_stable() -> None:
    with pytest.raises(PlanError, match="host web"):
        http_patch(
            vs(primary("web.other.svc.cluster.local")), names=[], backends=BY_HOST, weight=30
        )


def test_a_missing_named_route_is_reported_with_the_names_there_are() -> None:
    with pytest.raises(
        PlanError, match=r"no http route named 'checkout' \(named routes: primary\)"
    ):
        http_patch(vs(primary()), names=["checkout"], backends=BY_HOST, weight=30)


def test_a_named_route_without_the_canary_is_reported() -> None:
    route = primary()
    route["route"].pop()
    with pytest.raises(PlanError, match=r"'primary' .* no destination with host web-canary"):
        http_patch(vs(route), names=["primary"], backends=BY_HOST, weight=30)


def test_only_the_named_routes_are_weighed() -> None:
    other = {**primary(), "name": "other"}
    observed = vs(primary(), other)
    new = apply_ops(observed, http_patch(observed, names=["primary"], backends=BY_HOST, weight=40))
    assert [d["weight"] for d in new["spec"]["http"][0]["route"]] == [60, 40]
    assert new["spec"]["http"][1] == other


def test_subsets_tell_the_destinations_apart_with_a_destination_rule() -> None:
    route = {
        "route": [
            {"destination": {"host": "web", "subset": "canary"}},
            {"destination": {"host": "web", "subset": "stable"}},
        ]
    }
    observed = vs(route)
    changes: list[str] = []
    ops = http_patch(observed, names=[], backends=BY_SUBSET, weight=10, changes=changes)
    new = apply_ops(observed, ops)
    assert [d["weight"] for d in new["spec"]["http"][0]["route"]] == [10, 90]
    assert changes == ["VirtualService web: route #0 weights 90/10 (was -/-)"]


def test_the_patch_tests_the_version_and_the_destinations_it_weighs() -> None:
    ops = http_patch(vs(primary()), names=[], backends=BY_HOST, weight=20)
    assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "5"}
    assert {
        "op": "test",
        "path": "/spec/http/0/route/1/destination",
        "value": {"host": "web-canary"},
    } in ops
    assert http_patch(vs(primary()), names=[], backends=BY_HOST, weight=0) == []


def test_a_header_route_goes_first_with_the_weighted_routes_uri_matches() -> None:
    weighted = primary(match=[{"uri": {"prefix": "/shop"}}, {"uri": {"exact": "/cart"}}])
    observed = vs({"name": "legacy", "route": [{"destination": {"host": "old"}}]}, weighted)
    wanted = SetHeaderRoute(
        name="beta",
        match=[HeaderMatch(header_name="X-Canary", header_value=HeaderValue(exact="yes"))],
    )
    changes: list[str] = []
    ops = http_patch(
        observed, names=[], backends=BY_HOST, weight=20, header_routes=[wanted], changes=changes
    )
    new = apply_ops(observed, ops)
    assert new["spec"]["http"][0] == {
        "name": "landinggear-beta",
        "match": [
            {"headers": {"x-canary": {"exact": "yes"}}, "uri": {"prefix": "/shop"}},
            {"headers": {"x-canary": {"exact": "yes"}}, "uri": {"exact": "/cart"}},
        ],
        "route": [{"destination": {"host": "web-canary"}, "weight": 100}],
    }
    assert new["spec"]["http"][1:] == [
        observed["spec"]["http"][0],
        {
            **weighted,
            "route": [
                {"destination": {"host": "web"}, "weight": 80},
                {"destination": {"host": "web-canary"}, "weight": 20},
            ],
        },
    ]
    assert changes == [
        "VirtualService web: header route landinggear-beta set",
        "VirtualService web: route primary weights 80/20 (was 100/0)",
    ]
    # Removed again when no longer wanted; the user's routes as they were.
    back = apply_ops(new, http_patch(new, names=[], backends=BY_HOST, weight=0))
    assert back["spec"]["http"] == observed["spec"]["http"]


def test_a_header_route_moved_down_by_hand_goes_first_again() -> None:
    wanted = SetHeaderRoute(
        name="beta", match=[HeaderMatch(header_name="x-b", header_value=HeaderValue(prefix="1"))]
    )
    observed = vs(primary())
    new = apply_ops(
        observed, http_patch(observed, names=[], backends=BY_HOST, weight=0, header_routes=[wanted])
    )
    ours = new["spec"]["http"][0]
    edited = vs(new["spec"]["http"][1], ours)
    changes: list[str] = []
    fixed = apply_ops(
        edited,
        http_patch(
            edited, names=[], backends=BY_HOST, weight=0, header_routes=[wanted], changes=changes
        ),
    )
    assert fixed["spec"]["http"] == new["spec"]["http"]
    assert changes == ["VirtualService web: header routes moved first"]


def dr(*subsets: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "resourceVersion": "9"},
        "spec": {"host": "web", "subsets": list(subsets)},
    }


def test_subsets_get_the_revision_label_beside_their_own() -> None:
    observed = dr(
        {"name": "stable", "labels": {"app": "web"}, "trafficPolicy": {"tls": {"mode": "DISABLE"}}},
        {"name": "canary"},
    )
    changes: list[str] = []
    new = apply_ops(
        observed, subset_patch(observed, {"stable": "aaa", "canary": "bbb"}, changes=changes)
    )
    assert new["spec"]["subsets"] == [
        {
            "name": "stable",
            "labels": {"app": "web", REVISION_LABEL: "aaa"},
            "trafficPolicy": {"tls": {"mode": "DISABLE"}},
        },
        {"name": "canary", "labels": {REVISION_LABEL: "bbb"}},
    ]
    assert changes == [
        "DestinationRule web: subset stable selects aaa",
        "DestinationRule web: subset canary selects bbb",
    ]
    released = apply_ops(new, released_subsets(new, ["stable", "canary"]))
    assert released["spec"]["subsets"][0] == observed["spec"]["subsets"][0]


def test_a_missing_subset_is_reported() -> None:
    with pytest.raises(PlanError, match="no subset named 'canary'"):
        subset_patch(dr({"name": "stable"}), {"stable": "a", "canary": "b"})


def test_header_routes_come_out_even_when_the_weighted_route_is_gone() -> None:
    ours = {"name": "landinggear-beta", "route": [{"destination": {"host": "web-canary"}}]}
    theirs = {"name": "other", "route": [{"destination": {"host": "x"}}]}
    observed = vs(ours, theirs, {**ours, "name": "landinggear-gamma"})
    with pytest.raises(PlanError):
        http_patch(observed, names=[], backends=BY_HOST, weight=0)
    assert apply_ops(observed, removed_header_routes(observed))["spec"]["http"] == [theirs]
    assert removed_header_routes(vs(theirs)) == []
