"""The per-sink delivery loop over a real outbox: outage → replay marked hist, live interleaved."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collector.delivery import SinkRunner
from collector.outbox import Entry, Outbox
from collector.sinks.base import DATA, RejectedBatchError, RetryableSinkError, SinkHeld
from tests.support.delivery import ScriptedSink, drain

pytestmark = pytest.mark.unit


def add(box: Outbox, first: int, n: int) -> None:
    box.append([Entry(DATA, "d", 1, s, s, 1, b"[]") for s in range(first, first + n)])


async def test_outage_then_backlog_interleaved_with_live(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    sink = ScriptedSink()
    runner = SinkRunner(sink, box, batch_records=2)
    add(box, 1, 2)
    await drain(runner)
    assert sink.batches == [([1, 2], False)]
    add(box, 3, 5)
    sink.script = [RetryableSinkError("down", retry_after=0.0)]
    assert await runner.step()  # fails: outage
    assert runner.outage
    assert await runner.step()  # back: this batch is sent as replay
    assert sink.batches[-1] == ([3, 4], True)
    add(box, 100, 3)  # live, after the sink came back
    await drain(runner)
    rest = sink.batches[2:]
    assert rest == [([100, 101], False), ([5, 6], True), ([102], False), ([7], True)]
    counters = box.counters()
    assert counters[("d", "acked")] == 10 and counters[("d", "replayed")] == 5
    assert box.depth == 0


async def test_rejected_records_are_dropped_with_reason(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    sink = ScriptedSink()
    runner = SinkRunner(sink, box, batch_records=3)
    add(box, 1, 3)
    ids = tuple(r.id for r in box.fetch(0, 10))
    sink.script = [RejectedBatchError("HTTP 400: bad field", ids[1:2])]
    await drain(runner)
    assert [(d.reason, d.seq_first) for d in box.drops()] == [("rejected: HTTP 400: bad field", 2)]
    assert box.counters()[("d", "acked")] == 2 and box.counters()[("d", "dropped")] == 1


async def test_backlog_at_start_is_replayed_as_hist(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    add(Outbox(path), 1, 2)  # left by a killed process
    sink = ScriptedSink()
    runner = SinkRunner(sink, Outbox(path), batch_records=10)
    stop = asyncio.Event()
    stop.set()
    await runner.run(stop, flush_deadline=5)
    assert sink.batches == [([1, 2], True)]


async def test_a_holding_sink_keeps_its_batches_until_it_resumes(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    sink = ScriptedSink()
    runner = SinkRunner(sink, box, batch_records=10)
    resume = asyncio.Event()
    add(box, 1, 3)
    sink.script = [SinkHeld("primary host offline", resume)]
    step = asyncio.create_task(runner.step())
    await asyncio.sleep(0)  # one loop turn: the step has tried, been told to hold, and waits
    assert runner.outage and not step.done() and box.depth == 3
    resume.set()
    assert await step
    await drain(runner)
    assert sink.batches == [([1, 2, 3], True)]  # held records go out as a replay
    assert box.depth == 0
