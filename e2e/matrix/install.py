"""The pinned Synapse homeserver, installed once from PyPI into its own virtualenv.

Synapse (``matrix-synapse``) brings Twisted and some sixty other packages, so it
never goes into the project's ``.venv``: :func:`ensure_installed` creates a
separate virtualenv with the interpreter running this code (``sys.executable -m
venv``) under ``~/.cache/landing-gear/synapse/<hash>/`` and ``pip install``-s the
lock file beside this module into it, the first time, and reuses it after.

The lock file: ``requirements.in`` names the one pin (``matrix-synapse==1.163.2``);
``requirements.txt`` is its whole dependency closure resolved for CPython 3.11 on
Linux, every package ``==``-pinned with the sha256 of each of its PyPI files
(pip-tools' ``pip-compile --generate-hashes``), installed with ``--require-hashes``
so pip refuses anything unpinned or altered. To move to a newer Synapse, edit
``requirements.in`` and regenerate with the command in ``requirements.txt``'s header
(pip-tools in a throwaway virtualenv; it is not a project dependency).

The cache key hashes ``requirements.txt`` and the base interpreter (its prefix and
version), so a changed lock file or a different Python installs afresh. Installs are
serialised with a lock file; a half-finished one (no ``.complete`` marker) is
removed and redone. Measured cold (empty cache, pip's cache off): 50 s on an idle
machine, 57 s under the load of other test suites, almost all of it downloading and
unpacking the 59 packages; warm: nothing to do (a file check).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from e2e.localcluster.build import cache_root
from e2e.locking import named_lock

__all__ = ["VERSION", "SynapseInstall", "ensure_installed"]

HERE = Path(__file__).parent
REQUIREMENTS = HERE / "requirements.txt"
VERSION = "1.163.2"


class SynapseInstall:
    """An installed Synapse: the virtualenv's folder and its Python."""

    def __init__(self, venv: Path) -> None:
        self.venv = venv

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def __repr__(self) -> str:
        return f"SynapseInstall({str(self.venv)!r})"


def _digest() -> str:
    """The cache key: the lock file and the interpreter the virtualenv is built on."""
    interpreter = f"{sys.base_prefix}\0{sys.version}".encode()
    return hashlib.sha256(REQUIREMENTS.read_bytes() + b"\0" + interpreter).hexdigest()[:16]


def _log(message: str) -> None:
    print(f"[synapse] {message}", file=sys.stderr, flush=True)


def ensure_installed() -> SynapseInstall:
    """The virtualenv holding Synapse ``VERSION``, created and filled if missing."""
    root = cache_root() / "synapse"
    target = root / _digest()
    install = SynapseInstall(target / "venv")
    if (target / ".complete").exists():
        return install
    with named_lock(root, "install"):
        if (target / ".complete").exists():
            return install
        started = time.monotonic()
        _log(f"installing matrix-synapse {VERSION} into {target} (once; about a minute)")
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copyfile(REQUIREMENTS, target / "requirements.txt")
        _run([sys.executable, "-m", "venv", str(install.venv)], what="python -m venv")
        _run(
            [str(install.python), "-m", "pip", "install", "--quiet", "--require-hashes",
             "--no-input", "-r", str(target / "requirements.txt")],
            what=f"pip install of matrix-synapse {VERSION}",
        )  # fmt: skip
        (target / ".complete").touch()
        _log(f"installed matrix-synapse {VERSION} in {time.monotonic() - started:.1f}s")
    return install


def _run(command: list[str], *, what: str) -> None:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)  # the project's modules stay out of Synapse's interpreter
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{(done.stdout + done.stderr)[-2000:]}")
