"""``watch --until-done`` follows the Rollout live and exits with its outcome."""

from __future__ import annotations

import subprocess
import time

from tests.cluster.cli.conftest import Cli

PROGRESSING = {
    "phase": "Progressing",
    "observedGeneration": 1,
    "currentStepIndex": 0,
    "canaryWeight": 20,
    "stableRevision": "b5c7d9f2xz",
    "canaryRevision": "q8r4t6v2wz",
    "replicas": 4,
}


def _started(watch: subprocess.Popen[str]) -> str:
    """The first frame's first line, once the watch has drawn it."""
    assert watch.stdout is not None
    return watch.stdout.readline()


def _drawn(watch: subprocess.Popen[str], text: str) -> None:
    """Read the watch's output until a line containing ``text`` is drawn."""
    assert watch.stdout is not None
    while text not in (line := watch.stdout.readline()):
        assert line, f"the watch ended without drawing {text!r}"


def test_until_done_exits_0_once_the_rollout_becomes_healthy(cli: Cli) -> None:
    cli.create_rollout(status=PROGRESSING)
    assert cli.run("promote", "web").returncode == 0
    watch = cli.popen("watch", "web", "--until-done", "--timeout", "30s")
    assert _started(watch) == f"Rollout {cli.namespace}/web: Progressing\n"

    _drawn(watch, "PromoteRequested")

    cli.set_status("web", {"currentStepIndex": 2, "canaryWeight": 50})
    _drawn(watch, "Step: 3/4 (set weight 50%)   Weight: canary 50% / stable 50%")
    cli.set_status("web", {"phase": "Healthy", "canaryRevision": None, "canaryWeight": 0})
    out, err = watch.communicate(timeout=30)

    assert watch.returncode == 0, err
    last_frame = out.rstrip().split("\n\n")[-1]
    assert last_frame.startswith(f"Rollout {cli.namespace}/web: Healthy\n")


def test_until_done_exits_3_once_the_rollout_is_degraded(cli: Cli) -> None:
    cli.create_rollout(status=PROGRESSING)
    watch = cli.popen("watch", "web", "--until-done", "--timeout", "30s")
    _started(watch)

    cli.set_status("web", {"phase": "Degraded", "message": "Aborted by alice"})
    _, err = watch.communicate(timeout=30)

    assert watch.returncode == 3, err


def test_until_done_gives_up_after_the_timeout(cli: Cli) -> None:
    cli.create_rollout(status=PROGRESSING)
    started = time.monotonic()

    done = cli.run("watch", "web", "--until-done", "--timeout", "1s")

    assert done.returncode == 1
    assert done.stderr == f"error: timed out watching rollout {cli.namespace}/web\n"
    assert time.monotonic() - started < 15


def test_until_done_tells_a_usage_error_from_an_outcome(cli: Cli) -> None:
    cli.create_rollout(status={**PROGRESSING, "phase": "Degraded"})

    done = cli.run("watch", "web", "--until-done", "--timeout", "soon")

    assert done.returncode == 2
    assert "invalid duration 'soon'" in done.stderr


def test_watching_a_missing_rollout_fails_at_once(cli: Cli) -> None:
    done = cli.run("watch", "nope")

    assert (done.returncode, done.stderr) == (1, f"error: rollout {cli.namespace}/nope not found\n")


def test_watch_ends_when_the_rollout_is_deleted(cli: Cli) -> None:
    cli.create_rollout(status=PROGRESSING)
    watch = cli.popen("watch", "web", "--timeout", "30s")
    _started(watch)

    cli.kube.kubectl("delete", "rollout", "web", "-n", cli.namespace)
    _, err = watch.communicate(timeout=30)

    assert watch.returncode == 1
    assert err == f"error: rollout {cli.namespace}/web was deleted\n"
