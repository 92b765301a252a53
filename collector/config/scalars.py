"""YAML 1.2 scalars as ruamel.yaml reads them: which type a plain scalar is, and its value.

`yes`, `off` and `N` are strings (YAML 1.2), `0x10` and `1_000` are ints; a timestamp stays the text
that was written, which is what the models parse dates and times from.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

from ruamel.yaml.resolver import VersionedResolver

CORE = "tag:yaml.org,2002:"

# ruamel.yaml's YAML 1.2 implicit resolvers by first character, compiled once into plain patterns:
# its resolver asked per scalar (and its lazily compiled patterns) cost more than the rest of the
# composition together.
_IMPLICIT: dict[str | None, tuple[tuple[str, re.Pattern[str]], ...]] = {
    first: tuple(
        (str(tag).removeprefix(CORE), re.compile(regexp.pattern, regexp.flags)) for tag, regexp in rules
    )
    for first, rules in VersionedResolver(version=(1, 2)).versioned_resolver.items()
}


@functools.lru_cache(maxsize=4096)  # plant files repeat the same words: float32, degC, true
def resolve(text: str) -> str:
    """The core-schema type of a plain scalar: str, null, bool, int, float, timestamp, merge."""
    for kind, pattern in (*_IMPLICIT.get(text[:1], ()), *_IMPLICIT.get(None, ())):
        if pattern.match(text):
            return kind
    return "str"


def construct(kind: str, text: str) -> Any:
    if kind == "null":
        return None
    if kind == "bool":
        return text.lower() == "true"
    if kind == "int":
        return _int(text)
    if kind == "float":
        return _float(text)
    if kind == "timestamp":
        return text  # the models parse dates and times from the text as written
    raise ValueError(f"!!{kind} values are not supported")


def _int(text: str) -> int:
    digits = text.replace("_", "")
    sign = -1 if digits[:1] == "-" else 1
    digits = digits.lstrip("+-")
    for prefix, base in (("0b", 2), ("0x", 16), ("0o", 8)):
        if digits.startswith(prefix):
            return sign * int(digits[2:], base)
    return sign * int(digits)


def _float(text: str) -> float:
    digits = text.replace("_", "").lower()
    sign = -1.0 if digits[:1] == "-" else 1.0
    digits = digits.lstrip("+-")
    if digits == ".inf":
        return sign * math.inf
    if digits == ".nan":
        return math.nan
    return sign * float(digits)
