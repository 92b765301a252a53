"""MQTT → time-series store bridge (`shopfloor historian -c PLANT.yaml`).

Subscribes to the plant's telemetry with an MQTT 5 shared subscription (`$share/<group>/…`) so
several historians split one plant's load, writes batches of joined line protocol, and acknowledges
each MQTT message (manual PUBACK) only after the store answered 2xx. A historian killed mid-batch
therefore loses nothing: the broker redelivers what was not acknowledged, and the store's point
identity makes the redelivered points overwrite themselves.

After each store write it publishes a store confirmation (sinks/confirm.py) to the edge that sent
the messages: only then may the collector delete them from its outbox. A broker that loses what it
held (a crash, a fail-over to an empty node) therefore loses nothing: what stays unconfirmed is
sent again.

The session is persistent by default (clean_start=False, a long session expiry) so messages
published while the historian is down are queued by the broker for it. `session="clean"` is for
broker clusters: a clean session under a new client id per connection, because a persistent (or
even a clean) session whose queue lived on a failed node cannot subscribe again until that node is
back (measured with RabbitMQ 3.10, docs/OPERATIONS.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import paho.mqtt.client as paho

from collector.aio import first_of
from collector.config.plant import PlantConfig
from collector.outbox import SeqRun
from collector.sinks.base import RejectedBatchError, RetryableSinkError
from collector.sinks.confirm import Owed
from collector.sinks.influx import Placements, StoreWriter
from collector.sinks.lineprotocol import line
from collector.sinks.mqtt_loop import MqttConnection, MqttUnavailable, options_from_config
from collector.sinks.uns import Topics, decode_telemetry, device_place
from drivers.backoff import Backoff

log = logging.getLogger(__name__)

SESSION_EXPIRY = 7 * 86400  # the broker queues for a stopped historian this long
RECEIVE_MAXIMUM = 10000  # unacknowledged messages in memory at most (2,000 halved throughput)
IDLE = 0.01  # seconds without a new message that end a batch early


@dataclass
class HistorianStats:
    messages: int = 0
    points_written: int = 0
    acked: int = 0
    retries: int = 0
    salvaged: int = 0  # stored after their connection was lost (not acknowledged)
    confirmations: int = 0  # store confirmations published
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> messages


@dataclass(frozen=True, slots=True)
class Pending:
    mid: int
    qos: int
    lines: tuple[str, ...]
    edge: str | None = None  # where the store confirmation goes (None: the sender wants none)
    run: SeqRun | None = None  # the readings, for the confirmation


class Historian:
    def __init__(
        self, plant: PlantConfig, base: Path, *, group: str | None = "historian", instance: str = "1",
        batch_points: int = 5000, linger: float = 0.2, session: str = "persistent",
    ) -> None:  # fmt: skip
        self.plant = plant
        self.topics = Topics.of(plant)
        # mosquitto (2.0.11, measured) forgets shared subscriptions over a broker restart; store
        # confirmation makes the collector send again what was lost meanwhile. See docs/DELIVERY.md.
        self.filter = f"$share/{group}/{self.topics.all_data()}" if group else self.topics.all_data()
        self.client_id = f"shopfloor-historian-{plant.site.site}-{instance}"
        self.clean = session == "clean"
        self.options = options_from_config(
            plant.mqtt,
            self.client_id,
            base,
            clean_start=self.clean,
            session_expiry=0 if self.clean else SESSION_EXPIRY,
            manual_ack=True,
            will=None,
            receive_maximum=RECEIVE_MAXIMUM,
        )
        self.writer = StoreWriter(plant.storage, base)
        self.places = Placements.of(plant)
        self.batch_points = batch_points
        self.linger = linger
        self.stats = HistorianStats()
        self._pending: list[Pending] = []
        self._arrived = asyncio.Event()
        self._backoff = Backoff(base=0.2, cap=30.0)
        self._conn: MqttConnection | None = None
        self._node = 0  # the failover node that worked last
        self._owed = Owed()  # store confirmations not yet published
        self.subscribed = False

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        self.stats.messages += 1
        try:
            pending = self._parse(msg)
        except (ValueError, KeyError, TypeError) as exc:
            self.stats.rejected[f"bad payload: {type(exc).__name__}"] += 1
            self._conn_ack(msg.mid, msg.qos)  # never storable: acknowledge so it is not redelivered forever
            return
        self._pending.append(pending)
        self._arrived.set()

    def _parse(self, msg: paho.MQTTMessage) -> Pending:
        obj = decode_telemetry(bytes(msg.payload))
        area, line_id, device = device_place(msg.topic)
        place = self.places.get(device, area, line_id)
        session, ts, labels = int(obj["session"]), int(obj["ts"]), self.writer.strings_as_label
        seqs = [int(p["seq"]) for p in obj["points"]]
        lines = tuple(
            line(place, p["k"], p.get("v"), int(p["q"]), session, seq, ts, strings_as_label=labels)
            for p, seq in zip(obj["points"], seqs, strict=True)
        )
        edge = obj.get("edge")
        if not isinstance(edge, str) or not seqs:
            return Pending(msg.mid, msg.qos, lines)
        run = SeqRun(str(obj.get("device", device)), session, min(seqs), max(seqs))
        return Pending(msg.mid, msg.qos, lines, edge, run)

    def _conn_ack(self, mid: int, qos: int) -> None:
        if self._conn is not None and qos > 0:
            self._conn.ack(mid, qos)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self._session(stop)
                except MqttUnavailable as exc:
                    if self._backoff.failures == 0:
                        log.warning("historian: broker unavailable: %s", exc)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._backoff.next()):
                            await stop.wait()
        finally:
            self.writer.close()

    async def _session(self, stop: asyncio.Event) -> None:
        options = self.options
        if self.clean:  # a fresh id: a session stuck on a failed cluster node cannot block this one
            options = replace(options, client_id=f"{self.client_id}-{secrets.token_hex(4)}")
        conn = self._conn = MqttConnection(options, self._on_message, self._node)
        try:
            await conn.connect()
        except MqttUnavailable:
            self._node = conn.node + 1  # the next attempt starts with the next node
            raise
        self._node = conn.node
        try:
            await conn.subscribe(self.filter, qos=1)
            self.subscribed = True
            self._backoff.reset()
            log.info("historian subscribed to %s on %s:%d", self.filter, *conn.address)
            while not stop.is_set() and not conn.lost.is_set():
                await self._wait_for_batch(stop, conn)
                await self._flush(stop, conn)
                await self._confirm(conn)
        finally:
            self.subscribed = False
            await conn.disconnect()
            self._conn = None
            await self._salvage(stop)
        if not stop.is_set():
            raise MqttUnavailable(conn.loss_reason)

    async def _wait_for_batch(self, stop: asyncio.Event, conn: MqttConnection) -> None:
        if not self._pending:
            self._arrived.clear()
            owed = self._owed.wait(time.monotonic())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0 if owed is None else min(1.0, owed)):
                    await first_of(self._arrived, stop, conn.lost)
        await self._fill(stop, conn)

    async def _fill(self, stop: asyncio.Event, conn: MqttConnection) -> None:
        """Let a batch fill until it is full, `linger` passed, or arrivals pause for IDLE: a broker
        that allows few unacknowledged messages (mosquitto's default is 20) pauses, and waiting
        out the whole linger then would cap throughput at one small batch per linger."""
        deadline = asyncio.get_running_loop().time() + self.linger
        while (
            self._pending and self._count() < self.batch_points and not (stop.is_set() or conn.lost.is_set())
        ):
            seen = len(self._pending)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(IDLE, remaining)):
                    await self._arrived.wait()
            if len(self._pending) == seen:
                return

    def _count(self) -> int:
        return sum(len(p.lines) for p in self._pending)

    async def _flush(self, stop: asyncio.Event, conn: MqttConnection) -> None:
        """Write pending messages in batches; ack each message only after its batch was stored."""
        while self._pending and not conn.lost.is_set():
            batch, total = [], 0
            while self._pending and total < self.batch_points:
                item = self._pending.pop(0)
                batch.append(item)
                total += len(item.lines)
            refused = await self._store(batch, stop, conn.lost)
            if refused is None:
                self._pending[:0] = batch  # not stored: keep them for the salvage
                return
            self._owe(batch, refused)
            for item in batch:
                conn.ack(item.mid, item.qos)
            self.stats.acked += len(batch)

    def _owe(self, batch: list[Pending], refused: str) -> None:
        now = time.monotonic()
        for item in batch:
            if item.edge is not None and item.run is not None:
                self._owed.add(item.edge, item.run, refused, now)

    async def _confirm(self, conn: MqttConnection) -> None:
        """Tell each edge what the store now holds (or refused for good, with the reason), once
        the owed confirmations are due. Lost with the connection, a confirmation only costs the
        collector a re-send: the store absorbs the copy."""
        owed = self._owed.wait(time.monotonic())
        if owed is None or owed > 0:
            return
        for edge, payload in self._owed.payloads(conn.opts.client_id):
            try:
                async with asyncio.timeout(10):
                    await conn.publish(self.topics.confirm(edge), payload, qos=1)
            except (MqttUnavailable, TimeoutError):
                return
            self.stats.confirmations += 1

    async def _salvage(self, stop: asyncio.Event) -> None:
        """Store what arrived but was not acknowledged when the connection went: a broker may not
        redeliver it (mosquitto forgets in-flight messages over its own restart). Idempotent."""
        if self._pending:
            batch, self._pending = self._pending, []
            refused = await self._store(batch, stop, asyncio.Event())
            if refused is not None:
                self.stats.salvaged += len(batch)
                self._owe(batch, refused)  # confirmed on the next connection

    async def _store(self, batch: list[Pending], stop: asyncio.Event, lost: asyncio.Event) -> str | None:
        """An empty string once stored, the reason when the store refused the batch for good; None
        when `lost` or `stop` ended the retries."""
        lines = [text for item in batch for text in item.lines]
        backoff = Backoff(base=0.2, cap=30.0)
        while not lost.is_set():
            try:
                await self.writer.write(lines)
            except RetryableSinkError as exc:
                self.stats.retries += 1
                if backoff.failures == 0:
                    log.warning("historian: store unavailable, retrying: %s", exc)
                delay = exc.retry_after if exc.retry_after is not None else backoff.next()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await first_of(stop, lost)
                if stop.is_set():
                    return None
                continue
            except RejectedBatchError as exc:
                self.stats.rejected[exc.reason] += len(batch)
                log.error("historian: store rejected a batch of %d messages: %s", len(batch), exc.reason)
                return exc.reason or "rejected"  # acknowledged and counted: it would be refused forever
            self.stats.points_written += len(lines)
            return ""
        return None
