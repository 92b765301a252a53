"""MC driver: one CPU over the 3E binary frame, every tag read once per `read()` in merged batch reads.

    async with McDriver(options) as drv:     # connects within `timeout`, or DeviceUnreachable
        samples = await drv.read()           # one RawSample per tag, in configuration order

End codes become tag statuses, only for the tags of the refused read:
* "device range exceeded" (4031, C056) on a read that merges several tags: the tags are read one by
  one, the ones the CPU refuses alone are BAD_NOT_READABLE and skipped for `unreadable_ttl` (or until
  reconnect); the next polls read around them.
* "device code not supported" (C05B, C05C): BAD_NOT_READABLE, with the hint that the CPU lacks it.
* "too many points" (C051): the read is split in halves and the smaller limit kept for the plan.
* anything else: BAD_DEVICE_FAILURE with the end code in the log.

`read()` raises only DeviceUnreachable; it reconnects by itself on the next `read()`. A read without an
answer within `timeout` makes its tags BAD_TIMEOUT and skips the rest of that poll. Read-only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from drivers.base import DeviceUnreachable, RawSample
from drivers.mc.options import McDriverOptions
from drivers.mc.plan import Read, describe_plan, make_read, plan_reads
from drivers.mc.spec import McTagSpec
from drivers.mc.transport import EndCode, Garbled, LinkDown, McLink, Timeout
from drivers.pollstate import FailureLog, PollStats, UnreadableTags
from drivers.status import BAD_COMMUNICATION_ERROR, BAD_DEVICE_FAILURE, BAD_NOT_READABLE, BAD_TIMEOUT

log = logging.getLogger(__name__)
RawWords = dict[str, tuple[int, ...]]

RANGE_EXCEEDED = frozenset({0x4031, 0xC056})
NO_SUCH_DEVICE = frozenset({0xC05B, 0xC05C})
TOO_MANY_POINTS = frozenset({0xC051})


class McDriver:
    """Polls one Mitsubishi CPU; see the module doc for the contract."""

    def __init__(self, options: McDriverOptions) -> None:
        self.options = options
        self.device_id = options.id
        self.tags: tuple[McTagSpec, ...] = options.tags
        self.link = McLink(options)
        self.stats = PollStats()
        self.unreadable = UnreadableTags(options.unreadable_ttl)
        self.failing = FailureLog(log, options.id)
        self.max_words = options.max_words
        self.plan: list[Read] = []
        self._planned: tuple[frozenset[str], int] | None = None
        self._skipped: tuple[McTagSpec, ...] = ()
        self._connected_once = False
        self._raw: RawWords | None = None
        self._current_plan()  # a tag larger than one read is a configuration error: raise it now

    async def __aenter__(self) -> McDriver:
        await self._connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.link.close()

    async def _connect(self) -> None:
        try:
            await self.link.connect()
        except LinkDown as exc:
            self.failing.set(f"unreachable ({exc})", logging.DEBUG)
            raise DeviceUnreachable(f"{self.device_id}: {exc}") from exc
        if self._connected_once:
            self.stats.reconnects += 1
            self.unreadable.clear()  # the CPU may have been changed while we were away
        self._connected_once = True

    def describe_plan(self) -> str:
        return describe_plan(self._current_plan(), self.options.series)

    def _current_plan(self) -> list[Read]:
        skip = self.unreadable.active()
        if (skip, self.max_words) != self._planned:
            self._planned = (skip, self.max_words)
            self._skipped = tuple(t for t in self.tags if t.name in skip)
            keep = [t for t in self.tags if t.name not in skip]
            o = self.options
            self.plan = plan_reads(keep, self.max_words, o.max_gap, o.string_encoding)
        return self.plan

    # ------------------------------------------------------------------ polling
    async def read(self) -> list[RawSample]:
        return await self._poll(None)

    async def read_with_raw(self) -> tuple[list[RawSample], RawWords]:
        """Like `read()`, plus the words behind each tag that was read."""
        raw: RawWords = {}
        return await self._poll(raw), raw

    async def _poll(self, raw: RawWords | None) -> list[RawSample]:
        if not self.link.connected:
            await self._connect()
        started, sent_before = time.perf_counter(), self.stats.requests
        plan = self._current_plan()
        got = {t.name: RawSample(t.name, None, BAD_NOT_READABLE) for t in self._skipped}
        failures: set[str] = set()
        self._raw = raw
        try:
            await self._read_all(plan, got, failures)
        except LinkDown as exc:
            self.failing.set(f"unreachable ({exc})", logging.DEBUG)
            raise DeviceUnreachable(f"{self.device_id}: {exc}") from exc
        finally:
            self._raw = None
        self.stats.polls += 1
        self.stats.last_poll_s = time.perf_counter() - started
        self.stats.last_poll_requests = self.stats.requests - sent_before
        self.failing.set("; ".join(sorted(failures)) if failures else None)
        return [got[t.name] for t in self.tags]

    async def _read_all(self, reads: Sequence[Read], got: dict[str, RawSample], failures: set[str]) -> None:
        for i, r in enumerate(reads):
            try:
                await self._read_one(r, got, failures)
            except Timeout as exc:
                self.stats.timeouts += 1
                failures.add(str(exc))
                for rest in reads[i:]:  # the CPU is not answering: do not spend a timeout per read
                    _put_bad(got, rest.tags, BAD_TIMEOUT)
                return

    async def _read_one(self, r: Read, got: dict[str, RawSample], failures: set[str]) -> None:
        try:
            data = await self._send(r)
        except Garbled as exc:
            _put_bad(got, r.tags, BAD_COMMUNICATION_ERROR)
            failures.add(f"garbled answer ({exc})")
            return
        except EndCode as exc:
            await self._refused(r, exc.code, got, failures)
            return
        self._decode(r, data, got)

    async def _send(self, r: Read) -> bytes:
        started = time.perf_counter()
        self.stats.requests += 1
        data = await self.link.read_words(r.device.info.code, r.head, r.count)
        self.stats.last_latency_s = time.perf_counter() - started
        return data

    async def _refused(self, r: Read, code: int, got: dict[str, RawSample], failures: set[str]) -> None:
        self.stats.refused[f"{code:#06x}"] += 1
        where = r.describe(self.options.series).split(" (")[0]
        if code in TOO_MANY_POINTS and r.count > 1:
            self.max_words = min(self.max_words, r.count // 2)
            self.stats.limit_learned = self.max_words
            log.warning(
                "device %s: refuses %d words in one read (end code %#06x); reading at most %d from now on",
                self.device_id, r.count, code, self.max_words,
            )  # fmt: skip
            o = self.options
            await self._read_all(
                plan_reads(r.tags, self.max_words, o.max_gap, o.string_encoding), got, failures
            )
            return
        if code in RANGE_EXCEEDED and len({(t.first_word, t.words) for t in r.tags}) > 1:
            await self._isolate(r, got, failures)
            return
        status = BAD_NOT_READABLE if code in RANGE_EXCEEDED | NO_SUCH_DEVICE else BAD_DEVICE_FAILURE
        _put_bad(got, r.tags, status)
        why = (
            "the CPU has no such device (check the device letter and the series)"
            if code in NO_SUCH_DEVICE
            else ""
        )
        failures.add(f"{where}: end code {code:#06x}" + (f", {why}" if why else ""))

    async def _isolate(self, r: Read, got: dict[str, RawSample], failures: set[str]) -> None:
        """Read a refused read's tags one at a time; remember the ones the CPU refuses alone."""
        refused = []
        for tag in r.tags:
            single = make_read(tag.device, tag.first_word, tag.words, [tag], self.options.string_encoding)
            try:
                self._decode(single, await self._send(single), got)
            except EndCode as exc:
                self.stats.refused[f"{exc.code:#06x}"] += 1
                got[tag.name] = RawSample(tag.name, None, BAD_NOT_READABLE)
                refused.append(tag.name)
        self.unreadable.remember(refused)
        self.stats.isolated += len(refused)
        if refused:
            failures.add(f"{', '.join(refused)}: beyond the CPU's device range (end code 0xc056/0x4031)")

    def _decode(self, r: Read, data: bytes, got: dict[str, RawSample]) -> None:
        for tag, (value, status) in zip(r.tags, r.codec.decode(data), strict=True):
            got[tag.name] = RawSample(tag.name, value, status)
        if self._raw is not None:
            for tag in r.tags:
                at = 2 * (tag.first_word - r.start)
                self._raw[tag.name] = tuple(
                    int.from_bytes(data[i : i + 2], "little") for i in range(at, at + 2 * tag.words, 2)
                )


def _put_bad(got: dict[str, RawSample], tags: Sequence[McTagSpec], status: int) -> None:
    for tag in tags:
        got[tag.name] = RawSample(tag.name, None, status)
