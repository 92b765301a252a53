"""The live terminal view: a full-screen ANSI redraw about once a second on a terminal, or a plain
line every few seconds (and every timeline event as it happens) when stdout is a pipe or a file."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from collector.demo.status import Snapshot

_HOME_CLEAR = "\x1b[H\x1b[2J"
_BOLD, _DIM, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"
_COLOURS = {
    "RUNNING": "\x1b[32m",
    "IDLE": "\x1b[33m",
    "ALARM": "\x1b[31m",
    "STOPPED": "\x1b[90m",
    "OFFLINE": "\x1b[35m",
}


@dataclass
class Header:
    elapsed: float
    length: float
    run_dir: str
    services: list[str]  # "broker up :1883", "store victoria-metrics :8428", …
    shift: str


@dataclass
class Timeline:
    """Events with their time since the collector started; `fresh` are the ones not printed yet."""

    events: list[tuple[float, str]] = field(default_factory=list)
    _printed: int = 0

    def add(self, at: float, text: str) -> None:
        self.events.append((at, text))

    def fresh(self) -> list[tuple[float, str]]:
        out = self.events[self._printed :]
        self._printed = len(self.events)
        return out


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class View:
    def __init__(self, *, live: bool, out: TextIO | None = None, plain_every: float = 10.0) -> None:
        self.out = out or sys.stdout
        self.live = live and self.out.isatty()
        self.plain_every = plain_every
        self._last_plain = 0.0

    def render(self, head: Header, snap: Snapshot, timeline: Timeline) -> None:
        if self.live:
            self.out.write(_HOME_CLEAR + "\n".join(self._screen(head, snap, timeline)) + "\n")
            self.out.flush()
            return
        for at, text in timeline.fresh():
            self.out.write(f"[{clock(at)}] {text}\n")
        now = time.monotonic()
        if now - self._last_plain >= self.plain_every:
            self._last_plain = now
            self.out.write(f"[{clock(head.elapsed)}] {self._summary(snap)}\n")
        self.out.flush()

    def _summary(self, snap: Snapshot) -> str:
        rows = snap.devices.values()
        online = sum(1 for r in rows if r.online is not False and (r.rate or 0) > 0)
        rate = sum(r.rate or 0 for r in rows)
        depth = " ".join(f"{k}={v}" for k, v in sorted(snap.depth.items())) or "-"
        devices = f"devices {len(snap.devices)} ({online} delivering)"
        return f"{devices} · {rate:.0f} points/s · outbox waiting {depth}"

    def _screen(self, head: Header, snap: Snapshot, timeline: Timeline) -> list[str]:
        width = shutil.get_terminal_size((100, 30)).columns
        lines = [
            f"{_BOLD}shopfloor demo{_RESET}  {clock(head.elapsed)} / {clock(head.length)}   "
            f"{_DIM}Ctrl-C ends early and still builds the evidence pack{_RESET}",
            f"run dir {head.run_dir}",
            " · ".join(head.services),
            head.shift,
            "",
            f"{_BOLD}{'DEVICE':<10} {'ONLINE':<7} {'STATE':<9} {'READS/S':>7} {'POINTS/S':>8} "
            f"{'ACCEPTED':>9}  KEY VALUE{_RESET}",
        ]
        for dev in sorted(snap.devices.values(), key=lambda d: d.id):
            online = {True: "yes", False: "NO", None: "?"}[dev.online]
            state = dev.state or "-"
            colour = _COLOURS.get(state, "")
            rate = "-" if dev.rate is None else f"{dev.rate:.1f}"
            reads = "-" if dev.reads_rate is None else f"{dev.reads_rate:.1f}"
            cells = (
                f"{dev.id:<10} {online:<7} {colour}{state:<9}{_RESET} {reads:>7} {rate:>8} {dev.accepted:>9}"
            )
            lines.append(f"{cells}  {dev.value or ''}")
        depth = ", ".join(f"{k} {v}" for k, v in sorted(snap.depth.items())) or "-"
        dropped = sum(snap.dropped.values())
        lines += [
            "",
            f"outbox waiting (records): {depth}   dropped points: {dropped}",
            f"{_DIM}sources: {', '.join(snap.sources) or 'starting'}{_RESET}",
            "",
            f"{_BOLD}timeline{_RESET}",
        ]
        timeline.fresh()
        lines += [f"  {clock(at)}  {text}" for at, text in timeline.events[-12:]]
        return [line[: width + 20] for line in lines]  # + room for the colour codes

    def say(self, text: str) -> None:
        """A line outside the live screen (start-up, the result)."""
        self.out.write(text + "\n")
        self.out.flush()
