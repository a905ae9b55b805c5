"""A stopwatch on the Rollout and the traffic: samples both ten times a second.

Every tick the recorder reads the Rollout and its ReplicaSets from the API
server and the traffic generator's per-revision counts, and keeps each sample
with its monotonic time, so the story can ask *when* something first became
true (``wait``) and *when* a revision last answered a request (``last_served``).
With ``echo`` on it prints one line whenever what it sees changes: the live
view when the terminal is not a TTY.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from kubernetes.client import ApiClient

from controller.cli.api import REPLICA_SETS, ROLLOUTS
from controller.cli.render import describe_step
from controller.core.revisions import REVISION_LABEL, ROLLOUT_LABEL
from controller.kube.transport import request_json
from e2e.dataplane import RevisionCounts

__all__ = ["Recorder", "Sample", "Timeout"]

log = logging.getLogger(__name__)


class Timeout(Exception):
    """Something the story waited for did not happen in time; the message says what."""


@dataclass(frozen=True, kw_only=True)
class Sample:
    at: float
    rollout: dict[str, Any]
    replicasets: dict[str, tuple[int, int]]
    """Revision → (desired, ready) of its ReplicaSet."""
    served: Mapping[str, RevisionCounts]

    @property
    def status(self) -> dict[str, Any]:
        status = self.rollout.get("status")
        return status if isinstance(status, dict) else {}

    @property
    def steps(self) -> list[dict[str, Any]]:
        spec = self.rollout.get("spec") or {}
        return list(((spec.get("strategy") or {}).get("canary") or {}).get("steps") or [])

    def step(self) -> str:
        """``1/4 set weight 20%``, or ``-`` with no canary running."""
        index = self.status.get("currentStepIndex")
        steps = self.steps
        if not isinstance(index, int) or not steps or not self.status.get("canaryRevision"):
            return "-"
        text = f"{min(index + 1, len(steps))}/{len(steps)}"
        return f"{text} {describe_step(steps[index])}" if index < len(steps) else text

    def metrics(self) -> list[dict[str, Any]]:
        analysis = self.status.get("analysis")
        if not isinstance(analysis, dict):
            return []
        return [m for m in analysis.get("metrics") or [] if isinstance(m, dict)]

    def line(self, *, metrics: bool = True) -> str:
        """One line on where the release stands, for the live view."""
        status = self.status
        stable, canary = status.get("stableRevision"), status.get("canaryRevision")
        pods = f"pods stable {self.replicasets.get(stable or '', (0, 0))[1]}"
        if canary:
            pods += f" canary {self.replicasets.get(canary, (0, 0))[1]}"
        parts = [
            f"{status.get('phase') or 'Unknown':<11}",
            f"step {self.step():<24}",
            f"weight {int(status.get('canaryWeight') or 0):>2}%",
            pods,
        ]
        for metric in self.metrics() if metrics else []:
            parts.append(
                f"{metric.get('name')} {float(metric.get('canaryBad') or 0):.0f}/"
                f"{float(metric.get('canaryRequests') or 0):.0f} vs "
                f"{float(metric.get('stableBad') or 0):.0f}/"
                f"{float(metric.get('stableRequests') or 0):.0f} "
                f"LR {float(metric.get('evidence') or 1):.3g}"
            )
        return "  ".join(parts)


@dataclass(kw_only=True)
class _Echo:
    out: TextIO
    since: float
    last: str = ""


@dataclass(kw_only=True)
class _Served:
    sent: int = 0
    at: float = 0.0


@dataclass(kw_only=True)
class _State:
    samples: list[Sample] = field(default_factory=list)
    served: dict[str, _Served] = field(default_factory=dict)
    error: str = ""


class Recorder:
    """Samples the Rollout ``name``, its ReplicaSets and the traffic every ``period`` seconds."""

    def __init__(
        self,
        *,
        api: ApiClient,
        namespace: str,
        name: str,
        served: Callable[[], Mapping[str, RevisionCounts]],
        period: float = 0.1,
    ) -> None:
        self._api = api
        self._namespace = namespace
        self._name = name
        self._served = served
        self._period = period
        self._state = _State()
        self._echo: _Echo | None = None
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="recorder", daemon=True)

    def start(self) -> Recorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.ident is not None:
            self._thread.join()

    def echo(self, out: TextIO | None, *, since: float = 0.0) -> None:
        """Print a line to ``out`` whenever the release's state changes (None: stop)."""
        with self._changed:
            self._echo = None if out is None else _Echo(out=out, since=since)

    def latest(self) -> Sample:
        with self._changed:
            if not self._state.samples:
                raise Timeout("the recorder has not read the Rollout yet")
            return self._state.samples[-1]

    def history(self, since: float, until: float) -> list[Sample]:
        """The samples taken from ``since`` to ``until``, oldest first."""
        with self._changed:
            return [s for s in self._state.samples if since <= s.at <= until]

    def last_served(self, revision: str) -> tuple[int, float]:
        """Requests ``revision`` answered so far, and when the newest was counted (0: never)."""
        with self._changed:
            served = self._state.served.get(revision, _Served())
            return served.sent, served.at

    def wait(
        self,
        what: str,
        done: Callable[[Sample], bool],
        *,
        timeout: float,
        since: float | None = None,
        check: Callable[[], None] = lambda: None,
    ) -> Sample:
        """The first sample taken after ``since`` (default: now) for which ``done`` holds.

        ``check`` runs between samples and may raise (a process that died);
        ``Timeout`` names ``what`` and the last state seen.
        """
        start = time.monotonic() if since is None else since
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            with self._changed:
                samples = self._state.samples
                while seen < len(samples) and samples[seen].at < start:
                    seen += 1
                for sample in samples[seen:]:
                    if done(sample):
                        return sample
                seen = len(samples)
                error = self._state.error
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    last = samples[-1].line() if samples else "nothing read yet"
                    why = f"; last API error: {error}" if error else ""
                    raise Timeout(
                        f"timed out after {timeout:.0f}s waiting for {what} ({last}{why})"
                    )
                self._changed.wait(min(remaining, 1.0))
            check()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                sample = self._sample()
            except Exception as err:  # the API server may blink; keep sampling
                with self._changed:
                    self._state.error = str(err).splitlines()[0] if str(err) else repr(err)
            else:
                self._record(sample)
            self._stopping.wait(max(0.0, self._period - (time.monotonic() - started)))

    def _sample(self) -> Sample:
        rollout = request_json(
            self._api, "GET", ROLLOUTS.object_path(self._namespace, self._name), timeout=5.0
        )
        listed = request_json(
            self._api,
            "GET",
            REPLICA_SETS.collection_path(self._namespace),
            query=[("labelSelector", f"{ROLLOUT_LABEL}={self._name}")],
            timeout=5.0,
        )
        replicasets: dict[str, tuple[int, int]] = {}
        for rs in listed.get("items") or []:
            revision = ((rs.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL)
            if revision:
                desired = int((rs.get("spec") or {}).get("replicas") or 0)
                ready = int((rs.get("status") or {}).get("readyReplicas") or 0)
                replicasets[str(revision)] = (desired, ready)
        return Sample(
            at=time.monotonic(),
            rollout=rollout,
            replicasets=replicasets,
            served=dict(self._served()),
        )

    def _record(self, sample: Sample) -> None:
        with self._changed:
            for revision, counts in sample.served.items():
                served = self._state.served.setdefault(revision, _Served())
                if counts.sent > served.sent:
                    served.sent, served.at = counts.sent, sample.at
            self._state.samples.append(sample)
            self._state.error = ""
            echo = self._echo
            if echo is not None and (line := sample.line()) != echo.last:
                echo.last = line
                echo.out.write(f"  {sample.at - echo.since:+6.1f}s  {line}\n")
                echo.out.flush()
            self._changed.notify_all()
