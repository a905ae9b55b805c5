"""The Gateway API route plan: a guarded JSON Patch touching only the fields we own."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

from controller.api.routing import HeaderMatch, HeaderValue, SetHeaderRoute
from controller.traffic.gatewayapi_plan import (
    OUR_RULE_PREFIX,
    PlanError,
    RouteKind,
    Wanted,
    header_matches,
    merged,
    plan,
    served,
    status_current,
)
from tests.support.routes_gatewayapi import (
    PatchTestFailed,
    apply_json_patch,
    backend,
    http_route,
    weights_of,
)

STABLE, CANARY = "web-stable", "web-canary"


def header_route(name: str, **value: str) -> SetHeaderRoute:
    return SetHeaderRoute(
        name=name, match=[HeaderMatch(header_name="X-Canary", header_value=HeaderValue(**value))]
    )


def wanted(
    weight: int, *, rules: set[str] | None = None, headers: tuple[SetHeaderRoute, ...] = ()
) -> Wanted:
    return Wanted(
        kind=RouteKind.HTTP,
        stable_service=STABLE,
        canary_service=CANARY,
        weight=weight,
        rules=frozenset(rules) if rules is not None else None,
        header_routes=headers,
    )


def checkout_route() -> dict[str, Any]:
    return http_route(
        "web",
        [
            {
                "name": "checkout",
                "matches": [{"path": {"type": "PathPrefix", "value": "/checkout"}}],
                "filters": [
                    {
                        "type": "RequestHeaderModifier",
                        "requestHeaderModifier": {"add": [{"name": "a", "value": "b"}]},
                    }
                ],
                "backendRefs": [backend(STABLE, weight=100), backend(CANARY, weight=0)],
            },
            {"name": "other", "backendRefs": [backend("other")]},
            {"backendRefs": [backend(STABLE), backend(CANARY)]},
        ],
        namespace="ns",
    )


def test_the_named_rule_alone_gets_the_weights_guarded_by_tests() -> None:
    route = checkout_route()
    planned = plan(route, wanted(30, rules={"checkout"}))
    assert planned.ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "1"}
    assert planned.ops[1:] == [
        {"op": "test", "path": "/spec/rules/0/backendRefs/0/name", "value": STABLE},
        {"op": "add", "path": "/spec/rules/0/backendRefs/0/weight", "value": 70},
        {"op": "test", "path": "/spec/rules/0/backendRefs/1/name", "value": CANARY},
        {"op": "add", "path": "/spec/rules/0/backendRefs/1/weight", "value": 30},
    ]
    after = apply_json_patch(route, planned.ops)
    assert weights_of(after)["checkout"] == [(STABLE, 70), (CANARY, 30)]
    assert weights_of(after)["#2"] == [(STABLE, 1), (CANARY, 1)]  # not named: untouched
    assert planned.changes == [
        "HTTPRoute web rule checkout: web-stable weight 70 (was 100)",
        "HTTPRoute web rule checkout: web-canary weight 30 (was 0)",
    ]


def test_without_a_rule_name_every_rule_with_both_services_is_weighed() -> None:
    after = apply_json_patch(checkout_route(), plan(checkout_route(), wanted(40)).ops)
    assert weights_of(after) == {
        "checkout": [(STABLE, 60), (CANARY, 40)],
        "other": [("other", 1)],
        "#2": [(STABLE, 60), (CANARY, 40)],
    }


def test_nothing_to_do_is_an_empty_patch() -> None:
    route = checkout_route()
    assert plan(route, wanted(0, rules={"checkout"})).ops == []
    assert served(route, wanted(0, rules={"checkout"}))
    assert not served(route, wanted(10, rules={"checkout"}))


def test_a_missing_rule_and_a_rule_without_both_services_are_explained() -> None:
    with pytest.raises(PlanError, match=r"no rule named pay .*its rules: checkout, other"):
        plan(checkout_route(), wanted(10, rules={"pay"}))
    with pytest.raises(PlanError, match=r"rule other does not send to both .*add both Services"):
        plan(checkout_route(), wanted(10, rules={"other"}))
    lonely = http_route("web", [{"backendRefs": [backend(STABLE)]}])
    with pytest.raises(PlanError, match="no rule whose backendRefs name both"):
        plan(lonely, wanted(10))


def test_a_header_route_copies_the_matches_and_sends_to_the_canary_only() -> None:
    route = checkout_route()
    route["spec"]["rules"][0]["backendRefs"][1]["port"] = 8080
    headers = (header_route("beta", prefix="be.ta"),)
    after = apply_json_patch(
        route, plan(route, wanted(20, rules={"checkout"}, headers=headers)).ops
    )
    ours = after["spec"]["rules"][-1]
    assert ours == {
        "name": "landinggear-beta",
        "matches": [
            {
                "path": {"type": "PathPrefix", "value": "/checkout"},
                "headers": [{"name": "X-Canary", "type": "RegularExpression", "value": "^be\\.ta"}],
            }
        ],
        "backendRefs": [
            {"group": "", "kind": "Service", "name": CANARY, "port": 8080, "weight": 1}
        ],
    }
    # Gone again when no longer in force; the rest as before.
    again = apply_json_patch(after, plan(after, wanted(20, rules={"checkout"})).ops)
    assert again["spec"]["rules"] == after["spec"]["rules"][:-1]


def test_header_values_map_to_exact_and_regular_expressions() -> None:
    match = [
        HeaderMatch(header_name="a", header_value=HeaderValue(exact="1")),
        HeaderMatch(header_name="b", header_value=HeaderValue(prefix="v1.2+")),
        HeaderMatch(header_name="c", header_value=HeaderValue(regex="^x-(a|b)$")),
    ]
    assert header_matches(match) == [
        {"name": "a", "type": "Exact", "value": "1"},
        {"name": "b", "type": "RegularExpression", "value": "^v1\\.2\\+"},
        {"name": "c", "type": "RegularExpression", "value": "^x-(a|b)$"},
    ]


def test_a_stale_read_fails_the_patch_instead_of_overwriting() -> None:
    route = checkout_route()
    planned = plan(route, wanted(50, rules={"checkout"}))
    edited = copy.deepcopy(route)
    edited["metadata"]["resourceVersion"] = "2"
    with pytest.raises(PatchTestFailed):
        apply_json_patch(edited, planned.ops)


def test_status_counts_only_for_the_current_generation() -> None:
    route = checkout_route()
    route["metadata"]["generation"] = 3
    assert status_current(route)  # no Gateway reports: the spec is all there is

    def parent(generation: int, accepted: str = "True") -> dict[str, Any]:
        return {
            "conditions": [
                {"type": "Accepted", "status": accepted, "observedGeneration": generation},
                {"type": "ResolvedRefs", "status": "True", "observedGeneration": generation},
            ]
        }

    route["status"] = {"parents": [parent(3)]}
    assert status_current(route)
    route["status"] = {"parents": [parent(3), parent(2)]}
    assert not status_current(route)
    route["status"] = {"parents": [parent(3, accepted="False")]}
    assert not status_current(route)


def test_refs_to_one_route_merge() -> None:
    assert merged([("a", "x"), ("a", "y"), ("b", None), ("b", "z")]) == {
        "a": frozenset({"x", "y"}),
        "b": None,
    }


# ---------------------------------------------------------------- properties

names = s.sampled_from(["a", "b", "c", "checkout", "pay"])
ref_names = s.sampled_from([STABLE, CANARY, "other", "legacy"])
matches = s.lists(
    s.fixed_dictionaries(
        {
            "path": s.fixed_dictionaries(
                {"type": s.just("PathPrefix"), "value": s.sampled_from(["/", "/a", "/b"])}
            )
        },
        optional={
            "headers": s.lists(
                s.fixed_dictionaries(
                    {
                        "name": s.sampled_from(["X-Canary", "x-user", "h"]),
                        "type": s.just("Exact"),
                        "value": s.text(max_size=3),
                    }
                ),
                max_size=2,
                unique_by=lambda h: h["name"].lower(),
            )
        },
    ),
    min_size=1,
    max_size=3,
)
refs = s.lists(
    s.builds(
        lambda n, w, p: backend(n, weight=w, port=p),
        ref_names,
        s.integers(0, 1000),
        s.sampled_from([80, 8080]),
    ),
    max_size=4,
)


@s.composite
def rules(draw: s.DrawFn) -> list[dict[str, Any]]:
    count = draw(s.integers(0, 5))
    rule_names = draw(s.lists(names, min_size=count, max_size=count, unique=True))
    result = []
    for name in rule_names:
        rule: dict[str, Any] = {"matches": draw(matches), "backendRefs": draw(refs)}
        if draw(s.booleans()):
            rule["name"] = name
        if draw(s.booleans()):
            rule["filters"] = [
                {
                    "type": "RequestHeaderModifier",
                    "requestHeaderModifier": {
                        "set": [{"name": "x", "value": draw(s.text(max_size=3))}]
                    },
                }
            ]
        result.append(rule)
    # Rules of ours left from before (stale or current).
    for stale in draw(s.lists(s.sampled_from(["beta", "old"]), max_size=2, unique=True)):
        result.insert(
            draw(s.integers(0, len(result))),
            {
                "name": OUR_RULE_PREFIX + stale,
                "matches": draw(matches),
                "backendRefs": [backend(CANARY)],
            },
        )
    return result


header_routes = s.lists(
    s.builds(
        lambda name, value: header_route(name, **value),
        s.sampled_from(["beta", "gamma"]),
        s.one_of(
            s.builds(lambda v: {"exact": v}, s.text(min_size=1, max_size=4)),
            s.builds(lambda v: {"prefix": v}, s.text(min_size=1, max_size=4)),
        ),
    ),
    max_size=2,
    unique_by=lambda h: h.name,
).map(tuple)


def targeted(route: dict[str, Any], want: Wanted) -> list[int]:
    """A reference for which rules are weighed (written apart from the plan's)."""
    result = []
    for index, rule in enumerate(route["spec"]["rules"]):
        if str(rule.get("name", "")).startswith(OUR_RULE_PREFIX):
            continue
        if want.rules is not None:
            if rule.get("name") in want.rules:
                result.append(index)
        elif {STABLE, CANARY} <= {r["name"] for r in rule["backendRefs"]}:
            result.append(index)
    return result


def without_owned(route: dict[str, Any], want: Wanted) -> dict[str, Any]:
    """The route less what the controller owns: our rules, and the two Services'
    weights in the weighed rules."""
    stripped = copy.deepcopy(route)
    for index in targeted(route, want):
        for ref in stripped["spec"]["rules"][index]["backendRefs"]:
            if ref["name"] in (STABLE, CANARY):
                ref.pop("weight")
    stripped["spec"]["rules"] = [
        r
        for r in stripped["spec"]["rules"]
        if not str(r.get("name", "")).startswith(OUR_RULE_PREFIX)
    ]
    return stripped


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules(),
    s.integers(0, 100),
    s.one_of(s.none(), s.sets(names, min_size=1, max_size=2)),
    header_routes,
)
def test_the_plan_changes_only_owned_fields_and_twice_is_a_no_op(
    rule_list: list[dict[str, Any]],
    weight: int,
    rule_names: set[str] | None,
    headers: tuple[SetHeaderRoute, ...],
) -> None:
    observed = http_route("web", rule_list, namespace="ns")
    want = wanted(weight, rules=rule_names, headers=headers)
    try:
        planned = plan(observed, want)
    except PlanError:
        return  # check() reports it; nothing is written
    desired = apply_json_patch(observed, planned.ops)
    assert without_owned(desired, want) == without_owned(observed, want)
    for index in targeted(desired, want):
        for ref in desired["spec"]["rules"][index]["backendRefs"]:
            if ref["name"] == CANARY:
                assert ref["weight"] == weight
            elif ref["name"] == STABLE:
                assert ref["weight"] == 100 - weight
    ours = sorted(
        r["name"] for r in desired["spec"]["rules"] if r.get("name", "").startswith(OUR_RULE_PREFIX)
    )
    assert ours == sorted(OUR_RULE_PREFIX + h.name for h in headers)
    assert plan(desired, want).ops == []
    assert served(desired, want)
    assert bool(planned.ops) == bool(planned.changes)


