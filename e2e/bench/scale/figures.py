"""The scale benchmark's figures: what one run measured, and how it is read and printed.

Pure but for reading ``/proc`` and the audit log: percentiles, a process's RSS and
CPU seconds, the controller's writes in the API server's audit log (user, verb,
object and ``requestReceivedTimestamp``), event → action latencies from it, and
the table.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "KEYS",
    "AuditWrite",
    "audit_writes",
    "cpu_seconds",
    "first_action_latencies",
    "percentile",
    "rate_by_verb",
    "rollout_of",
    "rss_mib",
    "table",
]

KEYS = (
    "rollouts",
    "shards",
    "rss_mib",
    "cpu_s",
    "event_to_action_p99_s",
    "step_latency_p50_s",
    "step_latency_p99_s",
    "writes_per_step",
    "writes_per_adoption",
    "idle_writes",
    "api_rps",
    "wave100_all_paused_s",
)
"""The keys issue 15 asks every run to carry (null where not measured)."""


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q ≤ 100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def rss_mib(pid: int) -> float:
    """The process's resident set (``VmRSS``) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (``/proc/<pid>/stat`` utime + stime)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class AuditWrite:
    at: float
    """``requestReceivedTimestamp``, seconds since the epoch."""
    user: str
    verb: str
    resource: str
    """The plural, with the subresource after a slash (``rollouts/status``)."""
    name: str
    agent: str = ""
    """The user agent: the controller's names its process' identity in parentheses."""


def audit_writes(path: Path, *, namespace: str, offset: int = 0) -> list[AuditWrite]:
    """The writes the audit log at ``path`` records in ``namespace`` from byte ``offset``."""
    found = []
    with open(path, "rb") as lines:
        lines.seek(offset)
        for raw in lines:
            try:
                event = json.loads(raw)
            except ValueError:  # a line still being written
                continue
            ref = event.get("objectRef") or {}
            if ref.get("namespace") != namespace:
                continue
            resource = ref.get("resource", "")
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            found.append(
                AuditWrite(
                    at=datetime.fromisoformat(event["requestReceivedTimestamp"]).timestamp(),
                    user=event.get("user", {}).get("username", ""),
                    verb=event.get("verb", ""),
                    resource=resource,
                    name=ref.get("name", ""),
                    agent=event.get("userAgent", ""),
                )
            )
    return found


def rollout_of(name: str, rollouts: Iterable[str]) -> str | None:
    """The Rollout an object named ``name`` belongs to: the Rollout itself, its
    ReplicaSets (``<rollout>-<hash>``) and its Events (``<rollout>.<hex>``). The
    Rollouts' names are of equal length, so no name is another's prefix."""
    for rollout in rollouts:
        if name == rollout or name.startswith((rollout + "-", rollout + ".")):
            return rollout
    return None


def first_action_latencies(
    released: dict[str, float], writes: Iterable[AuditWrite], *, user: str
) -> dict[str, float]:
    """Per released Rollout: its release (the time the API server received it) → the
    first write ``user`` made for that Rollout afterwards, in seconds."""
    first: dict[str, float] = {}
    for write in sorted(writes, key=lambda w: w.at):
        if write.user != user or write.resource == "leases":
            continue
        rollout = rollout_of(write.name, released)
        if rollout is None or rollout in first or write.at < released[rollout]:
            continue
        first[rollout] = write.at - released[rollout]
    return first


def rate_by_verb(
    writes: Iterable[AuditWrite], *, user: str, start: float, end: float
) -> dict[str, float]:
    """Requests per second by verb that ``user`` sent in ``[start, end]``, Leases aside."""
    counts: dict[str, int] = {}
    for write in writes:
        if write.user == user and write.resource != "leases" and start <= write.at <= end:
            counts[write.verb] = counts.get(write.verb, 0) + 1
    span = max(end - start, 1e-9)
    return {verb: round(n / span, 2) for verb, n in sorted(counts.items())}


def _cell(value: Any) -> str:
    if value is None:
        return "n/m"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def table(runs: Sequence[dict[str, Any]]) -> str:
    """Figures as rows, one column per run; ``n/m`` = not measured."""
    keys = list(KEYS) + [k for k in runs[0] if k not in KEYS] if runs else list(KEYS)
    width = max(len(k) for k in keys)
    lines = [f"{'figure':<{width}}  " + "  ".join(f"{'run ' + str(i + 1):>12}" for i in
                                                  range(len(runs)))]  # fmt: skip
    for key in keys:
        cells = []
        for run in runs:
            value = run.get(key)
            if isinstance(value, dict):
                cells.append(", ".join(f"{k} {_cell(v)}" for k, v in value.items()) or "-")
            else:
                cells.append(f"{_cell(value):>12}")
        lines.append(f"{key:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)
