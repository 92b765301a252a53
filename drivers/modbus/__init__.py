"""Modbus driver (TCP, RTU, RTU over TCP): planner, decoder, shared buses and the driver itself."""

from drivers.backoff import Backoff
from drivers.modbus.bus import Bus, BusRegistry, QuarantinePolicy
from drivers.modbus.driver import ModbusDriver, WriteRefused
from drivers.modbus.options import Endpoint, ModbusDriverOptions
from drivers.modbus.stats import DriverStats

__all__ = [
    "Backoff",
    "Bus",
    "BusRegistry",
    "DriverStats",
    "Endpoint",
    "ModbusDriver",
    "ModbusDriverOptions",
    "QuarantinePolicy",
    "WriteRefused",
]
