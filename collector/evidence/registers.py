"""The plant's registers as the pack shows them: 设备台账 and 数据采集点清单 rows (docs/STANDARDS.md §8.1).

Both come from the loaded configuration (templates already merged), never from the store: they are
what the plant *declares*; the pack then shows what the data proves against them.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.config.device import Report
from collector.config.modbus import ModbusTag
from collector.config.opcua import OpcUaDevice, OpcUaTag
from collector.config.plant import Device, ModbusDevice, PlantConfig
from drivers.opcua.options import Mode

PROTOCOL_NAMES = {
    "modbus_tcp": "Modbus TCP",
    "modbus_rtu": "Modbus RTU",
    "modbus_rtu_over_tcp": "Modbus RTU over TCP",
    "opcua": "OPC UA",
}


@dataclass(frozen=True, slots=True)
class DataPoint:
    """One row of the data-point register; `period_ms` is the expected sampling period."""

    device: str
    tag: str
    name_zh: str
    description: str
    unit: str
    datatype: str
    method: str  # poll | on_change | subscribe
    period_ms: int
    heartbeat_ms: int | None
    source_address: str
    business_link: str
    required: bool
    enabled: bool = True


def endpoint(device: Device) -> str:
    if isinstance(device, OpcUaDevice):
        return device.endpoint
    host = getattr(device, "host", None)
    if host is not None:
        return f"{host}:{getattr(device, 'port', '')}"
    serial = getattr(device, "serial", None)
    return str(serial.port) if serial is not None else ""


def isa95_path(plant: PlantConfig, device: Device) -> str:
    parts = [plant.site.enterprise, plant.site.site, device.area or "", device.line or "", device.id]
    return "/".join(p for p in parts if p)


def data_points(plant: PlantConfig) -> list[DataPoint]:
    out: list[DataPoint] = []
    for device in plant.devices:
        if isinstance(device, OpcUaDevice):
            out += [_opcua_point(device, tag) for tag in device.tags]
        else:
            out += [_modbus_point(device, tag) for tag in device.tags]
    return out


def _modbus_point(device: ModbusDevice, tag: ModbusTag) -> DataPoint:
    on_change = device.report is Report.ON_CHANGE
    order = tag.byte_order or device.byte_order
    address = f"{tag.address.table.value} {device.wire_address(tag)} unit {device.unit_id} {order.value}"
    if tag.bit is not None:
        address += f" bit {tag.bit}"
    return DataPoint(
        device=device.id, tag=tag.name, name_zh=tag.name_zh or "", description=tag.description or "",
        unit=tag.unit or "", datatype=tag.type.value, method="on_change" if on_change else "poll",
        period_ms=round(device.poll_interval * 1000),
        heartbeat_ms=round(device.heartbeat * 1000) if on_change else None,
        source_address=address, business_link=tag.business_link.value if tag.business_link else "",
        required=tag.required,
    )  # fmt: skip


def _opcua_point(device: OpcUaDevice, tag: OpcUaTag) -> DataPoint:
    mode = tag.mode or device.mode
    heartbeat: int | None
    if mode is Mode.SUBSCRIBE:
        # The collector stores the subscription's latest value at every poll (on_change: at least every
        # heartbeat) while the keep-alive holds, so a value is due within the longer of the two.
        period = tag.sampling_interval if tag.sampling_interval is not None else device.publishing_interval
        stored = device.heartbeat if device.report is Report.ON_CHANGE else device.poll_interval
        method, heartbeat = "subscribe", round(max(device.keepalive, stored) * 1000)
    else:
        period, method = device.poll_interval, "poll"
        heartbeat = round(device.heartbeat * 1000) if device.report is Report.ON_CHANGE else None
    return DataPoint(
        device=device.id, tag=tag.name, name_zh=tag.name_zh or "", description=tag.description or "",
        unit=tag.unit or "", datatype="", method=method, period_ms=round(period * 1000),
        heartbeat_ms=heartbeat, source_address=tag.node,
        business_link=tag.business_link.value if tag.business_link else "", required=tag.required,
    )  # fmt: skip
