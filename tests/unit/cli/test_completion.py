"""``landinggear completion``: scripts made from the parser, run in a real bash."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from controller.cli import main
from controller.cli.arguments import build_parser
from controller.cli.completion import script

FAKE_LANDINGGEAR = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/calls"
printf 'rollout.landinggear.dev/web\\nrollout.landinggear.dev/api\\n'
"""


def complete(tmp_path: Path, line: str) -> list[str]:
    """What bash offers for the last word of ``line`` (``landinggear`` answers from a fake)."""
    fake = tmp_path / "landinggear"
    fake.write_text(FAKE_LANDINGGEAR)
    fake.chmod(0o755)
    words = line.split(" ")
    program = (
        f"{script(build_parser(), 'bash')}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        '_landinggear; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", program],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
    )
    return [w for w in done.stdout.splitlines() if w]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_for_each_shell(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", shell]) == 0
    assert "landinggear" in capsys.readouterr().out


def test_an_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["completion", "tcsh"])

    assert exited.value.code == 2
    assert "(choose from 'bash', 'zsh', 'fish')" in capsys.readouterr().err


def test_bash_completes_verbs(tmp_path: Path) -> None:
    assert complete(tmp_path, "landinggear pro") == ["promote"]
    assert complete(tmp_path, "landinggear -n shop r") == ["retry", "rollback", "resume", "run"]


def test_bash_completes_a_verbs_flags_and_their_fixed_values(tmp_path: Path) -> None:
    assert complete(tmp_path, "landinggear promote web --f") == ["--full"]
    assert complete(tmp_path, "landinggear get web -o j") == ["json", "jsonpath="]
    assert complete(tmp_path, "landinggear run --log-level w") == ["warning"]
    assert complete(tmp_path, "landinggear completion ") == ["bash", "zsh", "fish"]
    assert complete(tmp_path, "landinggear promote --reason ") == []


def test_bash_asks_the_cluster_for_rollout_names_in_the_namespace_typed(
    tmp_path: Path,
) -> None:
    assert complete(tmp_path, "landinggear -n shop promote w") == ["web"]
    assert (tmp_path / "calls").read_text() == "list -n shop -o name\n"
    assert complete(tmp_path, "landinggear flags o") == ["off"]


def test_bash_does_not_ask_the_cluster_when_completing_flags(tmp_path: Path) -> None:
    complete(tmp_path, "landinggear get --")

    assert not (tmp_path / "calls").exists()


def test_zsh_runs_the_bash_script_through_bashcompinit() -> None:
    parser = build_parser()
    zsh = script(parser, "zsh")

    assert zsh.splitlines()[0] == "autoload -U +X bashcompinit && bashcompinit"
    assert zsh.endswith(script(parser, "bash"))


def test_fish_completes_verbs_flags_values_and_rollout_names() -> None:
    lines = script(build_parser(), "fish").splitlines()

    assert any("-a promote -d 'advance the canary" in line for line in lines)
    promote = "complete -c landinggear -n '__fish_seen_subcommand_from promote'"
    assert f"{promote} -a '(__landinggear_rollouts)'" in lines
    assert any(
        "'__fish_seen_subcommand_from run' -l log-level -x -a 'debug info warning error'" in line
        for line in lines
    )
    assert "complete -c kubectl-landinggear -w landinggear" in lines


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_reads_the_script(tmp_path: Path) -> None:
    path = tmp_path / "landinggear.fish"
    path.write_text(script(build_parser(), "fish"))
    subprocess.run(["fish", "--no-execute", str(path)], check=True)


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_reads_the_script(tmp_path: Path) -> None:
    path = tmp_path / "landinggear.zsh"
    path.write_text(script(build_parser(), "zsh"))
    subprocess.run(["zsh", "-n", str(path)], check=True)
