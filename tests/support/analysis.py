"""Helpers for analysis scenarios: Rollouts with an analysis, and a recorder of the world.

``analysis_rollout`` applies a Rollout over the ``web`` Deployment with the
given steps and metrics. ``WorldRecorder`` samples the Rollout's status and the
Service's Ready endpoints per revision in a thread for the length of a ``with``
block, so a test can assert on everything the release went through ("never
Degraded", "never all traffic to the canary"), not only on where it ended.
The ``held_*`` helpers wait for (and check) a release held for want of evidence.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes import client

from controller.api import v1alpha1
from tests.support.network import ready_endpoints_by_revision
from tests.support.scenario import Harness
from tests.support.waiting import eventually

ANALYSIS_STEPS_TIMEOUT = 90
"""Seconds allowed for a release to reach a decision on a loaded 2-core machine."""


def analysis_rollout(
    harness: Harness,
    *,
    address: str | None,
    steps: list[dict[str, Any]],
    metrics: list[dict[str, Any]],
    interval: str = "2s",
    canary: dict[str, Any] | None = None,
    **settings: Any,
) -> None:
    """Apply the Rollout ``web`` with a background analysis against ``address`` (None:
    the controller's ``--prometheus-address``).

    ``canary`` are further ``strategy.canary`` fields (``trafficRouting`` and the
    Services, for a routed Rollout).

    ``settings`` are further ``analysis`` fields in the CRD's spelling
    (``alpha``, ``maxConsecutiveErrors``, …). The interval defaults to 2 s, twice
    the test Prometheus' scrape interval, so every look has fresh samples to count
    (1 s works too: ``test_a_one_second_interval_still_measures_the_canary``).
    """
    harness.apply(
        {
            "apiVersion": v1alpha1.API_VERSION,
            "kind": v1alpha1.KIND,
            "metadata": {"name": "web"},
            "spec": {
                "workloadRef": {"name": "web"},
                "progressDeadlineSeconds": 600,
                "strategy": {
                    "canary": {
                        "steps": steps,
                        **(canary or {}),
                        "analysis": {
                            **({"prometheus": {"address": address}} if address else {}),
                            "interval": interval,
                            "metrics": metrics,
                            **settings,
                        },
                    }
                },
            },
        }
    )


def release_with_env(harness: Harness, **env: str) -> None:
    """Change the template's env (a new revision, behaving as the env says)."""
    pairs = [f"{name}={value}" for name, value in env.items()]
    harness.kube.kubectl("set", "env", "deployment/web", *pairs, f"--namespace={harness.namespace}")


def metric_status(status: dict[str, Any], name: str) -> dict[str, Any]:
    """The ``status.analysis.metrics`` entry named ``name``."""
    metrics = (status.get("analysis") or {}).get("metrics") or []
    found = [m for m in metrics if m.get("name") == name]
    assert found, f"no metric {name!r} in status.analysis: {status.get('analysis')!r}"
    return dict(found[0])


def history_seconds(status: dict[str, Any], start: str, end: str) -> float:
    """Seconds between the last ``start`` and the last ``end`` history entries."""

    def last(action: str) -> datetime:
        times = [h["time"] for h in status.get("history") or [] if h["action"] == action]
        assert times, f"no {action} in the history: {status.get('history')!r}"
        return datetime.fromisoformat(times[-1].replace("Z", "+00:00"))

    return (last(end) - last(start)).total_seconds()


def condition_reason(status: dict[str, Any], kind: str) -> str | None:
    """The reason of condition ``kind`` when it is True, else None."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return str(condition.get("reason"))
    return None


@dataclass(frozen=True, kw_only=True)
class Sample:
    """The world at one instant (``at``: ``time.monotonic()``)."""

    at: float
    phase: str | None
    canary_weight: int
    stable_revision: str | None
    canary_revision: str | None
    blocked_revision: str | None
    paused_reason: str | None
    message: str
    verdicts: dict[str, str]
    canary_requests_judged: dict[str, float]
    stable_requests_judged: dict[str, float]
    endpoints: dict[str, int] = field(default_factory=dict)
    """The Service's Ready endpoints per revision (what kube-proxy spreads requests over)."""

    @property
    def canary_endpoint_share(self) -> float:
        """Share of the Service's Ready endpoints that are the canary revision's."""
        total = sum(self.endpoints.values())
        if not total or self.canary_revision is None:
            return 0.0
        return self.endpoints.get(self.canary_revision, 0) / total


class WorldRecorder:
    """Samples the Rollout's status (and the Ready endpoints of ``service``, if given)
    every ``interval`` seconds."""

    def __init__(
        self,
        harness: Harness,
        *,
        service: str | None = None,
        interval: float = 0.2,
        name: str = "web",
    ) -> None:
        self.harness = harness
        self.name = name
        self.interval = interval
        self.samples: list[Sample] = []
        self.errors = 0
        """Samples that could not be taken; more than one in 20 fails the ``with`` block."""
        self.last_error: Exception | None = None
        self._service = service
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="world-recorder", daemon=True)

    def __enter__(self) -> WorldRecorder:
        self._thread.start()
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if kind is None:
            # A recorder that missed samples weakens every "never" a test asserts.
            allowed = max(2, len(self.samples) // 20)
            assert self.errors <= allowed, (
                f"the recorder failed {self.errors} times ({len(self.samples)} samples); "
                f"last error: {self.last_error!r}"
            )

    def between(self, start: float, end: float | None = None) -> list[Sample]:
        """Samples taken from monotonic time ``start`` to ``end`` (now when None)."""
        with self._lock:
            return [s for s in self.samples if s.at >= start and (end is None or s.at <= end)]

    def all(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)

    def _run(self) -> None:
        api = self.harness.kube.api()
        custom = client.CustomObjectsApi(api)
        try:
            while not self._stop.is_set():
                try:
                    obj: Any = custom.get_namespaced_custom_object(
                        v1alpha1.GROUP,
                        v1alpha1.VERSION,
                        self.harness.namespace,
                        v1alpha1.PLURAL,
                        self.name,
                        _request_timeout=5,
                    )
                    endpoints = (
                        ready_endpoints_by_revision(api, self.harness.namespace, self._service)
                        if self._service
                        else {}
                    )
                    sample = self._sample(obj.get("status") or {}, endpoints)
                except Exception as err:
                    self.errors += 1
                    self.last_error = err
                else:
                    with self._lock:
                        self.samples.append(sample)
                self._stop.wait(self.interval)
        finally:
            api.close()  # type: ignore[no-untyped-call]

    def _sample(self, status: dict[str, Any], endpoints: dict[str, int]) -> Sample:
        metrics = (status.get("analysis") or {}).get("metrics") or []
        return Sample(
            at=time.monotonic(),
            phase=status.get("phase"),
            canary_weight=int(status.get("canaryWeight") or 0),
            stable_revision=status.get("stableRevision"),
            canary_revision=status.get("canaryRevision"),
            blocked_revision=status.get("blockedRevision"),
            paused_reason=condition_reason(status, "Paused"),
            message=str(status.get("message") or ""),
            verdicts={m["name"]: m.get("verdict", "Undecided") for m in metrics},
            canary_requests_judged=_requests_judged(metrics, "canaryRequests"),
            stable_requests_judged=_requests_judged(metrics, "stableRequests"),
            endpoints=endpoints,
        )


def _requests_judged(metrics: list[dict[str, Any]], key: str) -> dict[str, float]:
    return {m["name"]: float(m.get(key) or 0) for m in metrics}


def judged(harness: Harness, metric: str) -> dict[str, Any] | None:
    """The metric's status once it has judged canary requests."""
    status = harness.status()
    if not (status.get("analysis") or {}).get("metrics"):
        return None
    found = metric_status(status, metric)
    return found if found["canaryRequests"] > 0 else None


def held_inconclusive(harness: Harness) -> dict[str, Any] | None:
    """The status while the release is paused as AnalysisInconclusive, else None."""
    status = harness.status()
    held = status.get("phase") == "Paused"
    return status if held and condition_reason(status, "Paused") == "AnalysisInconclusive" else None


def held_at_promotion_for_no_data(
    harness: Harness, *, stable: str, canary: str, metric: str, steps: int
) -> dict[str, Any]:
    """Wait for the hold at the promotion gate (noData: inconclusive) and check it stays."""
    status: dict[str, Any] = eventually(
        lambda: held_inconclusive(harness),
        timeout=ANALYSIS_STEPS_TIMEOUT,
        what="held as AnalysisInconclusive",
    )
    assert status["currentStepIndex"] == steps  # past the timed pause: at the promotion
    assert f"{metric}: no data" in status["message"]
    time.sleep(4)  # two more looks: still held, not promoted
    still = harness.status()
    assert still["phase"] == "Paused"
    assert condition_reason(still, "Paused") == "AnalysisInconclusive"
    assert still["stableRevision"] == stable
    assert still["canaryRevision"] == canary
    return still
