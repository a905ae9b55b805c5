"""``--prometheus-endpoint`` and ``--threshold-namespace``: repeatable flags over
comma-separated ``LANDINGGEAR_*`` variables, checked before the controller starts."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from controller import logs, manager
from controller.cli import main
from controller.settings import Settings


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """The settings each ``landinggear run`` would have started a controller with."""
    seen: list[Settings] = []

    class Recorded:
        def __init__(self, settings: Settings) -> None:
            seen.append(settings)

        def run(self) -> int:
            return 0

    monkeypatch.setattr(manager, "Manager", Recorded)
    monkeypatch.setattr(logs, "configure", lambda *args, **kwargs: None)
    for name in ("PROMETHEUS_ENDPOINTS", "THRESHOLD_NAMESPACES"):
        monkeypatch.delenv(f"LANDINGGEAR_{name}", raising=False)
    return seen


def test_by_default_no_other_address_and_no_threshold_namespace(started: list[Settings]) -> None:
    assert main(["run"]) == 0
    assert started[0].prometheus_endpoints == []
    assert started[0].threshold_namespaces == []


def test_the_variables_are_comma_separated(
    started: list[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANDINGGEAR_PROMETHEUS_ENDPOINTS", "http://a:9090, https://b/prom,")
    monkeypatch.setenv("LANDINGGEAR_THRESHOLD_NAMESPACES", "shop,books")
    assert main(["run"]) == 0
    assert started[0].prometheus_endpoints == ["http://a:9090", "https://b/prom"]
    assert started[0].threshold_namespaces == ["shop", "books"]


def test_repeated_flags_replace_the_variables(
    started: list[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANDINGGEAR_PROMETHEUS_ENDPOINTS", "http://a:9090")
    monkeypatch.setenv("LANDINGGEAR_THRESHOLD_NAMESPACES", "shop")
    argv = ["run", "--prometheus-endpoint=http://c:1", "--prometheus-endpoint=http://d:2"]
    argv += ["--threshold-namespace", "*"]
    assert main(argv) == 0
    assert started[0].prometheus_endpoints == ["http://c:1", "http://d:2"]
    assert started[0].threshold_namespaces == ["*"]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--prometheus-endpoint=ftp://a"], "ftp://a"),
        (["--prometheus-endpoint=http://u:p@a"], "carries credentials"),
        (["--prometheus-endpoint=http://a/?q=1"], "query or fragment"),
        (["--prometheus-address=http://a/x/../admin"], "'..' path segment"),
        (["--threshold-namespace=Shop"], "'Shop' is not a namespace name"),
        (["--threshold-namespace=a*"], "'a*' is not a namespace name"),
    ],
)
def test_a_bad_value_stops_the_controller_with_exit_2_naming_it(
    started: list[Settings], capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    assert main(["run", *argv]) == 2
    assert started == []
    assert named in capsys.readouterr().err


def test_settings_take_lists_directly() -> None:
    settings: dict[str, Any] = {"prometheus_endpoints": ["http://a"], "threshold_namespaces": []}
    assert Settings(**settings).prometheus_endpoints == ["http://a"]
    with pytest.raises(ValidationError):
        Settings(threshold_namespaces=["x" * 64])
