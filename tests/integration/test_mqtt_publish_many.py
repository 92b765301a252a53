"""MqttConnection.publish_many against a real mosquitto: order, the in-flight window, a loss mid-batch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.sinks.mqtt_loop import MqttConnection, MqttOptions, MqttUnavailable
from tests.support.net import async_wait_for
from tests.support.servers import Server, start_mosquitto

pytestmark = pytest.mark.integration


async def listening(port: int, topic: str, got: list[bytes]) -> MqttConnection:
    sub = MqttConnection(
        MqttOptions("127.0.0.1", port, "pm-listener"), lambda m: got.append(bytes(m.payload))
    )
    await sub.connect()
    await sub.subscribe(topic, 1)
    return sub


async def test_messages_arrive_in_order_within_the_window(mosquitto: Server) -> None:
    got: list[bytes] = []
    sub = await listening(mosquitto.port, "pm/order", got)
    conn = MqttConnection(MqttOptions("127.0.0.1", mosquitto.port, "pm-order", max_inflight=100))
    await conn.connect()
    highest = 0

    async def watch() -> None:
        nonlocal highest
        while True:
            highest = max(highest, conn.in_flight)
            await asyncio.sleep(0)

    watcher = asyncio.ensure_future(watch())
    sent = [str(i).encode() for i in range(2500)]
    results = await conn.publish_many((("pm/order", m, False) for m in sent), qos=1, yield_every=7)
    watcher.cancel()
    assert results == [None] * len(sent)
    assert conn.in_flight == 0
    assert 0 < highest <= 100  # the window was used and never exceeded
    await async_wait_for(lambda: len(got) >= len(sent), 10, "every message at the listener")
    assert got == sent
    await conn.disconnect()
    await sub.disconnect()


async def test_a_loss_mid_batch_fails_the_rest_and_frees_the_window(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path / "broker")
    conn = MqttConnection(MqttOptions("127.0.0.1", broker.port, "pm-loss", max_inflight=50))
    try:
        await conn.connect()
        acked = 0

        def messages() -> Iterator[tuple[str, bytes, bool]]:
            nonlocal acked
            for i in range(20_000):
                if i == 400:  # some are acknowledged by now; the rest meet a dead broker
                    acked = i - conn.in_flight
                    broker.stop()
                yield ("pm/loss", str(i).encode(), False)

        results = await asyncio.wait_for(conn.publish_many(messages(), qos=1), 30)
    finally:
        broker.stop()
    assert len(results) == 20_000
    assert results[:acked] == [None] * acked
    assert all(isinstance(r, MqttUnavailable) for r in results[400:])
    assert conn.lost.is_set() and conn.in_flight == 0
    # every window slot came back: twice the window on the dead connection returns at once, failed
    again = await asyncio.wait_for(conn.publish_many(("pm/loss", b"x", False) for _ in range(100)), 5)
    assert all(isinstance(r, MqttUnavailable) for r in again)
