"""``--env`` of the scale bench: each variant reaches the controller processes it runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e.bench.scale.__main__ import _environment, _run_dir, main
from e2e.bench.scale.fleet import Controller

pytestmark = pytest.mark.unit


def test_variants_parse_and_name_their_log_directories() -> None:
    assert _environment("") == {}
    assert _environment("MALLOC_ARENA_MAX=2,PYTHONMALLOC=malloc") == {
        "MALLOC_ARENA_MAX": "2",
        "PYTHONMALLOC": "malloc",
    }
    assert _environment("EMPTY=") == {"EMPTY": ""}
    dirs = {_run_dir(1000, "", env, before=False) for env in ("", "MALLOC_ARENA_MAX=2")}
    assert dirs == {"1000", "1000-MALLOC_ARENA_MAX=2"}
    assert "/" not in _run_dir(1000, "100/300", "X=a/b", before=True)


@pytest.mark.parametrize(
    ("flag", "text", "why"),
    [
        ("--env", "MALLOC_ARENA_MAX", "want VAR=VALUE"),
        ("--env", "=2", "want VAR=VALUE"),
        ("--env", "NOT-A-NAME=1", "want VAR=VALUE"),
        ("--env", "A=1,B", "want VAR=VALUE"),
        ("--budget", "fast", "QPS/BURST"),
    ],
)
def test_a_malformed_variant_is_refused_before_any_cluster_starts(
    flag: str, text: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A cluster takes minutes to start (and this kubeconfig names none): refuse first.
    assert main([flag, text, "--kubeconfig", "/nonexistent/kubeconfig"]) == 2
    assert why in capsys.readouterr().err


def test_the_controller_process_gets_the_variant_on_top_of_the_bench_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in checkout whose ``python -m controller`` records its environment.
    package = tmp_path / "controller"
    package.mkdir()
    seen = tmp_path / "environ.json"
    (package / "__main__.py").write_text(
        f"import json, os\nopen({str(seen)!r}, 'w').write(json.dumps(dict(os.environ)))\n"
    )
    monkeypatch.setenv("BENCH_OWN", "kept")
    controller = Controller(
        tmp_path / "kubeconfig",
        "lease-ns",
        tmp_path / "controller.log",
        identity="env-test",
        shards=1,
        root=tmp_path,
        env={"MALLOC_ARENA_MAX": "2"},
    )
    assert controller.proc.wait(30) == 0, (tmp_path / "controller.log").read_text()
    environ = json.loads(seen.read_text())
    assert environ["MALLOC_ARENA_MAX"] == "2"
    assert environ["BENCH_OWN"] == "kept"


def test_a_stopped_invocation_keeps_the_runs_it_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A realistic N = 1,000 with two variants takes over an hour: stopping it in the
    # second must not lose the first. No cluster here: ``run`` is replaced.
    import e2e.bench.scale.__main__ as bench
    from e2e.localcluster import faults

    calls: list[dict[str, str]] = []

    def fake_run(options: object, state: object) -> dict[str, object]:
        calls.append(options.controller_env)  # type: ignore[attr-defined]
        if len(calls) == 2:
            raise KeyboardInterrupt  # the operator's Ctrl-C in the second variant
        return {"rollouts": 1000, "rss_mib": 121.5}

    monkeypatch.setattr(bench, "run", fake_run)
    monkeypatch.setattr(faults, "state_of", lambda kubeconfig: object())
    out, logs = tmp_path / "figures.json", tmp_path / "logs"
    argv = ["--kubeconfig", str(tmp_path / "kubeconfig"), "--rollouts", "1000"]
    argv += ["--env", "", "MALLOC_ARENA_MAX=2", "--json", str(out), "--log-dir", str(logs)]
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    assert calls == [{}, {"MALLOC_ARENA_MAX": "2"}]
    (kept,) = json.loads(out.read_text())["runs"]
    assert (kept["rss_mib"], kept["env"]) == (121.5, "default")
    assert json.loads((logs / "1000" / "figures.json").read_text()) == kept
