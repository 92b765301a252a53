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

from drivers.base import RawSample
from drivers.blockpoll import BlockPollingDriver
from drivers.mc.options import McDriverOptions
from drivers.mc.plan import Read, describe_plan, make_read, plan_reads
from drivers.mc.spec import McTagSpec
from drivers.mc.transport import EndCode, Garbled, LinkDown, McLink, Timeout
from drivers.status import BAD_COMMUNICATION_ERROR, BAD_DEVICE_FAILURE, BAD_NOT_READABLE, BAD_TIMEOUT

log = logging.getLogger(__name__)

RANGE_EXCEEDED = frozenset({0x4031, 0xC056})
NO_SUCH_DEVICE = frozenset({0xC05B, 0xC05C})
TOO_MANY_POINTS = frozenset({0xC051})


class McDriver(BlockPollingDriver[McTagSpec, Read, tuple[int, ...]]):
    """Polls one Mitsubishi CPU; see the module doc for the contract."""

    link_down = LinkDown

    def __init__(self, options: McDriverOptions) -> None:
        self.options = options
        self.mc = McLink(options)
        self.max_words = options.max_words
        super().__init__(options.id, options.tags, self.mc, options.unreadable_ttl, log)
        self._current_plan()  # a tag larger than one read is a configuration error: raise it now

    def _make_plan(self, tags: Sequence[McTagSpec]) -> list[Read]:
        return plan_reads(tags, self.max_words, self.options.max_gap, self.options.string_encoding)

    def _plan_inputs(self) -> object:
        return self.max_words  # a smaller frame limit learned from the CPU

    def describe_plan(self) -> str:
        return describe_plan(self._current_plan(), self.options.series)

    async def _read_all(self, reads: Sequence[Read], got: dict[str, RawSample], failures: set[str]) -> None:
        for i, r in enumerate(reads):
            try:
                await self._read_one(r, got, failures)
            except Timeout as exc:
                self.stats.timeouts += 1
                failures.add(str(exc))
                for rest in reads[i:]:  # the CPU is not answering: do not spend a timeout per read
                    self._put_bad(got, rest.tags, BAD_TIMEOUT)
                return

    async def _read_one(self, r: Read, got: dict[str, RawSample], failures: set[str]) -> None:
        try:
            data = await self._send(r)
        except Garbled as exc:
            self._put_bad(got, r.tags, BAD_COMMUNICATION_ERROR)
            failures.add(f"garbled answer ({exc})")
            return
        except EndCode as exc:
            await self._refused(r, exc.code, got, failures)
            return
        self._decode(r, data, got)

    async def _send(self, r: Read) -> bytes:
        started = time.perf_counter()
        self.stats.requests += 1
        data = await self.mc.read_words(r.device.info.code, r.head, r.count)
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
        self._put_bad(got, r.tags, status)
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
        self._remember_refused(refused, failures, "beyond the CPU's device range (end code 0xc056/0x4031)")

    def _decode(self, r: Read, data: bytes, got: dict[str, RawSample]) -> None:
        self._put_decoded(got, r.tags, r.codec, data)
        if self._raw is not None:
            for tag in r.tags:
                at = 2 * (tag.first_word - r.start)
                self._raw[tag.name] = tuple(
                    int.from_bytes(data[i : i + 2], "little") for i in range(at, at + 2 * tag.words, 2)
                )
