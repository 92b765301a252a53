"""Modbus driver: one device (TCP, RTU, RTU over TCP), every tag read once per `read()`.

    registry = BusRegistry()                       # one per collector: devices on a line share it
    async with ModbusDriver(options, registry) as drv:    # options: ModbusDriverOptions
        samples = await drv.read()                 # list[RawSample], one per tag

Reads follow the plan made once at construction (`plan_reads` with the device's limits). A merged
read refused with exception 02 is bisected; the unreadable ranges are remembered (`HoleMemory`, until
reconnect or `hole_ttl`) and later polls read around them (`replan`), so one bad address costs its own
tags only (docs/STANDARDS.md §9.2). Per tag, failures become statuses, never stale values: a timeout gives
BAD_TIMEOUT, an exception response BAD_DEVICE_FAILURE (BAD_NOT_READABLE inside a hole), a garbled
answer BAD_COMMUNICATION_ERROR, all with value None.

`read()` raises only DeviceUnreachable (connection gone or unit quarantined on a shared line) and
DeviceBusy (exception 06 after `busy_retries` retries in place). Reconnect semantics: the driver
reconnects by itself at the start of the next `read()` after a DeviceUnreachable, so the engine only
waits (with `Backoff`) and calls `read()` again; it never needs to rebuild the driver. Entering
`async with` raises DeviceUnreachable if the first connection cannot be made. `read()` is not
re-entrant: one task polls a driver (devices on one line may be polled from different tasks).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from types import TracebackType

from drivers.base import DeviceBusy, DeviceUnreachable, RawSample, ReadRejected
from drivers.modbus.bus import Bus, BusRegistry
from drivers.modbus.decode import Decoded, TagDecoder, Value, compile_decoder
from drivers.modbus.errors import (
    ILLEGAL_DATA_ADDRESS,
    ILLEGAL_DATA_VALUE,
    SLAVE_DEVICE_BUSY,
    ExceptionResponse,
    GarbledResponse,
    LinkDown,
    RequestFailed,
    RequestTimeout,
    UnitQuarantined,
)
from drivers.modbus.options import ModbusDriverOptions
from drivers.modbus.planner import (
    HoleMemory,
    IllegalAddress,
    ReadRequest,
    Replan,
    bisect_read,
    plan_reads,
    replan,
)
from drivers.modbus.spec import ModbusTagSpec, Table
from drivers.modbus.stats import DriverStats
from drivers.modbus.transport import Link
from drivers.status import BAD_NOT_READABLE, BAD_TIMEOUT, unanswered

log = logging.getLogger(__name__)
RawWords = dict[str, tuple[int, ...]]


class WriteRefused(ReadRejected):
    """A write the driver will not send (tag not writable, value does not fit) or the device refused."""


DecodeFn = Callable[[Sequence[int]], Decoded]


def _codec(decoder: TagDecoder) -> tuple[DecodeFn, int]:
    """The tag's decode function and width, looked up once so the poll loop does not."""
    spec = decoder.spec
    return (decoder.decode_bits if spec.table.is_bit else decoder.decode), spec.count


