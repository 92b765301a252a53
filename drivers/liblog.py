"""The protocol libraries' own log records, kept at DEBUG.

asyncua, pymodbus and python-snap7 log routine faults (a server that went away, a reset socket, an
answer they cannot parse) at WARNING or ERROR, often with a traceback. The drivers turn those faults
into the project's errors and the engine logs one line when a device starts failing and one when it
recovers (docs/ARCHITECTURE.md §5); the library's own account of the same event is for debugging.

`keep_at_debug("asyncua")` sends every record of that logger tree through one handler that lowers it
to DEBUG (traceback kept) and hands it on only where DEBUG is enabled, so `shopfloor -vv` still
shows everything and a service log at INFO shows none of it.
"""

from __future__ import annotations

import logging

PROTOCOL_LIBRARIES = ("asyncua", "pymodbus", "snap7")


class _AtDebug(logging.Handler):
    """Lowers a library's record to DEBUG and passes it to the handlers above the library's logger."""

    def __init__(self, top: logging.Logger) -> None:
        super().__init__()
        self.top = top

    def emit(self, record: logging.LogRecord) -> None:
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        above = self.top.parent
        if above is not None and logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            above.handle(record)


def keep_at_debug(library: str) -> None:
    """Every record of `library`'s loggers at DEBUG from now on (idempotent)."""
    top = logging.getLogger(library)
    if any(isinstance(h, _AtDebug) for h in top.handlers):
        return
    top.addHandler(_AtDebug(top))
    top.propagate = False  # the handler passes the lowered record on instead
