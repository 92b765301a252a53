"""Helpers for tests and scenarios that drive PLC simulators (no pytest dependency)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


class ManualClock:
    """A clock that only moves when told to: exact, reproducible simulated time."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = float(start)

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], within_s: float = 5.0, interval: float = 0.02
) -> None:
    """Poll `predicate` until it is true; TimeoutError after `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {within_s} s")
        await asyncio.sleep(interval)


_PTY_RE = re.compile(rb"PTY is (\S+)")


@contextlib.asynccontextmanager
async def socat_pty_pair(within_s: float = 5.0) -> AsyncIterator[tuple[str, str]]:
    """Two linked pseudo terminals from ``socat``: serve RTU on one, poll on the other."""
    proc = await asyncio.create_subprocess_exec(
        "socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    drain: asyncio.Task[None] | None = None
    try:
        assert proc.stderr is not None
        paths: list[str] = []
        async with asyncio.timeout(within_s):
            while len(paths) < 2:
                line = await proc.stderr.readline()
                if not line:
                    raise RuntimeError("socat exited before creating the pty pair")
                if m := _PTY_RE.search(line):
                    paths.append(m.group(1).decode())
        stderr = proc.stderr

        async def _drain() -> None:  # keep socat from blocking on a full stderr pipe
            while await stderr.readline():
                pass

        drain = asyncio.create_task(_drain())
        await wait_until(lambda: all(os.path.exists(p) for p in paths), within_s=within_s)
        yield paths[0], paths[1]
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(5):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if drain is not None:
            drain.cancel()
            await asyncio.gather(drain, return_exceptions=True)
