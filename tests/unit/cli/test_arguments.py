"""The grammar: verbs, their flags, and kubectl's global flags before or after the verb."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import main
from controller.cli.arguments import (
    VERBS,
    build_parser,
    parse,
    parse_args,
    program_name,
    wanted_verb,
)
from controller.cli.errors import CliError
from controller.cli.session import DEFAULT_KUBECONFIG, connect, impersonation, kubeconfig_path


def test_global_flags_work_before_the_verb() -> None:
    args = parse(["-n", "shop", "--context", "prod", "--kubeconfig", "/k", "get", "web"])

    assert (args.command, args.name) == ("get", "web")
    assert (args.namespace, args.context, args.kubeconfig) == ("shop", "prod", "/k")


def test_global_flags_work_after_the_verb_and_win_over_earlier_ones() -> None:
    args = parse(["-n", "first", "promote", "web", "--namespace", "shop", "--context", "prod"])

    assert (args.namespace, args.context, args.kubeconfig) == ("shop", "prod", None)


def test_global_flags_default_to_none_so_the_kubeconfig_decides() -> None:
    args = parse(["list"])

    assert (args.namespace, args.context, args.kubeconfig) == (None, None, None)
    assert args.all_namespaces is False


def test_promote_takes_full_and_reason() -> None:
    args = parse(["promote", "web", "--full", "--reason", "looks good"])

    assert (args.full, args.reason) == (True, "looks good")
    assert parse(["promote", "web"]).full is False


@pytest.mark.parametrize("verb", ["abort", "rollback"])
def test_abort_and_rollback_take_a_reason(verb: str) -> None:
    assert parse([verb, "web", "--reason", "p99 latency"]).reason == "p99 latency"


def test_list_across_namespaces_and_get_output_formats() -> None:
    assert parse(["list", "-A"]).all_namespaces is True
    assert parse(["list", "--all-namespaces", "-o", "wide"]).output == "wide"
    assert parse(["get", "web", "-o", "json"]).output == "json"


def test_watch_takes_until_done_and_a_go_style_timeout() -> None:
    args = parse(["watch", "web", "--until-done", "--timeout", "1m30s"])

    assert args.until_done is True
    assert args.timeout == 90.0


@pytest.mark.parametrize(
    "argv",
    [["promote"], ["get", "web", "-o", "table"], ["watch", "web", "--timeout", "soon"], ["fly"]],
)
def test_usage_errors_exit_with_status_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2


def test_the_kubectl_plugin_names_itself_kubectl_landinggear() -> None:
    assert program_name("/usr/local/bin/kubectl-landinggear") == "kubectl landinggear"
    assert program_name("/work/main/.venv/bin/landinggear") == "landinggear"


def test_kubeconfig_flag_wins_over_the_environment_which_wins_over_the_default() -> None:
    env = {"KUBECONFIG": "/a:/b"}
    assert kubeconfig_path("/flag", env) == "/flag"
    assert kubeconfig_path(None, env) == "/a:/b"
    assert kubeconfig_path(None, {}) == DEFAULT_KUBECONFIG


def _kubeconfig(path: Path) -> Path:
    cluster = {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "alice", "user": {"token": "t"}}, {"name": "bob", "user": {}}],
                "contexts": [
                    {"name": "dev", "context": {"cluster": "c", "user": "alice"}},
                    {
                        "name": "prod",
                        "context": {"cluster": "c", "user": "bob", "namespace": "shop"},
                    },
                ],
                "current-context": "dev",
            }
        )
    )
    return path


def test_namespace_comes_from_the_flag_else_the_context_else_default(tmp_path: Path) -> None:
    config = str(_kubeconfig(tmp_path / "config"))

    current = connect(kubeconfig=config, context=None, namespace=None)
    prod = connect(kubeconfig=config, context="prod", namespace=None)
    flagged = connect(kubeconfig=config, context="prod", namespace="cart")

    assert (current.namespace, current.kubeconfig_user) == ("default", "alice")
    assert (prod.namespace, prod.kubeconfig_user) == ("shop", "bob")
    assert flagged.namespace == "cart"


def test_kubeconfig_environment_variable_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path / "config")))

    assert connect(kubeconfig=None, context="prod", namespace=None).namespace == "shop"


def test_an_unknown_context_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CliError, match='context "staging" not found'):
        connect(kubeconfig=str(_kubeconfig(tmp_path / "config")), context="staging", namespace=None)


def test_a_missing_kubeconfig_fails_with_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"

    assert main(["--kubeconfig", str(missing), "get", "web"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot load the kubeconfig {missing}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0.0), ("5", 5.0), ("5s", 5.0), ("1m", 60.0), ("250ms", 0.25)]
)
def test_request_timeout_takes_kubectls_spellings(text: str, seconds: float) -> None:
    assert parse(["get", "web", "--request-timeout", text]).request_timeout == seconds


@pytest.mark.parametrize(
    "argv",
    [
        ["get", "web", "--request-timeout", "soon"],
        ["get", "web", "--request-timeout", "-1s"],
        ["run", "--as", "alice"],
        ["chatops", "--request-timeout", "5s"],
    ],
)
def test_bad_or_misplaced_request_flags_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2


def test_as_group_without_as_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "web", "--as-group", "ops"]) == 2
    assert capsys.readouterr().err == "error: --as-group needs --as (the user to impersonate)\n"


def test_as_and_as_group_become_impersonation_headers() -> None:
    assert impersonation("alice", ["ops", "dev"]) == (
        ("Impersonate-User", "alice"),
        ("Impersonate-Group", "ops"),
        ("Impersonate-Group", "dev"),
    )
    assert impersonation(None, []) == ()
    assert impersonation("alice", [], "u-42") == (
        ("Impersonate-User", "alice"),
        ("Impersonate-Uid", "u-42"),
    )


def test_as_uid_without_as_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "web", "--as-uid", "u-42"]) == 2
    assert capsys.readouterr().err == "error: --as-uid needs --as (the user to impersonate)\n"


@pytest.mark.parametrize(
    ("argv", "verb"),
    [
        (["rollback", "web", "--reason", "errors"], "rollback"),
        (["-n", "get", "--context", "prod", "promote", "web", "--full"], "promote"),
        (["--as=alice", "--request-timeout", "5s", "get", "web", "-o", "json"], "get"),
        (["flags", "off", "web", "checkout", "--reason", "x"], "flags"),
        (["watch", "web", "--until-done", "--timeout", "1m"], "watch"),
        (["list", "-A"], "list"),
        (["run", "--workers", "2"], "run"),
    ],
)
def test_building_only_the_wanted_verb_parses_exactly_as_the_whole_grammar(
    argv: list[str], verb: str
) -> None:
    assert wanted_verb(argv, VERBS) == verb

    partial = parse_args(build_parser(only=verb), argv)

    assert vars(partial) == vars(parse_args(build_parser(), argv))


def test_the_top_level_help_lists_every_verb_however_little_is_built() -> None:
    assert build_parser(only="").format_help() == build_parser().format_help()
    assert wanted_verb(["--help"], VERBS) == ""
    assert wanted_verb(["rollbak", "web"], VERBS) is None  # a typo: the full grammar answers


@pytest.mark.parametrize("verb", ["promote", "abort", "retry", "rollback"])
def test_request_verbs_wait_on_request_with_an_optional_timeout(verb: str) -> None:
    assert parse([verb, "web"]).wait is False
    args = parse([verb, "--wait", "web", "--timeout", "2m"])
    assert (args.name, args.wait, args.timeout) == ("web", True, 120.0)
    flags = parse(["flags", "off", "web", "new-checkout", "--wait"])
    assert (flags.flag_names, flags.wait, flags.timeout) == (("new-checkout",), True, None)


@pytest.mark.parametrize(
    "argv",
    [
        ["rollback", "web", "--timeout", "5s"],  # without --wait
        ["flags", "web", "--wait"],  # listing has nothing to wait for
        ["pause", "web", "--wait"],
    ],
)
def test_wait_and_timeout_where_they_mean_nothing_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2
