"""The local Debian base (mmdebstrap) and the controller image (buildah), cached.

The base is keyed by what makes it (suite, mirror, packages, mmdebstrap's
version): its tarball is kept under ``<cache>/image/base/<key>/`` and imported once
into the container storage. The image is tagged with a digest of the files the
Dockerfile reads (and the base), so an unchanged tree is not rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from e2e.image import progress
from e2e.localcluster.build import cache_root
from e2e.locking import named_lock

__all__ = [
    "BASE_PACKAGES",
    "ROOT",
    "base_key",
    "buildah",
    "ensure_base",
    "ensure_image",
    "image_key",
    "podman",
]

ROOT = Path(__file__).resolve().parents[2]

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
"""What the Dockerfile may count on in its base, and nothing more."""
_TRIM = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*")
"""Left out of the base: no program reads them, and vfs copies every byte per layer."""

IMAGE_INPUTS = (
    "Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "README.md",
    "requirements.lock",
    "controller",
)
"""What the build reads from the repository (the ``.dockerignore`` lets in no more)."""

BASE_REPO = "localhost/landinggear-base"
IMAGE_REPO = "localhost/landinggear"

Say = Callable[[str], None]


def _say(message: str) -> None:
    print(f"[image] {message}", file=sys.stderr, flush=True)


def storage_args() -> list[str]:
    """containers/storage outside the repository, shared by buildah and podman."""
    where = cache_root() / "containers"
    return [
        f"--root={where / 'storage'}",
        f"--runroot={where / 'run'}",
        "--storage-driver=vfs",
    ]


def buildah(*args: str) -> list[str]:
    return ["buildah", *storage_args(), *args]


def podman(*args: str) -> list[str]:
    """podman as it works here: Debian's runc (crun fails on this cgroup set-up)."""
    return [
        "podman",
        *storage_args(),
        "--runtime=runc",
        "--cgroup-manager=cgroupfs",
        "--events-backend=file",
        *args,
    ]


def _trust_store() -> Path | None:
    """The CA bundle pip trusts here (a TLS-inspecting proxy's CA may be in it only)."""
    for candidate in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _exists(image: str) -> bool:
    found = subprocess.run(podman("image", "exists", image), capture_output=True, check=False)
    return found.returncode == 0


def _mmdebstrap_version() -> str:
    done = subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def base_key(*, mmdebstrap_version: str) -> str:
    """The base's cache key: a digest of everything that decides its content."""
    inputs = {
        "suite": SUITE,
        "mirror": MIRROR,
        "variant": "minbase",
        "packages": sorted(BASE_PACKAGES),
        "trim": _TRIM,
        "mmdebstrap": mmdebstrap_version,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def ensure_base(say: Say = _say) -> str:
    """The local base image's name, made (mmdebstrap) and imported if missing."""
    key = base_key(mmdebstrap_version=_mmdebstrap_version())
    name = f"{BASE_REPO}:{key}"
    cache = cache_root() / "image"
    with named_lock(cache, "base"):
        tarball = cache / "base" / key / "rootfs.tar"
        if not tarball.is_file():
            tarball.parent.mkdir(parents=True, exist_ok=True)
            staging = tarball.with_suffix(".partial.tar")
            started = time.monotonic()
            say(f"Making the Debian {SUITE} base with {', '.join(BASE_PACKAGES)} (mmdebstrap) …")
            progress.run(
                [
                    "mmdebstrap",
                    "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}",
                    *(f"--dpkgopt=path-exclude={path}" for path in _TRIM),
                    SUITE,
                    str(staging),
                    MIRROR,
                ],
                label="mmdebstrap",
                say=say,
            )
            staging.rename(tarball)  # a half-made tarball is never taken for a made one
            say(f"Made the base in {time.monotonic() - started:.0f}s: {tarball}")
        if not _exists(name):
            progress.run(podman("import", str(tarball), name), label="podman import", say=say)
            say(f"Imported the base as {name}")
    return name


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def image_key(*, base: str, root: Path = ROOT) -> str:
    """A digest of the base's name and every file the build reads."""
    digest = hashlib.sha256(base.encode())
    for name in IMAGE_INPUTS:
        for path in _files(root / name):
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def ensure_image(say: Say = _say) -> str:
    """The controller image's name, built from the Dockerfile on the local base if
    this tree's is missing; older builds of it are removed."""
    base = ensure_base(say)
    name = f"{IMAGE_REPO}:{image_key(base=base)}"
    with named_lock(cache_root() / "image", "build"):
        if _exists(name):
            return name
        started = time.monotonic()
        say(f"Building {name} with buildah on {base} …")
        trust = _trust_store()
        progress.run(
            buildah(
                "bud",
                "--isolation=chroot",
                "--pull=never",
                f"--build-arg=BUILD_BASE={base}",
                f"--build-arg=RUNTIME_BASE={base}",
                *([f"--secret=id=pip-ca,src={trust}"] if trust else []),
                f"--tag={name}",
                f"--file={ROOT / 'Dockerfile'}",
                str(ROOT),
            ),
            label="buildah bud",
            say=say,
        )
        say(f"Built {name} in {time.monotonic() - started:.0f}s")
        _remove_older(keep=name, say=say)
    return name


def _remove_older(*, keep: str, say: Say) -> None:
    listed = subprocess.run(
        podman("images", "--format={{.Repository}}:{{.Tag}}", IMAGE_REPO),
        capture_output=True,
        text=True,
        check=False,
    )
    for image in listed.stdout.split():
        if image != keep and image.startswith(f"{IMAGE_REPO}:"):
            subprocess.run(podman("rmi", "--force", image), capture_output=True, check=False)
            say(f"Removed the older build {image}")
