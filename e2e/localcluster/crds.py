"""Third-party CRDs, taken from their upstream Go modules at pinned versions.

A Go module download carries the project's YAML: Gateway API's standard
channel, Istio's networking CRDs and SMI's ``TrafficSplit`` are read straight
from the module cache. The OpenFeature operator's ``apis`` module carries only
its Go types, so its CRDs are generated from them with upstream
``controller-gen``, exactly as the operator's own build does, and cached.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from e2e.localcluster import build, versions


@dataclass(frozen=True, kw_only=True)
class CrdBundle:
    """A named set of CRD manifest files."""

    name: str
    files: tuple[Path, ...]


def gateway_api() -> CrdBundle:
    root = build.module_dir("sigs.k8s.io/gateway-api", versions.GATEWAY_API)
    standard = root / "config" / "crd" / "standard"
    files = tuple(sorted(p for p in standard.glob("gateway.networking.k8s.io_*.yaml")))
    return CrdBundle(name=f"gateway-api {versions.GATEWAY_API} (standard)", files=files)


def istio() -> CrdBundle:
    root = build.module_dir("istio.io/api", versions.ISTIO_API)
    return CrdBundle(
        name=f"istio {versions.ISTIO_API}",
        files=(root / "kubernetes" / "customresourcedefinitions.gen.yaml",),
    )


def smi() -> CrdBundle:
    """SMI publishes ``TrafficSplit`` only as an ``apiextensions.k8s.io/v1beta1`` CRD,
    which API servers stopped serving in 1.22; it is converted mechanically to v1
    (:func:`v1beta1_to_v1`) and cached, its schema and names untouched."""
    root = build.module_dir("github.com/servicemeshinterface/smi-sdk-go", versions.SMI_SDK)
    out = build.cache_root() / "crds" / "smi" / versions.SMI_SDK / "split.yaml"
    if not out.is_file():
        docs = yaml.safe_load_all((root / "crds" / "split.yaml").read_text())
        converted = [v1beta1_to_v1(doc) for doc in docs if isinstance(doc, dict)]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump_all(converted, sort_keys=False))
    return CrdBundle(name=f"smi {versions.SMI_SDK}", files=(out,))


def v1beta1_to_v1(crd: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a v1beta1 CRD in the v1 shape: per-version schema and printer columns."""
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1beta1":
        return crd
    spec = dict(crd["spec"])
    schema = dict(spec.pop("validation", {}).get("openAPIV3Schema", {}))
    schema.setdefault("type", "object")
    columns = [
        {("jsonPath" if key == "JSONPath" else key): value for key, value in column.items()}
        for column in spec.pop("additionalPrinterColumns", [])
    ]
    default_version = spec.pop("version", None)
    listed = spec.pop("versions", None) or [
        {"name": default_version, "served": True, "storage": True}
    ]
    versions_v1 = []
    for version in listed:
        entry = {**version, "schema": {"openAPIV3Schema": schema}}
        if columns:
            entry["additionalPrinterColumns"] = columns
        versions_v1.append(entry)
    spec["versions"] = versions_v1
    return {**crd, "apiVersion": "apiextensions.k8s.io/v1", "spec": spec}


def _controller_gen() -> Path:
    out = build.cache_root() / "controller-tools" / versions.CONTROLLER_TOOLS / "bin"
    binary = out / "controller-gen"
    if binary.is_file():
        return binary
    build._log(f"Building controller-gen {versions.CONTROLLER_TOOLS} …")  # noqa: SLF001
    env = build._go_env() | {"GOBIN": str(out)}  # noqa: SLF001
    env["GOFLAGS"] = env["GOFLAGS"].replace("-mod=mod", "").strip()
    build._run_go(  # noqa: SLF001
        [
            "install",
            "-v",
            f"sigs.k8s.io/controller-tools/cmd/controller-gen@{versions.CONTROLLER_TOOLS}",
        ],
        cwd=build.cache_root(),
        env=env,
        label=f"Building controller-gen {versions.CONTROLLER_TOOLS}",
    )
    return binary


def openfeature() -> CrdBundle:
    version = versions.OPENFEATURE_APIS
    out = build.cache_root() / "crds" / "openfeature" / version
    files = tuple(sorted(out.glob("*.yaml")))
    if not files:
        src = build.module_dir("github.com/open-feature/open-feature-operator/apis", version)
        work = out.with_name(version + ".src")
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(src, work)
        for path in work.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        generated = out.with_name(version + ".partial")
        shutil.rmtree(generated, ignore_errors=True)
        proc = subprocess.run(
            [
                str(_controller_gen()),
                "crd:crdVersions=v1",
                "paths=./core/...",
                f"output:crd:dir={generated}",
            ],
            cwd=work,
            env=build._go_env(),  # noqa: SLF001
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise build.BuildError(f"controller-gen failed:\n{proc.stderr[-3000:]}")
        shutil.rmtree(out, ignore_errors=True)
        generated.rename(out)
        shutil.rmtree(work, ignore_errors=True)
        files = tuple(sorted(out.glob("*.yaml")))
    return CrdBundle(name=f"openfeature-operator apis {version}", files=files)


BUNDLES = {"gateway-api": gateway_api, "istio": istio, "smi": smi, "openfeature": openfeature}


def install(*, kubectl: Path, kubeconfig: Path, names: tuple[str, ...]) -> list[CrdBundle]:
    """Server-side apply the named bundles and wait until their CRDs are Established."""
    installed: list[CrdBundle] = []
    for name in names:
        bundle = BUNDLES[name]()
        args = [str(kubectl), f"--kubeconfig={kubeconfig}"]
        for manifest in bundle.files:
            _kubectl([*args, "apply", "--server-side", "--force-conflicts", "-f", str(manifest)])
        established = crd_names(bundle)
        _kubectl(
            [
                *args,
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                *(f"customresourcedefinition/{crd}" for crd in established),
            ]
        )
        installed.append(bundle)
    return installed


def crd_names(bundle: CrdBundle) -> list[str]:
    """Names of the CustomResourceDefinitions in a bundle's files."""
    names: list[str] = []
    for manifest in bundle.files:
        for doc in yaml.safe_load_all(manifest.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                names.append(doc["metadata"]["name"])
    return names


def _kubectl(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise build.BuildError(f"{' '.join(argv[2:5])} failed: {proc.stderr.strip()}")
