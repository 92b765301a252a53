"""asyncio helpers the runtime shares."""

from __future__ import annotations

import asyncio


async def first_of(*events: asyncio.Event) -> None:
    """Return as soon as any of the events is set (the waits on the others are cancelled)."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
