"""Operation limits: the driver reads the server's OperationLimits and chunks its requests by them.

asyncua's server states limits but does not enforce them, so the test lowers the stated limits,
records the size of every Read / TranslateBrowsePaths / CreateMonitoredItems request the server
receives, and answers oversized ones with BadTooManyOperations the way a strict server would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from asyncua import ua
from asyncua.ua.object_ids import ObjectIds as Ids
from asyncua.ua.status_codes import StatusCodes

from drivers import status
from drivers.opcua.driver import OpcUaDriver
from simulators.opcua import CncSimulator
from tests.support.net import async_wait_for
from tests.support.opcua import (
    PATHS,
    FakeTime,
    as_dict,
    device,
    expected,
    simulator,
)  # fmt: skip

pytestmark = pytest.mark.integration

LIMIT = 5
_OPS_PREFIX = "Server_ServerCapabilities_OperationLimits_"


class Recorder:
    """Sizes of the requests the server saw, per service."""

    def __init__(self, sim: CncSimulator) -> None:
        self.sizes: dict[str, list[int]] = {"read": [], "translate": [], "monitor": []}
        iserver = sim.server.iserver
        attr, view, subs = iserver.attribute_service, iserver.view_service, iserver.subscription_service
        read, translate, monitor = (
            attr.read,
            view.translate_browsepaths_to_nodeids,
            subs.create_monitored_items,
        )

        def limited_read(params: ua.ReadParameters) -> list[ua.DataValue]:
            self.sizes["read"].append(len(params.NodesToRead))
            if len(params.NodesToRead) > LIMIT:
                code = ua.StatusCode(ua.UInt32(StatusCodes.BadTooManyOperations))
                return [ua.DataValue(StatusCode=code) for _ in params.NodesToRead]
            return read(params)

        def limited_translate(paths: list[ua.BrowsePath]) -> list[ua.BrowsePathResult]:
            self.sizes["translate"].append(len(paths))
            return translate(paths)

        async def limited_monitor(params: ua.CreateMonitoredItemsParameters) -> Any:
            self.sizes["monitor"].append(len(params.ItemsToCreate))
            return await monitor(params)

        attr.read = limited_read
        view.translate_browsepaths_to_nodeids = limited_translate
        subs.create_monitored_items = limited_monitor


async def _set_limits(sim: CncSimulator) -> None:
    for name in ("MaxNodesPerRead", "MaxMonitoredItemsPerCall", "MaxNodesPerTranslateBrowsePathsToNodeIds"):
        node = sim.server.get_node(ua.NodeId(ua.Int32(getattr(Ids, _OPS_PREFIX + name))))
        await node.write_value(ua.Variant(LIMIT, ua.VariantType.UInt32))


@pytest.fixture
async def sim() -> AsyncIterator[CncSimulator]:
    ft = FakeTime()
    ft.at(101)
    async with simulator(ft) as s:
        await _set_limits(s)
        yield s


async def test_twenty_tag_poll_is_chunked_by_max_nodes_per_read(sim: CncSimulator) -> None:
    paths = PATHS[:20]
    recorder = Recorder(sim)
    async with OpcUaDriver(device(sim, paths=paths, mode="poll").driver_options()) as driver:
        assert driver.limits.read == LIMIT
        recorder.sizes["read"].clear()  # the connect reads (namespaces, limits) are not the poll
        samples = await driver.read()
        reads = list(recorder.sizes["read"])
    assert as_dict(samples) == await expected(sim, paths)
    assert all(status.is_good(s.status) for s in samples)
    assert driver.read_calls == 4
    # asyncua's connection supervisor may slip in its one-node ServerState probe: leave it out.
    assert [n for n in reads if n > 1] == [5, 5, 5, 5]
    assert recorder.sizes["translate"] == [5, 5, 5, 5]


async def test_subscriptions_are_chunked_and_spread(sim: CncSimulator) -> None:
    paths = PATHS[:20]
    recorder = Recorder(sim)
    dev = device(sim, paths=paths, max_items_per_subscription=8)
    async with OpcUaDriver(dev.driver_options()) as driver:
        assert driver._subs is not None
        assert len(driver._subs.feeds) == 3  # 8 + 8 + 4 items
        assert recorder.sizes["monitor"] == [5, 3, 5, 3, 4]
        want = await expected(sim, paths)
        await async_wait_for(
            driver.read, 15, f"the simulator's values {want}", until=lambda got: as_dict(got) == want
        )