class ModbusDriver:
    """Polls one Modbus device; see the module doc for the contract."""

    def __init__(
        self,
        device: ModbusDriverOptions,
        registry: BusRegistry | None = None,
        *,
        busy_retries: int = 3,
        busy_delay_s: float = 0.05,
    ) -> None:
        self.device_id = device.id
        self.unit_id = device.unit_id
        self.timeout = device.timeout
        self.retries = device.retries
        self.busy_retries, self.busy_delay_s = busy_retries, busy_delay_s
        self.specs: tuple[ModbusTagSpec, ...] = device.tags
        self.limits = device.limits
        self.plan: list[ReadRequest] = plan_reads(self.specs, self.limits)  # PlanError: bad config
        self._decoders: dict[str, TagDecoder] = {t.name: compile_decoder(t) for t in self.specs}
        self._codecs = {t.name: _codec(self._decoders[t.name]) for t in self.specs}
        self._by_name = {t.name: t for t in self.specs}
        self._groups = sorted({(r.unit_id, r.table) for r in self.plan}, key=lambda g: (g[0], g[1].value))
        self.holes = HoleMemory(device.hole_ttl)
        self._current = Replan(self.plan, [])
        self._holes_key: tuple[tuple[tuple[int, int], ...], ...] | None = ()
        self.bus: Bus = (registry or BusRegistry()).bus_for(device.endpoint, self.timeout, device.id)
        self.stats = DriverStats()
        self._generation = 0
        self._entered = False
        self._failing: str | None = None  # what is wrong, logged once until it recovers
        self._raw: RawWords | None = None

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> ModbusDriver:
        try:
            await self.bus.acquire()
        except LinkDown as exc:
            self._set_failing(str(exc), logging.DEBUG)
            raise DeviceUnreachable(f"{self.device_id}: {exc}") from exc
        self._entered = True
        self._note_generation()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._entered:
            self._entered = False
            self.bus.release()

    async def _ensure_connected(self) -> None:
        if not self._entered:
            raise RuntimeError("use `async with ModbusDriver(...)` before read()")
        try:
            self.bus.check_unit(self.unit_id)
            await self.bus.ensure_open()
        except (LinkDown, UnitQuarantined) as exc:
            raise self._unreachable(exc) from exc
        self._note_generation()

    def _note_generation(self) -> None:
        if self.bus.generation != self._generation:
            if self._generation:
                self.stats.reconnects += 1
                self.holes.clear()  # the device may have been reconfigured while we were away
            self._generation = self.bus.generation

    # ------------------------------------------------------------------ polling
    async def read(self) -> list[RawSample]:
        """One poll of every tag: one sample per tag, in configuration order."""
        return await self._poll(None)

    async def read_with_raw(self) -> tuple[list[RawSample], RawWords]:
        """Like `read()`, plus the raw registers (or bits) behind each tag that was read."""
        raw: RawWords = {}
        return await self._poll(raw), raw

    async def _poll(self, raw: RawWords | None) -> list[RawSample]:
        await self._ensure_connected()
        started, sent_before = time.perf_counter(), self.stats.requests
        self._raw = raw
        requests, skipped = self._current_plan()
        got: dict[str, RawSample] = {t.name: RawSample(t.name, None, BAD_NOT_READABLE) for t in skipped}
        failures: set[str] = set()
        try:
            await self._read_all(requests, got, failures)
        except (LinkDown, UnitQuarantined) as exc:
            raise self._unreachable(exc) from exc
        finally:
            self._raw = None
        self.stats.polls += 1
        self.stats.last_poll_s = time.perf_counter() - started
        self.stats.last_poll_requests = self.stats.requests - sent_before
        samples = [got[t.name] for t in self.specs]
        # a poll nobody answered is the engine's to report (it sees every status); else ours
        level = logging.DEBUG if unanswered(s.status for s in samples) else logging.WARNING
        self._set_failing(", ".join(sorted(failures)) if failures else None, level)
        return samples

    async def _read_all(
        self, requests: Sequence[ReadRequest], got: dict[str, RawSample], failures: set[str]
    ) -> None:
        timed_out = False
        for req in requests:
            if timed_out:  # the unit is not answering: do not spend a timeout per request
                self._put_bad(got, req.tags, BAD_TIMEOUT)
                continue
            try:
                for sample in await self._read_request(req):
                    got[sample.tag] = sample
            except RequestFailed as exc:
                self._put_bad(got, req.tags, exc.status)
                failures.add(_describe(exc))
                timed_out = isinstance(exc, RequestTimeout)

    def _current_plan(self) -> Replan:
        """The base plan, or (only when the remembered holes changed) a replan around them."""
        key = tuple(tuple(self.holes.ranges(unit, table)) for unit, table in self._groups)
        if key != self._holes_key:
            self._holes_key = key
            self._current = replan(self.plan, self.holes, self.limits) if any(key) else Replan(self.plan, [])
        return self._current

    async def _read_request(self, req: ReadRequest) -> list[RawSample]:
        try:
            data = await self._send(req)
        except ExceptionResponse as exc:
            if exc.code == ILLEGAL_DATA_VALUE:
                return await self._read_smaller(req, exc)
            if exc.code != ILLEGAL_DATA_ADDRESS:
                raise
            return await self._bisect(req)
        return self._decode(req, data)

    async def _read_smaller(self, req: ReadRequest, exc: ExceptionResponse) -> list[RawSample]:
        """Exception 03 to a merged read: most devices mean "too many registers". Halve the request
        size for the device's plan (remembered, like a hole) and read this request's tags in halves."""
        limit = max(req.count // 2, max(t.count for t in req.tags))
        if limit >= req.count:
            raise exc  # one tag alone is refused: nothing to split
        self._learn_limit(req.table, limit, req.count)
        samples: list[RawSample] = []
        for sub in plan_reads(req.tags, self.limits):
            samples.extend(await self._read_request(sub))
        return samples

    def _learn_limit(self, table: Table, limit: int, refused: int) -> None:
        current, _gap = self.limits.for_table(table)
        if limit >= current:
            return
        kind = "bits" if table.is_bit else "registers"
        self.limits = replace(self.limits, **{f"max_{kind}": limit})
        self.plan = plan_reads(self.specs, self.limits)
        self._holes_key = None  # re-plan on the next poll
        self.stats.limit_learned[kind] = limit
        log.warning(
            "device %s: a read of %d %s was refused with exception 03; reading at most %d from now on "
            "(set max_%s: %d to start there)", self.device_id, refused, kind, limit, kind, limit,
        )  # fmt: skip

    async def _bisect(self, req: ReadRequest) -> list[RawSample]:
        found = await bisect_read(req, self._read_or_hole)
        self.holes.remember_holes(found.holes)
        self.stats.holes_learned += len(found.holes)
        if found.holes:
            log.info(
                "device %s: %d unreadable range(s) near %s %d..%d (exception 02), reading around them",
                self.device_id, len(found.holes), req.table.value, req.start, req.end - 1,
            )  # fmt: skip
        samples = [s for sub, data in found.good for s in self._decode(sub, data)]
        samples.extend(RawSample(t.name, None, BAD_NOT_READABLE) for t in found.bad_tags)
        return samples

    async def _read_or_hole(self, req: ReadRequest) -> Sequence[int] | IllegalAddress:
        try:
            return await self._send(req)
        except ExceptionResponse as exc:
            if exc.code == ILLEGAL_DATA_ADDRESS:
                return IllegalAddress()
            raise

    async def _send(self, req: ReadRequest) -> list[int]:
        """One read with bounded retries (timeouts, garbled answers) and busy retries in place."""
        failed = busy = 0
        while True:
            started = time.perf_counter()
            self.stats.requests += 1
            try:
                data = await self.bus.request(self.unit_id, lambda link: self._wire_read(link, req))
            except (RequestTimeout, GarbledResponse) as exc:
                self._count_failure(exc)
                failed += 1
                if failed > self.retries or self._quarantined():
                    raise
                continue
            except ExceptionResponse as exc:
                self.stats.exceptions[exc.code] += 1
                if exc.code != SLAVE_DEVICE_BUSY:
                    raise
                busy += 1
                if busy > self.busy_retries:
                    raise self._busy(busy) from exc
                self.stats.busy_retries += 1
                await asyncio.sleep(self.busy_delay_s * busy)
                continue
            self.stats.last_latency_s = time.perf_counter() - started
            return data

    async def _wire_read(self, link: Link, req: ReadRequest) -> list[int]:
        return await link.read(req.unit_id, req.table, req.start, req.count, self.timeout)

    def _count_failure(self, exc: RequestFailed) -> None:
        if isinstance(exc, RequestTimeout):
            self.stats.timeouts += 1
        else:
            self.stats.garbled += 1

    def _quarantined(self) -> bool:
        try:
            self.bus.check_unit(self.unit_id)
        except UnitQuarantined:
            return True
        return False

    def _decode(self, req: ReadRequest, data: Sequence[int]) -> list[RawSample]:
        # Hot path: the decode function and width of each tag were looked up once at construction.
        out: list[RawSample] = []
        raw, start, codecs = self._raw, req.start, self._codecs
        for tag in req.tags:
            decode, width = codecs[tag.name]
            lo = tag.address - start
            words = data[lo : lo + width]
            value, status = decode(words)
            out.append(RawSample(tag.name, value, status))
            if raw is not None:
                raw[tag.name] = tuple(words)
        return out

    @staticmethod
    def _put_bad(got: dict[str, RawSample], tags: Sequence[ModbusTagSpec], status: int) -> None:
        for tag in tags:
            got[tag.name] = RawSample(tag.name, None, status)

    # ------------------------------------------------------------------ errors and logging
    def _set_failing(self, what: str | None, level: int = logging.WARNING) -> None:
        """Log the change to failing once and the recovery once.

        Failures that surface as exceptions are logged by the engine, which sees the exception; here
        they go to DEBUG. Failures hidden inside a poll (Bad samples) are only visible here.
        """
        if what == self._failing:
            return
        if what is None:
            log.info("device %s: reading normally again", self.device_id)
        elif self._failing is None:
            log.log(level, "device %s: %s", self.device_id, what)
        self._failing = what

    def _unreachable(self, exc: Exception) -> DeviceUnreachable:
        self._set_failing(f"unreachable ({exc})", logging.DEBUG)
        return DeviceUnreachable(f"{self.device_id}: {exc}")

    def _busy(self, attempts: int) -> DeviceBusy:
        self._set_failing("busy (exception 06)", logging.DEBUG)
        return DeviceBusy(f"{self.device_id}: busy (exception 06) {attempts} times in a row")

    # ------------------------------------------------------------------ writing
    async def write(self, tag: str, value: Value) -> None:
        """Write one tag. Only tags configured `writable: true`; nothing is ever retried."""
        spec = self._by_name.get(tag)
        if spec is None or not spec.writable:
            why = "unknown tag" if spec is None else "not writable (set writable: true to allow writes)"
            raise WriteRefused(f"{self.device_id}: {tag}: {why}", (tag,))
        try:
            words = self._decoders[tag].encode(value)
        except ValueError as exc:
            raise WriteRefused(f"{self.device_id}: {exc}", (tag,)) from exc
        await self._ensure_connected()
        try:
            await self.bus.request(self.unit_id, lambda link: _write(link, spec, words))
        except (LinkDown, UnitQuarantined) as exc:
            raise self._unreachable(exc) from exc
        except RequestFailed as exc:
            raise WriteRefused(f"{self.device_id}: write {tag} failed: {_describe(exc)}", (tag,)) from exc


def _describe(exc: RequestFailed) -> str:
    if isinstance(exc, ExceptionResponse):
        return f"exception {exc.code:02d}"
    if isinstance(exc, RequestTimeout):
        return "timeout"
    return "garbled answers"


async def _write(link: Link, spec: ModbusTagSpec, words: list[int]) -> None:
    if spec.table is Table.COIL:
        await link.write_coil(spec.unit_id, spec.address, bool(words[0]))
    elif spec.bit is not None:  # one bit of a register: only that bit may change (FC22)
        mask = 1 << spec.bit
        await link.mask_write(spec.unit_id, spec.address, ~mask & 0xFFFF, words[0] & mask)
    else:
        await link.write_registers(spec.unit_id, spec.address, words)
