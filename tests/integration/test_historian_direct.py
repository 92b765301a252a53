"""The direct store sink (no broker) into VictoriaMetrics, and the embedded SQLite historian: idempotent."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from collector.config import load_plant
from collector.delivery import Delivery
from collector.model import Reading
from collector.outbox import OutboxRecord
from collector.sinks.base import Batch, telemetry_entry
from collector.sinks.sqlite_store import SqliteSink
from tests.support.net import async_wait_for
from tests.support.servers import start_victoria_metrics
from tests.support.store import export, seqs_by_device

pytestmark = pytest.mark.integration


def plant(tmp_path: Path, storage: str) -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(
        "version: 1\nsite: {enterprise: acme, site: s1}\ndata_dir: data\n"
        "devices:\n  - {id: plc-01, protocol: modbus_tcp, host: 127.0.0.1, area: a1,\n"
        "     tags: [{name: speed, address: 40001}]}\n"
        f"storage: {storage}\n",
        encoding="utf-8",
    )
    return path


def readings(seq0: int, n: int) -> list[Reading]:
    values: list[object] = [1.5, 7, True, "AUTO", None]
    return [
        Reading("plc-01", f"t{i % 5}", values[i % 5], 0 if values[i % 5] is not None else 0x80000000,  # type: ignore[arg-type]
                None, 3_000_000 + i // 5, 1, i)
        for i in range(seq0, seq0 + n)
    ]  # fmt: skip


async def test_direct_sink_to_victoriametrics(tmp_path: Path) -> None:
    vm = start_victoria_metrics(tmp_path / "vm")
    try:
        path = plant(tmp_path, f"{{backend: victoriametrics, url: '{vm.url}', direct: true}}")
        loaded = load_plant(path)
        delivery = Delivery.build(loaded.config, loaded.base_dir, 1)
        assert [r.sink.name for r in delivery.runners] == ["store"]
        stop = asyncio.Event()
        task = asyncio.create_task(delivery.run(stop))
        for i in range(4):
            delivery("plc-01", readings(1 + 10 * i, 10))
        box = delivery.runners[0].outbox
        await async_wait_for(lambda: box.counters().get(("plc-01", "acked"), 0) == 40, 15, "40 acked")
        stop.set()
        await asyncio.wait_for(task, 15)
        delivery.close()
        assert seqs_by_device(vm.url) == {("plc-01", 1): list(range(1, 41))}
        strings = export(vm.url, '{__name__="telemetry_str_present"}')
        assert {row["metric"]["value"] for row in strings} == {"AUTO"}  # type: ignore[index]
        ints = export(vm.url, '{__name__="telemetry_value_int"}')
        assert set(ints[0]["values"]) == {1}  # type: ignore[arg-type]
    finally:
        vm.stop()


async def test_embedded_sqlite_upsert_is_idempotent(tmp_path: Path) -> None:
    loaded = load_plant(plant(tmp_path, "{backend: sqlite, sqlite_path: data/h.sqlite}"))
    entry = telemetry_entry("plc-01", readings(1, 10))
    record = OutboxRecord(1, entry.kind, entry.device, entry.session, entry.seq_first, entry.seq_last,
                          entry.count, 0, entry.body)  # fmt: skip
    async with SqliteSink(loaded.config, tmp_path / "data" / "h.sqlite") as sink:
        await sink.write(Batch([record], hist=False))
        await sink.write(Batch([record], hist=True))  # a replay
    db = sqlite3.connect(tmp_path / "data" / "h.sqlite")
    rows = db.execute(
        "SELECT seq, area, line, value, value_int, value_str, status FROM telemetry ORDER BY seq"
    ).fetchall()
    assert [r[0] for r in rows] == list(range(1, 11))
    assert rows[0][1:3] == ("a1", "_")
    by_tag = {r[0] % 5: r[3:] for r in rows}
    assert by_tag[1] == (7.0, None, None, 0)  # seq 1 -> values[1]: int as float
    assert by_tag[2] == (None, 1, None, 0)
    assert by_tag[3] == (None, None, "AUTO", 0)
    assert by_tag[4] == (None, None, None, 0x80000000)
