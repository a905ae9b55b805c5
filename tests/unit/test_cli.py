"""The command line's entry points."""

from __future__ import annotations

import pytest

from controller import __version__, cli


def test_version_verb_prints_the_client_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["version"]) == 0
    assert capsys.readouterr().out == f"landinggear {__version__}\n"


def test_no_verb_prints_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: landinggear" in capsys.readouterr().err
