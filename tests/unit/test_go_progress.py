"""Long Go builds say what they are doing at least every heartbeat, and a failed
one still reports go's output tail."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from e2e.localcluster import build, goprogress


def test_nothing_is_said_before_the_first_heartbeat() -> None:
    progress = goprogress.GoProgress(label="Building k8s", started=100.0, every=30.0)
    progress.seen("k8s.io/api/core/v1")
    assert progress.due(129.9) is None


def test_the_heartbeat_counts_packages_and_downloads_and_names_the_latest() -> None:
    progress = goprogress.GoProgress(label="Building k8s", started=100.0, every=30.0)
    for line in (
        "go: downloading k8s.io/api v0.36.3",
        "go: downloading github.com/spf13/cobra v1.9.1",
        "internal/abi",
        "runtime",
        "k8s.io/apiserver/pkg/server",
    ):
        progress.seen(line)
    assert progress.due(190.0) == (
        "Building k8s: 1m30s elapsed, 3 packages compiled, 2 modules downloaded; "
        "now compiling k8s.io/apiserver/pkg/server"
    )
    assert progress.due(200.0) is None
    assert progress.due(220.0) == (
        "Building k8s: 2m00s elapsed, 3 packages compiled, 2 modules downloaded; "
        "now compiling k8s.io/apiserver/pkg/server (no output from go since the last report)"
    )


def test_other_go_messages_become_what_go_is_doing_and_errors_only_the_tail() -> None:
    progress = goprogress.GoProgress(label="tidy", started=0.0, every=1.0)
    progress.seen("go: finding module for package k8s.io/foo")
    progress.seen("# k8s.io/broken")
    progress.seen("broken.go:3:1: syntax error: unexpected }")
    progress.seen('{"Path": "x"}', stderr=False)
    assert progress.due(5.0) == "tidy: 5s elapsed; now finding module for package k8s.io/foo"
    assert list(progress.tail)[-3:] == [
        "# k8s.io/broken",
        "broken.go:3:1: syntax error: unexpected }",
        '{"Path": "x"}',
    ]


def test_the_tail_keeps_the_last_forty_lines() -> None:
    progress = goprogress.GoProgress(label="x", started=0.0)
    for n in range(100):
        progress.seen(f"line {n}")
    assert list(progress.tail) == [f"line {n}" for n in range(60, 100)]


def _fake_go(directory: Path, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    go = directory / "go"
    go.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    go.chmod(0o755)


@pytest.fixture
def fake_go_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setenv("LANDINGGEAR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(goprogress, "EVERY", 0.2)
    return tmp_path / "bin"


def test_a_slow_build_reports_progress_on_stderr_while_it_runs(
    fake_go_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_go(
        fake_go_dir,
        """\
        echo "go: downloading example.com/slow v1.0.0" >&2
        for pkg in example.com/slow/a example.com/slow/b example.com/slow/c; do
            sleep 0.3
            echo "$pkg" >&2
        done
        mkdir -p "$GOBIN" && : > "$GOBIN/slow"
        """,
    )
    out = tmp_path / "out" / "bin"
    build.go_install(label="slow 1.0", packages=["example.com/slow@v1.0.0"], out=out)
    assert (out / "slow").is_file()
    heartbeats = [
        line for line in capsys.readouterr().err.splitlines() if "Building slow 1.0:" in line
    ]
    assert len(heartbeats) >= 3, heartbeats
    assert all(line.startswith("[localcluster] Building slow 1.0: ") for line in heartbeats)
    assert any("now compiling example.com/slow/" in line for line in heartbeats)
    assert "1 module downloaded" in heartbeats[-1]


def test_go_is_run_with_v_so_it_names_each_package(fake_go_dir: Path, tmp_path: Path) -> None:
    _fake_go(fake_go_dir, 'echo "$@" > "$LANDINGGEAR_CACHE_DIR/argv"; mkdir -p "$GOBIN"\n')
    build.go_install(label="x", packages=["example.com/x@v1"], out=tmp_path / "x")
    assert (tmp_path / "cache" / "argv").read_text().split()[:2] == ["install", "-v"]


def test_a_failed_build_carries_gos_output_tail(fake_go_dir: Path, tmp_path: Path) -> None:
    _fake_go(
        fake_go_dir,
        """\
        for n in $(seq 1 60); do echo "example.com/pkg$n" >&2; done
        echo "# example.com/broken" >&2
        echo "broken.go:3:1: syntax error: unexpected }" >&2
        exit 1
        """,
    )
    out = tmp_path / "out" / "bin"
    with pytest.raises(build.BuildError) as failed:
        build.go_install(label="broken", packages=["example.com/broken@v1"], out=out)
    message = str(failed.value)
    assert "broken.go:3:1: syntax error: unexpected }" in message
    assert "example.com/pkg60" in message
    assert "example.com/pkg20\n" not in message  # only the last 40 lines
    assert not out.exists()


def test_stdout_is_returned_whole_for_json_readers(fake_go_dir: Path, tmp_path: Path) -> None:
    _fake_go(
        fake_go_dir,
        """\
        echo "go: downloading example.com/m v1.0.0" >&2
        printf '{\\n\\t"Dir": "/mod/example.com/m",\\n\\t"GoMod": "/mod/m.mod"\\n}\\n'
        """,
    )
    assert build.module_dir("example.com/m", "v1.0.0") == Path("/mod/example.com/m")
