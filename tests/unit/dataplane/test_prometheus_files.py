"""The Prometheus configuration and file_sd documents, and the missing-binary error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e.prometheus import INSTALL_HINT, Prometheus, PrometheusNotInstalled, find_binary
from e2e.prometheus.config import FILE_SD_REFRESH_INTERVAL, config_document, file_sd_document


def test_file_sd_lists_one_group_per_target_in_address_order() -> None:
    document = json.loads(
        file_sd_document(
            [
                ("127.0.0.1:9002", {"revision": "b", "namespace": "ns", "rollout": "web"}),
                ("127.0.0.1:9001", {"revision": "a", "namespace": "ns", "rollout": "web"}),
            ]
        )
    )
    assert document == [
        {
            "targets": ["127.0.0.1:9001"],
            "labels": {"namespace": "ns", "revision": "a", "rollout": "web"},
        },
        {
            "targets": ["127.0.0.1:9002"],
            "labels": {"namespace": "ns", "revision": "b", "rollout": "web"},
        },
    ]


def test_no_targets_is_an_empty_list() -> None:
    assert json.loads(file_sd_document([])) == []


@pytest.mark.parametrize(
    "target",
    [
        ("127.0.0.1", {}),
        ("127.0.0.1:http", {}),
        ("127.0.0.1:1", {"bad-name": "x"}),
        ("127.0.0.1:1", {"__address__": "x"}),
        ("127.0.0.1:1", {"1st": "x"}),
    ],
)
def test_invalid_targets_are_refused(target: tuple[str, dict[str, str]]) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        file_sd_document([target])


def test_config_reads_targets_from_the_directory_and_keeps_the_apps_labels(
    tmp_path: Path,
) -> None:
    config = json.loads(config_document(targets_dir=tmp_path, scrape_interval="1s"))
    assert config["global"]["scrape_interval"] == "1s"
    assert config["global"]["scrape_timeout"] == "1s"
    (job,) = config["scrape_configs"]
    assert job["honor_labels"] is True
    assert job["file_sd_configs"] == [{"files": [f"{tmp_path}/*.json"], "refresh_interval": "1s"}]
    upstream = json.loads(
        config_document(
            targets_dir=tmp_path, scrape_interval="1s", file_sd_refresh=FILE_SD_REFRESH_INTERVAL
        )
    )
    assert upstream["scrape_configs"][0]["file_sd_configs"][0]["refresh_interval"] == "5m"


def test_targets_are_replaced_atomically_with_a_file_prometheus_never_reads(
    tmp_path: Path,
) -> None:
    prometheus = Prometheus(tmp_path)
    prometheus.set_targets([("127.0.0.1:9001", {"revision": "a"})])
    prometheus.set_targets([("127.0.0.1:9002", {"revision": "b"})])
    prometheus.set_targets([("127.0.0.1:9003", {"revision": "c"})], source="other")
    written = json.loads(prometheus.targets_file().read_text())
    assert written == [{"targets": ["127.0.0.1:9002"], "labels": {"revision": "b"}}]
    names = sorted(p.name for p in prometheus.targets_dir.iterdir())
    assert names == ["default.json", "other.json"]


@pytest.mark.parametrize("source", ["../escape", "a/b", "", ".hidden"])
def test_target_sources_must_be_plain_file_names(tmp_path: Path, source: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        Prometheus(tmp_path).set_targets([], source=source)


def test_a_missing_binary_names_the_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("PROMETHEUS_BINARY", raising=False)
    with pytest.raises(PrometheusNotInstalled, match=INSTALL_HINT):
        find_binary()
    with pytest.raises(PrometheusNotInstalled, match="apt-get install -y prometheus"):
        Prometheus(tmp_path / "work", binary=tmp_path / "nope").start()
