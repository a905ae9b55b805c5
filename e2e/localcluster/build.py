"""Find or build the control-plane binaries.

Lookup order for each binary: ``$KUBEBUILDER_ASSETS`` (the controller-runtime
envtest convention), then ``$PATH`` (except kubectl, see :func:`locate`), then
our cache; only a binary found in none
of them is built, from its official Go module at the pinned version.

``k8s.io/kubernetes`` cannot be ``go install``-ed: its go.mod replaces the
staging modules (``k8s.io/api`` …) with local paths. So we write a small Go
module of our own that requires it and replaces every staging module with its
published ``v0.X.Y`` twin, then ``go build`` the commands from there. etcd's
server module has local-path replaces too and is built the same way; kwok has
none and is built with ``go install``.

The cache lives outside the repository, keyed by version, so it survives fresh
clones and is never rebuilt once present.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from e2e.localcluster import goprogress, versions

KUBE_BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "kubectl",
)
ALL_BINARIES = ("etcd", *KUBE_BINARIES, "kwok")


class BuildError(RuntimeError):
    """A Go build or module download failed; the message carries go's output tail."""


def cache_root() -> Path:
    """``$LANDINGGEAR_CACHE_DIR``, else ``$XDG_CACHE_HOME/landing-gear`` or ``~/.cache/…``."""
    explicit = os.environ.get("LANDINGGEAR_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "landing-gear"


def _bin_dir(component: str, version: str) -> Path:
    return cache_root() / component / version / "bin"


def _cache_location(name: str) -> Path:
    if name in KUBE_BINARIES:
        return _bin_dir("k8s", versions.KUBERNETES) / name
    if name == "etcd":
        return _bin_dir("etcd", versions.ETCD) / name
    if name == "kwok":
        return _bin_dir("kwok", versions.KWOK) / name
    raise KeyError(name)


def _log(message: str, *, tag: str = "localcluster") -> None:
    print(f"[{tag}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True, kw_only=True)
class Binaries:
    """Absolute paths of every binary the local cluster runs."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kube_proxy: Path
    kubectl: Path
    kwok: Path


def locate(name: str) -> Path | None:
    """Where ``name`` already is (assets dir, PATH, cache), or None."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and (Path(assets) / name).is_file():
        return Path(assets) / name
    # kubectl is taken only from the assets dir or our cache: a kubectl on PATH is
    # often years older than the pinned server (outside the ±1 minor skew policy),
    # or a cloud SDK's dispatcher that tries to download its own components.
    on_path = shutil.which(name) if name != "kubectl" else None
    if on_path:
        return Path(on_path)
    cached = _cache_location(name)
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    return None


def ensure_binaries() -> Binaries:
    """Return every binary, building those that are missing."""
    missing = [name for name in ALL_BINARIES if locate(name) is None]
    missing_kube = tuple(name for name in KUBE_BINARIES if name in missing)
    if missing_kube:
        build_kubernetes(missing_kube)
    if "etcd" in missing:
        build_etcd()
    if "kwok" in missing:
        build_kwok()
    found = {name: locate(name) for name in ALL_BINARIES}
    absent = [name for name, path in found.items() if path is None]
    if absent:
        raise BuildError(f"binaries still missing after build: {', '.join(absent)}")
    paths = {name.replace("-", "_"): path for name, path in found.items() if path is not None}
    return Binaries(**paths)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env["GOFLAGS"] = " ".join(filter(None, [env.get("GOFLAGS", ""), "-mod=mod"])).strip()
    return env


def _run_go(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    label: str | None = None,
    tag: str = "localcluster",
) -> str:
    """Run go, saying on stderr at least every 30 s what it is doing (see goprogress)."""
    go = shutil.which("go")
    if go is None:
        raise BuildError("the Go toolchain ('go') is not on PATH; install Go >= 1.26 (see README)")
    cwd.mkdir(parents=True, exist_ok=True)
    done = goprogress.run(
        [go, *args],
        cwd=cwd,
        env=env or _go_env(),
        label=label or f"go {' '.join(args[:2])}",
        say=lambda message: _log(message, tag=tag),
        every=goprogress.EVERY,
    )
    if done.returncode != 0:
        tail = "\n".join(done.tail)
        raise BuildError(f"go {' '.join(args[:3])} … failed in {cwd}:\n{tail}")
    return done.stdout


def _download(module: str, version: str) -> dict[str, str]:
    out = _run_go(
        ["mod", "download", "-json", f"{module}@{version}"],
        cwd=cache_root(),
        label=f"Downloading {module}@{version}",
    )
    info: dict[str, str] = json.loads(out)
    if info.get("Error"):
        raise BuildError(f"{module}@{version}: {info['Error']}")
    return info


def module_dir(module: str, version: str) -> Path:
    """Download ``module@version`` into the Go module cache and return its directory."""
    return Path(_download(module, version)["Dir"])


def _module_gomod(module: str, version: str) -> str:
    return Path(_download(module, version)["GoMod"]).read_text()


_LOCAL_REPLACE = re.compile(r"^\s*(?:replace\s+)?(\S+)\s*=>\s*\.\.?/\S*\s*$", re.MULTILINE)


def local_replaces(gomod: str) -> list[str]:
    """Module paths an upstream go.mod replaces with local directories."""
    return _LOCAL_REPLACE.findall(gomod)


def _go_directive(gomod: str) -> str:
    match = re.search(r"^go\s+(\S+)\s*$", gomod, re.MULTILINE)
    return match.group(1) if match else "1.26"


def write_wrapper_module(
    *,
    directory: Path,
    name: str,
    go_version: str,
    require: tuple[str, str],
    replaces: dict[str, str],
    packages: list[str],
) -> None:
    """Write go.mod and a tools.go that imports the ``main`` packages to build."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"module {name}", "", f"go {go_version}", "", f"require {require[0]} {require[1]}", ""]
    if replaces:
        lines.append("replace (")
        lines.extend(f"\t{mod} => {mod} {ver}" for mod, ver in sorted(replaces.items()))
        lines.append(")")
    (directory / "go.mod").write_text("\n".join(lines) + "\n")
    imports = "\n".join(f'\t_ "{pkg}"' for pkg in packages)
    (directory / "tools.go").write_text(
        f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"
    )


def _build(
    *,
    label: str,
    workdir: Path,
    packages: list[str],
    out: Path,
    ldflags: str = "-s -w",
    binary_name: str | None = None,
) -> None:
    """``go build`` the packages into ``out``; ``binary_name`` names a single package's output."""
    _log(f"Resolving Go modules for {label} …")
    _run_go(["mod", "tidy"], cwd=workdir, label=f"Resolving Go modules for {label}")
    _log(f"Building {label} (cold: several minutes on 2 cores; cached afterwards in {out}) …")
    started = time.monotonic()
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    target = staging / binary_name if binary_name else f"{staging}/"
    _run_go(
        ["build", "-v", "-trimpath", f"-ldflags={ldflags}", "-o", str(target), *packages],
        cwd=workdir,
        label=f"Building {label}",
    )
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)  # atomic: a half-built cache is never mistaken for a built one
    _log(f"Built {label} in {time.monotonic() - started:.0f}s")


def build_kubernetes(names: tuple[str, ...] = KUBE_BINARIES) -> None:
    """Build the commands ``names`` of ``k8s.io/kubernetes``; binaries already in the
    cache stay where they are (a running cluster may be executing them)."""
    version = versions.KUBERNETES
    gomod = _module_gomod("k8s.io/kubernetes", version)
    staging = dict.fromkeys(local_replaces(gomod), versions.KUBERNETES_STAGING)
    workdir = cache_root() / "k8s" / version / "src"
    write_wrapper_module(
        directory=workdir,
        name="landinggear.dev/localcluster/k8s",
        go_version=_go_directive(gomod),
        require=("k8s.io/kubernetes", version),
        replaces=staging,
        packages=[f"k8s.io/kubernetes/cmd/{b}" for b in KUBE_BINARIES],
    )
    major, minor = version.lstrip("v").split(".")[:2]
    stamp = " ".join(
        f"-X {pkg}.{key}={val}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, val in (("gitVersion", version), ("gitMajor", major), ("gitMinor", minor))
    )
    out = _bin_dir("k8s", version)
    built = out.with_name(out.name + ".new")
    _build(
        label=f"Kubernetes {version} ({', '.join(names)})",
        workdir=workdir,
        packages=[f"k8s.io/kubernetes/cmd/{b}" for b in names],
        out=built,
        ldflags=f"-s -w {stamp}",
        binary_name=names[0] if len(names) == 1 else None,
    )
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        (built / name).replace(out / name)  # one rename per binary: never half-written
    shutil.rmtree(built, ignore_errors=True)


def build_etcd() -> None:
    version = versions.ETCD
    module = "go.etcd.io/etcd/server/v3"
    gomod = _module_gomod(module, version)
    workdir = cache_root() / "etcd" / version / "src"
    write_wrapper_module(
        directory=workdir,
        name="landinggear.dev/localcluster/etcd",
        go_version=_go_directive(gomod),
        require=(module, version),
        replaces={
            mod: version
            for mod in local_replaces(gomod)
            # etcd's own multi-module layout; it also "replaces" modules it forbids
            # (go.etcd.io/etcd, go.etcd.io/tests/v3) with a bogus path: leave those out.
            if mod.startswith("go.etcd.io/etcd/") and mod.endswith("/v3")
        },
        packages=[module],
    )
    _build(
        label=f"etcd {version}",
        workdir=workdir,
        packages=[module],
        out=_bin_dir("etcd", version),
        binary_name="etcd",  # `go build` would name it "server", after the module path
    )


def go_install(
    *,
    label: str,
    packages: list[str],
    out: Path,
    ldflags: str = "-s -w",
    tag: str = "localcluster",
    build_tags: Sequence[str] = (),
) -> None:
    """``go install`` each ``module/cmd@version`` of ``packages`` into ``out``
    (with Go ``build_tags``, if any).

    For modules without local-path replaces. The binaries land in ``out.partial``
    first, which is renamed to ``out`` only once all of them are built, so a
    half-built cache is never mistaken for a built one. Progress goes to stderr.
    """
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _log(f"Building {label} (cold: minutes; cached afterwards in {out}) …", tag=tag)
    started = time.monotonic()
    env = _go_env() | {"GOBIN": str(staging)}
    env["GOFLAGS"] = env["GOFLAGS"].replace("-mod=mod", "").strip()
    _run_go(
        [
            "install",
            "-v",
            "-trimpath",
            *([f"-tags={','.join(build_tags)}"] if build_tags else []),
            f"-ldflags={ldflags}",
            *packages,
        ],
        cwd=cache_root(),
        env=env,
        label=f"Building {label}",
        tag=tag,
    )
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    _log(f"Built {label} in {time.monotonic() - started:.0f}s", tag=tag)


def build_kwok() -> None:
    version = versions.KWOK
    go_install(
        label=f"kwok {version}",
        packages=[f"sigs.k8s.io/kwok/cmd/kwok@{version}"],
        out=_bin_dir("kwok", version),
    )


KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)
"""The stages ``kwokctl`` itself configures by default (nodes Ready at once with a
Lease heartbeat; pods Ready at once, completed, deleted), read from kwok's module."""


def kwok_stages() -> str:
    """kwok's upstream default Stage manifests as one multi-document YAML config."""
    root = module_dir("sigs.k8s.io/kwok", versions.KWOK)
    return "\n---\n".join((root / stage).read_text() for stage in KWOK_STAGES)
