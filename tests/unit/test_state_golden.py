"""Golden state timelines: tests/cases/state/<case>/signals.yaml replayed through a StateMachine
must give exactly expected.yaml (start, end, state, sub, bucket; times in seconds)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from ruamel.yaml import YAML

from collector.config.state import StateConfig
from collector.config.units import parse_duration
from collector.normalise.records import StateInterval
from collector.normalise.state import StateMachine, compile_state

pytestmark = pytest.mark.unit

CASES = Path(__file__).parents[1] / "cases" / "state"
RESERVED = {"t", "comm", "q", "until", "every", "toggle", "poll"}


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _expand(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn `toggle` rows (a lamp blinking with a period, sampled `every` seconds) into samples."""
    out: list[dict[str, Any]] = []
    for row in rows:
        if "toggle" not in row:
            out.append(row)
            continue
        t, step = _ms(row["t"]), _ms(row["every"])
        while t < _ms(row["until"]):
            values = {
                tag: int(((t - _ms(row["t"])) // _ms(half)) % 2 == 0) for tag, half in row["toggle"].items()
            }
            out.append({"t": t / 1000, **values})
            t += step
    return out


def replay(case: Path) -> list[StateInterval]:
    signals = YAML(typ="safe").load((case / "signals.yaml").read_text(encoding="utf-8"))
    cfg = TypeAdapter(StateConfig).validate_python(signals["state"])
    stale = parse_duration(signals.get("stale_timeout", "10s"))
    machine = StateMachine(signals.get("device", "dev"), compile_state(cfg, stale))
    tick = _ms(parse_duration(signals.get("tick", "1s")))
    samples = sorted(_expand(signals["samples"]), key=lambda r: r["t"])
    closed: list[StateInterval] = []
    comm, poll = True, True
    next_tick = 0
    end = _ms(signals["end"])
    for row in [*samples, {"t": signals["end"], "_end": True}]:
        at = _ms(row["t"])
        while next_tick < at:
            # Between listed samples the driver keeps polling unchanged values (poll: true), or
            # delivers nothing and only the engine's timer ticks (poll: false, to test staleness).
            changes = machine.update(next_tick, {}, {}, comm) if poll else machine.tick(next_tick)
            closed += [c.closed for c in changes if c.closed]
            next_tick += tick
        if row.get("_end"):
            break
        comm, poll = row.get("comm", comm), row.get("poll", poll)
        values = {k: v for k, v in row.items() if k not in RESERVED}
        changes = machine.update(at, values, row.get("q", {}), comm)
        closed += [c.closed for c in changes if c.closed]
        next_tick = (at // tick + 1) * tick
    last = machine.close(end)
    return [*closed, *([last] if last else [])]


def _rows(intervals: list[StateInterval]) -> list[dict[str, Any]]:
    return [
        {
            "start": iv.start / 1000,
            "end": iv.end / 1000,
            "state": iv.state.name,
            "sub": None if iv.sub is None else str(iv.sub),
            "bucket": str(iv.bucket),
        }
        for iv in intervals
    ]


@pytest.mark.parametrize("case", sorted(p for p in CASES.iterdir() if p.is_dir()), ids=lambda p: p.name)
def test_golden_timeline(case: Path) -> None:
    expected = YAML(typ="safe").load((case / "expected.yaml").read_text(encoding="utf-8"))["timeline"]
    got = _rows(replay(case))
    assert got == [{**row, "start": float(row["start"]), "end": float(row["end"])} for row in expected]


def test_timeline_is_contiguous_and_carries_inputs() -> None:
    for case in sorted(p for p in CASES.iterdir() if p.is_dir()):
        intervals = replay(case)
        for prev, nxt in itertools.pairwise(intervals):
            assert prev.end == nxt.start, case.name
        for iv in intervals:
            assert iv.rule.count("@") == 1 and len(iv.rule.split("@")[1]) == 12
            assert iv.inputs and all(isinstance(tag, str) for tag, _ in iv.inputs)
