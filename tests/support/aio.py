"""Running coroutines from synchronous tests (the suite has no asyncio plugin)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

P = ParamSpec("P")


def synchronously(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Turn an ``async def`` test into a plain one that runs it on a fresh event loop.

    The signature is kept, so fixtures and ``parametrize`` arguments still reach it.
    """

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(test(*args, **kwargs))

    return run
