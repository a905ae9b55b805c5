"""Pure parts of the control-plane builder: go.mod rewriting and binary lookup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from e2e.localcluster import build, versions

UPSTREAM_GOMOD = """module k8s.io/kubernetes

go 1.26.0

require (
\tk8s.io/api v0.0.0
\tgo.etcd.io/etcd/client/v3 v3.6.8
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tgithub.com/example/fork => github.com/example/fork v1.2.3
)

replace go.etcd.io/etcd/api/v3 => ../api
"""


def test_local_replaces_lists_only_path_replacements() -> None:
    assert build.local_replaces(UPSTREAM_GOMOD) == [
        "k8s.io/api",
        "k8s.io/client-go",
        "go.etcd.io/etcd/api/v3",
    ]


def test_wrapper_module_pins_every_replacement_to_a_published_version(tmp_path: Path) -> None:
    build.write_wrapper_module(
        directory=tmp_path,
        name="example.dev/wrapper",
        go_version="1.26.0",
        require=("k8s.io/kubernetes", versions.KUBERNETES),
        replaces={"k8s.io/api": "v0.36.3", "k8s.io/client-go": "v0.36.3"},
        packages=["k8s.io/kubernetes/cmd/kube-apiserver"],
    )
    gomod = (tmp_path / "go.mod").read_text()
    assert "module example.dev/wrapper\n" in gomod
    assert f"require k8s.io/kubernetes {versions.KUBERNETES}\n" in gomod
    assert "\tk8s.io/api => k8s.io/api v0.36.3\n" in gomod
    assert "\tk8s.io/client-go => k8s.io/client-go v0.36.3\n" in gomod
    assert "./staging" not in gomod
    tools = (tmp_path / "tools.go").read_text()
    assert tools.startswith("//go:build tools\n")
    assert '_ "k8s.io/kubernetes/cmd/kube-apiserver"' in tools


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LANDINGGEAR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    return tmp_path


def test_kubebuilder_assets_win_over_path_and_cache(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assets = _executable(isolated / "assets" / "etcd")
    _executable(isolated / "path" / "etcd")
    _executable(isolated / "cache" / "etcd" / versions.ETCD / "bin" / "etcd")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets.parent))
    assert build.locate("etcd") == assets


def test_path_wins_over_cache_for_control_plane_binaries(isolated: Path) -> None:
    on_path = _executable(isolated / "path" / "kube-apiserver")
    _executable(isolated / "cache" / "k8s" / versions.KUBERNETES / "bin" / "kube-apiserver")
    assert build.locate("kube-apiserver") == on_path


def test_kubectl_on_path_is_ignored_in_favour_of_the_pinned_build(isolated: Path) -> None:
    _executable(isolated / "path" / "kubectl")
    pinned = _executable(isolated / "cache" / "k8s" / versions.KUBERNETES / "bin" / "kubectl")
    assert build.locate("kubectl") == pinned


def test_missing_binary_is_reported_as_missing(isolated: Path) -> None:
    assert build.locate("kwok") is None
    assert not os.path.exists(isolated / "cache" / "kwok")


def test_cache_is_keyed_by_version(isolated: Path) -> None:
    for name in build.ALL_BINARIES:
        location = build._cache_location(name)
        assert location.is_relative_to(isolated / "cache")
        assert location.parent.parent.name in {versions.KUBERNETES, versions.ETCD, versions.KWOK}
