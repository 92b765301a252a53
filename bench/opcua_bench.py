"""OPC UA driver: monitored items per process and notification-to-cache latency.

    .venv/bin/python bench/opcua_bench.py [--items 5000] [--period 5] [--seconds 20] [--per-sub 1000]

A plain asyncua server runs in another process with N Double variables; every 100 ms it rewrites
the next slice so that each changes once per --period seconds, with SourceTimestamp = the time of
the write (asyncua's server cannot rewrite thousands of nodes a second on this machine). In this
process, one after the other and against the same server:

1. reference: a bare asyncua client subscription with the same items and a minimal handler
   (asyncua's documented path: `create_subscription(period, handler)`, `subscribe_data_change`);
2. the driver: OpcUaDriver with the same items spread over subscriptions of --per-sub items, read
   once a second like the engine does.

Latency is wall time when the value lands (the driver's cache / the handler) minus the
server's SourceTimestamp, both on this host's clock; it includes the server's publishing interval.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import statistics
import sys
import time
from typing import Any, ClassVar

from asyncua import ua
from asyncua.client.client import Client
from asyncua.server.server import Server

from collector.config.opcua import OpcUaDevice
from drivers.opcua.driver import OpcUaDriver
from drivers.opcua.subscription import Feed

NS = "urn:shopfloor-bench:opcua"
PUBLISH_MS = 100


async def serve(port: int, items: int, period: float) -> None:
    """Every 100 ms rewrite the next slice, so each item changes once per `period` seconds."""
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/")
    idx = await server.register_namespace(NS)
    folder = await server.nodes.objects.add_folder(idx, "Bench")
    nodes = [await folder.add_variable(ua.NodeId(f"v{i}", idx), f"v{i}", 0.0) for i in range(items)]
    await server.start()
    print("READY", flush=True)
    per_tick = max(1, round(items / (period * 10)))
    at, tick = 0, 0.0
    while True:
        started = time.monotonic()
        tick += 1
        for _ in range(per_tick):
            now = dt.datetime.now(dt.UTC)
            dv = ua.DataValue(ua.Variant(tick), SourceTimestamp=now)  # type: ignore[arg-type]
            await server.write_attribute_value(nodes[at].nodeid, dv)
            at = (at + 1) % items
        await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - started)))


def ms_since(ts: dt.datetime | None, now: float) -> float:
    return (now - ts.timestamp()) * 1000 if ts is not None else float("nan")


class RawHandler:
    def __init__(self) -> None:
        self.seen: list[tuple[float, Any]] = []

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.seen.append((time.time(), data.monitored_item.Value.SourceTimestamp))


async def raw(endpoint: str, items: int, seconds: float) -> dict[str, float]:
    client = Client(endpoint, timeout=10, watchdog_intervall=5.0)  # as the driver: probe every 5 s
    await client.connect()
    try:
        idx = await client.get_namespace_index(NS)
        handler = RawHandler()
        sub = await client.create_subscription(PUBLISH_MS, handler)
        nodes = [client.get_node(ua.NodeId(f"v{i}", idx)) for i in range(items)]
        for start in range(0, items, 1000):
            await sub.subscribe_data_change(nodes[start : start + 1000], queuesize=1)
        await asyncio.sleep(3)  # initial values and warm-up are not measured
        return await _window(lambda: handler.seen, seconds, [])
    finally:
        await client.disconnect()


class TimedFeed(Feed):
    """The driver's feed plus one timestamp per publish; latencies are computed after the run."""

    log: ClassVar[list[tuple[float, ua.PublishResult]]] = []

    def __call__(self, result: ua.PublishResult) -> None:
        super().__call__(result)
        self.log.append((time.time(), result))


def _driver_seen() -> list[tuple[float, Any]]:
    out = []
    for when, result in TimedFeed.log:
        for n in result.NotificationMessage.NotificationData or []:
            if isinstance(n, ua.DataChangeNotification):
                out += [(when, item.Value.SourceTimestamp) for item in n.MonitoredItems]
    return out


async def driver(endpoint: str, items: int, seconds: float, per_sub: int) -> dict[str, float]:
    device = OpcUaDevice.model_validate({
        "id": "bench", "protocol": "opcua", "endpoint": endpoint, "timeout": "10s",
        "publishing_interval": f"{PUBLISH_MS}ms", "max_items_per_subscription": per_sub,
        "tags": [{"name": f"v{i}", "node": f"nsu={NS};s=v{i}"} for i in range(items)],
    })  # fmt: skip
    async with OpcUaDriver(device.driver_options(), feed=TimedFeed) as drv:
        await asyncio.sleep(3)
        read_ms: list[float] = []

        async def engine() -> None:
            while True:
                t0 = time.perf_counter()
                await drv.read()
                read_ms.append((time.perf_counter() - t0) * 1000)
                await asyncio.sleep(1)

        task = asyncio.create_task(engine())
        stats = await _window(_driver_seen, seconds, read_ms)
        task.cancel()
        stats["subscriptions"] = len(drv._subs.feeds) if drv._subs else 0
        return stats


async def _window(seen: Any, seconds: float, read_ms: list[float]) -> dict[str, float]:
    TimedFeed.log.clear()
    start_n = len(seen())
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    window = seen()[start_n:]
    lat = sorted((when - ts.timestamp()) * 1000 for when, ts in window if ts is not None)
    q = statistics.quantiles(lat, n=100) if len(lat) > 100 else [float("nan")] * 99
    return {
        "notifications_per_s": len(window) / wall, "p50_ms": q[49], "p99_ms": q[98],
        "cpu_pct": cpu / wall * 100, "read_ms_max": max(read_ms, default=float("nan")),
        "read_ms_median": statistics.median(read_ms) if read_ms else float("nan"),
    }  # fmt: skip


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--per-sub", type=int, default=1000)
    ap.add_argument("--period", type=float, default=5.0, help="each item changes once per this many s")
    ap.add_argument("--port", type=int, default=48555)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        await serve(args.port, args.items, args.period)
        return
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", "--port", str(args.port), "--items", str(args.items),
        "--period", str(args.period),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and (await proc.stdout.readline()).strip() == b"READY"
        endpoint = f"opc.tcp://127.0.0.1:{args.port}/"
        ref = await raw(endpoint, args.items, args.seconds)
        ours = await driver(endpoint, args.items, args.seconds, args.per_sub)
    finally:
        proc.terminate()
        await proc.wait()
    rate = args.items / args.period
    head = f"{args.items} items, publishing {PUBLISH_MS} ms, server writes {rate:.0f} values/s"
    print(f"{head}, window {args.seconds:g}s")
    for name, r in (("raw asyncua subscription (reference)", ref), ("OpcUaDriver", ours)):
        extra = (
            f", {r['subscriptions']:.0f} subscriptions, "
            f"read() median {r['read_ms_median']:.0f} ms, max {r['read_ms_max']:.0f} ms"
            if name == "OpcUaDriver"
            else ""
        )
        print(
            f"{name}: {r['notifications_per_s']:.0f} notifications/s, latency p50 {r['p50_ms']:.0f} ms "
            f"p99 {r['p99_ms']:.0f} ms, client CPU {r['cpu_pct']:.0f}% of one core{extra}"
        )


if __name__ == "__main__":
    asyncio.run(main())
