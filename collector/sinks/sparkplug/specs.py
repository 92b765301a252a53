"""What a Sparkplug birth says about each device's tags, taken from the plant file.

Read by duck typing so every protocol's tag model works: a declared type (`value_type` or `type`)
that names a Sparkplug datatype, a `unit`, and a `deadband` (a number, or an OPC UA-style absolute
deadband). A type we cannot name is left to the tag's first value, never guessed.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from collector.config.plant import PlantConfig
from collector.sinks.sparkplug.datatypes import CodecError, datatype_for
from collector.sinks.sparkplug.metrics import TagSpec


def device_tags(plant: PlantConfig) -> dict[str, list[TagSpec]]:
    """Birth definitions per device of the plant file."""
    return {device.id: [tag_spec(tag) for tag in getattr(device, "tags", ())] for device in plant.devices}


def tag_spec(tag: Any) -> TagSpec:
    declared = getattr(tag, "value_type", None) or getattr(tag, "type", None)
    datatype: str | None = None
    if declared is not None:
        name = str(declared.value if isinstance(declared, Enum) else declared)
        try:
            datatype_for(name)
            datatype = name
        except CodecError:  # a protocol type with no Sparkplug name: its first value decides
            datatype = None
    unit = getattr(tag, "unit", None)
    return TagSpec(str(tag.name), datatype, unit if isinstance(unit, str) else None, _deadband(tag))


def _deadband(tag: Any) -> float | None:
    deadband = getattr(tag, "deadband", None)
    if isinstance(deadband, int | float) and not isinstance(deadband, bool):
        return float(deadband)
    kind, value = getattr(deadband, "type", None), getattr(deadband, "value", None)
    # a percent deadband is relative to a range the edge node does not know: report every change
    if isinstance(value, int | float) and str(getattr(kind, "value", kind)) == "absolute":
        return float(value)
    return None
