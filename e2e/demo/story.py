"""The story ``python -m e2e.demo`` tells, act by act, measuring as it goes.

1. ``web`` v1: a Deployment, a Service and a Rollout with steps and an analysis
   (app-errors, app-latency) — the controller adopts it.
2. A healthy v2 (``kubectl set image``) goes 20 % → pause → 50 % → pause and is
   promoted automatically; shown live.
3. A bad v3 (a new image that answers 10 % of requests with 500, one template
   change) is caught by the analysis, aborted, traffic back on v2; the evidence,
   ``landinggear get``, the history and the Events are shown.
4. v4 ships a new path dark behind an Unleash flag (``e2e.demo.flagged``): the
   flag goes on, errors rise, the controller switches the flag off and keeps the
   release (``onAnomaly: DisableFlags``), which is promoted.
5. The summary: what was measured for every release.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from e2e.dataplane import TrafficGenerator
from e2e.dataplane.netload.service import ServiceTraffic
from e2e.demo.flagged import flagged_release
from e2e.demo.live import LiveWatch
from e2e.demo.recorder import Sample, Timeout
from e2e.demo.script import (
    ANALYSIS,
    BAD_ERROR_RATE,
    CRD,
    NAME,
    QUIET,
    RELEASE_TIMEOUT,
    REPLICAS,
    DemoFailed,
    Options,
    Shell,
    manifests,
)
from e2e.demo.stack import Stack
from e2e.demo.summary import BadRelease, HealthyRelease, JudgedMetric, Summary

__all__ = ["delete_namespace", "prepare_namespace", "run"]


class Story:
    def __init__(self, options: Options, stack: Stack) -> None:
        self.o = options
        self.stack = stack
        self.sh = Shell(options)
        self.seen: set[str] = set()
        """Revisions released so far (a blocked one stays blocked: not new)."""

    def say(self, text: str) -> None:
        print(f"\n== {text}", file=self.o.out, flush=True)

    def print(self, text: str = "") -> None:
        print(text, file=self.o.out, flush=True)

    def wait(
        self,
        what: str,
        done: Callable[[Sample], bool],
        *,
        timeout: float,
        since: float | None = None,
    ) -> Sample:
        try:
            return self.stack.recorder.wait(
                what, done, timeout=timeout, since=since, check=self.stack.check
            )
        except Timeout as err:
            raise DemoFailed(f"{err}; controller log: {self.stack.controller_log}") from None

    # ------------------------------------------------------------- acts

    def deploy(self) -> str:
        app, rollout = manifests(network=self.stack.local is not None)
        self.say(f"web v1: a Deployment ({REPLICAS} replicas) and a Service, as anyone would")
        self.sh.kubectl(
            "apply", "-f", "-", stdin=json.dumps(app), shown="kubectl apply -f web.yaml"
        )
        self.say("A Rollout for it: canary steps, and an analysis against Prometheus")
        self.print(yaml.safe_dump(rollout, sort_keys=False).rstrip())
        self.sh.kubectl(
            "apply", "-f", "-", stdin=json.dumps(rollout), shown="kubectl apply -f rollout.yaml"
        )
        sample = self.wait(
            "the controller to adopt the Deployment",
            lambda s: s.status.get("phase") == "Healthy" and bool(s.status.get("stableRevision")),
            timeout=60,
        )
        v1 = str(sample.status["stableRevision"])
        self.seen.add(v1)
        self.wait(
            f"traffic to v1 ({v1})",
            lambda s: s.served.get(v1) is not None and s.served[v1].sent > 0,
            timeout=30,
        )
        self.print(f"Adopted: v1 is revision {v1}, serving {self.o.rps:g} requests/s")
        return v1

    def follow(self, released: float) -> None:
        """Start the live view of a release."""
        if not self.o.on_terminal:
            threshold = len(ANALYSIS["metrics"]) / float(ANALYSIS["alpha"])
            self.print(
                "  (live, one line per change: phase, step, canary weight, Ready pods; per metric"
                f" canary bad/requests vs stable's, and the likelihood ratio: {threshold:g} fails)"
            )
            self.stack.recorder.echo(self.o.out, since=released)

    def _unfollow(self, watch: LiveWatch, released: float, *, show_frame: bool) -> None:
        self.stack.recorder.echo(None)
        code = watch.wait(10)
        if self.o.on_terminal:  # the watch redrew in place: what changed when, once more
            self.print("\nTimeline (seconds since the release command):")
            shown = ""
            for sample in self.stack.recorder.history(released, time.monotonic()):
                if (line := sample.line(metrics=False)) != shown:
                    self.print(f"  {sample.at - released:+6.1f}s  {line}")
                    shown = line
        if show_frame and not self.o.on_terminal and watch.last_frame:
            self.print(f"\nlandinggear watch {NAME} (its last frame; all in {watch.log_file}):")
            self.print("\n".join(f"  {line}" for line in watch.last_frame.splitlines()))
        if code is None:
            self.print(f"(landinggear watch did not exit by itself; see {watch.log_file})")

    def _live(self, release: str) -> LiveWatch:
        return LiveWatch(
            kubeconfig=self.o.kubeconfig,
            namespace=self.o.namespace,
            name=NAME,
            log_file=self.o.log_dir / f"watch-{release}.log",
            timeout=RELEASE_TIMEOUT + 30,
            on_terminal=self.o.on_terminal,
        )

    def canary_started(self, old_stable: str, released: float) -> str:
        """The new revision, once the controller runs it as a canary (or already decided)."""

        def new(s: Sample) -> str | None:
            for key in ("canaryRevision", "blockedRevision", "stableRevision"):
                if s.status.get(key) not in (None, old_stable, *self.seen):
                    return str(s.status[key])
            return None

        sample = self.wait(
            "the controller to start the canary", lambda s: new(s) is not None,
            timeout=30, since=released,
        )  # fmt: skip
        revision = new(sample)
        assert revision is not None
        self.seen.add(revision)
        return revision

    def healthy_release(self, v1: str) -> HealthyRelease:
        self.say("Release v2, a healthy one: the controller walks the steps and judges as it goes")
        released = time.monotonic()
        self.sh.kubectl("set", "image", f"deployment/{NAME}", f"{NAME}={NAME}:v2")
        v2 = self.canary_started(v1, released)
        with self._live("v2") as watch:
            self.follow(released)
            done = self.wait(
                "v2 to be promoted",
                lambda s: (
                    s.status.get("stableRevision") == v2 or s.status.get("phase") == "Degraded"
                ),
                timeout=RELEASE_TIMEOUT,
                since=released,
            )
            self._unfollow(watch, released, show_frame=True)
        if done.status.get("phase") == "Degraded":
            raise DemoFailed(f"the healthy release was aborted: {done.status.get('message')}")
        serving = self.wait(
            "the first request v2 answered",
            lambda s: s.served.get(v2) is not None and s.served[v2].sent > 0,
            timeout=1,
            since=released,
        )
        judged = [
            JudgedMetric.from_status(m)
            for m in self._last_analysis(v2, released, done.at).get("metrics") or []
        ]
        self.print(f"\nPromoted: v2 ({v2}) is stable, {time.monotonic() - released:.1f}s in.")
        return HealthyRelease(
            revision=v2,
            to_canary_serving=serving.at - released,
            to_promotion=done.at - released,
            served=self.stack.recorder.last_served(v2)[0],
            judged=judged,
        )

    def _last_analysis(self, revision: str, since: float, until: float) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for sample in self.stack.recorder.history(since, until):
            analysis = sample.status.get("analysis")
            if isinstance(analysis, dict) and analysis.get("revision") == revision:
                found = analysis
        return found

    def bad_release(self, v2: str) -> BadRelease:
        self.say(
            f"Release v3, a bad one: a new image that fails {float(BAD_ERROR_RATE):.0%}"
            " of requests (one template change)"
        )
        patch = {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": NAME,
                                "image": f"{NAME}:v3",
                                "env": [{"name": "ERROR_RATE", "value": BAD_ERROR_RATE}],
                            }
                        ]
                    }
                }
            }
        }
        released = time.monotonic()
        self.sh.kubectl("patch", f"deployment/{NAME}", "-p", json.dumps(patch))
        v3 = self.canary_started(v2, released)
        with self._live("v3") as watch:
            self.follow(released)
            decided = self.wait(
                "the analysis to abort v3",
                lambda s: (
                    s.status.get("phase") == "Degraded" or s.status.get("stableRevision") == v3
                ),
                timeout=RELEASE_TIMEOUT,
                since=released,
            )
            self._unfollow(
                watch, released, show_frame=False
            )  # `landinggear get` below shows it all
        status = decided.status
        if status.get("stableRevision") == v3:
            raise DemoFailed(f"the bad release was promoted; see {self.stack.controller_log}")
        self.print("\nAborted by the controller. Its message, the evidence:")
        self.print(f"  {status.get('message')}")
        steps = self._step_before(v3, released, decided.at)

        scaled = self.wait(
            "the canary ReplicaSet at 0 and v2 at full size",
            lambda s: (
                s.replicasets.get(v3, (0, 0)) == (0, 0)
                and s.replicasets.get(v2, (0, 0))[1] >= REPLICAS
            ),
            timeout=60,
            since=decided.at,
        )
        self.wait(
            f"{QUIET:g}s without a request to v3",
            lambda s: s.at - self.stack.recorder.last_served(v3)[1] >= QUIET,
            timeout=30,
            since=scaled.at,
        )
        served, last = self.stack.recorder.last_served(v3)
        counts = self.stack.traffic.counts().get(v3)
        analysis = status.get("analysis") or {}
        metrics = [m for m in analysis.get("metrics") or [] if isinstance(m, dict)]
        self.say("What the controller says now")
        self.print(self.sh.landinggear("get", NAME).rstrip())
        self.print(
            self.sh.kubectl(
                "get", "events", "--field-selector=involvedObject.kind=Rollout,type=Warning"
            ).rstrip()
        )
        return BadRelease(
            revision=v3,
            error_rate=float(BAD_ERROR_RATE),
            to_decision=decided.at - released,
            to_first_counts=self._first_counted(v3, released, decided.at) - released,
            decided_at_step=steps,
            message=str(status.get("message") or ""),
            judged=[JudgedMetric.from_status(m) for m in metrics],
            fail_threshold=len(ANALYSIS["metrics"]) / float(ANALYSIS["alpha"]),
            to_traffic_restored=(last - released) if last else 0.0,
            to_scaled_down=scaled.at - released,
            served=served,
            served_errors=(counts.errors + counts.failed) if counts else 0,
        )

    def _first_counted(self, revision: str, since: float, until: float) -> float:
        """When the analysis first counted requests of the canary ``revision`` (``since``
        if never)."""
        for sample in self.stack.recorder.history(since, until):
            analysis = sample.status.get("analysis")
            if not isinstance(analysis, dict) or analysis.get("revision") != revision:
                continue
            if any(float(m.get("canaryRequests") or 0) > 0 for m in sample.metrics()):
                return sample.at
        return since

    def _step_before(self, revision: str, since: float, until: float) -> str:
        """Where the canary stood just before the decision, e.g. ``1/4 (canary 20 %)``."""
        step = "?"
        for sample in self.stack.recorder.history(since, until):
            if sample.status.get("canaryRevision") == revision and sample.step() != "-":
                weight = int(sample.status.get("canaryWeight") or 0)
                step = f"{sample.step()}, canary {weight} %"
        return step


def _kubectl(kubeconfig: str, kubectl: Path, *args: str, timeout: float = 120) -> str:
    proc = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise DemoFailed(f"{shlex.join(['kubectl', *args])} failed: {proc.stderr.strip()}")
    return proc.stdout


def delete_namespace(kubeconfig: str, kubectl: Path, namespace: str) -> None:
    """Delete ``namespace`` (if it exists) and wait until it is gone.

    The controller of the last run is stopped, so nothing would remove the
    Rollouts' hand-back finalizer and the namespace would never go: it is
    removed here first (the whole namespace goes, there is nothing to hand back).
    """
    cluster = (kubeconfig, kubectl)
    names = _kubectl(*cluster, "get", "rollouts.landinggear.dev", "-n", namespace, "-o", "name")
    no_finalizers = '{"metadata":{"finalizers":null}}'
    for name in names.split():
        _kubectl(*cluster, "patch", name, "-n", namespace, "--type=merge", "-p", no_finalizers)
    wait = ("--ignore-not-found", "--wait=true", "--timeout=90s")
    _kubectl(*cluster, "delete", "namespace", namespace, *wait, timeout=120)


def prepare_namespace(options: Options) -> None:
    """The CRD applied and ``namespace`` deleted and created afresh."""
    print("== The Rollout CRD and a fresh namespace", file=options.out, flush=True)
    cluster = (options.kubeconfig, options.kubectl)
    crd = "crd/rollouts.landinggear.dev"
    _kubectl(*cluster, "apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    _kubectl(*cluster, "wait", "--for=condition=Established", "--timeout=60s", crd)
    delete_namespace(*cluster, options.namespace)
    _kubectl(*cluster, "create", "namespace", options.namespace)


def _sent(traffic: TrafficGenerator | ServiceTraffic) -> int:
    return sum(c.sent for c in traffic.counts().values())


def run(options: Options, stack: Stack) -> Summary:
    """Acts 1 to 4 against a started ``stack``; the summary of what was measured."""
    story = Story(options, stack)
    v1 = story.deploy()
    traffic = stack.traffic  # before v1 served, every request slot found no route
    sent, unrouted, dropped = _sent(traffic), traffic.unrouted, traffic.dropped
    failed = traffic.failed
    healthy = story.healthy_release(v1)
    bad = story.bad_release(healthy.revision)
    flagged = flagged_release(story, healthy.revision, manifests()[1])
    return Summary(
        healthy=healthy,
        bad=bad,
        flagged=flagged,
        requests_sent=_sent(traffic) - sent,
        requests_unrouted=traffic.unrouted - unrouted,
        requests_dropped=traffic.dropped - dropped,
        requests_failed=traffic.failed - failed,
        network=(
            "load → ClusterIP → kube-proxy → pod IPs, in the cluster's network namespace"
            if stack.local
            else "loopback, split by Ready pods"
        ),
        processes=[],
    )
