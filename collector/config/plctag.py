"""What S7 and MC tags share: the fields around the address, and scaling into the compiled spec."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from collector.config.common import BusinessLink, Id, Strict


class PlcTag(Strict):
    """A tag of a PLC read by address; the protocol's model adds `address` and `type`."""

    name: Id
    name_zh: str | None = None
    description: str | None = None
    length: int | None = Field(None, ge=1, le=254, description="characters of a string tag")
    scale: float = 1.0
    offset: float = Field(0.0, description="added after scaling")
    unit: str | None = None
    range: tuple[float, float] | None = Field(None, description="engineering range; outside is Uncertain")
    deadband: float | None = Field(None, ge=0)
    business_link: BusinessLink | None = None
    required: bool = True

    @model_validator(mode="after")
    def _range_in_order(self) -> PlcTag:
        if self.range is not None and self.range[0] > self.range[1]:
            raise PydanticCustomError("range_order", "range is [min, max] with min <= max", {})
        return self

    @property
    def scaled(self) -> bool:
        return self.scale != 1.0 or self.offset != 0.0

    def policy_kind(self, kind: type) -> type:
        """The Python type of the values the collector keeps: scaled numbers are floats."""
        return float if self.scaled and kind in (int, float) else kind

    def bounds(self) -> tuple[float | None, float | None]:
        return (self.range[0], self.range[1]) if self.range else (None, None)


def address_error(kind: str, exc: ValueError) -> PydanticCustomError:
    """A located configuration error from a driver's address parser (its message says how to fix it)."""
    return PydanticCustomError(f"{kind}_address", "{message}", {"message": str(exc)})
