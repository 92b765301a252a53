"""Greedy merging of address ranges into reads, for drivers that plan their own requests (MC, S7 timers).

Ranges are sorted by start and merged left to right: a range joins the open read when the unused gap
before it is at most `gap` and the widened read stays within `limit`. This is the same rule the Modbus
planner uses, and it is optimal for the same reason (drivers/modbus/planner.py): a range refused for its
gap splits the problem in two, and one refused for length could only be joined by ranges inside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Span(Generic[T]):
    """[start, end) in a driver's own units (words, bytes, points) and what lies there."""

    start: int
    end: int
    item: T


@dataclass(frozen=True, slots=True)
class Merged(Generic[T]):
    start: int
    end: int
    items: tuple[T, ...]

    @property
    def count(self) -> int:
        return self.end - self.start


def merge_spans(spans: Iterable[Span[T]], limit: int, gap: int) -> list[Merged[T]]:
    """Fewest reads of at most `limit` units covering every span; ValueError if one span alone is larger."""
    out: list[Merged[T]] = []
    items: list[T] = []
    start = end = 0
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if span.end - span.start > limit:
            size = span.end - span.start
            raise ValueError(f"{span.item!r} needs {size} units, more than one read allows ({limit})")
        new_end = max(end, span.end)
        if items and span.start - end <= gap and new_end - start <= limit:
            items.append(span.item)
            end = new_end
            continue
        if items:
            out.append(Merged(start, end, tuple(items)))
        items, start, end = [span.item], span.start, span.end
    if items:
        out.append(Merged(start, end, tuple(items)))
    return out
