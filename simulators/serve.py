"""One simulator served from the command line until its task is cancelled (Ctrl-C, shutdown)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any


async def serve_until_cancelled(sim: AbstractAsyncContextManager[Any], banner: Callable[[], str]) -> None:
    """Start the simulator, print `banner()` once it listens (its port is known by then), then wait."""
    async with sim:
        print(banner(), flush=True)
        await asyncio.Event().wait()
