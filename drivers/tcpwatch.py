"""Waiting out a reconnect delay while watching whether a lost device accepts TCP again.

A device that went away (switched off, rebooting, cable pulled) refuses or ignores TCP connections;
the moment it accepts one again it is worth connecting at once, instead of sleeping out a backoff
step that may be a minute long. A device whose port accepted connections all along is left alone:
its trouble is above TCP (a unit that does not answer, a certificate the server refuses), and
probing it would only open and close connections on a device that is up.
"""

from __future__ import annotations

import asyncio
import contextlib


async def accepts(host: str, port: int, within: float) -> bool:
    """Whether host:port accepts a TCP connection within `within` s (the connection is closed again)."""
    try:
        async with asyncio.timeout(within):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):  # the device may reset a connection it did not expect
        await writer.wait_closed()
    return True


async def sleep_until_back(host: str, port: int, delay: float, period: float) -> bool:
    """Sleep `delay` seconds, trying a TCP connection every `period`. True as soon as one succeeds
    after one failed during this wait (the device is back); False when the delay ran out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay
    seen_down = False
    while (left := deadline - loop.time()) > 0:
        started = loop.time()
        if await accepts(host, port, min(period, left)):
            if seen_down:
                return True
            await asyncio.sleep(max(0.0, deadline - loop.time()))  # up all along: nothing to watch
            return False
        seen_down = True
        await asyncio.sleep(max(0.0, min(started + period, deadline) - loop.time()))
    return False
