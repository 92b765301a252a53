"""Building blocks shared by every configuration model."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr
from pydantic_core import PydanticCustomError

from collector.config.errors import hide_url_password

ID_RE = re.compile(r"^[a-z0-9_-]{1,64}$")


def _check_id(value: str) -> str:
    if not ID_RE.match(value):
        shown = hide_url_password(value, "")  # the suggestion is built from the value: no password
        suggestion = re.sub(r"[^a-z0-9_-]+", "-", shown.lower()).strip("-") or "device-01"
        raise PydanticCustomError(
            "id_syntax",
            "'{value}' is not a valid id",
            {
                "value": value,
                "hint": "ids use only a-z, 0-9, '_' and '-' (they become MQTT topic levels and "
                f"time-series tags); put Chinese names in name_zh; e.g. {suggestion!r}",
            },
        )
    return value


Id = Annotated[str, AfterValidator(_check_id)]

# Keys whose values are secrets: they must come from ${ENV} or a *_file key, never plain YAML text.
SECRET_KEYS = frozenset({"password", "token", "key_password"})


class Strict(BaseModel):
    """Every config model: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Secret(SecretStr):
    """A secret value; printed as '**********'."""


class BusinessLink(StrEnum):
    """The 14 business links of the 2024 SME digital-level indicators (数据采集 item)."""

    PRODUCT_DESIGN = "产品设计"
    PROCESS_DESIGN = "工艺设计"
    MARKETING = "营销管理"
    AFTER_SALES = "售后服务"
    PLANNING = "计划排程"
    PRODUCTION_CONTROL = "生产管控"
    QUALITY = "质量管理"
    EQUIPMENT = "设备管理"
    SAFETY = "安全生产"
    ENERGY = "能耗管理"
    PURCHASING = "采购管理"
    WAREHOUSING = "仓储物流"
    FINANCE = "财务管理"
    HR = "人力资源"
