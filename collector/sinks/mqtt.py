"""The MQTT sink (UNS JSON): QoS 1 with a bounded in-flight window, birth/Last Will, retained meta.

Connection handling lives here rather than in the delivery loop: `write()` connects when needed
(at most once per jittered backoff step) and raises `RetryableSinkError` while the broker is away,
so the outbox keeps the batch. After each (re)connect the retained birth message and the retained
`meta` of every device are published before any record.

With `confirmations`, every connection first subscribes to the edge's confirmation topic (QoS 0:
a lost confirmation costs a re-send, and a QoS 0 subscription leaves no per-client queue that a
failed cluster node could hold) and hands what arrives to `on_confirmation` (sinks/confirm.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import paho.mqtt.client as paho

from collector import __version__
from collector.clock import now_ms
from collector.config.plant import PlantConfig
from collector.outbox import OutboxRecord
from collector.sinks.base import Batch, RejectedBatchError, RetryableSinkError
from collector.sinks.confirm import Confirmation, decode
from collector.sinks.mqtt_loop import (
    MqttConnection,
    MqttOptions,
    MqttRefusedMessage,
    MqttUnavailable,
    Will,
    options_from_config,
)
from collector.sinks.reconnect import Reconnect
from collector.sinks.uns import Topics, birth_payload, kind_spec, meta_payload, render, will_payload

log = logging.getLogger(__name__)


def default_client_id(plant: PlantConfig) -> str:
    return plant.mqtt.client_id or f"shopfloor-{plant.site.edge_id}"


class MqttSink:
    def __init__(
        self, plant: PlantConfig, base: Path, session: int, name: str = "mqtt", *, confirmations: bool = False
    ) -> None:
        self.name = name
        self.plant = plant
        self.session = session
        self.topics = Topics.of(plant)
        will = Will(self.topics.status(), will_payload(session))
        self.options: MqttOptions = options_from_config(plant.mqtt, default_client_id(plant), base, will=will)
        self.qos = plant.mqtt.qos
        self.confirmations = confirmations
        self.on_confirmation: Callable[[Confirmation], None] = lambda _c: None
        self.unreadable_confirmations = 0
        self._conn: MqttConnection | None = None
        self._node = 0  # the failover node that worked last
        self._link = Reconnect("mqtt", self.options.host, self.options.port)
        self._newest_state: dict[str, tuple[int, int]] = {}  # device -> (session, seq) last retained

    @property
    def connects(self) -> int:
        return self._link.connects

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.lost.is_set():
            try:  # a clean stop: say offline ourselves (the broker sends the Will only on a loss)
                async with asyncio.timeout(3):
                    await conn.publish(self.topics.status(), will_payload(self.session), qos=1, retain=True)
            except (MqttUnavailable, TimeoutError):
                pass
            await conn.disconnect()

    def accepts(self, kind: str) -> bool:
        return kind_spec(kind) is not None

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.lost.is_set()

    async def _ensure(self) -> MqttConnection:
        if self._conn is not None and not self._conn.lost.is_set():
            return self._conn
        if self._conn is not None:  # report the loss once so the delivery marks what follows as replay
            reason, self._conn = self._conn.loss_reason, None
            raise self._link.lost(reason)
        self._link.due()
        conn = MqttConnection(self.options, self._on_message if self.confirmations else None, self._node)
        try:
            await conn.connect()
        except MqttUnavailable as exc:
            self._node = conn.node + 1  # the next attempt starts with the next node
            raise self._link.failed(exc) from exc
        try:
            if self.confirmations:  # before any record: no confirmation of this connection is missed
                await conn.subscribe(self.topics.confirm(), qos=0)
            await self._announce(conn)
        except (MqttUnavailable, TimeoutError) as exc:
            await conn.disconnect()  # connected, but unusable: do not leave the socket open
            self._node = conn.node + 1
            raise self._link.failed(exc) from exc
        self._link.up()
        self._conn, self._node = conn, conn.node
        host, port = conn.address
        log.info("mqtt connected to %s:%d as %s", host, port, self.options.client_id)
        return conn

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        try:
            confirmation = decode(bytes(msg.payload))
        except ValueError:
            self.unreadable_confirmations += 1
            return
        self.on_confirmation(confirmation)

    async def _announce(self, conn: MqttConnection) -> None:
        ts = now_ms()
        await conn.publish(
            self.topics.status(), birth_payload(self.session, ts, __version__), qos=1, retain=True
        )
        metas = ((self.topics.device(d.id, "meta"), meta_payload(d, ts), True) for d in self.plant.devices)
        failed = [r for r in await conn.publish_many(metas, qos=1) if r is not None]
        if failed:
            raise failed[0]

    async def write(self, batch: Batch) -> None:
        conn = await self._ensure()
        published: list[OutboxRecord] = []

        def rendered() -> Iterator[tuple[str, bytes, bool]]:
            # rendered as they are sent, so the loop's turns between chunks split the rendering too
            for record in batch.records:
                message = self._retain_newest(
                    record, render(self.topics, record, batch.hist, self.confirmations)
                )
                if message is not None:
                    published.append(record)
                    yield message

        results = await conn.publish_many(rendered(), qos=self.qos)
        settle([(record, [result]) for record, result in zip(published, results, strict=True)])

    def _retain_newest(
        self, record: OutboxRecord, message: tuple[str, bytes, bool] | None
    ) -> tuple[str, bytes, bool] | None:
        """A retained record older than one already sent (backlog after live) goes out unretained."""
        if message is None or not message[2] or record.kind != "state":
            return message
        key = (record.session, record.seq_last)
        newest = self._newest_state.get(record.device)
        if newest is not None and key < newest:
            return message[0], message[1], False
        self._newest_state[record.device] = key
        return message


def settle(outcomes: Sequence[tuple[OutboxRecord, Sequence[object]]]) -> None:
    """Publish results per outbox record → the sink contract. A lost connection keeps the whole
    batch (RetryableSinkError); records with a message the broker refused are rejected; any other
    exception is raised as it is."""
    results = [result for _record, rs in outcomes for result in rs]
    lost = next((e for e in results if isinstance(e, MqttUnavailable)), None)
    if lost is not None:
        raise RetryableSinkError(f"mqtt: {lost}")
    refused: list[OutboxRecord] = []
    for record, rs in outcomes:
        for result in rs:
            if isinstance(result, MqttRefusedMessage):
                refused.append(record)
                break
            if isinstance(result, BaseException):
                raise result
    if refused:
        raise RejectedBatchError(f"broker refused: {refused_reason(results)}", tuple(r.id for r in refused))


def refused_reason(results: Sequence[object]) -> str:
    return next((str(e) for e in results if isinstance(e, MqttRefusedMessage)), "")
