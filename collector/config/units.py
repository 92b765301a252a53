"""The one duration type ("250ms", "5s", "1h") and byte sizes ("512MB") used across the config."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)\s*$")
_DURATION_HINT = "write a number with a unit: '250ms', '5s', '2m', '1h', '30d'"


def parse_duration(value: object) -> float:
    """Seconds from a duration string; bare numbers are refused because their unit is ambiguous."""
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            return float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise PydanticCustomError(
            "duration_unit",
            "duration '{value}' has no unit",
            {"value": value, "hint": _bare_number_hint(value)},
        )
    raise PydanticCustomError(
        "duration", "'{value}' is not a duration", {"value": value, "hint": _DURATION_HINT}
    )


def _bare_number_hint(value: float) -> str:
    """Both readings of a bare number, the likelier first: PLC people write 1000 meaning ms."""
    number = f"{value:g}"
    as_ms = f"'{number}ms' ({_spoken(value / 1000)})"
    as_s = f"'{number}s' ({_spoken(value)})"
    first, second = (as_ms, as_s) if value >= 100 else (as_s, as_ms)
    return f"a bare number could mean seconds or milliseconds: write {first} or {second}"


def _spoken(seconds: float) -> str:
    for unit, factor in (("h", 3600.0), ("min", 60.0), ("s", 1.0)):
        if seconds >= factor:
            return f"{seconds / factor:.3g} {unit}"
    return f"{seconds * 1000:.3g} ms"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema({"type": "string", "pattern": _DURATION_RE.pattern, "examples": ["500ms", "5s", "1h"]}),
]

_SIZE_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)\s*$", re.IGNORECASE)
_SIZE_HINT = "write a size with a unit: '500MB', '2GiB'"


def parse_size(value: object) -> int:
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    raise PydanticCustomError("size", "'{value}' is not a size", {"value": value, "hint": _SIZE_HINT})


ByteSize = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema({"type": "string", "pattern": _SIZE_RE.pattern, "examples": ["512MB", "2GiB"]}),
]


def format_duration(seconds: float) -> str:
    for unit, factor in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= factor and (seconds / factor).is_integer():
            return f"{int(seconds / factor)}{unit}"
    return f"{round(seconds * 1000)}ms"
