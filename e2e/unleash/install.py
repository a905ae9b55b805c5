"""The pinned ``unleash-server``, installed once from npm into the harness cache.

``package.json`` and ``package-lock.json`` beside this module pin it (7.5.1: the
newest release whose ``engines`` allow Node 20, the Node this machine has;
7.6 and later need Node 22). ``ensure_installed`` runs ``npm ci`` into
``~/.cache/landing-gear/unleash/<hash of the lock file>/`` the first time and
reuses it after, so a changed lock file installs afresh. Installs are
serialised with a lock, and a half-finished one is never used.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from e2e.localcluster.build import cache_root
from e2e.locking import named_lock

__all__ = ["VERSION", "ensure_installed"]

HERE = Path(__file__).parent
VERSION = "7.5.1"


def ensure_installed() -> Path:
    """The ``node_modules`` folder holding ``unleash-server``, installed if missing."""
    lock = (HERE / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock + (HERE / "package.json").read_bytes()).hexdigest()[:16]
    root = cache_root() / "unleash"
    target = root / digest
    modules = target / "node_modules"
    if (target / ".complete").exists():
        return modules
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not on PATH; install Node.js 20 and npm")
    with named_lock(root, "install"):
        if (target / ".complete").exists():
            return modules
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(HERE / name, target / name)
        done = subprocess.run(
            ["npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"],
            check=False,
            cwd=target,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm ci of unleash-server {VERSION} failed:\n{done.stderr[-2000:]}")
        (target / ".complete").touch()
    return modules
