"""What the S7 and MC drivers share: connecting and reconnecting, the plan made around the tags the
device refused, and the bookkeeping of one poll. A subclass says how to plan and how to read a plan.

    class S7Driver(BlockPollingDriver[S7TagSpec, Request, bytes]):
        def _make_plan(self, tags): ...                       # requests for these tags
        async def _read_all(self, plan, got, failures): ...   # fill `got`, name what failed
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Generic, Protocol, Self, TypeVar

from drivers.base import DeviceUnreachable, DriverError, RawSample
from drivers.blockcodec import BlockCodec
from drivers.pollstate import FailureLog, PollStats, UnreadableTags
from drivers.status import BAD_NOT_READABLE, unanswered


class Link(Protocol):
    @property
    def connected(self) -> bool: ...

    async def connect(self) -> None: ...

    async def close(self) -> None: ...


class Named(Protocol):
    @property
    def name(self) -> str: ...


TagT = TypeVar("TagT", bound=Named)
PlanT = TypeVar("PlanT")
RawT = TypeVar("RawT")


class BlockPollingDriver(Generic[TagT, PlanT, RawT]):
    """Connect on enter (DeviceUnreachable if it cannot), reconnect at the start of the next `read()`
    after the link went down; `link_down` is the link's error for "the connection is gone"."""

    link_down: type[DriverError]

    def __init__(
        self,
        device_id: str,
        tags: Sequence[TagT],
        link: Link,
        unreadable_ttl: float | None,
        log: logging.Logger,
    ) -> None:
        self.device_id = device_id
        self.tags = tuple(tags)
        self.link = link
        self.stats = PollStats()
        self.unreadable = UnreadableTags(unreadable_ttl)
        self.failing = FailureLog(log, device_id)
        self.plan: list[PlanT] = []
        self._planned: tuple[frozenset[str], object] | None = None
        self._skipped: tuple[TagT, ...] = ()
        self._connected_once = False
        self._raw: dict[str, RawT] | None = None

    # ------------------------------------------------------------------ what a protocol supplies
    def _make_plan(self, tags: Sequence[TagT]) -> list[PlanT]:
        raise NotImplementedError

    async def _read_all(self, plan: Sequence[PlanT], got: dict[str, RawSample], failures: set[str]) -> None:
        raise NotImplementedError

    def _plan_inputs(self) -> object:
        """Anything besides the unreadable tags whose change calls for a new plan."""
        return None

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Self:
        await self._connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.link.close()

    async def _connect(self) -> None:
        try:
            await self.link.connect()
        except self.link_down as exc:
            raise self._unreachable(exc) from exc
        if self._connected_once:
            self.stats.reconnects += 1
            self.unreadable.clear()  # the PLC may have been reloaded while we were away
        self._connected_once = True
        self._planned = None

    def _unreachable(self, exc: Exception) -> DeviceUnreachable:
        self.failing.set(f"unreachable ({exc})", logging.DEBUG)
        return DeviceUnreachable(f"{self.device_id}: {exc}")

    def _current_plan(self) -> list[PlanT]:
        """The plan for the tags not known to be unreadable; re-made only when its inputs changed."""
        key = (self.unreadable.active(), self._plan_inputs())
        if key != self._planned:
            self._planned = key
            self._skipped = tuple(t for t in self.tags if t.name in key[0])
            self.plan = self._make_plan([t for t in self.tags if t.name not in key[0]])
        return self.plan

    # ------------------------------------------------------------------ polling
    async def read(self) -> list[RawSample]:
        return await self._poll(None)

    async def read_with_raw(self) -> tuple[list[RawSample], dict[str, RawT]]:
        """Like `read()`, plus the raw data behind each tag that was read."""
        raw: dict[str, RawT] = {}
        return await self._poll(raw), raw

    async def _poll(self, raw: dict[str, RawT] | None) -> list[RawSample]:
        if not self.link.connected:
            await self._connect()
        started, sent_before = time.perf_counter(), self.stats.requests
        plan = self._current_plan()
        got = {t.name: RawSample(t.name, None, BAD_NOT_READABLE) for t in self._skipped}
        failures: set[str] = set()
        self._raw = raw
        try:
            await self._read_all(plan, got, failures)
        except self.link_down as exc:
            raise self._unreachable(exc) from exc
        finally:
            self._raw = None
        self.stats.polls += 1
        self.stats.last_poll_s = time.perf_counter() - started
        self.stats.last_poll_requests = self.stats.requests - sent_before
        samples = [got[t.name] for t in self.tags]
        # a poll nobody answered is the engine's to report (it sees every status); else ours
        level = logging.DEBUG if unanswered(s.status for s in samples) else logging.WARNING
        self.failing.set("; ".join(sorted(failures)) if failures else None, level)
        return samples

    def _remember_refused(self, refused: list[str], failures: set[str], why: str) -> None:
        """Tags the device refused even alone: skipped by the next plans, counted, said once."""
        self.unreadable.remember(refused)
        self.stats.isolated += len(refused)
        if refused:
            failures.add(f"{', '.join(refused)}: {why}")

    @staticmethod
    def _put_decoded(got: dict[str, RawSample], tags: Sequence[TagT], codec: BlockCodec, data: bytes) -> None:
        for tag, (value, status) in zip(tags, codec.decode(data), strict=True):
            got[tag.name] = RawSample(tag.name, value, status)

    @staticmethod
    def _put_bad(got: dict[str, RawSample], tags: Sequence[TagT], status: int) -> None:
        for tag in tags:
            got[tag.name] = RawSample(tag.name, None, status)
