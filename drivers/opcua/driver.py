"""OPC UA driver: subscriptions (default) or polling per tag, behind the engine's Driver protocol.

Lifecycle, driven by the engine (collector/worker.py): `async with driver:` connects, reads the
server's NamespaceArray and OperationLimits, resolves every tag address, creates the
subscriptions; `read()` returns one RawSample per tag (subscribed tags from the cache, polled
tags from one chunked Read). Anything that means the session is gone - a closed channel, an
invalid session, a lost or silent subscription - raises DeviceUnreachable; the engine leaves the
context and enters it again, which builds a new session and resolves everything afresh, so a
server that renumbered its namespaces keeps working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from asyncua import ua
from asyncua.client.client import Client
from asyncua.client.ua_client import UaClientState
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds as Ids
from asyncua.ua.status_codes import StatusCodes

from drivers import status
from drivers.base import DeviceUnreachable, RawSample
from drivers.opcua import errors, nodes, security, values
from drivers.opcua.options import DeadbandType, Mode, OpcUaDriverOptions
from drivers.opcua.subscription import (
    DEADBAND_ABSOLUTE,
    DEADBAND_PERCENT,
    FeedFactory,
    Item,
    Subscriptions,
    Timing,
)

log = logging.getLogger(__name__)

_LIMITS = {
    "read": Ids.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
    "monitor": Ids.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
    "translate": Ids.Server_ServerCapabilities_OperationLimits_MaxNodesPerTranslateBrowsePathsToNodeIds,
}
_DEFAULT_CHUNK = 1000  # when the server states no limit (0 or absent)
PROBE_S = 5.0
_BOTH = ua.TimestampsToReturn.Both  # the Read default is Source only


@dataclass
class Limits:
    read: int = _DEFAULT_CHUNK
    monitor: int = _DEFAULT_CHUNK
    translate: int = _DEFAULT_CHUNK


# (device, tag) -> code of an address problem already logged. Module-level because the engine builds
# a new driver for every reconnect, and a Bad address should be logged once, not once per session.
_REPORTED: dict[tuple[str, str], int] = {}


def _report(device: str, tag: str, code: int, reason: str) -> None:
    key = (device, tag)
    if code == status.GOOD:
        if _REPORTED.pop(key, None) is not None:
            log.warning("%s: tag %s resolves again", device, tag)
    elif _REPORTED.get(key) != code:
        _REPORTED[key] = code
        log.warning("%s: tag %s is Bad: %s", device, tag, reason)


class OpcUaDriver:
    """One device's session; see the module docstring for the reconnect contract."""

    def __init__(
        self, device: OpcUaDriverOptions, pki_dir: Path | None = None, feed: FeedFactory | None = None
    ) -> None:
        self.device = device
        self.pki = security.Pki(device.pki_dir or pki_dir or Path("data/pki"))
        self.limits = Limits()
        self.read_calls = 0  # Read service calls made for polled tags (for tests and metrics)
        self._feed = feed
        self._client: Client | None = None
        self._subs: Subscriptions | None = None
        self._order = [t.name for t in device.tags]
        self._fixed: dict[str, RawSample] = {}  # tags that are Bad for this session
        self._handles: dict[str, int] = {}  # subscribed tag -> client handle
        self._polled: list[tuple[str, ua.NodeId]] = []
        self._converted: dict[int, tuple[ua.DataValue, RawSample]] = {}

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> OpcUaDriver:
        device = self.device
        # asyncua's own ServerState probe: no more often than every 5 s, since a shorter probe timed
        # out under load (BENCHMARKS.md, OPC UA driver); a stall shows first in the subscriptions
        # (Subscriptions.unconfirmed, then the watchdog)
        client = Client(
            device.endpoint, timeout=device.timeout, watchdog_intervall=max(PROBE_S, device.keepalive)
        )
        client.session_timeout = int(max(60.0, 4 * device.keepalive) * 1000)
        self._client = client
        try:
            async with asyncio.timeout(device.timeout * 3 + 2):  # GetEndpoints (if secured) and connect
                await security.configure(client, device, self.pki)
                await client.connect()
            await self._setup(client)
        except BaseException as exc:
            await self._close()
            if isinstance(exc, security.SecurityProblem):
                raise DeviceUnreachable(str(exc)) from exc
            if isinstance(exc, Exception):
                raise DeviceUnreachable(errors.explain(exc, device, self.pki)) from exc
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        client, self._client = self._client, None
        self._subs = None
        self._converted.clear()
        if client is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.device.timeout * 2):
                await client.disconnect()
        client.disconnect_socket()  # a stalled server may never answer CloseSession
        task = client.uaclient.session._publish_task
        if task is not None and not task.done():
            task.cancel()

    async def _setup(self, client: Client) -> None:
        uaclient = client.uaclient
        namespaces = [str(u) for u in await client.get_namespace_array()]
        await self._read_limits(uaclient)
        addresses = {t.name: t.node for t in self.device.tags}
        resolved = await nodes.resolve(
            addresses, dict(self.device.namespaces), namespaces,
            uaclient.translate_browsepaths_to_nodeids, self.limits.translate,
        )  # fmt: skip
        self._fixed.clear()
        self._handles.clear()
        self._polled.clear()
        items = self._plan(resolved)
        if items:
            await self._subscribe(uaclient, items)
        for tag in self._order:
            if tag not in self._fixed:
                _report(self.device.id, tag, status.GOOD, "")

    async def _read_limits(self, uaclient: object) -> None:
        ids = [
            ua.ReadValueId(NodeId=ua.NodeId(ua.Int32(i)), AttributeId=AttributeIds.Value)
            for i in _LIMITS.values()
        ]
        dvs = await uaclient.read(ua.ReadParameters(NodesToRead=ids))  # type: ignore[attr-defined]
        for name, dv in zip(_LIMITS, dvs, strict=True):
            value = dv.Value.Value if dv.Value is not None else None
            ok = dv.StatusCode is None or dv.StatusCode.is_good()
            setattr(
                self.limits,
                name,
                int(value) if ok and isinstance(value, int) and value > 0 else _DEFAULT_CHUNK,
            )

    def _plan(self, resolved: dict[str, nodes.Resolved]) -> list[Item]:
        """Bad tags fixed for this session; the rest split into polled and subscribed."""
        items: list[Item] = []
        for handle, tag in enumerate(self.device.tags, start=1):
            r = resolved[tag.name]
            if r.node is None:
                _report(self.device.id, tag.name, r.code, r.reason)
                self._fixed[tag.name] = values.bad(tag.name, r.code)
                continue
            if (tag.mode or self.device.mode) is Mode.POLL:
                self._polled.append((tag.name, r.node))
                continue
            sampling = (
                tag.sampling_interval
                if tag.sampling_interval is not None
                else self.device.publishing_interval
            )
            deadband = None
            if tag.deadband is not None:
                kind = DEADBAND_PERCENT if tag.deadband.type is DeadbandType.PERCENT else DEADBAND_ABSOLUTE
                deadband = (kind, tag.deadband.value)
            items.append(Item(handle, r.node, sampling * 1000, tag.queue_size, deadband))
            self._handles[tag.name] = handle
        return items

    async def _subscribe(self, uaclient: object, items: list[Item]) -> None:
        d = self.device
        timing = Timing(d.publishing_interval, d.keepalive, d.watchdog, d.timeout)
        subs = Subscriptions(
            uaclient, timing, d.max_items_per_subscription, self.limits.monitor, *self._feeds()
        )
        refused = await subs.start(items)
        by_handle = {h: t for t, h in self._handles.items()}
        for handle, code in refused.items():
            tag = by_handle[handle]
            _report(d.id, tag, code, f"server refused to monitor it (0x{code:08X})")
            self._fixed[tag] = values.bad(tag, code)
            del self._handles[tag]
        self._subs = subs
        await self._initial_values(subs)

    async def _initial_values(self, subs: Subscriptions) -> None:
        """Wait briefly for the first notifications, so the first read() is not all WaitingForInitialData."""
        wait = 2 * self.device.publishing_interval + self.device.timeout
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await subs.wait_for(set(self._handles.values()))

    def _feeds(self) -> tuple[FeedFactory, ...]:
        return () if self._feed is None else (self._feed,)

    # ------------------------------------------------------------------ reading
    async def read(self) -> list[RawSample]:
        client = self._client
        if client is None or client.uaclient.state is not UaClientState.CONNECTED:
            raise DeviceUnreachable(f"{self.device.endpoint}: connection lost")
        unconfirmed: set[int] = set()
        if self._subs is not None:
            self._subs.check()
            unconfirmed = self._subs.unconfirmed()
        polled = await self._poll(client) if self._polled else {}
        return [self._sample(tag, polled, unconfirmed) for tag in self._order]

    def _sample(self, tag: str, polled: dict[str, RawSample], unconfirmed: set[int]) -> RawSample:
        fixed = self._fixed.get(tag)
        if fixed is not None:
            return fixed
        handle = self._handles.get(tag)
        if handle is None:
            return polled[tag]
        assert self._subs is not None
        dv = self._subs.cache.get(handle)
        if dv is None:
            return values.bad(tag, status.BAD_WAITING_FOR_INITIAL_DATA)
        seen = self._converted.get(handle)
        if seen is not None and seen[0] is dv:  # unchanged since the last read: reuse the conversion
            sample = seen[1]
        else:
            sample = values.to_sample(tag, dv)
            self._converted[handle] = (dv, sample)
        if handle in unconfirmed and not status.is_bad(sample.status):
            # the server has gone quiet for longer than it may: never pass its cache off as Good
            return replace(sample, status=status.UNCERTAIN_NO_COMMUNICATION_LAST_USABLE)
        return sample

    async def _poll(self, client: Client) -> dict[str, RawSample]:
        out: dict[str, RawSample] = {}
        step = max(1, self.limits.read)
        for start in range(0, len(self._polled), step):
            chunk = self._polled[start : start + step]
            ids = [ua.ReadValueId(NodeId=n, AttributeId=AttributeIds.Value) for _, n in chunk]
            self.read_calls += 1
            try:
                dvs = await client.uaclient.read(ua.ReadParameters(NodesToRead=ids, TimestampsToReturn=_BOTH))
            except Exception as exc:
                self._rejected(exc, chunk, out)
                continue
            for (tag, _), dv in zip(chunk, dvs, strict=True):
                out[tag] = values.to_sample(tag, dv)
        return out

    def _rejected(
        self, exc: Exception, chunk: list[tuple[str, ua.NodeId]], out: dict[str, RawSample]
    ) -> None:
        """A refused Read marks its tags Bad; a lost session is the engine's business."""
        code = errors.code_of(exc)
        if code is None or errors.is_connection_error(exc):
            raise DeviceUnreachable(errors.explain(exc, self.device, self.pki)) from exc
        if code == StatusCodes.BadTooManyOperations:  # the stated limit was too optimistic
            self.limits.read = max(1, len(chunk) // 2)
        log.debug("%s: Read refused with 0x%08X for %d tags", self.device.id, code, len(chunk))
        for tag, _ in chunk:
            out[tag] = values.bad(tag, code)
