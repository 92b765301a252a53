"""Free ports and waits (no fixed sleeps).

`wait_for` and `async_wait_for` are the tests' only "wait until" helpers: every caller states how
long it waits and what for, so a failure says both.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

import pytest

T = TypeVar("T")
SHOWN = 4000  # characters of the last result a timeout message shows


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for(probe: Callable[[], T], timeout: float, what: str, *, until: Callable[[T], object] = bool) -> T:
    """Call `probe` until `until` accepts its result (by default: the result is truthy) and return
    that result. After `timeout` seconds, TimeoutError names `what`, the timeout and the last result."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        got = probe()
        if until(got):
            return got
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout, got)
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


@overload
async def async_wait_for(
    probe: Callable[[], Awaitable[T]], timeout: float, what: str, *, until: Callable[[T], object] = ...
) -> T: ...
@overload
async def async_wait_for(
    probe: Callable[[], T], timeout: float, what: str, *, until: Callable[[T], object] = ...
) -> T: ...
async def async_wait_for(
    probe: Callable[[], Any], timeout: float, what: str, *, until: Callable[[Any], object] = bool
) -> Any:
    """`wait_for` in a coroutine: `probe` may be a plain function or return an awaitable (e.g. an
    async read), and the event loop runs between tries."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        result = probe()
        got = await result if inspect.isawaitable(result) else result
        if until(got):
            return got
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout, got)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)


def _timed_out(what: str, timeout: float, last: object) -> TimeoutError:
    message = f"timed out after {timeout}s waiting for {what}"
    if not isinstance(last, bool | None):  # a True/False/None says nothing the message does not
        shown = repr(last)
        message += f"; last: {shown if len(shown) <= SHOWN else shown[:SHOWN] + ' ...'}"
    return TimeoutError(message)


def require_binary(name: str, *candidates: str) -> str:
    """Path of a binary the test needs; in CI (CI=true) a missing one fails instead of skipping."""
    for candidate in (name, *candidates):
        path = shutil.which(candidate) or (
            candidate if os.path.isabs(candidate) and os.access(candidate, os.X_OK) else None
        )
        if path:
            return path
    message = f"{name} is not installed (run ./scripts/setup as root)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)
