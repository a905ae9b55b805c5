"""``landinggear run`` refuses what it cannot use with one line and exit code 2, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.config import ConfigException

from controller import logs
from controller.cli import main
from controller.kube.kubeconfig import api_configuration


@pytest.fixture(autouse=True)
def _no_logging_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "configure", lambda *args, **kwargs: None)


def test_run_with_a_missing_kubeconfig_says_so_in_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "kubeconfig"

    code = main(["run", "--kubeconfig", str(missing)])

    assert code == 2
    assert capsys.readouterr().err == f"error: kubeconfig {missing}: no such file\n"


def test_run_with_a_file_that_is_no_kubeconfig_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "kubeconfig"
    garbage.write_text("just some words\n")

    assert main(["run", "--kubeconfig", str(garbage)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot load the kubeconfig {garbage}: ")
    assert err.count("\n") == 1


def test_an_explicit_kubeconfig_is_never_replaced_by_the_in_cluster_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")

    with pytest.raises(ConfigException, match="no such file"):
        api_configuration(kubeconfig=str(tmp_path / "missing"), context=None)


def test_without_kubeconfig_or_cluster_the_error_names_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    with pytest.raises(ConfigException, match=r"no usable kubeconfig .* and not in a cluster"):
        api_configuration(kubeconfig=None, context=None)


@pytest.mark.parametrize("verb", ["run", "chatops"])
def test_a_bad_log_level_is_a_usage_error_listing_the_choices(
    verb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([verb, "--log-level", "loud"])

    assert exited.value.code == 2
    choices = "(choose from 'debug', 'info', 'warning', 'error')"
    assert f"--log-level: invalid choice: 'loud' {choices}" in capsys.readouterr().err


def test_the_log_level_flag_takes_any_case(tmp_path: Path) -> None:
    assert main(["run", "--log-level", "WARNING", "--kubeconfig", str(tmp_path / "x")]) == 2


def test_a_bad_log_level_in_the_environment_exits_2_with_the_choices(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LANDINGGEAR_LOG_LEVEL", "loud")

    assert main(["run"]) == 2
    assert "'debug', 'info', 'warning' or 'error'" in capsys.readouterr().err
