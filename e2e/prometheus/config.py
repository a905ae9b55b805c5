"""Pure documents for a local Prometheus: its configuration and file_sd target lists.

The configuration is written as JSON, which is valid YAML, so no YAML library is
needed. Scraped labels win over target labels (``honor_labels``): the demo apps
already label their series with ``revision``, and without it Prometheus would
rename theirs to ``exported_revision``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.core.revisions import REVISION_LABEL

__all__ = [
    "DISCOVERY_RELOAD_INTERVAL",
    "FILE_SD_REFRESH_INTERVAL",
    "JOB_NAME",
    "PODS_JOB_NAME",
    "SCRAPE_ANNOTATION",
    "TARGETS_GLOB",
    "KubernetesSD",
    "Target",
    "config_document",
    "file_sd_document",
]

JOB_NAME = "demoapp"
PODS_JOB_NAME = "pods"
SCRAPE_ANNOTATION = "prometheus.io/scrape"
"""Pods annotated ``prometheus.io/scrape: "true"`` are scraped at their IP and
``prometheus.io/port`` (default: the first container port), as the common
community convention has it."""
TARGETS_GLOB = "*.json"
"""The pattern file_sd watches in the targets directory; a ``*.tmp`` is never read."""
DISCOVERY_RELOAD_INTERVAL = "100ms"
"""``--scrape.discovery-reload-interval``: how often the scrape manager applies
target updates (a hidden flag, default 5 s; a reload happens only when targets
changed). Upstream's own end-to-end tests use 100ms. Debian's 2.42 accepts the
flag but raises anything below 5 s to 5 s."""
FILE_SD_REFRESH_INTERVAL = "5m"
"""How often file_sd re-reads the targets files even though none changed: upstream's
default. A change is read at once (inotify on the directory); the timed re-read is
a fallback. A short one hurts: every re-read counts as a discovery update, and
Prometheus 3.x's discovery manager then never sees the 5 s of quiet after which it
hands updates on within ~100 ms, so every job's new targets (kubernetes_sd's pods
too) wait for its throttle, 2.5 to 7.5 s."""

Target = tuple[str, Mapping[str, str]]
"""One scrape target: ``host:port`` and the labels to attach to its series."""

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _label_name(kubernetes_name: str) -> str:
    """A Kubernetes label or annotation name as Prometheus' pod discovery spells it."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", kubernetes_name)


@dataclass(frozen=True, kw_only=True)
class KubernetesSD:
    """Where Prometheus finds pods: the API server (as reachable from Prometheus) and
    the client certificate it authenticates with. Discovery is watch-based: a new
    pod is a target as soon as the watch event arrives, not at the next file re-read."""

    api_server: str
    ca_file: Path
    cert_file: Path
    key_file: Path


def _pods_job(sd: KubernetesSD, scrape_interval: str) -> dict[str, Any]:
    meta = "__meta_kubernetes_pod_"
    annotation = "annotation_" + _label_name(SCRAPE_ANNOTATION)
    port_annotation = "annotation_prometheus_io_port"
    return {
        "job_name": PODS_JOB_NAME,
        "honor_labels": True,
        "scrape_interval": scrape_interval,
        "kubernetes_sd_configs": [
            {
                "role": "pod",
                "api_server": sd.api_server,
                "tls_config": {
                    "ca_file": str(sd.ca_file),
                    "cert_file": str(sd.cert_file),
                    "key_file": str(sd.key_file),
                },
            }
        ],
        "relabel_configs": [
            {"source_labels": [meta + annotation], "regex": "true", "action": "keep"},
            # Only pods that have an IP and are not finished.
            {"source_labels": [meta + "ip"], "regex": ".+", "action": "keep"},
            {"source_labels": [meta + "phase"], "regex": "Pending|Running", "action": "keep"},
            {
                # One target per pod: the annotated port, else the first declared one.
                "source_labels": [meta + port_annotation, meta + "container_port_number"],
                "regex": "(\\d+);.*|;(\\d+)",
                "target_label": "__tmp_port",
                "replacement": "$1$2",
            },
            {"source_labels": ["__tmp_port"], "regex": "", "action": "drop"},
            {
                "source_labels": [meta + "ip", "__tmp_port"],
                "separator": ":",
                "target_label": "__address__",
            },
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": [meta + "name"], "target_label": "pod"},
            {
                # The revision, as the file_sd targets carry it, on every series of
                # the pod (an app's own ``revision`` label wins: honor_labels).
                "source_labels": [meta + "label_" + _label_name(REVISION_LABEL)],
                "regex": "(.+)",
                "target_label": "revision",
            },
        ],
    }


def config_document(
    *,
    targets_dir: Path | None,
    scrape_interval: str,
    kubernetes: KubernetesSD | None = None,
    file_sd_refresh: str | None = None,
) -> str:
    """``prometheus.yml`` with one job whose targets are read from ``targets_dir`` (none
    when None), and with ``kubernetes`` one scraping annotated pods found through the API.

    ``file_sd_refresh``: file_sd's timed re-read (default: every ``scrape_interval``,
    as Debian's 2.42 has run it here all along; upstream 3.x wants
    :data:`FILE_SD_REFRESH_INTERVAL`)."""
    document: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": scrape_interval,
        },
        "scrape_configs": [],
    }
    if targets_dir is not None:
        document["scrape_configs"].append(
            {
                "job_name": JOB_NAME,
                "honor_labels": True,
                "file_sd_configs": [
                    {
                        "files": [str(targets_dir / TARGETS_GLOB)],
                        "refresh_interval": file_sd_refresh or scrape_interval,
                    }
                ],
            }
        )
    if kubernetes is not None:
        document["scrape_configs"].append(_pods_job(kubernetes, scrape_interval))
    return json.dumps(document, indent=2) + "\n"


def file_sd_document(targets: Sequence[Target]) -> str:
    """The file_sd JSON for ``targets``: one group per target, in a stable order.

    Raises ``ValueError`` for an address that is not ``host:port`` or a label
    name Prometheus would reject.
    """
    groups = []
    for address, labels in sorted(targets, key=lambda target: target[0]):
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"target {address!r} is not host:port")
        for name in labels:
            if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
                raise ValueError(f"label name {name!r} of target {address} is invalid")
        groups.append({"targets": [address], "labels": dict(sorted(labels.items()))})
    return json.dumps(groups, indent=2) + "\n"
