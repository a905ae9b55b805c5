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
from pathlib import Path
from typing import Any

__all__ = ["JOB_NAME", "TARGETS_GLOB", "Target", "config_document", "file_sd_document"]

JOB_NAME = "demoapp"
TARGETS_GLOB = "*.json"
"""The pattern file_sd watches in the targets directory; a ``*.tmp`` is never read."""

Target = tuple[str, Mapping[str, str]]
"""One scrape target: ``host:port`` and the labels to attach to its series."""

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def config_document(*, targets_dir: Path, scrape_interval: str) -> str:
    """``prometheus.yml`` with one job whose targets are read from ``targets_dir``."""
    document: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": scrape_interval,
        },
        "scrape_configs": [
            {
                "job_name": JOB_NAME,
                "honor_labels": True,
                "file_sd_configs": [
                    {
                        "files": [str(targets_dir / TARGETS_GLOB)],
                        "refresh_interval": scrape_interval,
                    }
                ],
            }
        ],
    }
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
