"""Runtime facts of `shopfloor run` → audit ledger entries (types and payloads: the evidence plan).

    recorder = EvidenceRecorder(ledger, plant, session, delivery)     # delivery.observe(recorder)
    engine = Engine(plant, recorder.tee_output(delivery), events=recorder.tee_events(delivery.events),
                    session=session, observer=recorder)
    recorder.start(engine.health)                # COLLECTOR_START, rules, calendar, master data
    task = asyncio.create_task(recorder.run(), name="ledger")    # batches, timesync, daily checkpoint
    ...
    task.cancel(); recorder.stop("signal")       # last batch, open intervals, COLLECTOR_STOP, CHECKPOINT

Readings are aggregated (RAW_BATCH per `evidence.batch_interval`): the output tee does O(1) work
per reading batch plus one pass over its statuses. Device and sink transitions come in through the
engine's and delivery's observer hooks, once per change.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from collector import __version__
from collector.clock import SYSTEM, Clock, ClockHealth
from collector.config.plant import PlantConfig
from collector.config.redact import config_hash, redacted_config
from collector.ledger import Ledger
from collector.model import DeviceHealthSnapshot, Reading
from collector.normalise.device import DeviceEvents
from collector.normalise.records import StateChange, StateInterval
from collector.normalise.shifts import ShiftCalendar
from collector.outbox import COUNTERS
from collector.recorder import payloads
from collector.recorder.history import StateHistory
from collector.recorder.timesync import ClockRecorder
from collector.worker import EventOutput, Output
from drivers.status import is_good

if TYPE_CHECKING:
    from collector.config import LoadedPlant
    from collector.delivery import Delivery
    from collector.engine import ReloadResult

log = logging.getLogger(__name__)

Health = Callable[[], list[DeviceHealthSnapshot]]
_EARLY = 0.05  # s: a sleep may end a little before its deadline; that still counts as due
_STEP_CHECK_S = 1.0  # s: how often the run loop looks for a wall-clock step


class _Raw:
    """Readings handed to delivery for one device: this interval's counts, seq continuity across them."""

    __slots__ = ("count", "good", "holes", "restarts", "seq_first", "seq_last")

    def __init__(self) -> None:
        self.seq_first = self.seq_last = -1  # -1: nothing seen yet
        self.count = self.good = self.restarts = 0
        self.holes: list[list[int]] = []  # inclusive [first, last] seq ranges that never reached delivery


