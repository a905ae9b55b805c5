"""The one-click path stays light: the verbs never import pydantic, the ``kubernetes``
client, urllib3 or structlog (``e2e.bench.cli_startup`` measures what that is worth)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
HEAVY = ("pydantic", "pydantic_settings", "kubernetes", "urllib3", "structlog", "httpx")

_PROBE = """
import json, sys
from controller.cli import api, arguments, commands, kubeconfig, session, transport, watch
arguments.build_parser()
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_the_verbs_and_the_parser_import_no_heavy_package() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )

    loaded = set(json.loads(done.stdout))
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    assert "controller" in loaded  # the probe did import the command line
