"""The edge node's MQTT connection, from CONNECT to DISCONNECT, again and again.

For every connection: the session's next bdSeq and its NDEATH as the Will, CONNECT, subscribe to
NCMD, DCMD and (with a primary host) the host's STATE; wait until that host is online; NBIRTH and
the DBIRTHs; the records of the replay window again as history; then `ready` is set and the sink
publishes. When the primary host goes offline: NDEATH, DISCONNECT, connect again and wait, as the
specification asks, while the outbox keeps everything. A clean stop publishes the NDEATH and, on
MQTT 5, disconnects with reason 0x04 so the broker delivers the Will as well.

Every message is handed to the client in the order the session made it (the seq order): callers
start the publishing tasks right after the session call, with no await in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

from collector.aio import first_of
from collector.outbox import OutboxRecord
from collector.sinks.mqtt_loop import MqttConnection, MqttOptions, MqttRefusedMessage, MqttUnavailable, Will
from collector.sinks.sparkplug.host import PrimaryHost
from collector.sinks.sparkplug.session import Message, SparkplugSession
from collector.sinks.sparkplug.tail import RecentTail
from drivers.backoff import Backoff

log = logging.getLogger(__name__)

Render = Callable[[OutboxRecord, bool], list[Message]]  # record, historical → messages
SEND_ERRORS = (MqttUnavailable, MqttRefusedMessage, TimeoutError)


class Link:
    def __init__(
        self,
        session: SparkplugSession,
        options: MqttOptions,
        host: PrimaryHost | None,
        tail: RecentTail,
        *,
        qos: int,
        render: Render,
        persist_bd_seq: Callable[[int], None],
    ) -> None:
        self.session = session
        self.options = options
        self.host = host
        self.tail = tail
        self.qos = qos
        self._render = render
        self._persist_bd_seq = persist_bd_seq
        self.ready = asyncio.Event()  # births are out: records may be published
        # start-up is over: the link was ready once, or knows it must hold (no broker, host offline)
        self.settled = asyncio.Event()
        self.connection: MqttConnection | None = None
        self.connects = 0
        self._host_changed = asyncio.Event()
        self._replay: list[OutboxRecord] = []  # sent again as history after the next births
        self._backoff = Backoff(base=0.5, cap=5.0)
        self._down_reason = "not connected yet"
        self._tasks: set[asyncio.Task[None]] = set()

    def why_held(self) -> str:
        if self.host is not None and not self.host.online:
            return f"primary host {self.host.host_id!r} is not online"
        if self.connection is None:
            return f"broker {self.options.host}:{self.options.port} unavailable: {self._down_reason}"
        return "births in progress"

    async def run(self) -> None:
        """Until cancelled: connect, serve, and again after every loss (after a pause when the
        connection never got as far as its births)."""
        while True:
            if not await self._serve(await self._open()):
                await asyncio.sleep(self._backoff.next())

    async def close(self) -> None:
        """A clean stop: NDEATH, then DISCONNECT (on MQTT 5 with reason 0x04, so the Will goes too)."""
        conn, self.connection = self.connection, None
        self.ready.clear()
        if conn is not None and not conn.lost.is_set():
            if self.session.node_born:
                death = self.session.death()
                with contextlib.suppress(*SEND_ERRORS):
                    async with asyncio.timeout(3):
                        await conn.publish(death.topic, death.payload, qos=1, retain=False)
                await conn.disconnect(with_will=True)
            else:
                self.session.disconnected()
                await conn.disconnect()
        for task in list(self._tasks):
            task.cancel()

    # -- one connection ------------------------------------------------------------------------------

    async def _open(self) -> MqttConnection:
        """CONNECT with this connection's NDEATH as the Will and subscribe; retried with backoff."""
        while True:
            will = self.session.connect()
            self._persist_bd_seq(self.session.bd_seq + 1)  # a restart continues the sequence
            opts = dataclasses.replace(self.options, will=Will(will.topic, will.payload, retain=will.retain))
            conn = MqttConnection(opts, self._on_message)
            try:
                await conn.connect()
                for topic, qos in self._subscriptions():
                    await conn.subscribe(topic, qos)
            except SEND_ERRORS as exc:
                if conn.connect_sent:
                    self.session.disconnected()
                else:
                    self.session.connect_not_sent()
                with contextlib.suppress(MqttUnavailable):
                    await conn.disconnect(deadline=1.0)
                self._down(str(exc))
                self.settled.set()
                await asyncio.sleep(self._backoff.next())
                continue
            self.connects += 1
            self.connection = conn
            log.info(
                "sparkplug connected to %s:%d as %s (bdSeq %d)",
                self.options.host, self.options.port, self.options.client_id, self.session.bd_seq,
            )  # fmt: skip
            return conn

    def _subscriptions(self) -> list[tuple[str, int]]:
        subs = self.session.command_subscriptions()
        if self.host is not None:
            subs.append((self.host.topic, 1))
        return subs

    async def _serve(self, conn: MqttConnection) -> bool:
        """Births once the host is online, then ready until the connection or the host is lost;
        False when the connection was lost before its births were out."""
        if not await self._host_online(conn):
            self._lost(conn)
            return False
        try:
            await self._publish(conn, self.session.birth())
            await self._send_replay(conn)
        except SEND_ERRORS:
            self._lost(conn)
            return False
        self._backoff.reset()
        self.ready.set()
        self.settled.set()
        await self._until_down(conn)
        self.ready.clear()
        if conn.lost.is_set():
            self._lost(conn)
        else:
            await self._host_gone(conn)
        return True

    async def _host_online(self, conn: MqttConnection) -> bool:
        """Wait for the primary host's STATE online (none configured: at once); False on a loss."""
        while self.host is not None:
            self._host_changed.clear()
            if conn.lost.is_set() or self.host.online:
                break
            await first_of(self._host_changed, conn.lost)
        return not conn.lost.is_set()

    async def _until_down(self, conn: MqttConnection) -> None:
        while not conn.lost.is_set():
            self._host_changed.clear()
            if self.host is not None and not self.host.online:
                return
            await first_of(self._host_changed, conn.lost)

    async def _host_gone(self, conn: MqttConnection) -> None:
        """The primary host went offline: NDEATH and DISCONNECT now; what it may have missed is sent
        again as history once it is back."""
        assert self.host is not None
        log.warning(
            "sparkplug: primary host %r offline: NDEATH, reconnecting, holding data", self.host.host_id
        )
        self._replay += self.tail.take()
        death = self.session.death()
        with contextlib.suppress(*SEND_ERRORS):
            async with asyncio.timeout(3):
                await conn.publish(death.topic, death.payload, qos=1, retain=False)
        await conn.disconnect(with_will=True)
        self.connection = None
        self._down_reason = f"disconnected: primary host {self.host.host_id!r} offline"

    def _lost(self, conn: MqttConnection) -> None:
        self.session.disconnected()
        self.connection = None
        self._down(conn.loss_reason)
        if self.qos == 0:  # QoS 0: the lost connection may have swallowed what was just sent
            self._replay += self.tail.take()

    def _down(self, reason: str) -> None:
        """Say a change to "unavailable" once; later attempts are only counted by the backoff."""
        if self._backoff.failures == 0:
            log.warning("sparkplug %s:%d unavailable: %s", self.options.host, self.options.port, reason)
        self._down_reason = reason

    # -- publishing ----------------------------------------------------------------------------------

    def start(self, conn: MqttConnection, messages: Sequence[Message]) -> list[asyncio.Task[None]]:
        """Start publishing in the session's order (tasks reach the client in creation order)."""
        return [
            asyncio.ensure_future(conn.publish(m.topic, m.payload, qos=self.qos, retain=m.retain))
            for m in messages
        ]

    def send_soon(self, conn: MqttConnection, messages: Sequence[Message]) -> None:
        """Publish without waiting (a rebirth answer, a reload's DDEATH); a failure is only logged:
        the next connection births anyway."""
        if messages:
            task = asyncio.ensure_future(_report(self.start(conn, messages)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _publish(self, conn: MqttConnection, messages: Sequence[Message]) -> None:
        for result in await asyncio.gather(*self.start(conn, messages), return_exceptions=True):
            if isinstance(result, BaseException):
                raise result

    async def _send_replay(self, conn: MqttConnection) -> None:
        """The replay window's records, as history, before anything live (kept if the send fails)."""
        records, self._replay = self._replay, []
        if not records:
            return
        log.info("sparkplug: sending %d records of the replay window again as history", len(records))
        try:
            await self._publish(conn, [m for r in records for m in self._render(r, True)])
        except SEND_ERRORS:
            self._replay = records + self._replay
            raise

    def _on_message(self, msg: Any) -> None:
        """STATE of the primary host, NCMD/DCMD; called on the event loop."""
        if self.host is not None and msg.topic == self.host.topic:
            state = self.host.observe(msg.topic, bytes(msg.payload))
            if state is not None:
                log.info(
                    "sparkplug: primary host %r %s",
                    self.host.host_id,
                    "online" if state.online else "offline",
                )
                if not state.online:
                    self.ready.clear()  # no more records from now on, before the link reacts
                    self.settled.set()
                self._host_changed.set()
            return
        conn = self.connection
        if conn is not None and not conn.lost.is_set():
            self.send_soon(conn, self.session.handle_command(msg.topic, bytes(msg.payload)))


async def _report(sends: list[asyncio.Task[None]]) -> None:
    results = await asyncio.gather(*sends, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        log.warning("sparkplug: control messages not delivered: %s", failed[0])
