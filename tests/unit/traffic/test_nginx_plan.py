"""The NGINX router's plan: the canary Ingress is derived from the stable one, the
patch touches only the fields we own, and a second plan has nothing to do."""

from __future__ import annotations

import copy
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.api.routing import SetHeaderRoute
from controller.traffic import nginx_plan as plan

STABLE, CANARY, OTHER = "web-stable", "web-canary", "other"

SPEC = plan.CanaryIngress(
    namespace="shop",
    rollout="web",
    rollout_uid="uid-1",
    stable_ingress="web",
    stable_service=STABLE,
    canary_service=CANARY,
)

names = st.sampled_from(["a", "b", "x.example/y", "kubernetes.io/ingress.class"])
values = st.text(alphabet="abc019-", max_size=5)
annotation_keys = st.one_of(
    names,
    st.sampled_from(
        [
            plan.CANARY,
            plan.CANARY_WEIGHT,
            plan.PREFIX + "canary-by-cookie",
            plan.PREFIX + "rewrite-target",
            plan.LAST_APPLIED,
        ]
    ),
)
backend = st.builds(
    lambda svc, port: {"service": {"name": svc, "port": {"number": port}}},
    st.sampled_from([STABLE, OTHER]),
    st.integers(1, 3),
)
path = st.builds(
    lambda p, b: {"path": p, "pathType": "Prefix", "backend": b},
    st.sampled_from(["/", "/api", "/static"]),
    backend,
)
rule = st.builds(
    lambda host, paths: {"host": host, "http": {"paths": paths}},
    st.sampled_from(["shop.example", "api.example"]),
    st.lists(path, max_size=3),
)


@st.composite
def stables(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"rules": draw(st.lists(rule, max_size=3))}
    if draw(st.booleans()):
        spec["ingressClassName"] = "nginx"
    if draw(st.booleans()):
        spec["tls"] = [{"hosts": ["shop.example"], "secretName": "tls"}]
    return {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "resourceVersion": "7",
            "annotations": draw(st.dictionaries(annotation_keys, values, max_size=4)),
        },
        "spec": spec,
    }


headers = st.one_of(
    st.just(()),
    st.builds(
        lambda name, value: (
            SetHeaderRoute.model_validate(
                {"name": "h", "match": [{"headerName": name, "headerValue": value}]}
            ),
        ),
        st.sampled_from(["X-Canary", "X-Beta"]),
        st.sampled_from([{"exact": "yes"}, {"regex": "^(a|b)$"}]),
    ),
)
specs = st.builds(
    lambda extra, header: plan.CanaryIngress(
        **{**SPEC.__dict__, "additional_annotations": extra, "header_routes": header}
    ),
    st.dictionaries(st.sampled_from(["canary-by-cookie", "x.example/z", "canary-weight"]), values),
    headers,
)


@st.composite
def observed_canaries(draw: st.DrawFn) -> dict[str, Any]:
    """A canary Ingress as it may be found: planned before from another stable, weight
    and headers, then edited by hand and by others (fields we do not own)."""
    before = plan.desired(draw(stables()), draw(specs), draw(st.integers(0, 100)))
    meta = before["metadata"]
    meta["resourceVersion"] = "42"
    meta["uid"] = "canary-uid"
    meta["finalizers"] = draw(st.lists(st.just("example.com/keep"), max_size=1))
    meta["labels"].update(draw(st.dictionaries(st.sampled_from(["team", "tier"]), values)))
    if draw(st.booleans()):
        del meta["labels"][plan.MANAGED_BY]
    meta["annotations"].update(draw(st.dictionaries(annotation_keys, values, max_size=2)))
    if draw(st.booleans()):
        before["spec"]["defaultBackend"] = {"service": {"name": OTHER, "port": {"number": 1}}}
    before["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    return before


def _not_owned(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    for key in ("annotations", "resourceVersion"):
        meta.pop(key, None)
    meta.get("labels", {}).pop(plan.MANAGED_BY, None)
    obj.pop("spec", None)
    return obj


@settings(max_examples=300)
@given(stables(), specs, st.integers(0, 100), observed_canaries())
def test_the_patch_changes_only_owned_fields_and_a_second_plan_is_a_no_op(
    stable: dict[str, Any], spec: plan.CanaryIngress, weight: int, observed: dict[str, Any]
) -> None:
    stable_before, observed_before = copy.deepcopy(stable), copy.deepcopy(observed)
    wanted = plan.desired(stable, spec, weight)
    body = plan.patch(observed, wanted)
    assert stable == stable_before
    assert observed == observed_before

    result = plan.merge(observed, body) if body is not None else observed
    assert _not_owned(result) == _not_owned(observed)
    assert result["metadata"]["annotations"] == wanted["metadata"]["annotations"]
    assert result["metadata"]["labels"][plan.MANAGED_BY] == "landinggear"
    assert result["spec"] == wanted["spec"]
    assert plan.weight_of(result) == weight
    assert plan.patch(result, wanted) is None
    if body is not None:
        assert body["metadata"]["resourceVersion"] == "42"


@given(stables(), specs, st.integers(0, 100))
def test_the_canary_serves_exactly_the_stables_paths_to_the_stable_service(
    stable: dict[str, Any], spec: plan.CanaryIngress, weight: int
) -> None:
    wanted = plan.desired(stable, spec, weight)

    def paths(ingress: dict[str, Any], service: str) -> list[tuple[str, str, int]]:
        return [
            (r["host"], p["path"], p["backend"]["service"]["port"]["number"])
            for r in ingress["spec"]["rules"]
            for p in r["http"]["paths"]
            if p["backend"]["service"]["name"] == service
        ]

    assert paths(wanted, CANARY) == paths(stable, STABLE)
    assert all(r["http"]["paths"] for r in wanted["spec"]["rules"])
    assert not paths(wanted, OTHER)
    assert not paths(wanted, STABLE)
    assert (plan.stable_problem(stable, spec) is None) == bool(paths(stable, STABLE))
    annotations = wanted["metadata"]["annotations"]
    assert plan.LAST_APPLIED not in annotations
    added = {k if "/" in k else plan.PREFIX + k for k in spec.additional_annotations}
    for key, value in stable["metadata"]["annotations"].items():
        if key.startswith(plan.CANARY) or key == plan.LAST_APPLIED:
            continue
        assert annotations[key] == (
            spec.additional_annotations.get(
                key.removeprefix(plan.PREFIX), spec.additional_annotations.get(key)
            )
            if key in added
            else value
        )
    assert wanted["spec"].get("tls") == stable["spec"].get("tls")
    assert wanted["spec"].get("ingressClassName") == stable["spec"].get("ingressClassName")


def _stable() -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "annotations": {plan.PREFIX + "ssl-redirect": "false"}},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": "shop.example",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": STABLE, "port": {"number": 80}}},
                            },
                            {
                                "path": "/img",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": OTHER, "port": {"number": 80}}},
                            },
                        ]
                    },
                }
            ],
        },
    }


