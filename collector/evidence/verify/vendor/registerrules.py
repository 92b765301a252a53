# Vendored copy of collector/config/registerrules.py: edit the source, then run scripts/vendor-verify.
"""Which rows of the equipment register are production equipment, and which flags a row leaves
undeclared: the rules the plant file's register (config/register.py) and the pack's verifier both
apply (docs/STANDARDS.md §7.2). Standard library only and no collector import, because the verifier
carries a copy (collector/evidence/verify/vendor/registerrules.py, written by scripts/vendor-verify).
"""

from __future__ import annotations

PRODUCTION_CATEGORIES = ("production", "auxiliary")  # 主要/辅助生产设备; metering, facility are not
UNDECLARED_FLAGS = ("category", "is_digital", "is_nc", "is_key_process")


def is_production(category: str | None, counts_as_production: bool | None) -> bool:
    """In 总生产设备数量: as the row declares, else by category; an undeclared category counts, so an
    empty cell never makes the denominator smaller."""
    if counts_as_production is not None:
        return counts_as_production
    return not category or category in PRODUCTION_CATEGORIES


def declared_networked(is_networked: bool | None, networked_via: str | None) -> bool:
    """申报联网: as declared, else "has a connection"."""
    return is_networked if is_networked is not None else bool(networked_via)


def undeclared(
    category: str | None, is_digital: bool | None, is_nc: bool | None, is_key_process: bool | None
) -> tuple[str, ...]:
    """The flags a row leaves unset; is_nc only counts on a key-process row, where the NC rate reads it."""
    values = {"category": category or None, "is_digital": is_digital, "is_nc": is_nc,
              "is_key_process": is_key_process}  # fmt: skip
    return tuple(k for k in UNDECLARED_FLAGS if values[k] is None and (k != "is_nc" or is_key_process))
