"""Build upstream Prometheus and promtool from their Go module, for kubernetes_sd.

Debian's ``prometheus`` (2.42.0+ds) is built without ``kubernetes_sd_configs``,
so a config that discovers pods through the API server needs upstream's binary.
``ensure()`` returns it, building ``cmd/prometheus`` and ``cmd/promtool`` of the
pinned module version with ``go install`` on first use (several minutes cold),
into ``<cache>/prometheus/<version>/bin/`` (``build.cache_root()``, outside the
repository), where it is found ever after. A lock file serialises concurrent
builds of one version.

Built with :data:`BUILD_TAGS`: of the service discoveries only kubernetes_sd and
the ones upstream always keeps (file, static, http, dns…) are compiled in, which
cuts the cold build from ~20 min (measured 20 min 12 s, every cloud SDK
downloaded and compiled) to ~5 min on 2 cores. Without the ``builtinassets`` tag
the web UI is not embedded; the HTTP API (``/-/ready``, ``/api/v1/…``) is complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from e2e.localcluster import build
from e2e.locking import named_lock

__all__ = ["MODULE", "RELEASE", "VERSION", "Built", "bin_dir", "ensure", "locate"]

MODULE: Final = "github.com/prometheus/prometheus"
VERSION: Final = "v0.316.0"
"""The Go module version: Prometheus ``v3.X.Y`` is tagged ``v0.3XX.Y`` for Go."""
RELEASE: Final = "3.16.0"
"""The Prometheus release :data:`VERSION` is, stamped into ``--version``."""
BUILD_TAGS: Final = ("remove_all_sd", "enable_kubernetes_sd")
"""Upstream's own switches (``plugins/plugin_*.go``): drop every optional service
discovery but kubernetes_sd."""
FLAVOUR: Final = "kubernetes-sd"
"""Names the cache folder, so a binary built with other tags is never taken for it."""


@dataclass(frozen=True, kw_only=True)
class Built:
    """Absolute paths of the built binaries."""

    prometheus: Path
    promtool: Path


def bin_dir() -> Path:
    return build.cache_root() / "prometheus" / f"{VERSION}-{FLAVOUR}" / "bin"


def locate() -> Built | None:
    """The cached binaries of :data:`VERSION`, or None if either is missing."""
    found = Built(prometheus=bin_dir() / "prometheus", promtool=bin_dir() / "promtool")
    if all(os.access(path, os.X_OK) for path in (found.prometheus, found.promtool)):
        return found
    return None


def ensure() -> Built:
    """The cached binaries, built first if missing (progress goes to stderr).

    Raises ``build.BuildError`` with go's output tail if the build fails.
    """
    found = locate()
    if found is not None:
        return found
    with named_lock(bin_dir().parent.parent, f"build-{VERSION}"):
        found = locate()  # another process may have built it while we waited
        if found is not None:
            return found
        stamp = f"-X github.com/prometheus/common/version.Version={RELEASE}"
        build.go_install(
            label=f"Prometheus {RELEASE} ({MODULE}@{VERSION}: prometheus, promtool)",
            packages=[f"{MODULE}/cmd/{cmd}@{VERSION}" for cmd in ("prometheus", "promtool")],
            out=bin_dir(),
            ldflags=f"-s -w {stamp}",
            tag="prometheus",
            build_tags=BUILD_TAGS,
        )
    found = locate()
    if found is None:
        raise build.BuildError(f"Prometheus still missing in {bin_dir()} after the build")
    return found
