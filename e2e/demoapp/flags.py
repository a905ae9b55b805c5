"""A feature flag as an app sees it: evaluated by a real SDK, watched for changes.

``FlagWatcher`` asks its source every ``period`` seconds (20 ms by default) whether
the flag is on, so a request reads the last answer without waiting on the SDK,
and records when the app first saw it go off: the gauges
``demo_flag_enabled{flag}`` (1 on, 0 off) and
``demo_flag_observed_off_timestamp_seconds{flag}`` (Unix time of the last on → off
change the app observed) let a test or the demo measure "flag switched off →
the app's own SDK sees it off" through Prometheus.

Sources: :class:`UnleashSource` (``UnleashClient`` from PyPI, polling the Unleash
server every second with a backend token, as an app in production would), and
:class:`e2e.demoapp.flagd.FlagdSource` (the OpenFeature SDK with flagd's
in-process resolver reading a flagd JSON file, as an app on the OpenFeature
Operator would; its own module, as its SDK loads grpc).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge

__all__ = ["FlagWatcher", "UnleashSource"]

log = logging.getLogger(__name__)


class UnleashSource:
    """``is_on()`` from a real Unleash SDK client (refreshing every ``refresh`` seconds)."""

    def __init__(
        self, *, url: str, token: str, flag: str, app_name: str, cache_dir: Path, refresh: int = 1
    ) -> None:
        from UnleashClient import UnleashClient  # type: ignore[attr-defined]

        self.flag = flag
        self.client = UnleashClient(
            url=url.rstrip("/") + "/api",
            app_name=app_name,
            custom_headers={"Authorization": token},
            refresh_interval=refresh,
            disable_metrics=True,
            disable_registration=True,
            cache_directory=str(cache_dir),
        )
        self.client.initialize_client()

    def is_on(self) -> bool:
        return bool(self.client.is_enabled(self.flag))

    def close(self) -> None:
        self.client.destroy()


class FlagWatcher:
    """The flag's last known state, refreshed in a thread, with its metrics."""

    def __init__(
        self,
        flag: str,
        is_on: Callable[[], bool],
        registry: CollectorRegistry,
        *,
        period: float = 0.02,
    ) -> None:
        self.flag = flag
        self._is_on = is_on
        self._period = period
        self.on = bool(is_on())
        self._stop = threading.Event()
        self._enabled = Gauge(
            "demo_flag_enabled", "1 while the app's SDK says the flag is on.", ["flag"],
            registry=registry,
        )  # fmt: skip
        self._off_at = Gauge(
            "demo_flag_observed_off_timestamp_seconds",
            "Unix time the app's SDK last saw the flag go from on to off (0: never).",
            ["flag"],
            registry=registry,
        )
        self._enabled.labels(flag=flag).set(1 if self.on else 0)
        self._off_at.labels(flag=flag)
        self._thread = threading.Thread(target=self._loop, name=f"flag-{flag}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._period):
            try:
                now_on = bool(self._is_on())
            except Exception as err:  # an SDK error keeps the last known state
                log.warning("flag %s: %s", self.flag, err)
                continue
            if self.on and not now_on:
                self._off_at.labels(flag=self.flag).set(time.time())
            self.on = now_on
            self._enabled.labels(flag=self.flag).set(1 if now_on else 0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
