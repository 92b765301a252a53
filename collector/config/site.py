"""Where the plant is: enterprise, site, areas and lines (ISA-95 levels that become topic levels)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from collector.config.common import Id, Strict


def _check_tz(value: str) -> str:
    if value not in available_timezones():
        raise PydanticCustomError(
            "timezone",
            "unknown time zone '{value}'",
            {"value": value, "hint": "use an IANA name such as 'Asia/Shanghai'"},
        )
    return value


class Line(Strict):
    id: Id
    name: str | None = None
    name_zh: str | None = None


class Area(Strict):
    id: Id
    name: str | None = None
    name_zh: str | None = None
    lines: list[Line] = Field(default_factory=list)


class Site(Strict):
    enterprise: Id
    enterprise_name_zh: str | None = None
    enterprise_code: str | None = Field(None, description="统一社会信用代码 or the pilot's enterprise code")
    site: Id
    name: str | None = None
    name_zh: str | None = None
    timezone: Annotated[str, AfterValidator(_check_tz)] = "Asia/Shanghai"
    edge_id: Id = Field("edge-01", description="this collector's id in the _edge/{edge_id}/status topic")
    areas: list[Area] = Field(default_factory=list)


class Access(StrEnum):
    NATIVE = "native"
    GATEWAY = "gateway"
    RETROFIT_SENSOR = "retrofit_sensor"


class Category(StrEnum):
    """What a piece of equipment is for (设备类别). Production and auxiliary production equipment
    (主要/辅助生产设备) make up 总生产设备数量; meters and facilities are outside it unless a row says
    otherwise (docs/STANDARDS.md §7.2)."""

    PRODUCTION = "production"  # 生产设备
    AUXILIARY = "auxiliary"  # 辅助生产设备
    METERING = "metering"  # 计量器具 (energy meters, gauges)
    FACILITY = "facility"  # 公用设施 (air compressors, lighting, HVAC)


class DeviceRegister(Strict):
    """Facts about one piece of equipment for the 设备台账 (evidence pack, docs/STANDARDS.md §8.1).

    Every flag is None until declared: an undeclared flag counts as "no" in the indicators and the
    pack lists it as undeclared, so nothing is claimed that nobody said."""

    category: Category | None = None
    type: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    controller: str | None = None
    process: str | None = None
    is_key_process: bool | None = None
    is_digital: bool | None = None
    is_nc: bool | None = Field(None, description="numerically controlled (数控): 关键工序数控化率")
    is_networked: bool | None = Field(None, description="declared networked; default: has a connection")
    counts_as_production: bool | None = Field(
        None, description="in 总生产设备数量 regardless of category; default: production or auxiliary"
    )
    access: Access = Access.NATIVE
    gateway_id: str | None = None
    onboarded_at: date | None = None
    identifier: str | None = None
    photo_ref: str | None = None
    notes: str | None = None
