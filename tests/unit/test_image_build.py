"""e2e.image: the heartbeat of a long build, and what decides a rebuild."""

from __future__ import annotations

import itertools
import shutil
import sys
from pathlib import Path

import pytest

from e2e.image import progress
from e2e.image.build import IMAGE_INPUTS, ROOT, image_key
from e2e.image.progress import CommandFailed, Heartbeat

pytestmark = pytest.mark.unit


def test_a_heartbeat_comes_every_20_s_with_the_last_line_seen() -> None:
    beat = Heartbeat(label="buildah bud", started=100.0)
    beat.seen("STEP 1/8: FROM base")
    assert beat.due(119.0) is None
    beat.seen("STEP 4/8: RUN pip install")
    assert beat.due(120.0) == "buildah bud: 20s elapsed; last: STEP 4/8: RUN pip install"
    assert beat.due(139.0) is None
    assert beat.due(140.5) == "buildah bud: 40s elapsed (no output since the last report)"


def test_a_failed_command_raises_with_its_last_lines() -> None:
    said: list[str] = []
    with pytest.raises(CommandFailed, match=r"exit 3[\s\S]*the reason"):
        progress.run(
            [sys.executable, "-c", "print('working'); print('the reason'); raise SystemExit(3)"],
            label="job",
            say=said.append,
        )


def test_a_long_command_is_reported_while_it_runs() -> None:
    said: list[str] = []
    ticks = itertools.count(step=15.0)  # each look at the clock: 15 s later
    progress.run(
        [sys.executable, "-c", "for i in range(4): print('step', i, flush=True)"],
        label="job",
        say=said.append,
        clock=lambda: next(ticks),
    )
    assert said, "no heartbeat during a command longer than the interval"
    assert said[0].startswith("job: 30s elapsed; last: step ")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in IMAGE_INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def test_the_image_is_rebuilt_when_a_source_or_the_base_changes(tree: Path) -> None:
    before = image_key(base="b:1", root=tree)
    assert image_key(base="b:2", root=tree) != before
    (tree / "controller" / "__init__.py").write_text("# changed\n", encoding="utf-8")
    assert image_key(base="b:1", root=tree) != before


def test_bytecode_and_files_outside_the_build_do_not_rebuild_it(tree: Path) -> None:
    before = image_key(base="b:1", root=tree)
    cache = tree / "controller" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "x.cpython-311.pyc").write_bytes(b"\0")
    (tree / "tests").mkdir()
    (tree / "tests" / "test_x.py").write_text("", encoding="utf-8")
    assert image_key(base="b:1", root=tree) == before
