"""CNC machine simulator: a MachineModel exposed through an asyncua OPC UA server.

Values are written only when they change (value or status), so an idle simulator costs almost
nothing per update. SourceTimestamps are wall-clock time (plus any injected skew), not simulated
time: consumers compare them with their own clock, and a time_scale of 60 would otherwise put
timestamps hours into the future.

Alarms are also reported as OPC UA events (BaseEventType, Severity 800 when raised and 100 when
cleared, Message "Alarm raised: <code> <text>") emitted by the machine object.

POWER_OFF handling (``power_off_mode``):
    "bad"  (default) the server keeps answering; every variable reads BadOutOfService.
    "down" the listener closes and all connections are dropped, like a controller whose OPC UA
           server dies with the machine; it listens again when the machine powers on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

from asyncua import ua
from asyncua.server.server import Server
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes

from simulators.clock import SimClock
from simulators.machine import MachineModel, MachineProfile, Phase
from simulators.opcua import transport
from simulators.opcua.layout import Identity, Layout, build

log = logging.getLogger(__name__)

GOOD = StatusCodes.Good
BAD_OUT_OF_SERVICE = StatusCodes.BadOutOfService
BAD_DEFAULT = StatusCodes.BadSensorFailure


class CncSimulator:
    def __init__(
        self,
        name: str = "cnc-01",
        seed: int = 1,
        port: int = 0,
        profile: str = "machinetool",
        time_scale: float = 1.0,
        update_interval: float = 1.0,
        clock: SimClock | None = None,
        machine: MachineProfile | None = None,
        host: str = "127.0.0.1",
        power_off_mode: Literal["bad", "down"] = "bad",
        wall: Callable[[], float] = time.time,
    ) -> None:
        """``update_interval`` is in real seconds; 0 disables the background loop (call step())."""
        if power_off_mode not in ("bad", "down"):
            raise ValueError("power_off_mode must be 'bad' or 'down'")
        self.name = name
        self.seed = seed
        self.profile = profile
        self.host = host
        self.port = port
        self.update_interval = update_interval
        self.power_off_mode = power_off_mode
        self.namespace_uri = f"urn:shopfloor-sim:cnc:{name}"
        self.clock = clock or SimClock(time_scale=time_scale)
        self.model = MachineModel(machine or MachineProfile(), seed=seed, start=self.clock.now())
        self.identity = Identity(name, "Shopfloor Sim", "VMC-500", f"SIM-{seed:04d}-{name}")
        self._wall = wall
        self._server: Server | None = None
        self._layout: Layout | None = None
        self._events: Any = None  # asyncua EventGenerator for alarm events
        self._ns_idx = 0
        self._written: dict[str, tuple[Any, int]] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._blink = True
        self._last_t = float("-inf")
        # Fault state.
        self._bad: dict[str, int] = {}
        self._frozen = False
        self._skew = 0.0
        self._stalled = False
        self._stall_listener: transport.SilentListener | None = None
        self._paused: list[asyncio.Transport] = []
        self._unstall_task: asyncio.Task[None] | None = None
        self._down = False
        self._muted: list[Any] = []  # subscriptions whose publishing is paused (the "mute" fault)
        self._retired = 0

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> CncSimulator:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def endpoint(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"opc.tcp://{host}:{self.port}/"

    @property
    def namespace_index(self) -> int:
        """Current index of our namespace (changes on restart(renumber_namespaces=True))."""
        return self._ns_idx

    @property
    def server(self) -> Server:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return self._server

    @property
    def tags(self) -> list[str]:
        return list(self._layout.nodes) if self._layout else []

    def node_id(self, tag: str) -> ua.NodeId:
        if self._layout is None:
            raise RuntimeError("simulator not started")
        return self._layout.nodes[tag]

    async def start(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://{self.host}:{self.port}/")
        server.set_server_name(f"Shopfloor CNC simulator {self.name}")
        await server.set_application_uri(f"urn:shopfloor-sim:server:{self.name}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self._server = server
        self._ns_idx = await server.register_namespace(self.namespace_uri)
        await self._build()
        await self.step()
        await server.start()
        if self.port == 0:
            self.port = int(server.bserver.port)  # type: ignore[union-attr]
        log.info("CNC simulator %s (%s) listening on %s", self.name, self.profile, self.endpoint)
        if self.update_interval > 0:
            self._task = asyncio.create_task(self._update_loop(), name=f"cnc-sim-{self.name}")

    async def stop(self) -> None:
        for task in (self._task, self._unstall_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._unstall_task = None
        if self._stall_listener is not None:
            self._stall_listener.close()
            self._stall_listener = None
        if self._server is not None:
            server, self._server = self._server, None
            if server.bserver is not None:
                # Drop clients and their kept-alive sessions first, so nothing outlives the stop.
                with contextlib.suppress(Exception):
                    await transport.drop_all(server)
            await server.stop()

    async def _build(self) -> None:
        server = self.server
        self._layout = await build(server, self._ns_idx, self.profile, self.identity)
        self._events = await server.get_event_generator(ObjectIds.BaseEventType, self._layout.machine)

    async def _update_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.update_interval)
            self._wake.clear()
            try:
                await self.step()
            except Exception:  # keep simulating; one failed write must not kill the machine
                log.exception("update of %s failed", self.name)

    # ------------------------------------------------------------------ updates
    async def step(self) -> None:
        """Advance the model to clock.now() and write the changed values."""
        async with self._lock:
            events = self.model.advance_to(self.clock.now())
            snap = self.model.snapshot
            if self._server is None or self._layout is None:
                return
            if self.power_off_mode == "down" and self._server.bserver is not None:
                await self._apply_power_down(not snap.powered)
            if self._frozen:
                return
            if snap.t > self._last_t:
                self._blink = not self._blink
                self._last_t = snap.t
            for ev in events:
                if ev.kind in ("alarm_raised", "alarm_cleared"):
                    await self._alarm_event(ev.kind, ev.detail)
            values = self._layout.values(snap, self._blink)
            off = snap.phase is Phase.POWER_OFF and self.power_off_mode == "bad"
            await self._write(values, BAD_OUT_OF_SERVICE if off else None)

    async def _write(self, values: dict[str, Any], status_all: int | None) -> None:
        assert self._server is not None and self._layout is not None
        now = self._wall()
        src = dt.datetime.fromtimestamp(now + self._skew, dt.UTC)
        srv = dt.datetime.fromtimestamp(now, dt.UTC)
        nodes, types = self._layout.nodes, self._layout.types
        for tag, value in values.items():
            status = status_all if status_all is not None else self._bad.get(tag, GOOD)
            if self._written.get(tag) == (value, status):
                continue
            dv = ua.DataValue(
                Value=ua.Variant(value, types[tag]),
                StatusCode=ua.StatusCode(ua.UInt32(status)),
                SourceTimestamp=src,  # type: ignore[arg-type]
                ServerTimestamp=srv,  # type: ignore[arg-type]
            )
            await self._server.write_attribute_value(nodes[tag], dv)
            self._written[tag] = (value, status)

    async def _alarm_event(self, kind: str, detail: str) -> None:
        if self._events is None:
            return
        self._events.event.Severity = 800 if kind == "alarm_raised" else 100
        when = dt.datetime.fromtimestamp(self._wall() + self._skew, dt.UTC)
        what = "raised" if kind == "alarm_raised" else "cleared"
        await self._events.trigger(time_attr=when, message=f"Alarm {what}: {detail}")

    def _kick(self, rewrite: bool = False) -> None:
        """Apply a fault change at the next update (immediately if the loop runs)."""
        if rewrite:
            self._written.clear()
        self._wake.set()

    async def _apply_power_down(self, off: bool) -> None:
        if off == self._down:
            return
        self._down = off
        server = self.server
        if off:
            log.info("%s powered off: OPC UA server goes down", self.name)
            transport.close_listener(server)
            await transport.drop_all(server)
        elif not self._stalled:
            log.info("%s powered on: OPC UA server back", self.name)
            await transport.open_listener(server, self.host, self.port)

    # ------------------------------------------------------------------ faults
    async def drop_connections(self) -> int:
        """Close every client channel and session; clients must reconnect."""
        n = await transport.drop_all(self.server)
        log.info("%s: dropped %d connection(s)", self.name, n)
        return n

    async def stall(self, seconds: float | None = None) -> None:
        """Accept TCP connections but never answer, for ``seconds`` or until unstall()."""
        async with self._lock:  # serialised with power-down/restart, which also move the listener
            if not self._stalled:
                self._stalled = True
                server = self.server
                transport.close_listener(server)
                # Established connections stay open but their requests are never read.
                self._paused = transport.transports(server)
                for t in self._paused:
                    t.pause_reading()
                self._stall_listener = transport.SilentListener()
                await self._stall_listener.start(self.host, self.port)
                log.info("%s: stalled", self.name)
            if self._unstall_task is not None:
                self._unstall_task.cancel()
                self._unstall_task = None
            if seconds is not None:
                self._unstall_task = asyncio.create_task(self._unstall_after(seconds))

    async def _unstall_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._unstall_task = None
        await self.unstall()

    async def unstall(self) -> None:
        async with self._lock:
            if not self._stalled:
                return
            if self._unstall_task is not None and self._unstall_task is not asyncio.current_task():
                self._unstall_task.cancel()
            self._unstall_task = None
            self._stalled = False
            if self._stall_listener is not None:
                self._stall_listener.close()
                self._stall_listener = None
            for t in self._paused:
                if not t.is_closing():
                    t.resume_reading()
            self._paused = []
            if not self._down:
                await transport.open_listener(self.server, self.host, self.port)
            log.info("%s: unstalled", self.name)

    async def mute(self) -> int:
        """The subscriptions open now stop publishing (no data, no keep-alive) while reads and the
        session keep working: a server whose publishing engine hung. Returns how many were muted."""
        self._muted += transport.pause_publishing(self.server)
        log.info("%s: %d subscription(s) muted", self.name, len(self._muted))
        return len(self._muted)

    async def unmute(self) -> None:
        muted, self._muted = self._muted, []
        await transport.resume_publishing(muted)
        log.info("%s: subscriptions publish again", self.name)

    async def restart(self, renumber_namespaces: bool = True) -> None:
        """Restart the server side on the same port; optionally give our namespace a new index.

        The address space (and the machine state) survive, but every session is closed. With
        renumbering, our URI moves to the end of the NamespaceArray and its old slot keeps a
        retired placeholder URI, so cached numeric indexes point at an empty namespace.
        """
        async with self._lock:
            server = self.server
            listening = transport.is_listening(server)
            transport.close_listener(server)
            await transport.drop_all(server)
            if renumber_namespaces:
                await self._renumber(server)
            self._written.clear()
            if listening:
                await transport.open_listener(server, self.host, self.port)
        await self.step()
        log.info("%s: restarted, namespace index %d", self.name, self._ns_idx)

    async def _renumber(self, server: Server) -> None:
        assert self._layout is not None
        await server.delete_nodes([server.get_node(self._layout.root)], recursive=True)
        uris: list[str] = await server.get_namespace_array()
        self._retired += 1
        uris[uris.index(self.namespace_uri)] = f"urn:shopfloor-sim:retired:{self.name}:{self._retired}"
        uris.append(self.namespace_uri)
        await server.nodes.namespace_array.write_value(uris)
        self._ns_idx = len(uris) - 1
        await self._build()

    def set_bad(self, tags: list[str] | None = None, status: int = BAD_DEFAULT) -> None:
        """Give the listed tags (all when None) a Bad StatusCode until clear_bad()."""
        names = self.tags if tags is None else tags
        unknown = [t for t in names if t not in self.tags]
        if unknown:
            raise KeyError(f"unknown tags: {unknown}")
        self._bad.update(dict.fromkeys(names, status))
        self._kick()

    def clear_bad(self) -> None:
        self._bad.clear()
        self._kick()

    def freeze(self, frozen: bool = True) -> None:
        """Stop (or resume) value updates; the server keeps answering with the old values."""
        self._frozen = frozen
        self._kick()

    def skew_clock(self, seconds: float) -> None:
        """Offset SourceTimestamps of values written from now on (all values are rewritten)."""
        self._skew = seconds
        self._kick(rewrite=True)

    @property
    def faults(self) -> dict[str, Any]:
        return {
            "stalled": self._stalled,
            "muted": len(self._muted),
            "frozen": self._frozen,
            "skew_s": self._skew,
            "bad": sorted(self._bad),
            "down": self._down,
        }
