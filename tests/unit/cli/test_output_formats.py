"""``get`` and ``list`` with ``-o name`` and ``-o jsonpath=…``, as kubectl prints them."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest

from controller.cli import api, commands, main
from controller.cli.jsonpath import TemplateError, parse, render
from controller.cli.session import Session
from tests.unit.cli.samples import canary, healthy

SESSION = Session(api=cast(Any, None), namespace="shop", kubeconfig_user="alice")


@pytest.fixture(autouse=True)
def _stored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "get_rollout", lambda session, name: canary())
    monkeypatch.setattr(api, "list_rollouts", lambda session, all_namespaces: [canary(), healthy()])


def test_get_name_is_the_resource_and_group_like_kubectl(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert commands.get(SESSION, "web", output="name") == 0
    assert capsys.readouterr().out == "rollout.landinggear.dev/web\n"


def test_list_name_prints_one_line_per_rollout(capsys: pytest.CaptureFixture[str]) -> None:
    assert commands.list_rollouts(SESSION, all_namespaces=False, output="name") == 0
    assert capsys.readouterr().out.splitlines() == [
        "rollout.landinggear.dev/web",
        f"rollout.landinggear.dev/{healthy()['metadata']['name']}",
    ]


def test_get_jsonpath_prints_the_field_without_a_newline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert commands.get(SESSION, "web", output="jsonpath={.status.phase}") == 0
    assert capsys.readouterr().out == "Paused"


def test_list_jsonpath_ranges_over_the_items(capsys: pytest.CaptureFixture[str]) -> None:
    template = 'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}'

    assert commands.list_rollouts(SESSION, all_namespaces=False, output=template) == 0
    name = healthy()["metadata"]["name"]
    assert capsys.readouterr().out == f"web\tPaused\n{name}\tHealthy\n"


def test_an_unsupported_template_is_a_usage_error_saying_what_is_supported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["get", "web", "-o", "jsonpath={.items[?(@.x==1)]}"])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "filters [?(…)] are not supported" in err
    assert "supported: text, {.field.path}" in err


@pytest.mark.parametrize("output", ["xml", "jsonpath", "jsonpath="])
def test_an_unknown_output_format_is_a_usage_error(
    output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["list", "-o", output])

    assert exited.value.code == 2
    assert "choose from json, yaml, wide, name, jsonpath=TEMPLATE" in capsys.readouterr().err


OBJ: dict[str, Any] = {
    "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "shop"}},
    "spec": {"replicas": 3, "paused": False, "steps": [{"setWeight": 20}, {"pause": {}}]},
}


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("{.metadata.name}", "web"),
        ("{$.metadata.name}", "web"),
        ("{.metadata.labels['app.kubernetes.io/name']}", "shop"),
        ("{.spec.replicas}", "3"),
        ("{.spec.paused}", "false"),
        ("{.spec.steps[0].setWeight}", "20"),
        ("{.spec.steps[-1]}", '{"pause": {}}'),
        ("{.spec.steps[*].setWeight}", "20"),
        ("{.metadata.labels.*}", "shop"),
        ("{.status.phase}", ""),
        ("{.spec.steps[5]}", ""),
        ("name: {.metadata.name}!", "name: web!"),
        ("{range .spec.steps[*]}[{.setWeight}]{end}", "[20][]"),
        ("{range .spec.steps[*]}{$.metadata.name}{' '}{end}", "web web "),
        ('{"}"}', "}"),
    ],
)
def test_jsonpath_subset(template: str, text: str) -> None:
    assert render(parse(template), OBJ) == text


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{..name}", "recursive descent"),
        ("{.spec.steps[0:1]}", "slices"),
        ("{.spec['a','b']}", "unions"),
        ("{.metadata.name", "unclosed {"),
        ("{range .items[*]}{.x}", "{range} without {end}"),
        ("{.x}{end}", "{end} without {range}"),
        ('{"open}', "unclosed {"),
        ("{metadata}", "expected . or ["),
    ],
)
def test_jsonpath_refuses_what_it_does_not_support(template: str, why: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(why)):
        parse(template)
