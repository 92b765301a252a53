"""Integration tests: the CNC simulator observed through a real asyncua client on 127.0.0.1.

Time is driven by an injected SimClock whose "real" source is a list the test moves, and the
background update loop is disabled (update_interval=0) unless a test is about it, so every value
is exact and repeatable.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import BadNodeIdUnknown, UaStatusCodeError

from simulators.clock import SimClock
from simulators.machine import MachineProfile, Phase
from simulators.opcua import CncSimulator
from tests.support.net import async_wait_for

pytestmark = pytest.mark.integration

START = 1_700_000_000.0
# Fully deterministic timeline: setup 100 s, runs of 3 x 60 s cycles, 50 s idle gaps.
PLAIN = MachineProfile(
    cycle_time_s=60,
    cycle_jitter=0,
    cycles_per_run=(3, 3),
    scrap_rate=0,
    setup_s=(100, 100),
    idle_gap_s=(50, 50),
    feed_hold_prob=0,
    alarm_prob=0,
    shift_s=8 * 3600,
)


class FakeTime:
    def __init__(self) -> None:
        self.real = 0.0
        self.clock = SimClock(1.0, start=START, real=lambda: self.real)

    def at(self, offset: float) -> None:
        """Move simulated time to START + offset."""
        self.real = offset


async def child(client: Client, uri: str, path: str, root: Node | None = None) -> Node:
    """Resolve a browse path under Objects, qualifying every segment with the URI's index."""
    idx = await client.get_namespace_index(uri)
    return await (root or client.nodes.objects).get_child([f"{idx}:{p}" for p in path.split("/")])


async def machine_var(client: Client, sim: CncSimulator, path: str) -> Node:
    return await child(client, sim.namespace_uri, f"Machines/{sim.name}/{path}")


async def read(client: Client, sim: CncSimulator, *paths: str) -> list[Any]:
    nodes = [await machine_var(client, sim, p) for p in paths]
    return list(await client.read_values(nodes))


def status(dv: ua.DataValue) -> ua.StatusCode:
    assert dv.StatusCode is not None
    return dv.StatusCode


def value(dv: ua.DataValue) -> Any:
    assert dv.Value is not None
    return dv.Value.Value


@pytest.fixture
def ft() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def sim(ft: FakeTime) -> AsyncIterator[CncSimulator]:
    async with CncSimulator(name="cnc-01", seed=1, clock=ft.clock, machine=PLAIN, update_interval=0) as s:
        yield s


@pytest.fixture
async def client(sim: CncSimulator) -> AsyncIterator[Client]:
    async with Client(sim.endpoint, timeout=2) as c:
        yield c


async def test_structure_resolves_by_uri(sim: CncSimulator, client: Client) -> None:
    assert sim.endpoint.startswith("opc.tcp://127.0.0.1:") and sim.port > 0
    for tag in sim.tags:
        node = await machine_var(client, sim, tag)
        assert node.nodeid == sim.node_id(tag)
    ident = await read(
        client, sim, "Identification/Manufacturer", "Identification/Model", "Identification/SerialNumber"
    )
    assert ident == ["Shopfloor Sim", "VMC-500", "SIM-0001-cnc-01"]
    colours = await read(client, sim, *(f"Monitoring/Stacklight/Lamp{i}/SignalColor" for i in range(3)))
    assert colours == [1, 4, 2]  # red, yellow, green
    counter = await machine_var(client, sim, "Production/Statistics/PartsProducedInLifetime")
    assert await counter.read_data_type_as_variant_type() == ua.VariantType.UInt32


STATE_TAGS = (
    "Monitoring/MachineTool/OperationMode",
    "Monitoring/Channel1/ChannelState",
    "Monitoring/Channel1/ChannelMode",
    "Production/ActiveProgram/State",
    "Production/ActiveProgram/PartsCompletedPerRun",
    "Production/Statistics/PartsProducedInLifetime",
    "Monitoring/Spindle/IsRotating",
    "Monitoring/Stacklight/Lamp2/SignalOn",
)


