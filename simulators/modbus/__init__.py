"""Modbus PLC simulators (TCP, RTU on a serial line, RTU over TCP) with device quirks and faults.

Layout:
  profiles.py    YAML register maps (``profiles/*.yaml``) and their validation
  sources.py     machine snapshot -> engineering value per register (signals, waveforms)
  codec.py       value -> register words (scale, wrap, ABCD/BADC/CDAB/DCBA)
  device.py      UnitDevice: one unit id's machine, register image, quirks, PDU handling
  framing.py     RTU CRC16 and frame splitting
  transports.py  asyncio servers: Modbus TCP, RTU over TCP, RTU on a serial device
  simulator.py   PlcSimulator / PlcBusSimulator: lifecycle, update loop, faults on demand
  cli.py         run_plc() for ``shopfloor simulate plc``
  testing.py     ManualClock, wait_until, socat_pty_pair for tests and scenarios
  bench.py       ``python -m simulators.modbus.bench``: CPU of N polled simulators

The Modbus protocol is handled here rather than by pymodbus's server so that every
quirk (silent dead units, stalls, per-request busy/failure answers, 1-based maps)
is exact and a read costs only a slice of a precomputed bytearray.
"""

from simulators.modbus.profiles import (
    Profile,
    ProfileError,
    RegisterSpec,
    Table,
    available_profiles,
    load_profile,
)
from simulators.modbus.quirks import ExceptionCode, Quirks
from simulators.modbus.simulator import PlcBusSimulator, PlcSimulator, UnitSpec

__all__ = [
    "ExceptionCode",
    "PlcBusSimulator",
    "PlcSimulator",
    "Profile",
    "ProfileError",
    "Quirks",
    "RegisterSpec",
    "Table",
    "UnitSpec",
    "available_profiles",
    "load_profile",
]
