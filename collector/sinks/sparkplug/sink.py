"""The Sparkplug B sink (`mqtt.mode: sparkplug`): the session in collector/sinks/sparkplug over our MQTT loop.

One `SparkplugSession` for the life of the process (aliases stay stable), one `MqttConnection` per
network connection. For every connection: `session.connect()` gives the NDEATH that becomes the
MQTT Will, then CONNECT, subscribe to NCMD/DCMD, and NBIRTH + one DBIRTH per configured device
before any record. Telemetry records (`data`) become DDATA; a record leaves the outbox only once
the broker acknowledged its DDATA (QoS `mqtt.qos`, 1 by default, rather than the spec's 0: the
outbox needs the PUBACK). An NCMD `Node Control/Rebirth` is answered with new births. A clean stop
publishes the NDEATH before DISCONNECT.

bdSeq survives restarts: the next value to use is kept in `<data_dir>/sparkplug-bdseq`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from collector.config.modbus import ModbusTag
from collector.config.plant import PlantConfig
from collector.model import Reading
from collector.outbox import OutboxRecord
from collector.sinks.base import DATA, Batch, decode_points
from collector.sinks.mqtt import default_client_id, settle
from collector.sinks.mqtt_loop import (
    MqttConnection,
    MqttOptions,
    MqttRefusedMessage,
    MqttUnavailable,
    Will,
    options_from_config,
)
from collector.sinks.reconnect import Reconnect
from collector.sinks.sparkplug import Message, SparkplugSession, group_id_for
from collector.sinks.sparkplug.session import TagSpec
from drivers.status import BAD_NO_COMMUNICATION

log = logging.getLogger(__name__)

BDSEQ_FILE = "sparkplug-bdseq"


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


def device_tags(plant: PlantConfig) -> dict[str, list[TagSpec]]:
    """Birth metrics per device. Modbus tags have a `type` (Double once scaled); OPC UA tags have
    none: the session declares them from their first value (and re-sends that device's DBIRTH)."""
    out: dict[str, list[TagSpec]] = {}
    for device in plant.devices:
        specs: list[TagSpec] = []
        for tag in getattr(device, "tags", ()):
            if isinstance(tag, ModbusTag):
                specs.append((tag.name, str(tag.value_type), tag.unit))
        out[device.id] = specs
    return out


class SparkplugSink:
    def __init__(self, plant: PlantConfig, base: Path, name: str = "mqtt") -> None:
        self.name = name
        self.plant = plant
        self.qos = plant.mqtt.qos
        self.bd_seq_path = base / plant.data_dir / BDSEQ_FILE
        self.session = SparkplugSession(
            group_id_for(plant.site.enterprise, plant.site.site),
            plant.site.edge_id,
            first_bd_seq=load_bd_seq(self.bd_seq_path),
        )
        self.devices = device_tags(plant)
        self.options: MqttOptions = options_from_config(plant.mqtt, default_client_id(plant), base)
        self._conn: MqttConnection | None = None
        self._link = Reconnect("sparkplug", self.options.host, self.options.port)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connects(self) -> int:
        return self._link.connects

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.lost.is_set() and self.session.node_born:
            death = self.session.death()
            try:  # a clean stop: the broker sends the Will only on a loss, so say it ourselves
                async with asyncio.timeout(3):
                    await conn.publish(death.topic, death.payload, qos=1, retain=False)
            except (MqttUnavailable, MqttRefusedMessage, TimeoutError):
                pass
        if conn is not None:
            await conn.disconnect()
        for task in list(self._tasks):
            task.cancel()

    def accepts(self, kind: str) -> bool:
        return kind == DATA

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.lost.is_set()

    async def _ensure(self) -> MqttConnection:
        if self._conn is not None and not self._conn.lost.is_set():
            return self._conn
        if self._conn is not None:  # report the loss once so the delivery marks what follows as replay
            reason, self._conn = self._conn.loss_reason, None
            self.session.disconnected()
            raise self._link.lost(reason)
        self._link.due()
        will = self.session.connect()
        save_bd_seq(self.bd_seq_path, self.session.bd_seq + 1)  # a restart continues the sequence
        opts = dataclasses.replace(self.options, will=Will(will.topic, will.payload, retain=will.retain))
        conn = MqttConnection(opts, self._on_message)
        try:
            await conn.connect()
            for topic, qos in self.session.command_subscriptions():
                await conn.subscribe(topic, qos)
            await self._publish(conn, self.session.birth(self.devices))
        except (MqttUnavailable, MqttRefusedMessage, TimeoutError) as exc:
            self.session.disconnected()
            with contextlib.suppress(MqttUnavailable):
                await conn.disconnect(deadline=1.0)
            raise self._link.failed(exc) from exc
        self._link.up()
        self._conn = conn
        log.info(
            "sparkplug connected to %s:%d as %s (bdSeq %d)",
            self.options.host, self.options.port, self.options.client_id, self.session.bd_seq,
        )  # fmt: skip
        return conn

    def _start(self, conn: MqttConnection, messages: Sequence[Message]) -> list[asyncio.Task[None]]:
        """Start publishing in the session's order. Tasks reach paho in creation order, so callers
        must create them right after the session call, without an await in between."""
        return [
            asyncio.ensure_future(conn.publish(m.topic, m.payload, qos=self.qos, retain=m.retain))
            for m in messages
        ]

    async def _publish(self, conn: MqttConnection, messages: Sequence[Message]) -> None:
        results = await asyncio.gather(*self._start(conn, messages), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _on_message(self, msg: Any) -> None:
        """NCMD/DCMD, called on the event loop: answer a Rebirth with new births at once."""
        conn = self._conn
        if conn is None or conn.lost.is_set():
            return
        out = self.session.handle_command(msg.topic, bytes(msg.payload))
        if not out:
            return
        task = asyncio.ensure_future(self._reply(self._start(conn, out)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _reply(sends: list[asyncio.Task[None]]) -> None:
        results = await asyncio.gather(*sends, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:  # the connection is gone: the next one births anyway
            log.warning("sparkplug: rebirth not delivered: %s", failed[0])

    async def write(self, batch: Batch) -> None:
        conn = await self._ensure()
        sends: list[tuple[OutboxRecord, list[asyncio.Task[None]]]] = []
        for record in batch.records:  # no await in this loop: seq order is publish order
            if record.kind != DATA:
                continue
            points = _readings(record)
            if not batch.hist and points and all(r.status == BAD_NO_COMMUNICATION for r in points):
                # the engine's "device lost" batch: Sparkplug says that with DDEATH (hosts mark it stale)
                messages = self.session.device_offline(record.device)
            else:
                messages = self.session.data(record.device, points, historical=batch.hist)
            sends.append((record, self._start(conn, messages)))
        results = await asyncio.gather(*(t for _r, ts in sends for t in ts), return_exceptions=True)
        outcomes, i = [], 0
        for record, tasks in sends:
            outcomes.append((record, results[i : i + len(tasks)]))
            i += len(tasks)
        settle(outcomes)


def _readings(record: OutboxRecord) -> list[Reading]:
    return [
        Reading(record.device, p.tag, p.value, p.status, p.source_ts, p.collected_ts, record.session, p.seq,
                p.unit)
        for p in decode_points(record.body)
    ]  # fmt: skip
