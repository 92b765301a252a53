"""What one MC driver is given: where the CPU's MC port is, the 3E frame's routing fields, and the
compiled tags. No I/O here; built by the configuration layer."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.mc.spec import McTagSpec, Series

# Points one batch read may carry in word units (Q/L/iQ-R/iQ-F built-in Ethernet, 3E binary).
MAX_WORDS_PER_READ = 960


@dataclass(frozen=True, slots=True)
class McDriverOptions:
    id: str
    host: str
    port: int
    tags: tuple[McTagSpec, ...]
    series: Series = Series.Q
    network: int = 0  # network number: 0 = the CPU the Ethernet port belongs to
    station: int = 0xFF  # PC number: 0xFF = that CPU
    module_io: int = 0x03FF  # request destination module I/O number: 0x03FF = the own station's CPU
    module_station: int = 0
    timeout: float = 1.0  # seconds per request (and for connecting)
    max_words: int = MAX_WORDS_PER_READ
    max_gap: int = 16  # unused words one read may span to merge two tags
    string_encoding: str = "gbk"
    unreadable_ttl: float | None = 600.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_words <= MAX_WORDS_PER_READ:
            raise ValueError(f"max_words must be 1..{MAX_WORDS_PER_READ}")

    @property
    def endpoint(self) -> str:
        return f"mc://{self.host}:{self.port} ({self.series.value}, 3E binary)"