async def test_values_follow_machine_state(sim: CncSimulator, client: Client, ft: FakeTime) -> None:
    # (time offset, OperationMode, ChannelState, ChannelMode, program state, per run, lifetime,
    #  spindle rotating, green lamp)
    timeline = [
        (10, 2, 2, 2, "Initializing", 0, 0, False, False),  # setup
        (101, 1, 0, 0, "Running", 0, 0, True, True),  # first cycle
        (221, 1, 0, 0, "Running", 2, 2, True, True),  # third cycle
        (281, 1, 2, 0, "Ended", 3, 3, False, False),  # idle gap after the run
        (391, 1, 0, 0, "Running", 1, 4, True, True),  # second run: per-run counter restarted
    ]
    for offset, *expected in timeline:
        ft.at(offset)
        await sim.step()
        assert await read(client, sim, *STATE_TAGS) == expected, offset
    snap = sim.model.snapshot
    assert snap.phase is Phase.RUNNING and snap.parts_total == 4
    name = await read(client, sim, "Production/ActiveProgram/Name")
    assert name == [snap.program_name]


async def test_feed_hold_and_alarm_mapping(ft: FakeTime) -> None:
    profile = MachineProfile(
        cycle_jitter=0, setup_s=(10, 10), feed_hold_prob=1, alarm_prob=0, cycles_per_run=(50, 50)
    )
    async with (
        CncSimulator(name="m1", seed=3, clock=ft.clock, machine=profile, update_interval=0) as s,
        Client(s.endpoint, timeout=2) as c,
    ):
        for offset in range(11, 200):
            ft.at(offset)
            await s.step()
            if s.model.phase is Phase.FEED_HOLD:
                break
        assert s.model.phase is Phase.FEED_HOLD
        got = await read(
            c,
            s,
            "Monitoring/Channel1/ChannelState",
            "Production/ActiveProgram/State",
            "Monitoring/Channel1/FeedOverride",
            "Monitoring/Spindle/IsRotating",
            "Monitoring/Stacklight/Lamp1/SignalOn",
        )
        assert got == [1, "Interrupted", 0.0, False, True]

    profile = MachineProfile(cycle_jitter=0, setup_s=(10, 10), alarm_prob=1, alarm_s=(100, 100))
    async with (
        CncSimulator(name="m2", seed=3, clock=ft.clock, machine=profile, update_interval=0) as s,
        Client(s.endpoint, timeout=2) as c,
    ):
        offset = 11
        while s.model.phase is not Phase.ALARM:
            offset += 1
            ft.at(offset)
            await s.step()
        snap = s.model.snapshot
        tags = (
            "Production/ActiveProgram/State",
            "Notification/Messages/ActiveAlarmCode",
            "Notification/Messages/ActiveAlarmText",
            "Monitoring/Stacklight/Lamp0/SignalMode",
        )
        assert await read(c, s, *tags) == ["Aborted", snap.alarm_code, snap.alarm_text, 1]
        assert snap.alarm_code != 0
        # The red lamp blinks: SignalOn toggles on every update that advances time.
        blinks = []
        for _ in range(4):
            offset += 1
            ft.at(offset)
            await s.step()
            blinks += await read(c, s, "Monitoring/Stacklight/Lamp0/SignalOn")
        assert blinks in ([True, False, True, False], [False, True, False, True])


class EventCollector:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def event_notification(self, event: Any) -> None:
        self.events.append(event)


async def test_alarm_events(ft: FakeTime) -> None:
    profile = MachineProfile(cycle_jitter=0, setup_s=(10, 10), alarm_prob=1, alarm_s=(100, 100))
    async with (
        CncSimulator(name="m3", seed=3, clock=ft.clock, machine=profile, update_interval=0) as s,
        Client(s.endpoint, timeout=2) as c,
    ):
        machine = await child(c, s.namespace_uri, "Machines/m3")
        handler = EventCollector()
        sub = await c.create_subscription(50, handler)
        await sub.subscribe_events(machine)
        ft.at(70)  # setup 10 s, the alarm hits within the first 60 s cycle
        await s.step()
        code = s.model.snapshot.alarm_code
        assert code != 0

        await async_wait_for(lambda: len(handler.events) >= 1, 10, "the alarm's event")
        assert handler.events[0].Severity == 800
        assert handler.events[0].Message.Text.startswith(f"Alarm raised: {code} ")
        ft.at(300)
        await s.step()
        await async_wait_for(lambda: len(handler.events) >= 2, 10, "a second event")
        assert handler.events[1].Severity == 100


