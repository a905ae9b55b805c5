"""One Prometheus as the analysis uses it: its provider, the looks it runs at once,
when it last answered, and the reads it has settled.

Each provider runs at most :data:`PER_PROVIDER_LOOKS` looks at once, each asking one
query at a time, so a slow server only ever holds its own slots. A look waits for its
turn as long as the provider keeps answering: with more analyses than Prometheus
serves, the controller is behind and its looks are late, not failed. Once the server
has answered nothing (an HTTP error counts as an answer) for a look's deadline, a look
still waiting fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime

from controller.providers import MetricProvider, ProviderHTTPStatus, Sample
from controller.providers.counters import SettledReads
from controller.providers.prometheus_config import PrometheusConfig

__all__ = ["PER_PROVIDER_LOOKS", "ProviderSlot"]

PER_PROVIDER_LOOKS = 4
"""Looks one provider runs at once; a look asks one query at a time, so this is also
the bound on its concurrent queries."""


@dataclass(kw_only=True)
class ProviderSlot:
    """A provider, its configuration, the limit on its concurrent looks, when it last
    answered, and its settled reads."""

    config: PrometheusConfig
    provider: MetricProvider
    limit: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(PER_PROVIDER_LOOKS))
    answered: float = -math.inf
    """The loop's time of the provider's last answer (an HTTP error is an answer)."""
    settled: SettledReads = field(default_factory=SettledReads)

    def watched(self) -> MetricProvider:
        """The provider, recording in this slot when it answers."""
        return _Watched(self)

    @contextlib.asynccontextmanager
    async def turn(
        self, deadline: float, *, on_wait: Callable[[float], None] | None = None
    ) -> AsyncIterator[None]:
        """Hold one of the provider's slots. Waits as long as the provider keeps
        answering (the look is late); raises TimeoutError once it has answered
        nothing for ``deadline`` seconds."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        while True:
            try:
                async with asyncio.timeout(deadline):
                    await self.limit.acquire()
                break
            except TimeoutError:
                if loop.time() - self.answered >= deadline:
                    raise
        if on_wait is not None:
            on_wait(loop.time() - began)
        try:
            yield
        finally:
            self.limit.release()

    def close_later(self) -> None:
        """Close an evicted provider once all its looks are done (on the running loop)."""

        async def close() -> None:
            for _ in range(PER_PROVIDER_LOOKS):
                await self.limit.acquire()
            try:
                await self.provider.aclose()
            finally:
                for _ in range(PER_PROVIDER_LOOKS):
                    self.limit.release()

        try:
            asyncio.get_running_loop().create_task(close())
        except RuntimeError:  # no loop (tests calling provider() directly): nothing in flight
            asyncio.run(self.provider.aclose())


class _Watched:
    """A provider that records when it answers in its :class:`ProviderSlot`."""

    def __init__(self, slot: ProviderSlot) -> None:
        self._slot = slot

    async def query(self, promql: str, *, at: datetime | None = None) -> list[Sample]:
        try:
            samples = await self._slot.provider.query(promql, at=at)
        except ProviderHTTPStatus:
            self._answered()
            raise
        self._answered()
        return samples

    def _answered(self) -> None:
        self._slot.answered = asyncio.get_running_loop().time()

    async def aclose(self) -> None:
        await self._slot.provider.aclose()
