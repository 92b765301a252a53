"""Process memory housekeeping: hand the C allocator's free pages back to the OS once a minute
(glibc only; elsewhere a no-op), and keep startup's objects out of the garbage collector's passes.

Measured in the soak (BENCHMARKS.md, "Soak and chaos"): with the memory in use flat (glibc's
malloc_stats: +2 KB in three minutes) the main arena still grew about 0.1 MiB a minute. Blocks freed
between longer-lived ones leave holes the next request of another size does not fit, so the heap's
top moves up and the process's RSS with it. malloc_trim(0) returns every whole free page of the
arena, not only its top, so RSS follows what is really in use. One call on a ~25 MB heap takes well
under a millisecond (bench/soak records it in the collector's log at debug level).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable

log = logging.getLogger(__name__)

EVERY_S = 60.0


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, …)
        return None
    fn = getattr(libc, "malloc_trim", None)
    if fn is None:
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


class MemoryTrimmer:
    def __init__(self, every: float = EVERY_S) -> None:
        self.every = every
        self._trim = _malloc_trim()
        self.trims = 0
        self.released = 0  # calls that gave memory back

    @property
    def available(self) -> bool:
        return self._trim is not None

    def trim(self) -> bool:
        """One malloc_trim(0); True when the allocator gave memory back to the OS."""
        if self._trim is None:
            return False
        started = time.perf_counter()
        gave_back = bool(self._trim(0))
        self.trims += 1
        self.released += gave_back
        took = 1000 * (time.perf_counter() - started)
        log.debug(
            "malloc_trim: %s in %.2f ms", "memory released" if gave_back else "nothing to release", took
        )
        return gave_back

    async def run(self) -> None:
        """Until cancelled."""
        if self._trim is None:
            return
        while True:
            await asyncio.sleep(self.every)
            self.trim()


@contextlib.asynccontextmanager
async def trimming(every: float = EVERY_S) -> AsyncIterator[MemoryTrimmer]:
    """A long-running service's body: trims once every `every` seconds while inside."""
    trimmer = MemoryTrimmer(every)
    task = asyncio.create_task(trimmer.run(), name="malloc-trim")
    try:
        yield trimmer
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def freeze_startup() -> int:
    """Exempt what startup left alive (modules, configuration, the engine) from garbage collection.

    A full collection walks every tracked object; the collector holds ~120,000 after startup and a
    full pass took 70-134 ms on this machine, all of it an event-loop stall. Frozen objects are
    skipped, so full passes walk only what the running collector creates. Call once, before any
    device connects: an object frozen and later dropped inside a reference cycle is never freed,
    and connections come and go while startup's modules and configuration stay.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def thaw() -> None:
    """Undo freeze_startup() for good, before a reload drops part of what startup built (the old
    configuration): frozen, it would never be collected. Full passes walk everything again."""
    if gc.get_freeze_count():
        gc.unfreeze()