class EvidenceRecorder:
    """Implements the engine's and the delivery's observer hooks; owns no task until `run`."""

    def __init__(
        self, ledger: Ledger, plant: LoadedPlant, session: int, delivery: Delivery | None, *,
        clock: Clock = SYSTEM, clock_health: ClockHealth | None = None,
    ) -> None:  # fmt: skip
        self.ledger = ledger
        self.clock = clock
        self.clock_health = clock_health if clock_health is not None else ClockHealth()
        self._clock = ClockRecorder(clock, self.clock_health, self._append)
        self.history = StateHistory(ledger.directory)
        self.plant = plant
        self.session = session
        self.delivery = delivery
        self._health: Health | None = None
        self._raw: dict[str, _Raw] = {}
        self._batch_from = clock.wall_ms()
        self._errors: dict[str, dict[str, int]] = {}
        self._connected: set[str] = set()
        self._open: dict[str, StateChange] = {}  # the last committed change per device: its open interval
        self._rules: dict[str, str] = {}
        self._assets: dict[str, dict[str, Any]] = {}
        self._calendar_hash = ""
        self._failing = False
        self._started = False
        # Outbox counters and drops persist across runs: record only what changes from now on.
        self._sink_counters: dict[str, dict[tuple[str, str], int]] = {}
        self._drops_seen: dict[str, int] = {}
        for runner in delivery.runners if delivery is not None else []:
            self._sink_counters[runner.sink.name] = runner.outbox.counters()
            self._drops_seen[runner.sink.name] = len(runner.outbox.drops())

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, health: Health | None = None) -> None:
        """COLLECTOR_START, then each device's rule and master data, and the calendar."""
        self._health = health
        cfg = self.plant.config
        self._append(
            "COLLECTOR_START",
            {
                "session": self.session,
                "version": __version__,
                "edge_id": cfg.site.edge_id,
                "config_hash": config_hash(cfg),
                "key_id": self.ledger.key_id,
                "devices": [d.id for d in cfg.devices],
            },
        )
        self._record_definitions(cfg)
        self._batch_from = self._now()
        self._started = True

    async def run(self) -> None:
        """Until cancelled: a batch every batch_interval, the clock offset every timesync_interval, and
        a look at the wall clock every second, so a step is recorded close to when it happened."""
        next_flush = next_timesync = time.monotonic()
        while True:
            evidence = self.plant.config.evidence  # a reload may change the intervals
            try:
                self._now()
                if time.monotonic() >= next_timesync - _EARLY:
                    next_timesync = time.monotonic() + evidence.timesync_interval
                    await self.timesync()
                if time.monotonic() >= next_flush - _EARLY:
                    next_flush = time.monotonic() + evidence.batch_interval
                    if self._started:
                        self.flush()
                self.ledger.tick()
            except (OSError, ValueError, sqlite3.Error) as exc:  # keep recording; the collector goes on
                log.error("audit ledger: %s", exc)
            wake = min(next_flush, next_timesync, time.monotonic() + _STEP_CHECK_S)
            await asyncio.sleep(max(0.0, wake - time.monotonic()))

    async def timesync(self) -> None:
        await self._clock.sync(self.plant.config.evidence.timesync_max_offset)

    def _now(self) -> int:
        return self._clock.now()

    def stop(self, reason: str) -> None:
        """The last batch, the intervals still open, COLLECTOR_STOP and a signed checkpoint."""
        ts = self._now()
        self.flush(ts)
        for change in self._open.values():
            self._interval(payloads.cut(change, ts), end_reason="stop", ts=ts)
        self._open.clear()
        stop = {"session": self.session, "reason": reason, "connected": sorted(self._connected)}
        self._append("COLLECTOR_STOP", stop, ts)
        self.ledger.checkpoint("stop", ts)

    def _append(self, type_: str, payload: dict[str, Any], ts: int | None = None) -> None:
        """A failing ledger (disk full, …) must not stop data collection: log it and go on."""
        try:
            self.ledger.append(type_, payload, ts)
        except (OSError, ValueError, TypeError) as exc:
            if not self._failing:
                log.error("audit ledger: cannot append %s: %s", type_, exc)
            self._failing = True
        else:
            if self._failing:
                log.warning("audit ledger: appending again")
            self._failing = False

    # -- the hot path: readings and derived events ---------------------------------------------

    def tee_output(self, output: Output) -> Output:
        """`output`, then count what it took (it raised: nothing was handed on, nothing counted)."""
        raw = self._raw

        def tee(device: str, readings: list[Reading]) -> None:
            output(device, readings)
            if not readings:
                return
            agg = raw.get(device)
            if agg is None:
                agg = raw[device] = _Raw()
            first = readings[0].seq
            if agg.seq_last >= 0:
                if first > agg.seq_last + 1:
                    agg.holes.append([agg.seq_last + 1, first - 1])
                elif first <= agg.seq_last:  # never expected (a reload continues the seq): counted
                    agg.restarts += 1
            if not agg.count:
                agg.seq_first = first
            agg.seq_last = readings[-1].seq
            agg.count += len(readings)
            agg.good += sum(1 for r in readings if is_good(r.status))

        return tee

    def tee_events(self, events: EventOutput) -> EventOutput:
        def tee(device_events: DeviceEvents) -> None:
            events(device_events)
            self.device_events(device_events)

        return tee

    def device_events(self, ev: DeviceEvents) -> None:
        for change in ev.states:
            if change.closed is not None:
                # its part before a reported window's end is in the ledger already (see below)
                opened = self._open.get(change.device)
                start = max(change.closed.start, opened.since if opened is not None else change.closed.start)
                if change.closed.end > start:
                    self._interval(replace(change.closed, start=start))
            self._open[change.device] = change
        for ce in ev.counter_events:
            self._append("COUNTER_EVENT", payloads.counter_event(ce))
        for kpi in ev.kpis:
            self._append("KPI", payloads.kpi(kpi))
        if ev.kpis:
            self._cut_open(ev.device, max(k.end for k in ev.kpis))

    def _cut_open(self, device: str, at: int) -> None:
        """A KPI window ended at `at` while the device's interval is still open: write its part up to
        `at` now (end_reason "window"), so a pack built before the interval ends holds every interval
        the KPI row was computed from. The state machine has sealed `at`: the rest keeps the bucket."""
        opened = self._open.get(device)
        if opened is not None and opened.since < at:
            self._interval(payloads.cut(opened, at), end_reason="window")
            self._open[device] = replace(opened, since=at)

    # -- observer hooks (engine, workers, sink runners) ----------------------------------------

    def device_connected(self, device: str) -> None:
        self._connected.add(device)
        self._append("DEVICE_CONNECT", {"device": device})

    def device_failed(self, device: str, kind: str, message: str) -> None:
        # was_connected: a device that never answered also fails; only a connected one goes offline
        was = device in self._connected
        self._connected.discard(device)
        self._append(
            "DEVICE_DISCONNECT", {"device": device, "kind": kind, "message": message, "was_connected": was}
        )

    def reloaded(self, old: LoadedPlant, new: LoadedPlant, result: ReloadResult) -> None:
        ts = self._now()
        for device in (*result.changed, *result.removed):
            change = self._open.pop(device, None)
            if change is not None:  # the new worker's state machine starts afresh
                self._interval(payloads.cut(change, ts), end_reason="reload")
            if device in self._connected:  # its worker was replaced: that connection is closed
                kind = "reload" if device in result.changed else "removed"
                self.device_failed(device, kind, f"configuration {kind}")
        self.plant = new
        self._append(
            "CONFIG_CHANGE",
            {
                "config_hash": config_hash(new.config),
                "added": list(result.added),
                "changed": list(result.changed),
                "removed": list(result.removed),
            },
        )
        for device in result.removed:
            self._rules.pop(device, None)
            self._assets.pop(device, None)
        self._record_definitions(new.config)

    def sink_outage(self, sink: str, message: str) -> None:
        self._append("BROKER_DISCONNECT", {"sink": sink, "message": message})

    def sink_restored(self, sink: str) -> None:
        self._append("BROKER_CONNECT", {"sink": sink, "message": "delivering again"})

    def replay_finished(self, sink: str, started_ms: int, ended_ms: int, by_device: dict[str, int]) -> None:
        self._append(
            "REPLAY",
            {
                "sink": sink,
                "started": started_ms,
                "ended": ended_ms,
                "records": sum(by_device.values()),
                "by_device": dict(sorted(by_device.items())),
            },
        )

    # -- periodic summaries --------------------------------------------------------------------

    def flush(self, ts: int | None = None) -> None:
        """RAW_BATCH, SINK_BATCH and DROP entries for [last flush, ts)."""
        to = self._now() if ts is None else ts
        start, self._batch_from = self._batch_from, to
        devices = self._raw_devices()
        if devices:
            # "connected" lets a pack that starts mid-run know which devices were connected
            payload = {"session": self.session, "from": start, "to": to, "devices": devices,
                       "connected": sorted(self._connected)}  # fmt: skip
            self._append("RAW_BATCH", payload, to)
        if self.delivery is None:
            return
        for runner in self.delivery.runners:
            name = runner.sink.name
            now = runner.outbox.counters()
            before = self._sink_counters.get(name, {})
            self._sink_counters[name] = now
            changed: dict[str, dict[str, int]] = {}
            for (device, counter), value in now.items():
                delta = value - before.get((device, counter), 0)
                if delta:
                    changed.setdefault(device, dict.fromkeys(COUNTERS, 0))
                    changed[device][counter] = delta
            if changed:
                payload = {"sink": name, "from": start, "to": to, "devices": dict(sorted(changed.items()))}
                self._append("SINK_BATCH", payload, to)
            self._record_drops(name, runner.outbox.drops(), to)

    def _raw_devices(self) -> dict[str, dict[str, Any]]:
        errors = self._error_deltas()
        out: dict[str, dict[str, Any]] = {}
        for device in sorted({d for d, agg in self._raw.items() if agg.count} | set(errors)):
            agg = self._raw.get(device)
            row: dict[str, Any] = {"seq_first": None, "seq_last": None, "count": 0, "good": 0}
            if agg is not None and agg.count:
                row = {
                    "seq_first": agg.seq_first,
                    "seq_last": agg.seq_last,
                    "count": agg.count,
                    "good": agg.good,
                }
                if agg.holes:
                    row["holes"] = agg.holes
                if agg.restarts:
                    row["seq_restarts"] = agg.restarts
                agg.count = agg.good = agg.restarts = 0
                agg.holes = []
            row["errors"] = errors.get(device, {})
            out[device] = row
        return out

    def _error_deltas(self) -> dict[str, dict[str, int]]:
        if self._health is None:
            return {}
        out: dict[str, dict[str, int]] = {}
        for snap in self._health():
            seen = self._errors.setdefault(snap.device, {})
            for kind, total in snap.errors:
                delta = total - seen.get(kind, 0)
                if delta < 0:  # a new worker (reload) counts from zero
                    delta = total
                if delta:
                    out.setdefault(snap.device, {})[kind] = delta
                seen[kind] = total
        return out

    def _record_drops(self, sink: str, drops: list[Any], ts: int) -> None:
        seen = self._drops_seen.get(sink, 0)
        fresh, self._drops_seen[sink] = drops[seen:], len(drops)
        runs: dict[tuple[str, str, str, int], dict[str, Any]] = {}
        for d in fresh:
            run = runs.get((d.device, d.reason, d.kind, d.session))
            if run is None:
                runs[(d.device, d.reason, d.kind, d.session)] = {
                    "sink": sink, "device": d.device, "reason": d.reason, "count": d.points,
                    "first_ts": d.at_ms, "last_ts": d.at_ms, "kind": d.kind, "session": d.session,
                    "seq_first": d.seq_first, "seq_last": d.seq_last, "records": d.records,
                }  # fmt: skip
                continue
            run["count"] += d.points
            run["records"] += d.records
            run["first_ts"], run["last_ts"] = min(run["first_ts"], d.at_ms), max(run["last_ts"], d.at_ms)
            run["seq_first"], run["seq_last"] = (
                min(run["seq_first"], d.seq_first),
                max(run["seq_last"], d.seq_last),
            )
        for payload in runs.values():
            self._append("DROP", payload, ts)

    # -- definitions ---------------------------------------------------------------------------

    def _record_definitions(self, cfg: PlantConfig) -> None:
        """RULE_CHANGE / MASTERDATA_CHANGE per device and CALENDAR_CHANGE, when new or different."""
        for device in cfg.devices:
            rule = payloads.rule_ref(device)
            if rule is not None and self._rules.get(device.id) != rule:
                self._rules[device.id] = rule
                definition = device.state.model_dump(mode="json") if device.state is not None else None
                self._append("RULE_CHANGE", {"device": device.id, "rule": rule, "definition": definition})
            asset = device.asset.model_dump(mode="json")
            if self._assets.get(device.id) != asset:
                self._assets[device.id] = asset
                self._append("MASTERDATA_CHANGE", {"device": device.id, "asset": asset})
        calendar_hash = ShiftCalendar(cfg.calendar, cfg.site.timezone).hash
        if calendar_hash != self._calendar_hash:
            self._calendar_hash = calendar_hash
            calendar = redacted_config(cfg)["calendar"]
            self._append("CALENDAR_CHANGE", {"calendar_hash": calendar_hash, "calendar": calendar})

    def _interval(self, iv: StateInterval, end_reason: str | None = None, ts: int | None = None) -> None:
        self._append("STATE_INTERVAL", payloads.interval(iv, end_reason), ts)
        self.history.add(iv)

    def state_history(self, device: str) -> list[StateInterval]:
        """The device's recent intervals in the ledger: what a (re)started worker completes its
        open KPI windows from (the engine's `history`)."""
        return self.history.of(device, self.clock.wall_ms())
