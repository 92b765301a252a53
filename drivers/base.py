"""Contracts every driver honours: what it returns and the only errors it raises.

The engine decides what to do next from the error class alone (docs/ARCHITECTURE.md), so drivers translate
library exceptions at their boundary into this tree and always chain the cause (`raise ... from exc`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

Scalar = bool | int | float | str | None


@dataclass(frozen=True, slots=True)
class RawSample:
    """One tag's value as the device gave it, before normalisation."""

    tag: str
    value: Scalar | list[bool | int | float | str]
    status: int  # OPC UA StatusCode as uint32; 0 = Good
    source_ts: int | None = None  # ms since epoch, from the device when the protocol carries one
    server_ts: int | None = None


class DriverError(Exception):
    """Base of every error a driver module raises. Only the three below leave a driver's `read()`;
    the others (a protocol's request errors, plan and address errors) stay inside its package."""


class DeviceUnreachable(DriverError):
    """The connection is gone or cannot be made: reconnect with jittered backoff."""


class DeviceBusy(DriverError):
    """The device asked us to come back later: retry in place."""


class ReadRejected(DriverError):
    """The device refused one read: mark the tags it covers Bad and keep reading the others."""

    def __init__(self, message: str, tags: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.tags = tags


class Driver(Protocol):
    """What the engine needs of a driver: connect on enter (bounded by a timeout), read, close on exit."""

    async def __aenter__(self) -> Driver: ...

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def read(self) -> list[RawSample]:
        """One value per configured tag; raises only DeviceUnreachable, DeviceBusy or ReadRejected."""
        ...
