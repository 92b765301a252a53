"""Subscriptions that fill a value cache, and the watchdog that notices when they stop.

asyncua's high-level `Subscription` starts one task per notification when given a handler. We skip
it: each subscription's publish callback is a plain function that stores the newest DataValue per
client handle in one dict shared by the driver. asyncua's publish loop calls it synchronously, so
the cost per notification is one dict assignment and there is a single consumer (the driver's
`read()`), with no tasks and no locks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from asyncua import ua
from asyncua.ua.attribute_ids import AttributeIds

from drivers import status
from drivers.base import DeviceUnreachable

log = logging.getLogger(__name__)

DEADBAND_ABSOLUTE = 1
DEADBAND_PERCENT = 2


@dataclass(frozen=True, slots=True)
class Item:
    """One monitored item; `handle` is the driver-wide client handle the cache is keyed by."""

    handle: int
    node: ua.NodeId
    sampling_ms: float
    queue_size: int
    deadband: tuple[int, float] | None = None


class Feed:
    """The publish callback of one subscription: notes the time, stores values, records loss."""

    __slots__ = ("cache", "handles", "id", "keepalive_s", "last_publish", "lost", "notify", "publishing_s")

    def __init__(self, cache: dict[int, ua.DataValue]) -> None:
        self.cache = cache
        self.handles: set[int] = set()  # the client handles of this subscription's items
        self.id = 0
        self.last_publish = time.monotonic()
        self.lost: int | None = None  # status of a StatusChangeNotification (e.g. BadTimeout)
        self.publishing_s = 1.0
        self.keepalive_s = 1.0
        self.notify: asyncio.Event | None = None  # set after each publish while someone waits

    def __call__(self, result: ua.PublishResult) -> None:
        self.last_publish = time.monotonic()
        data = result.NotificationMessage.NotificationData
        if not data:
            return  # a keep-alive
        cache = self.cache
        for notification in data:
            if isinstance(notification, ua.DataChangeNotification):
                for item in notification.MonitoredItems:
                    cache[item.ClientHandle] = item.Value
            elif isinstance(notification, ua.StatusChangeNotification):
                self.lost = int(notification.Status.value)
        if self.notify is not None:
            self.notify.set()

    def overdue(self, now: float) -> bool:
        """Silent for longer than a live server may be: its keep-alive period (the server publishes
        at least this often, a keep-alive when nothing changed) plus one publishing interval."""
        return now - self.last_publish > self.keepalive_s + self.publishing_s


FeedFactory = Callable[[dict[int, ua.DataValue]], Feed]


@dataclass(frozen=True, slots=True)
class Timing:
    publishing_s: float
    keepalive_s: float
    watchdog_s: float | None  # None: 2 x revised keep-alive period + timeout
    timeout_s: float


class Subscriptions:
    """Spreads items over subscriptions of at most `max_items`, created on one session."""

    def __init__(
        self, session: object, timing: Timing, max_items: int, per_call: int, feed: FeedFactory = Feed
    ) -> None:
        self.session = session  # asyncua UaClient (untyped parts)
        self.timing = timing
        self.max_items = max(1, max_items)
        self.per_call = max(1, per_call)
        self.cache: dict[int, ua.DataValue] = {}
        self.feeds: list[Feed] = []
        self._feed = feed

    async def start(self, items: Sequence[Item]) -> dict[int, int]:
        """Create everything; returns handle -> status code for the items the server refused."""
        refused: dict[int, int] = {}
        for start in range(0, len(items), self.max_items):
            feed = await self._subscribe()
            for chunk_at in range(start, min(start + self.max_items, len(items)), self.per_call):
                chunk = items[chunk_at : min(chunk_at + self.per_call, start + self.max_items)]
                feed.handles.update(item.handle for item in chunk)
                refused.update(await self._monitor(feed.id, chunk))
        return refused

    async def _subscribe(self) -> Feed:
        t = self.timing
        keepalive = max(1, round(t.keepalive_s / t.publishing_s))
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=t.publishing_s * 1000,
            RequestedLifetimeCount=keepalive * 3,  # the minimum the spec allows: abandoned ones die soon
            RequestedMaxKeepAliveCount=keepalive,
            MaxNotificationsPerPublish=0,
            PublishingEnabled=True,
            Priority=0,
        )
        feed = self._feed(self.cache)
        result = await self.session.create_subscription(params, feed)  # type: ignore[attr-defined]
        feed.id = int(result.SubscriptionId)
        feed.publishing_s = float(result.RevisedPublishingInterval) / 1000
        feed.keepalive_s = feed.publishing_s * max(1, int(result.RevisedMaxKeepAliveCount))
        feed.last_publish = time.monotonic()
        self.feeds.append(feed)
        return feed

    async def _monitor(self, subscription_id: int, items: Sequence[Item]) -> dict[int, int]:
        params = ua.CreateMonitoredItemsParameters(
            SubscriptionId=subscription_id,
            TimestampsToReturn=ua.TimestampsToReturn.Both,
            ItemsToCreate=[_request(item) for item in items],
        )
        results = await self.session.create_monitored_items(params)  # type: ignore[attr-defined]
        refused = {}
        for item, result in zip(items, results, strict=True):
            code = int(result.StatusCode.value)
            if not status.is_good(code):
                refused[item.handle] = code
        return refused

    async def wait_for(self, handles: set[int]) -> None:
        """Until every handle has a value (callers bound it with asyncio.timeout)."""
        event = asyncio.Event()
        for feed in self.feeds:
            feed.notify = event
        try:
            while not handles.issubset(self.cache):
                event.clear()
                await event.wait()
        finally:
            for feed in self.feeds:
                feed.notify = None

    def unconfirmed(self) -> set[int]:
        """Handles whose cached value the server has not confirmed lately (`Feed.overdue`): a server
        that stalls without closing the connection leaves the cache as it was, and until the
        watchdog gives up on it those values are the last usable ones, not current ones."""
        now = time.monotonic()
        out: set[int] = set()
        for feed in self.feeds:
            if feed.overdue(now):
                out |= feed.handles
        return out

    def check(self) -> None:
        """Raise DeviceUnreachable when a subscription was lost or went silent."""
        now = time.monotonic()
        for feed in self.feeds:
            if feed.lost is not None and not status.is_good(feed.lost):
                raise DeviceUnreachable(f"subscription {feed.id} lost (status 0x{feed.lost:08X})")
            limit = self.timing.watchdog_s or 2 * feed.keepalive_s + self.timing.timeout_s
            silent = now - feed.last_publish
            if silent > limit:
                raise DeviceUnreachable(
                    f"subscription {feed.id}: no data or keep-alive for {silent:.1f}s (watchdog {limit:.1f}s)"
                )


def _request(item: Item) -> ua.MonitoredItemCreateRequest:
    mfilter = None
    if item.deadband is not None:
        mfilter = ua.DataChangeFilter(
            Trigger=ua.DataChangeTrigger.StatusValue,
            DeadbandType=item.deadband[0],
            DeadbandValue=item.deadband[1],
        )
    params = ua.MonitoringParameters(
        ClientHandle=item.handle,
        SamplingInterval=item.sampling_ms,
        Filter=mfilter,
        QueueSize=item.queue_size,
        DiscardOldest=True,
    )
    return ua.MonitoredItemCreateRequest(
        ItemToMonitor=ua.ReadValueId(NodeId=item.node, AttributeId=AttributeIds.Value),
        MonitoringMode=ua.MonitoringMode.Reporting,
        RequestedParameters=params,
    )