def test_a_grpc_header_route_copies_method_matches_or_matches_headers_alone() -> None:
    route = http_route(
        "web-grpc",
        [
            {
                "matches": [{"method": {"type": "Exact", "service": "shop.Cart"}}],
                "backendRefs": [backend(STABLE, port=9090), backend(CANARY, port=9090)],
            },
            {"backendRefs": [backend(STABLE, port=9090), backend(CANARY, port=9090)]},
        ],
    )
    route["kind"] = "GRPCRoute"
    want = Wanted(
        kind=RouteKind.GRPC,
        stable_service=STABLE,
        canary_service=CANARY,
        weight=10,
        header_routes=(header_route("beta", exact="yes"),),
    )
    after = apply_json_patch(route, plan(route, want).ops)
    header = {"name": "X-Canary", "type": "Exact", "value": "yes"}
    assert after["spec"]["rules"][-1] == {
        "name": "landinggear-beta",
        "matches": [
            {"method": {"type": "Exact", "service": "shop.Cart"}, "headers": [header]},
            {"headers": [header]},
        ],
        "backendRefs": [
            {"group": "", "kind": "Service", "name": CANARY, "port": 9090, "weight": 1}
        ],
    }
    assert weights_of(after)["#1"] == [(STABLE, 90), (CANARY, 10)]
    assert plan(after, want).ops == []
