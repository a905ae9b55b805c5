"""Metric looks off the reconcile path, their results handed back through the work queue.

A reconcile never waits for Prometheus. It asks :meth:`Measurer.collect`: if a
look of this Rollout's analysis has finished, its results come back to be
folded in by ``decide``; if looks are due and none runs, they are started on the
measurements' event loop (a thread of its own) and the reconcile goes on
without them; when they finish, the Rollout's key is queued again. A look
belongs to one analysis (revision and stage): results for an analysis that has
moved on (a new release, a promotion) are dropped.

Every look ends — with answers, errors, or its deadline
(:meth:`controller.reconcile.analyst.Analyst.measure_due`) — so a Rollout with a
look in flight is always looked at again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from datetime import datetime

import structlog

from controller.api.analysis import Stage
from controller.api.v1alpha1 import Rollout
from controller.core import looks
from controller.core.measurements import Measurement, Measurements
from controller.kube.objects import ObjectKey
from controller.reconcile.analyst import Analyst, Subject

log = structlog.get_logger("landinggear.analysis")


@dataclass(frozen=True, kw_only=True)
class Collected:
    """What a reconcile gets: finished looks to fold in, and whether looks still run."""

    measurements: Measurements | None = None
    pending: bool = False


@dataclass(frozen=True, kw_only=True)
class _Job:
    revision: str
    stage: Stage
    started_at: datetime | None
    future: Future[Measurements]


class Measurer:
    """Runs the analyst's looks on its own event loop; ``on_ready(key)`` requeues."""

    def __init__(self, analyst: Analyst, *, on_ready: Callable[[ObjectKey], None]) -> None:
        self.analyst = analyst
        self.on_ready = on_ready
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running: dict[ObjectKey, _Job] = {}
        self._done: dict[ObjectKey, Measurements] = {}
        self.started = 0
        """Looks started so far (for the metrics)."""

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="measurements", daemon=True
        )
        self._thread.start()

    def alive(self) -> bool:
        """Whether the event loop runs."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel the looks in flight, close the providers, end the loop."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None

        async def shut_down() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.analyst.aclose()

        try:
            asyncio.run_coroutine_threadsafe(shut_down(), loop).result(timeout)
        except Exception as err:
            log.warning("Failed to close the measurements cleanly", error=repr(err))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()

    def collect(self, key: ObjectKey, rollout: Rollout, now: datetime) -> Collected:
        """Finished looks of ``rollout``'s current analysis; starts the due ones."""
        spec = rollout.spec.strategy.canary.analysis
        target = looks.target(spec, rollout.status, now=now) if spec is not None else None
        with self._lock:
            done = self._done.pop(key, None)
            running = self._running.get(key)
        if spec is None or target is None:
            return Collected()
        if done is not None and (done.revision, done.stage) == (target.revision, target.stage):
            return Collected(measurements=done, pending=running is not None)
        if running is not None:
            return Collected(pending=True)
        due = looks.plan(spec, target.current, now=now)
        if not due:
            return Collected()
        if self._loop is None:
            raise RuntimeError("the measurer is not running")
        look = self.analyst.measure_due(Subject.of(rollout), spec, target, due, now)
        future = asyncio.run_coroutine_threadsafe(look, self._loop)
        job = _Job(
            revision=target.revision,
            stage=target.stage,
            started_at=target.current.started_at,
            future=future,
        )
        with self._lock:
            self._running[key] = job
            self.started += 1
        future.add_done_callback(lambda f: self._finished(key, job, due, now))
        return Collected(pending=True)

    def _finished(self, key: ObjectKey, job: _Job, due: list[looks.Due], at: datetime) -> None:
        try:
            result = job.future.result()
        except BaseException as err:
            # the future of a cancelled look raises concurrent.futures' CancelledError
            if isinstance(err, CancelledError | asyncio.CancelledError) and self._loop is None:
                with self._lock:  # stopping: not a result, and nothing to log
                    if self._running.get(key) is job:
                        del self._running[key]
                return
            log.error("Measurement raised", namespace=key.namespace, rollout=key.name,
                      error=repr(err))  # fmt: skip
            failed = tuple(Measurement(metric=d.metric.name, error=repr(err)) for d in due)
            result = Measurements(
                revision=job.revision,
                at=at,
                results=failed,
                stage=job.stage,
                started_at=job.started_at,
            )
        with self._lock:
            if self._running.get(key) is job:
                del self._running[key]
            self._done[key] = result
        self.on_ready(key)

    def forget(self, key: ObjectKey) -> None:
        """The Rollout is gone: drop its results (a look in flight ends on its own)."""
        with self._lock:
            self._done.pop(key, None)
