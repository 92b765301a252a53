"""The Sparkplug B sink (`mqtt.mode: sparkplug`): the session in collector/sinks/sparkplug over our MQTT loop.

One `SparkplugSession` for the life of the process (aliases stay stable). A link task owns the MQTT
connection (link.py): CONNECT with the NDEATH as Will, subscribe, wait for the primary host's STATE
online when one is configured, births, and then the sink is ready. `write()` turns outbox records
into DDATA while ready; otherwise it raises `SinkHeld`, the outbox keeps the records, and the
delivery sends them once the sink is ready again, marked as a replay (is_historical).

Delivery modes (`mqtt.sparkplug.delivery`): acknowledged (QoS 1, a record leaves the outbox on the
broker's PUBACK) or conformant (QoS 0 as the specification says; a record leaves the outbox once
handed to the socket, and the replay window covers a connection lost meanwhile).

bdSeq survives restarts: the next value to use is kept in `<data_dir>/sparkplug-bdseq`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from collector.aio import first_of
from collector.config.plant import PlantConfig
from collector.config.sinks import SparkplugDelivery, Uint32Field
from collector.model import Reading
from collector.outbox import OutboxRecord
from collector.sinks.base import DATA, Batch, SinkHeld, decode_points
from collector.sinks.mqtt import default_client_id, settle
from collector.sinks.mqtt_loop import MqttConnection, options_from_config
from collector.sinks.sparkplug.codec import Encoding
from collector.sinks.sparkplug.host import PrimaryHost
from collector.sinks.sparkplug.link import Link
from collector.sinks.sparkplug.session import Message, SparkplugSession, group_id_for
from collector.sinks.sparkplug.specs import device_tags
from collector.sinks.sparkplug.tail import RecentTail
from drivers.status import BAD_NO_COMMUNICATION

log = logging.getLogger(__name__)

BDSEQ_FILE = "sparkplug-bdseq"
READY_WAIT = 10.0  # how long a write at start-up waits for the link before it says "held"


def load_bd_seq(path: Path) -> int:
    """The bdSeq the next CONNECT uses; 0 when the file is missing or unreadable."""
    try:
        return int(path.read_text(encoding="ascii").strip()) % 256
    except (OSError, ValueError):
        return 0


def save_bd_seq(path: Path, value: int) -> None:
    """Atomic replace: a crash leaves the old or the new value, never a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{value % 256}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def session_for(plant: PlantConfig, first_bd_seq: int = 0) -> SparkplugSession:
    """The plant's edge node session, with every device's tags declared from the plant file."""
    cfg = plant.mqtt.sparkplug
    encoding = Encoding(cfg.uint32_field is Uint32Field.LONG, cfg.datatypes_in_data)
    session = SparkplugSession(
        group_id_for(plant.site.enterprise, plant.site.site), plant.site.edge_id,
        first_bd_seq=first_bd_seq, encoding=encoding, refresh_ms=int(cfg.refresh * 1000),
    )  # fmt: skip
    session.declare(device_tags(plant))
    return session


class SparkplugSink:
    def __init__(self, plant: PlantConfig, base: Path, name: str = "mqtt") -> None:
        self.name = name
        cfg = plant.mqtt.sparkplug
        self.qos = 1 if cfg.delivery is SparkplugDelivery.ACKNOWLEDGED else 0
        bd_seq_path = base / plant.data_dir / BDSEQ_FILE
        self.session = session_for(plant, load_bd_seq(bd_seq_path))
        host = PrimaryHost(cfg.primary_host) if cfg.primary_host else None
        options = options_from_config(plant.mqtt, default_client_id(plant), base)
        # the replay window serves a primary host's outages and, with QoS 0, lost connections
        window = cfg.replay_window if (cfg.primary_host or self.qos == 0) else 0.0
        self.tail = RecentTail(window)
        self.link = Link(
            self.session, options, host, self.tail, qos=self.qos, render=self._messages,
            persist_bd_seq=lambda value: save_bd_seq(bd_seq_path, value),
        )  # fmt: skip
        self._link_task: asyncio.Task[None] | None = None

    @property
    def connects(self) -> int:
        return self.link.connects

    @property
    def connected(self) -> bool:
        return self.link.ready.is_set()

    async def __aenter__(self) -> Self:
        self._link_task = asyncio.create_task(self.link.run(), name=f"sparkplug-link[{self.name}]")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task, self._link_task = self._link_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.link.close()

    def accepts(self, kind: str) -> bool:
        return kind == DATA

    def reconfigure(self, plant: PlantConfig) -> None:
        """A reload: removed devices get their DDEATH, changed ones DDEATH + DBIRTH before more data."""
        self.session.redefine(device_tags(plant))

    async def write(self, batch: Batch) -> None:
        conn = await self._ready_connection()
        self.link.send_soon(conn, self.session.pending())
        sends: list[tuple[OutboxRecord, list[asyncio.Task[None]]]] = []
        for record in batch.records:  # no await in this loop: seq order is publish order
            if record.kind == DATA:
                sends.append((record, self.link.start(conn, self._messages(record, batch.hist))))
        # in the replay window from the moment they leave: a host lost meanwhile may miss them
        self.tail.add([r for r, _ts in sends])
        results = await asyncio.gather(*(t for _r, ts in sends for t in ts), return_exceptions=True)
        outcomes: list[tuple[OutboxRecord, Sequence[object]]] = []
        i = 0
        for record, tasks in sends:
            outcomes.append((record, results[i : i + len(tasks)]))
            i += len(tasks)
        settle(outcomes)

    def _messages(self, record: OutboxRecord, hist: bool) -> list[Message]:
        points = _readings(record)
        if points and all(r.status == BAD_NO_COMMUNICATION for r in points):
            # the engine's "device lost" batch: Sparkplug says that with DDEATH (hosts mark it stale)
            return self.session.device_lost(record.device, points, historical=hist)
        return self.session.data(record.device, points, historical=hist)

    async def _ready_connection(self) -> MqttConnection:
        """The connection once births are out; SinkHeld (the outbox keeps the batch) otherwise. Only
        at start-up does a write wait for the link (no outage is recorded for connecting); later,
        whatever comes while the link is down is held and goes out as history."""
        ready = self.link.ready
        if not ready.is_set() and not self.link.settled.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(READY_WAIT):
                    await first_of(ready, self.link.settled)
        conn = self.link.connection
        if conn is None or not ready.is_set():
            raise SinkHeld(f"sparkplug: {self.link.why_held()}", ready)
        return conn


def _readings(record: OutboxRecord) -> list[Reading]:
    return [
        Reading(record.device, p.tag, p.value, p.status, p.source_ts, p.collected_ts, record.session, p.seq,
                p.unit)
        for p in decode_points(record.body)
    ]  # fmt: skip
