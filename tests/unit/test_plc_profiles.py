"""Register-map profiles, value encoding and PDU handling of the PLC simulator (no sockets)."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.modbus import ProfileError, Quirks, Table, available_profiles, load_profile
from simulators.modbus.codec import BYTE_ORDERS, WordCodec
from simulators.modbus.device import UnitDevice
from simulators.modbus.framing import RtuSplitter, crc16, with_crc
from simulators.modbus.profiles import parse_profile
from simulators.modbus.testing import ManualClock

pytestmark = pytest.mark.unit


def test_shipped_profiles_load() -> None:
    assert {"stacklight-plc", "energy-meter", "injection-molding"} <= set(available_profiles())
    for name in available_profiles():
        profile = load_profile(name)
        assert profile.name == name
        assert profile.registers


def test_stacklight_profile_contents() -> None:
    p = load_profile("stacklight-plc")
    for lamp in ("lamp_red", "lamp_yellow", "lamp_green", "run_bit", "alarm_bit"):
        assert p.register(lamp).table is Table.COIL
    assert p.register("parts_count16").type == "uint16"
    total = p.register("parts_total")
    assert (total.table, total.type, total.words) == (Table.HOLDING_REGISTER, "uint32", 2)


def test_energy_meter_and_molding_profiles() -> None:
    meter = load_profile("energy-meter")
    for name in ("voltage", "current", "power", "energy_kwh"):
        assert meter.register(name).type == "float32"
    assert meter.register("device_time").source.kind == "clock"
    molding = load_profile("injection-molding")
    temps = [r for r in molding.registers if r.name.startswith("barrel_temp_")]
    assert len(temps) >= 3 and all(r.type == "int16" and r.scale == 0.1 for r in temps)
    assert molding.register("mold_closed").table is Table.COIL


@pytest.mark.parametrize(
    ("order", "wire"),
    [("ABCD", "3f800000"), ("BADC", "803f0000"), ("CDAB", "00003f80"), ("DCBA", "0000803f")],
)
def test_float32_byte_orders(order: str, wire: str) -> None:
    codec = WordCodec("float32", 1.0, order)
    assert codec.encode(1.0).hex() == wire
    assert codec.decode(bytes.fromhex(wire)) == 1.0


@given(st.floats(width=32, allow_nan=False), st.sampled_from(BYTE_ORDERS))
def test_float32_round_trip(value: float, order: str) -> None:
    codec = WordCodec("float32", 1.0, order)
    assert codec.decode(codec.encode(value)) == value


@given(st.integers(-(2**31), 2**31 - 1), st.sampled_from(BYTE_ORDERS), st.sampled_from(["int32", "int64"]))
def test_integer_round_trip(value: int, order: str, type_name: str) -> None:
    codec = WordCodec(type_name, 1.0, order)
    assert codec.decode(codec.encode(value)) == value


def test_scaled_int16_and_counter_wrap() -> None:
    temp = WordCodec("int16", 0.1)
    assert temp.encode(215.3) == struct.pack(">h", 2153)
    assert temp.decode(temp.encode(-12.5)) == pytest.approx(-12.5)
    counter = WordCodec("uint16")
    assert counter.decode(counter.encode(65536 + 4)) == 4
    assert WordCodec("uint32").decode(WordCodec("uint32").encode(2**32 + 7)) == 7


def _profile(registers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "t", "registers": registers}


def _reg(name: str = "a", table: str = "holding_register", address: int = 0, **kw: Any) -> dict[str, Any]:
    kw.setdefault("source", {"constant": 1})
    return {"name": name, "table": table, "address": address, **kw}


@pytest.mark.parametrize(
    ("registers", "message"),
    [
        ([_reg(table="nope")], "table"),
        ([_reg(table="coil", type="uint16")], "fit"),
        ([_reg(source={"field": "alarm_text"})], "numeric"),
        ([_reg(source={"signal": "x"})], "signal"),
        ([_reg(type="uint32"), _reg("b", address=1)], "overlaps"),
        ([_reg("p", source={"product": {"of": ["v"]}})], "earlier"),
        ([_reg(table="input_register", writable=True)], "writable"),
        ([_reg(type="float32", byte_order="XYZW")], "byte_order"),
        ([_reg(), _reg(address=5)], "duplicate"),
        ([_reg(source={"bits": ["powered", "nope"]})], "bits"),
        ([_reg(source={"bits": []})], "bits"),
    ],
)
def test_invalid_profiles_are_rejected(registers: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profile(_profile(registers))


def test_unknown_profile_name() -> None:
    with pytest.raises(ProfileError, match="unknown profile"):
        load_profile("no-such-profile")


def test_crc16_known_vector() -> None:
    # Read holding register 0 (count 1) from unit 1: the textbook frame 01 03 00 00 00 01 84 0A.
    assert with_crc(bytes.fromhex("010300000001")).hex() == "010300000001840a"
    assert crc16(b"") == 0xFFFF


def test_rtu_splitter_handles_split_and_joined_frames() -> None:
    a = with_crc(bytes.fromhex("010300000002"))
    b = with_crc(bytes.fromhex("0210000a000204") + b"\x00\x01\x00\x02")
    splitter = RtuSplitter(gap_s=10)
    assert splitter.feed(a[:3]) == []
    assert splitter.feed(a[3:] + b) == [a[:-2], b[:-2]]
    bad = a[:-1] + bytes([a[-1] ^ 1])
    assert splitter.feed(bad + a) == [a[:-2]]
    assert splitter.crc_errors == 1


def make_device(**quirks: Any) -> UnitDevice:
    return UnitDevice(load_profile("stacklight-plc"), seed=1, clock=ManualClock(), quirks=Quirks(**quirks))


def test_device_pdu_exceptions() -> None:
    dev = make_device(max_registers=4, holes=(("holding_register", 5, 5),))
    assert dev.handle(bytes.fromhex("0300000004"))[:2] == b"\x03\x08"
    assert dev.handle(bytes.fromhex("0300000005")) == b"\x83\x03"  # above max_registers
    assert dev.handle(bytes.fromhex("0300040002")) == b"\x83\x02"  # touches the hole
    assert dev.handle(bytes.fromhex("0303e80001")) == b"\x83\x02"  # outside the map
    assert dev.handle(bytes.fromhex("2b0e0100")) == b"\xab\x01"  # unsupported function
    dev.set_bad(["alarm_code"])
    assert dev.handle(bytes.fromhex("0300030002")) == b"\x83\x04"
    dev.clear_bad()
    assert dev.handle(bytes.fromhex("0300030002"))[0] == 3


def test_device_writes_and_coil_packing() -> None:
    dev = make_device()
    assert dev.handle(bytes.fromhex("0600140064")) == bytes.fromhex("0600140064")
    assert dev.value("shift_target") == 100
    assert dev.handle(bytes.fromhex("0600000001")) == b"\x86\x02"
    assert dev.handle(bytes.fromhex("050008ff00")) == bytes.fromhex("050008ff00")
    assert dev.handle(bytes.fromhex("0500081234")) == b"\x85\x03"
    resp = dev.handle(bytes.fromhex("0100000009"))
    assert resp[:2] == b"\x01\x02" and resp[3] & 1 == 1  # coil 8 (horn_mute) is the 9th bit


def test_stack_light_lamps_are_exclusive_over_a_shift() -> None:
    clock = ManualClock()
    dev = UnitDevice(load_profile("stacklight-plc"), seed=5, clock=clock)
    phases = set()
    for _ in range(2000):
        clock.advance(20)
        dev.step()
        lamps = [dev.value(n) for n in ("lamp_red", "lamp_yellow", "lamp_green")]
        assert sum(lamps) <= 1
        assert dev.value("lamp_green") == dev.value("run_bit")
        phases.add(dev.machine.snapshot.phase.value)
        assert dev.value("parts_count16") == dev.machine.snapshot.parts_total % 65536
    assert {"running", "idle", "power_off"} <= phases


def test_quirks_byte_order_overrides_device_default() -> None:
    dev = UnitDevice(
        load_profile("energy-meter"),
        seed=1,
        clock=ManualClock(),
        quirks=Quirks(byte_order="DCBA"),
        byte_order="ABCD",
    )
    raw = dev.handle(bytes.fromhex("0300000002"))[2:]
    assert struct.unpack("<f", raw)[0] == dev.value("voltage")
    with pytest.raises(ValueError, match="address_base"):
        Quirks(address_base=2)
    assert Quirks(dead_units=[3, 4]).dead_units == frozenset({3, 4})
