"""Fields every device has, whatever its protocol."""

from __future__ import annotations

from pydantic import Field

from collector.config.common import Id, Strict
from collector.config.site import DeviceRegister
from collector.config.units import Duration


class DeviceBase(Strict):
    id: Id
    name: str | None = None
    name_zh: str | None = None
    area: Id | None = None
    line: Id | None = None
    template: str | None = Field(None, description="name of a tag map in templates_dir")
    poll_interval: Duration = Field(1.0, description="how often tags are read (polling) or expected")
    timeout: Duration = Field(1.0, description="per request")
    stale_timeout: Duration | None = Field(None, description="default max(3 x poll_interval, 10s)")
    asset: DeviceRegister = Field(default_factory=DeviceRegister, description="the 设备台账 row")
