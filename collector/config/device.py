"""Fields every device has, whatever its protocol."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from collector.config.calendar import OeeConfig
from collector.config.common import Id, Strict
from collector.config.site import DeviceRegister
from collector.config.state import Counters, StateConfig
from collector.config.units import Duration


class Report(StrEnum):
    EVERY_POLL = "every_poll"  # every sample becomes a reading (evidence-friendly default)
    ON_CHANGE = "on_change"  # report by exception, with a heartbeat every max_interval


class DeviceBase(Strict):
    """Fields every device has; `effective_stale_timeout` applies the documented default."""

    id: Id
    name: str | None = None
    name_zh: str | None = None
    area: Id | None = None
    line: Id | None = None
    template: str | None = Field(None, description="name of a tag map in templates_dir")
    poll_interval: Duration = Field(1.0, description="how often tags are read (polling) or expected")
    timeout: Duration = Field(1.0, description="per request")
    stale_timeout: Duration | None = Field(None, description="default max(3 x poll_interval, 10s)")
    report: Report = Field(Report.EVERY_POLL, description="every_poll, or on_change with a heartbeat")
    heartbeat: Duration = Field(60.0, description="on_change: a value is re-sent at least this often")
    asset: DeviceRegister = Field(default_factory=DeviceRegister, description="the 设备台账 row")
    state: StateConfig | None = Field(None, description="how equipment state is derived (template + inputs)")
    counters: Counters = Field(default_factory=list, description="part counters turned into deltas")
    oee: OeeConfig | None = Field(None, description="ideal cycle time and OEE flag limits")

    @model_validator(mode="after")
    def _derive_max_rate(self) -> DeviceBase:
        """A counter without max_rate gets 1 / the fastest ideal cycle time (docs/STANDARDS.md §4.4):
        no machine makes parts faster than its ideal. Set here, once, so the counters, the pack's
        counter register and its verifier all apply the same limit."""
        fastest = self.oee.fastest_cycle if self.oee is not None else None
        if fastest is not None and any(c.max_rate is None for c in self.counters):
            filled = [c if c.max_rate is not None else c.model_copy(update={"max_rate": 1 / fastest})
                      for c in self.counters]  # fmt: skip
            object.__setattr__(self, "counters", filled)  # the model is frozen once validated
        return self

    @property
    def effective_stale_timeout(self) -> float:
        return self.stale_timeout if self.stale_timeout is not None else max(3 * self.poll_interval, 10.0)
