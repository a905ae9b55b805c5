"""One module of an older checkout's tree, loaded beside this tree's: a bench's
baseline (``--before CHECKOUT``) measured in the same process as the change."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["load_from"]


def load_from(path: Path, name: str, *, missing: str) -> ModuleType:
    """The module at ``path`` as ``name``; ``SystemExit`` with ``missing`` and the path
    when there is none. Its imports of ``controller`` resolve to this tree."""
    spec = importlib.util.spec_from_file_location(name, path)
    if not path.is_file() or spec is None or spec.loader is None:
        raise SystemExit(f"{missing} at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