async def test_power_off_bad_mode(ft: FakeTime) -> None:
    profile = MachineProfile(shift_s=300, power_off_s=100, setup_s=(10, 10))
    async with (
        CncSimulator(name="m1", seed=2, clock=ft.clock, machine=profile, update_interval=0) as s,
        Client(s.endpoint, timeout=2) as c,
    ):
        node = await machine_var(c, s, "Monitoring/Channel1/ChannelState")
        ft.at(300)
        await s.step()
        dv = await node.read_data_value(raise_on_bad_status=False)
        assert status(dv).value == StatusCodes.BadOutOfService
        ft.at(400)
        await s.step()
        dv = await node.read_data_value()
        assert status(dv).is_good() and value(dv) == 2  # setup: channel reset


async def test_power_off_down_mode(ft: FakeTime) -> None:
    profile = MachineProfile(shift_s=300, power_off_s=100, setup_s=(10, 10))
    async with CncSimulator(
        name="m1", seed=2, clock=ft.clock, machine=profile, update_interval=0, power_off_mode="down"
    ) as s:
        c = Client(s.endpoint, timeout=1)
        await c.connect()
        ft.at(300)
        await s.step()
        with pytest.raises((ConnectionError, OSError, asyncio.TimeoutError, UaStatusCodeError)):
            await c.nodes.server_state.read_value()
        with pytest.raises(OSError):  # nothing listens any more
            await asyncio.open_connection("127.0.0.1", s.port)
        ft.at(400)
        await s.step()
        async with Client(s.endpoint, timeout=2) as c2:
            assert await read(c2, s, "Monitoring/MachineTool/OperationMode") == [2]
        with contextlib.suppress(Exception):  # the old channel is dead; closing it may fail
            await c.disconnect()


async def test_drop_connections_forces_reconnect(sim: CncSimulator) -> None:
    c = Client(sim.endpoint, timeout=2)
    await c.connect()
    node = await machine_var(c, sim, "Production/ActiveProgram/State")
    assert await node.read_value() == "Initializing"
    assert await sim.drop_connections() == 1
    with pytest.raises((ConnectionError, OSError, asyncio.TimeoutError, UaStatusCodeError)):
        await node.read_value()
    with contextlib.suppress(Exception):  # the old channel is dead; closing it may fail
        await c.disconnect()
    await c.connect()  # reconnecting the same client works
    node = await machine_var(c, sim, "Production/ActiveProgram/State")
    assert await node.read_value() == "Initializing"
    await c.disconnect()


async def test_stall_times_out_then_recovers(sim: CncSimulator) -> None:
    c = Client(sim.endpoint, timeout=0.5)
    await c.connect()
    node = await machine_var(c, sim, "Production/ActiveProgram/State")
    await sim.stall(None)
    with pytest.raises((asyncio.TimeoutError, TimeoutError)):
        await node.read_value()
    # New connections are accepted at TCP level but the OPC UA handshake never completes.
    _reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    writer.close()
    with pytest.raises((asyncio.TimeoutError, TimeoutError)):
        await Client(sim.endpoint, timeout=0.5).connect()
    await sim.unstall()
    async with Client(sim.endpoint, timeout=2) as c2:
        assert await read(c2, sim, "Production/ActiveProgram/State") == ["Initializing"]
    with contextlib.suppress(Exception):  # the old channel is dead; closing it may fail
        await c.disconnect()

    # A bounded stall ends by itself.
    await sim.stall(0.3)

    async def answers() -> bool:
        try:
            async with Client(sim.endpoint, timeout=0.3) as c3:
                await c3.nodes.server_state.read_value()
                return True
        except (TimeoutError, OSError, ConnectionError):
            return False

    await async_wait_for(answers, 10, "the server to answer after a bounded stall")
    assert not sim.faults["stalled"]


