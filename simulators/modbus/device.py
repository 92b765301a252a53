"""One simulated Modbus device (unit): its machine, register image, quirks and PDU handling.

The register image is a set of bytearrays, one per table, recomputed once per
update. Requests are answered by slicing those arrays, so a read costs a few
microseconds no matter how often clients poll.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import struct
from collections.abc import Iterable
from typing import Any

from simulators.clock import SimClock
from simulators.machine import MachineModel, MachineProfile
from simulators.modbus.codec import WordCodec
from simulators.modbus.profiles import Profile, RegisterSpec, Table
from simulators.modbus.quirks import ExceptionCode, Quirks
from simulators.modbus.sources import ValueEngine

log = logging.getLogger(__name__)

# Per-address status in the image: unmapped (02), readable, or failing (04).
_UNMAPPED, _OK, _BAD = 0, 1, 2
# What other protocols' simulators (simulators/mapped.py) read from `status`.
UNMAPPED, FAILING = _UNMAPPED, _BAD
_READ_FC = {1: Table.COIL, 2: Table.DISCRETE_INPUT, 3: Table.HOLDING_REGISTER, 4: Table.INPUT_REGISTER}
_UINT16_PAIR = struct.Struct(">HH")


def exception_pdu(fc: int, code: ExceptionCode) -> bytes:
    return bytes((fc | 0x80, code))


def _pack_bits(bits: bytes | bytearray) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


def machine_profile(overrides: dict[str, Any]) -> MachineProfile:
    """MachineProfile with profile-file overrides (YAML lists become the tuples it expects)."""
    fields = {f.name for f in dataclasses.fields(MachineProfile)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown MachineProfile fields: {sorted(unknown)}")
    clean: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return MachineProfile(**clean)


class _Slot:
    """Precomputed placement of one register in the image."""

    __slots__ = ("codec", "offset", "spec", "table")

    def __init__(self, spec: RegisterSpec, base: int, order: str) -> None:
        self.spec = spec
        self.table = spec.table
        wire = spec.address + base
        self.offset = wire if spec.table.is_bit else 2 * wire
        self.codec = None if spec.table.is_bit else WordCodec(spec.type, spec.scale, spec.byte_order or order)


class UnitDevice:
    """A PLC/meter behind one unit id. Not thread-safe; lives on one event loop."""

    def __init__(
        self,
        profile: Profile,
        *,
        seed: int,
        clock: SimClock | Any,
        quirks: Quirks | None = None,
        byte_order: str = "ABCD",
    ) -> None:
        self.profile = profile
        self.quirks = quirks or Quirks()
        self.byte_order = self.quirks.byte_order or byte_order
        self.clock = clock
        mprofile = machine_profile(profile.machine)
        self.machine = MachineModel(mprofile, seed=seed, start=clock.now())
        self.engine = ValueEngine(profile, seed, mprofile.cycle_time_s, self.quirks.counter_start)
        self.frozen = False
        self.forced_busy = False  # every request answers 06 (PlcSimulator.busy)
        self.clock_skew = 0.0
        self.requests = 0
        self._busy_rng = random.Random(seed ^ 0x5EED)
        base = self.quirks.address_base
        self._slots = [_Slot(r, base, self.byte_order) for r in profile.registers]
        self._by_name = {s.spec.name: s for s in self._slots}
        self.served: dict[str, float] = {}
        self.image: dict[Table, bytearray] = {}
        self.status: dict[Table, bytearray] = {}
        self.writable: dict[Table, bytearray] = {}
        self._build_maps()
        self.refresh()
        self._stepped_at = clock.now()  # the image above is the one for this instant

    # ------------------------------------------------------------------ layout
    def _build_maps(self) -> None:
        base = self.quirks.address_base
        for table in Table:
            regs = [r for r in self.profile.registers if r.table is table]
            end = max((r.address + r.words + base for r in regs), default=0)
            start = min((r.address + base for r in regs), default=0)
            width = 1 if table.is_bit else 2
            self.image[table] = bytearray(end * width)
            status = bytearray(end)
            # Gaps between registers read as 0 like most PLCs; only explicit holes and
            # addresses outside the map answer 02.
            status[start:end] = bytes((_OK,)) * (end - start)
            writable = bytearray(end)
            for r in regs:
                if r.writable:
                    writable[r.address + base : r.address + base + r.words] = b"\x01" * r.words
            self.status[table], self.writable[table] = status, writable
        for hole_table, lo, hi in self.quirks.holes:
            status = self.status[Table(hole_table)]
            for addr in range(lo + base, min(hi + base + 1, len(status))):
                status[addr] = _UNMAPPED

    def set_bad(self, names: Iterable[str] | None) -> None:
        """Answer 04 for requests touching these registers (None: every register)."""
        self.clear_bad()
        slots = self._slots if names is None else [self._slot(n) for n in names]
        base = self.quirks.address_base
        for s in slots:
            status = self.status[s.table]
            for addr in range(s.spec.address + base, s.spec.address + base + s.spec.words):
                if status[addr] == _OK:
                    status[addr] = _BAD

    def bad_registers(self) -> list[str]:
        base = self.quirks.address_base
        return [s.spec.name for s in self._slots if self.status[s.table][s.spec.address + base] == _BAD]

    def clear_bad(self) -> None:
        for status in self.status.values():
            for i, v in enumerate(status):
                if v == _BAD:
                    status[i] = _OK

    def _slot(self, name: str) -> _Slot:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"profile {self.profile.name!r} has no register {name!r}") from None

    # ------------------------------------------------------------------ values
    def step(self) -> None:
        """Advance the machine to the clock and recompute the image (unless frozen).

        Values are a function of simulated time: when the clock has not moved (an injected clock in a
        test), the image stays as it is, so noise sources are not drawn again between two reads."""
        now = self.clock.now()
        if now == self._stepped_at:
            return
        self._stepped_at = now
        self.machine.advance_to(now)
        if not self.frozen:
            self.refresh()

    def refresh(self) -> None:
        values = self.engine.evaluate(self.machine.snapshot, self.clock_skew)
        for slot in self._slots:
            self._store(slot, values[slot.spec.name])

    def _store(self, slot: _Slot, value: float) -> None:
        img = self.image[slot.table]
        if slot.codec is None:
            bit = 1 if value else 0
            img[slot.offset] = bit
            self.served[slot.spec.name] = bit
        else:
            data = slot.codec.encode(value)
            img[slot.offset : slot.offset + len(data)] = data
            self.served[slot.spec.name] = slot.codec.decode(data)

    def value(self, name: str) -> float:
        self._slot(name)
        return self.served[name]

    def _after_write(self, table: Table, lo: int, hi: int) -> None:
        """Re-decode registers touched by a write so value() and setpoints follow the wire."""
        for slot in self._slots:
            spec = slot.spec
            if slot.table is not table:
                continue
            wire = spec.address + self.quirks.address_base
            if wire >= hi or wire + spec.words <= lo:
                continue
            if slot.codec is None:
                val = float(self.image[table][slot.offset])
            else:
                val = slot.codec.decode(bytes(self.image[table][slot.offset : slot.offset + 2 * spec.words]))
            self.served[spec.name] = val
            if spec.name in self.engine.setpoints:
                self.engine.setpoints[spec.name] = val

    # ------------------------------------------------------------------ protocol
    def is_busy(self) -> bool:
        if self.forced_busy:
            return True
        q = self.quirks
        if q.busy_every and self.requests % q.busy_every == 0:
            return True
        return bool(q.busy_probability) and self._busy_rng.random() < q.busy_probability

    def handle(self, pdu: bytes) -> bytes:
        """Answer one request PDU (function code + data) with a response PDU."""
        self.requests += 1
        if not pdu:
            return exception_pdu(0, ExceptionCode.ILLEGAL_FUNCTION)
        fc = pdu[0]
        if self.is_busy():
            return exception_pdu(fc, ExceptionCode.SLAVE_DEVICE_BUSY)
        try:
            if fc in _READ_FC:
                return self._read(fc, pdu)
            if fc in (5, 6, 15, 16):
                return self._write(fc, pdu)
        except (struct.error, IndexError):
            return exception_pdu(fc, ExceptionCode.ILLEGAL_DATA_VALUE)
        return exception_pdu(fc, ExceptionCode.ILLEGAL_FUNCTION)

    def _check(self, fc: int, table: Table, start: int, count: int) -> bytes | None:
        limit = self.quirks.max_bits if table.is_bit else self.quirks.max_registers
        if not 1 <= count <= limit:
            return exception_pdu(fc, ExceptionCode.ILLEGAL_DATA_VALUE)
        seg = self.status[table][start : start + count]
        if len(seg) < count or _UNMAPPED in seg:
            return exception_pdu(fc, ExceptionCode.ILLEGAL_DATA_ADDRESS)
        if _BAD in seg:
            return exception_pdu(fc, ExceptionCode.SLAVE_DEVICE_FAILURE)
        return None

    def _read(self, fc: int, pdu: bytes) -> bytes:
        table = _READ_FC[fc]
        start, count = _UINT16_PAIR.unpack_from(pdu, 1)
        if (err := self._check(fc, table, start, count)) is not None:
            return err
        img = self.image[table]
        if table.is_bit:
            payload = _pack_bits(img[start : start + count])
        else:
            payload = bytes(img[2 * start : 2 * (start + count)])
        return bytes((fc, len(payload))) + payload

    def _write(self, fc: int, pdu: bytes) -> bytes:
        table = Table.COIL if fc in (5, 15) else Table.HOLDING_REGISTER
        start, qty = _UINT16_PAIR.unpack_from(pdu, 1)
        if fc == 5:
            if qty not in (0x0000, 0xFF00):
                return exception_pdu(fc, ExceptionCode.ILLEGAL_DATA_VALUE)
            count, values = 1, bytes((1 if qty else 0,))
        elif fc == 6:
            count, values = 1, pdu[3:5]
        else:
            count, nbytes = qty, pdu[5]
            data = pdu[6 : 6 + nbytes]
            expected = (count + 7) // 8 if fc == 15 else 2 * count
            if nbytes != expected or len(data) != nbytes:
                return exception_pdu(fc, ExceptionCode.ILLEGAL_DATA_VALUE)
            values = bytes((data[i >> 3] >> (i & 7)) & 1 for i in range(count)) if fc == 15 else data
        if (err := self._check(fc, table, start, count)) is not None:
            return err
        if 0 in self.writable[table][start : start + count]:
            return exception_pdu(fc, ExceptionCode.ILLEGAL_DATA_ADDRESS)
        width = 1 if table.is_bit else 2
        self.image[table][width * start : width * (start + count)] = values
        self._after_write(table, start, start + count)
        return pdu[:5] if fc in (5, 6) else bytes((fc,)) + _UINT16_PAIR.pack(start, count)
