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


class DeviceRegister(Strict):
    """The device's row in the 设备台账 (evidence pack, docs/STANDARDS.md §8.1)."""

    type: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    controller: str | None = None
    process: str | None = None
    is_key_process: bool = False
    is_digital: bool = True
    is_networked: bool = True
    access: Access = Access.NATIVE
    gateway_id: str | None = None
    onboarded_at: date | None = None
    identifier: str | None = None
    photo_ref: str | None = None
    notes: str | None = None