async def test_restart_renumbers_namespace(sim: CncSimulator, ft: FakeTime) -> None:
    ft.at(221)
    await sim.step()
    async with Client(sim.endpoint, timeout=2) as c:
        old_idx = await c.get_namespace_index(sim.namespace_uri)
        node = await machine_var(c, sim, "Production/Statistics/PartsProducedInLifetime")
        old_id = node.nodeid
        assert await node.read_value() == 2
    await sim.restart(renumber_namespaces=True)
    async with Client(sim.endpoint, timeout=2) as c:
        new_idx = await c.get_namespace_index(sim.namespace_uri)
        assert new_idx != old_idx and new_idx == sim.namespace_index
        with pytest.raises(BadNodeIdUnknown):  # a client that cached ns=<old> breaks
            await c.get_node(old_id).read_value()
        node = await machine_var(c, sim, "Production/Statistics/PartsProducedInLifetime")
        assert node.nodeid.NamespaceIndex == new_idx
        assert await node.read_value() == 2  # machine state survived the restart
    await sim.restart(renumber_namespaces=False)
    async with Client(sim.endpoint, timeout=2) as c:
        assert await c.get_namespace_index(sim.namespace_uri) == new_idx


async def test_set_bad_marks_only_given_tag(sim: CncSimulator, client: Client) -> None:
    bad = await machine_var(client, sim, "Monitoring/Spindle/ActualSpeed")
    good = await machine_var(client, sim, "Monitoring/Spindle/IsRotating")
    sim.set_bad(["Monitoring/Spindle/ActualSpeed"])
    await sim.step()
    dv = await bad.read_data_value(raise_on_bad_status=False)
    assert status(dv).is_bad()
    assert status(await good.read_data_value()).is_good()
    sim.clear_bad()
    await sim.step()
    assert status(await bad.read_data_value()).is_good()
    sim.set_bad(None)
    await sim.step()
    for dv in await client.read_attributes([bad, good]):
        assert status(dv).is_bad()
    with pytest.raises(KeyError):
        sim.set_bad(["No/Such/Tag"])


async def test_freeze_keeps_old_values(sim: CncSimulator, client: Client, ft: FakeTime) -> None:
    ft.at(101)
    await sim.step()
    node = await machine_var(client, sim, "Production/Statistics/PartsProducedInLifetime")
    before = await node.read_data_value()
    sim.freeze(True)
    ft.at(400)
    await sim.step()
    after = await node.read_data_value()
    assert value(after) == 0 and after.SourceTimestamp == before.SourceTimestamp
    assert sim.model.snapshot.parts_total == 4  # the machine kept running underneath
    sim.freeze(False)
    await sim.step()
    assert await node.read_value() == 4


async def test_skew_offsets_source_timestamps(sim: CncSimulator, client: Client) -> None:
    sim.skew_clock(-3600)
    await sim.step()
    dv = await (await machine_var(client, sim, "Production/ActiveProgram/State")).read_data_value()
    now = dt.datetime.now(dt.UTC)
    assert dv.SourceTimestamp is not None and dv.ServerTimestamp is not None
    assert abs((now - dv.SourceTimestamp).total_seconds() - 3600) < 5
    assert abs((now - dv.ServerTimestamp).total_seconds()) < 5


async def test_legacy_profile_flat_string_ids(ft: FakeTime) -> None:
    async with (
        CncSimulator(
            name="old-01", seed=1, clock=ft.clock, machine=PLAIN, profile="legacy-cnc", update_interval=0
        ) as s,
        Client(s.endpoint, timeout=2) as c,
    ):
        ft.at(221)
        await s.step()
        idx = await c.get_namespace_index(s.namespace_uri)
        speed = await c.get_node(f"ns={idx};s=Spindle.Speed").read_value()
        assert speed == round(s.model.snapshot.spindle_speed, 1) and speed > 0
        names = ("Counter.Total", "Counter.Run", "Channel.State", "Lamp.Green", "Program.State")
        values = await c.read_values([c.get_node(f"ns={idx};s={n}") for n in names])
        assert values == [2, 2, 0, True, "Running"]
        folder = await child(c, s.namespace_uri, "old-01")
        children = {(await n.read_browse_name()).Name for n in await folder.get_children()}
        assert {"Spindle.Speed", "Spindle.Running", "Alarm.Code", "Lamp.Red"} <= children


async def test_background_loop_with_time_scale() -> None:
    profile = MachineProfile(cycle_time_s=30, setup_s=(10, 10))
    async with (
        CncSimulator(name="fast", seed=5, time_scale=600, update_interval=0.05, machine=profile) as s,
        Client(s.endpoint, timeout=2) as c,
    ):
        node = await machine_var(c, s, "Production/Statistics/PartsProducedInLifetime")
        await async_wait_for(
            node.read_value, 10, "3 parts produced by the background loop", until=lambda n: int(n) >= 3
        )