def test_weight_headers_and_additional_annotations_become_canary_annotations() -> None:
    exact = SetHeaderRoute.model_validate(
        {"name": "beta", "match": [{"headerName": "X-Beta", "headerValue": {"exact": "on"}}]}
    )
    spec = plan.CanaryIngress(
        **{
            **SPEC.__dict__,
            "additional_annotations": {"canary-by-cookie": "beta", "example.com/x": "y"},
            "header_routes": (exact,),
        }
    )
    annotations = plan.desired(_stable(), spec, 30)["metadata"]["annotations"]
    assert annotations == {
        plan.PREFIX + "ssl-redirect": "false",
        plan.PREFIX + "canary-by-cookie": "beta",
        "example.com/x": "y",
        plan.PREFIX + "canary-by-header": "X-Beta",
        plan.PREFIX + "canary-by-header-value": "on",
        plan.CANARY: "true",
        plan.CANARY_WEIGHT: "30",
        plan.PREFIX + "canary-weight-total": "100",
    }
    regex = SetHeaderRoute.model_validate(
        {"name": "beta", "match": [{"headerName": "X-Beta", "headerValue": {"regex": "^o"}}]}
    )
    spec = plan.CanaryIngress(**{**SPEC.__dict__, "header_routes": (regex,)})
    annotations = plan.desired(_stable(), spec, 0)["metadata"]["annotations"]
    assert annotations[plan.PREFIX + "canary-by-header-pattern"] == "^o"
    assert plan.PREFIX + "canary-by-header-value" not in annotations


def test_a_header_route_going_removes_its_annotations() -> None:
    route = SetHeaderRoute.model_validate(
        {"name": "beta", "match": [{"headerName": "X-Beta", "headerValue": {"exact": "on"}}]}
    )
    with_header = plan.desired(
        _stable(), plan.CanaryIngress(**{**SPEC.__dict__, "header_routes": (route,)}), 20
    )
    body = plan.patch(with_header, plan.desired(_stable(), SPEC, 20))
    assert body is not None
    assert body["metadata"]["annotations"] == {
        plan.PREFIX + "canary-by-header": None,
        plan.PREFIX + "canary-by-header-value": None,
    }
    assert "spec" not in body


def test_the_canary_ingress_name_fits_an_object_name() -> None:
    assert plan.canary_name("web", "shop") == "web-shop-canary"
    long = plan.canary_name("r" * 200, "i" * 200)
    assert len(long) <= 253
    assert long.endswith("-canary")
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", long)
    assert long != plan.canary_name("r" * 200, "i" * 199 + "j")


def test_a_stable_ingress_without_the_stable_service_is_a_problem() -> None:
    stable = _stable()
    stable["spec"]["rules"][0]["http"]["paths"].pop(0)
    problem = plan.stable_problem(stable, SPEC)
    assert problem is not None
    assert "web-stable" in problem
    assert "shop/web" in problem


def test_only_a_canary_ingress_has_a_weight() -> None:
    assert plan.weight_of({"metadata": {"annotations": {plan.CANARY_WEIGHT: "5"}}}) is None
    annotations = {plan.CANARY: "true", plan.CANARY_WEIGHT: "5"}
    assert plan.weight_of({"metadata": {"annotations": annotations}}) == 5
    assert plan.owned_by({"metadata": {"ownerReferences": [{"uid": "u", "controller": True}]}}, "u")
    assert not plan.owned_by({"metadata": {"ownerReferences": [{"uid": "u"}]}}, "u")
