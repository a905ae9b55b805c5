"""checkov over what ``kubectl apply -k`` installs: every kustomization, rendered.

``python -m e2e.checkov`` prints checkov's findings and exits 1 on any failed
check. checkov runs from its own virtualenv under the cache
(``~/.cache/landing-gear/checkov/<version>``, made on first use): its many
dependencies stay out of the project's. Findings kept on purpose are skipped in
the manifests themselves (``checkov.io/skipN`` annotations, each with its reason)
and listed in the README.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.localcluster import build
from e2e.locking import named_lock

__all__ = ["INSTALLS", "VERSION", "Findings", "ensure", "scan"]

VERSION = "3.3.30"
ROOT = Path(__file__).parents[2]
INSTALLS = ("manifests", "manifests/namespaced", "manifests/chatops", "manifests/chatops-matrix")
"""The kustomizations a cluster admin applies."""


@dataclass(frozen=True, kw_only=True)
class Findings:
    passed: int
    failed: list[str]
    """``CHECK_ID kind/namespace/name: title`` of each failed check."""
    skipped: list[str]
    """``CHECK_ID resource: reason`` of each check skipped by an annotation."""


def ensure() -> Path:
    """checkov's executable, installing it into its own virtualenv on first use."""
    home = build.cache_root() / "checkov" / VERSION
    installed = home / ".installed"  # written once pip succeeded: no half-made venv is used
    with named_lock(build.cache_root() / "checkov", VERSION):
        if not installed.exists():
            print(
                f"[checkov] installing checkov {VERSION} into {home} (4 min cold)", file=sys.stderr
            )
            venv.create(home, with_pip=True, clear=True)
            subprocess.run(
                [str(home / "bin" / "pip"), "install", "--quiet", f"checkov=={VERSION}"],
                check=True,
            )
            installed.touch()
    return home / "bin" / "checkov"


def _render(kubectl: Path, into: Path) -> None:
    for install in INSTALLS:
        text = subprocess.run(
            [str(kubectl), "kustomize", str(ROOT / install)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        (into / (install.replace("/", "_") + ".yaml")).write_text(text)


def scan() -> Findings:
    """Render every install and run checkov's Kubernetes checks on the result."""
    exe, kubectl = ensure(), build.ensure_binaries().kubectl
    with tempfile.TemporaryDirectory(prefix="lg-checkov-") as tmp:
        rendered = Path(tmp)
        _render(kubectl, rendered)
        proc = subprocess.run(
            [str(exe), "--directory", str(rendered), "--framework", "kubernetes",
             "--output", "json", "--skip-download"],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise RuntimeError(f"checkov failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    report: Any = json.loads(proc.stdout)
    results = (report[0] if isinstance(report, list) else report)["results"]
    return Findings(
        passed=len(results["passed_checks"]),
        failed=[
            f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in results["failed_checks"]
        ],
        skipped=[
            f"{c['check_id']} {c['resource']}: {_reason(c)}" for c in results["skipped_checks"]
        ],
    )


def _reason(check: dict[str, Any]) -> str:
    return str((check.get("check_result") or {}).get("suppress_comment", ""))


def main() -> int:
    found = scan()
    for line in found.skipped:
        print(f"skipped  {line}")
    for line in found.failed:
        print(f"FAILED   {line}")
    print(f"checkov {VERSION}: {found.passed} passed, {len(found.failed)} failed, "
          f"{len(found.skipped)} skipped on purpose")  # fmt: skip
    return 1 if found.failed else 0
