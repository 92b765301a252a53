"""An MC driver's read plan: per device, the tags' words merged into batch reads within the frame limit.

Bit devices are read in word units too (16 points a word, the head on a multiple of 16), which costs
no more on the wire than one point and lets a bit sit in the same read as its neighbours. Each read
carries its compiled decoder (one little-endian struct over the block).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from drivers.blockcodec import BlockCodec, Field, Finish, Value, bit_of
from drivers.mc.spec import Device, McTagSpec, McType, Series, format_address
from drivers.ranges import Span, merge_spans

_CODES = {
    McType.INT16: "h", McType.UINT16: "H", McType.INT32: "i", McType.UINT32: "I", McType.FLOAT32: "f",
    McType.FLOAT64: "d",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Read:
    """One batch read: `count` words of `device` from word `start` (bit devices: point 16 x start)."""

    device: Device
    start: int
    count: int
    tags: tuple[McTagSpec, ...]
    codec: BlockCodec = field(compare=False, repr=False)

    @property
    def head(self) -> int:
        """The head device number sent on the wire."""
        return self.start * 16 if self.device.is_bit else self.start

    def describe(self, series: Series) -> str:
        first = format_address(self.device, self.head, series)
        unit = "words" if not self.device.is_bit else f"words = {16 * self.count} points"
        names = ", ".join(t.name for t in self.tags)
        return f"{first} +{self.count} ({self.count} {unit}, {len(self.tags)} tags): {names}"


def _string(length: int, encoding: str) -> Finish:
    def finish(item: object) -> Value:
        if not isinstance(item, bytes):
            raise ValueError("expected bytes")
        text: str = item[:length].split(b"\0", 1)[0].decode(encoding)
        return text

    return finish


def field_of(tag: McTagSpec, start: int, encoding: str) -> Field:
    offset = 2 * (tag.first_word - start)
    common = {"scale": tag.scale, "shift": tag.shift, "range_min": tag.range_min, "range_max": tag.range_max}
    if tag.device.is_bit:
        return Field(offset, "H", bit_of(tag.number % 16))
    if tag.type is McType.BOOL:
        return Field(offset, "H", bit_of(tag.bit or 0))
    if tag.type is McType.STRING:
        chars = 2 * tag.words
        return Field(offset, f"{chars}s", _string(tag.length or chars, encoding))
    return Field(offset, _CODES[tag.type], None, **common)  # type: ignore[arg-type]


def make_read(device: Device, start: int, count: int, tags: Sequence[McTagSpec], encoding: str) -> Read:
    codec = BlockCodec("<", [field_of(t, start, encoding) for t in tags])
    return Read(device, start, count, tuple(tags), codec)


def plan_reads(tags: Sequence[McTagSpec], max_words: int, max_gap: int, encoding: str) -> list[Read]:
    """Fewest batch reads of at most `max_words` words covering every tag, per device in a fixed order."""
    by_device: dict[Device, list[McTagSpec]] = defaultdict(list)
    for t in tags:
        by_device[t.device].append(t)
    reads: list[Read] = []
    for device in sorted(by_device, key=list(Device).index):
        spans = [Span(t.first_word, t.first_word + t.words, t) for t in by_device[device]]
        for run in merge_spans(spans, max_words, max_gap):
            reads.append(make_read(device, run.start, run.count, run.items, encoding))
    return reads


def describe_plan(reads: Sequence[Read], series: Series) -> str:
    n_tags = sum(len(r.tags) for r in reads)
    lines = [f"{n_tags} tags → {len(reads)} requests per poll (batch reads in word units)"]
    lines.extend(f"  {r.describe(series)}" for r in reads)
    return "\n".join(lines)
