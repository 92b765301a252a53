"""Which driver serves which device, and the tag policies its readings are normalised with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from collector.config.mc import McDevice
from collector.config.modbus import ModbusRtuDevice, ModbusRtuOverTcpDevice, ModbusTcpDevice
from collector.config.opcua import OpcUaDevice
from collector.config.plant import Device
from collector.config.s7 import S7Device
from collector.normalise.telemetry import TagPolicy
from drivers.base import Driver
from drivers.modbus.bus import BusRegistry
from drivers.modbus.spec import DataType

DriverFactory = Callable[[Device], Driver]
OPCUA_PORT = 4840  # the IANA port of opc.tcp, when an endpoint names none

# the Python type a Modbus tag's values are normalised to; every other (integer) type is int
_KINDS: dict[DataType, type] = {
    DataType.BOOL: bool, DataType.STRING: str, DataType.FLOAT32: float, DataType.FLOAT64: float,
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
        if isinstance(device, S7Device):
            from drivers.s7.driver import S7Driver

            return S7Driver(device.driver_options())
        if isinstance(device, McDevice):
            from drivers.mc.driver import McDriver

            return McDriver(device.driver_options())
        raise NoDriver(f"{device.id}: no driver for protocol {device.protocol}")


def tcp_endpoint(device: Device) -> tuple[str, int] | None:
    """The host and port a device is reached at over TCP (None on a serial line)."""
    if isinstance(device, OpcUaDevice):
        url = urlsplit(device.endpoint)
        try:
            port = url.port
        except ValueError:  # a port the configuration let through but a socket would not take
            return None
        return (url.hostname, port or OPCUA_PORT) if url.hostname else None
    if isinstance(device, ModbusRtuDevice):
        return None
    return device.host, device.port


def tag_policies(device: Device) -> list[TagPolicy]:
    if isinstance(device, OpcUaDevice):
        return [
            TagPolicy(t.name, None, t.deadband.value if t.deadband else None, t.unit) for t in device.tags
        ]
    if isinstance(device, S7Device):
        return [TagPolicy(t.name, t.value_kind, t.deadband, t.unit) for t in device.tags]
    if isinstance(device, McDevice):
        return [TagPolicy(t.name, t.value_kind(device.series), t.deadband, t.unit) for t in device.tags]
    return [TagPolicy(t.name, _KINDS.get(t.value_type, int), t.deadband, t.unit) for t in device.tags]
