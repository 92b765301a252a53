"""Which driver serves which device, and the tag policies its readings are normalised with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from collector.config.modbus import ModbusRtuDevice, ModbusRtuOverTcpDevice, ModbusTcpDevice
from collector.config.opcua import OpcUaDevice
from collector.config.plant import Device
from collector.normalise.telemetry import TagPolicy
from drivers.base import Driver
from drivers.modbus.bus import BusRegistry
from drivers.modbus.spec import DataType

DriverFactory = Callable[[Device], Driver]

_FLOATS = {DataType.FLOAT32, DataType.FLOAT64}
_INTS = {
    DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32, DataType.INT64, DataType.UINT64,
    DataType.BCD16, DataType.BCD32,
}  # fmt: skip


class NoDriver(Exception):
    """The device's protocol has no driver in this build."""


class Drivers:
    """Builds drivers; Modbus devices on one serial line or gateway share one bus via the registry."""

    def __init__(self, pki_dir: Path | None = None) -> None:
        self.bus_registry = BusRegistry()
        self.pki_dir = pki_dir  # OPC UA certificates; a device's own pki_dir wins

    def __call__(self, device: Device) -> Driver:
        if isinstance(device, ModbusTcpDevice | ModbusRtuDevice | ModbusRtuOverTcpDevice):
            from drivers.modbus.driver import ModbusDriver

            return ModbusDriver(device.driver_options(), self.bus_registry)
        if isinstance(device, OpcUaDevice):
            from drivers.opcua.driver import OpcUaDriver

            return OpcUaDriver(device.driver_options(), self.pki_dir)
        raise NoDriver(f"{device.id}: no driver for protocol {device.protocol}")


def tag_policies(device: Device) -> list[TagPolicy]:
    if isinstance(device, OpcUaDevice):
        return [
            TagPolicy(t.name, None, t.deadband.value if t.deadband else None, t.unit) for t in device.tags
        ]
    policies = []
    for tag in device.tags:
        scaled = tag.scale != 1.0 or tag.offset != 0.0
        kind: type
        if tag.type is DataType.BOOL:
            kind = bool
        elif tag.type is DataType.STRING:
            kind = str
        elif tag.type in _FLOATS or (tag.type in _INTS and scaled):
            kind = float
        else:
            kind = int
        policies.append(TagPolicy(tag.name, kind, tag.deadband, tag.unit))
    return policies
