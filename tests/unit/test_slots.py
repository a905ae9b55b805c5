"""A provider's slot: an evicted provider is closed only once every look on it is done."""

from __future__ import annotations

import asyncio
from datetime import datetime

from controller.providers import Sample
from controller.providers.prometheus_config import PrometheusConfig
from controller.reconcile.slots import PER_PROVIDER_LOOKS, ProviderSlot


class Held:
    """A provider whose queries answer when the test says; records when it is closed."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.asked = 0
        self.answered = 0
        self.closed_after: int | None = None

    async def query(self, promql: str, *, at: datetime | None = None) -> list[Sample]:
        self.asked += 1
        order = self.asked
        await self.release.wait()
        await asyncio.sleep(0.02 * order)  # the looks finish one after another
        self.answered += 1
        return []

    async def aclose(self) -> None:
        self.closed_after = self.answered


def test_an_evicted_provider_closes_after_all_its_looks_not_the_first() -> None:
    provider = Held()
    slot = ProviderSlot(
        config=PrometheusConfig.model_validate({"address": "http://p.test:9090"}),
        provider=provider,
    )

    async def look() -> None:
        async with slot.turn(5.0):
            await slot.watched().query("up")

    async def run() -> None:
        looks = [asyncio.create_task(look()) for _ in range(PER_PROVIDER_LOOKS)]
        await asyncio.sleep(0.01)  # every look holds its turn
        slot.close_later()
        provider.release.set()
        await asyncio.gather(*looks)
        for _ in range(10):
            await asyncio.sleep(0.01)
            if provider.closed_after is not None:
                break

    asyncio.run(run())
    assert provider.closed_after == PER_PROVIDER_LOOKS
