"""The whole plant file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from collector.config.calendar import CalendarConfig
from collector.config.common import Strict
from collector.config.modbus import ModbusRtuDevice, ModbusRtuOverTcpDevice, ModbusTcpDevice
from collector.config.opcua import OpcUaDevice
from collector.config.register import RegisterConfig
from collector.config.sinks import Evidence, Mqtt, Storage, Web
from collector.config.site import Site

Device = Annotated[
    ModbusTcpDevice | ModbusRtuDevice | ModbusRtuOverTcpDevice | OpcUaDevice,
    Field(discriminator="protocol"),
]
ModbusDevice = ModbusTcpDevice | ModbusRtuDevice | ModbusRtuOverTcpDevice


class PlantConfig(Strict):
    version: Literal[1] = 1
    site: Site
    data_dir: Path = Field(Path("data"), description="state, outboxes, ledger; relative to the plant file")
    templates_dir: Path = Field(Path("templates"), description="device tag maps, relative to the plant file")
    devices_dir: Path | None = Field(None, description="one YAML file per device, relative to the plant file")
    devices: list[Device] = Field(default_factory=list)
    mqtt: Mqtt = Field(default_factory=Mqtt)
    storage: Storage = Field(default_factory=Storage)
    evidence: Evidence = Field(default_factory=Evidence)
    web: Web = Field(default_factory=Web)
    calendar: CalendarConfig = Field(default_factory=CalendarConfig, description="shifts, breaks, stops")
    equipment: RegisterConfig | None = Field(
        None, description="the 设备台账: all equipment, connected or not (default: the devices' asset:)"
    )
