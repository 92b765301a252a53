"""`shopfloor demo`: the whole system on one screen for a few minutes, then a verified evidence pack."""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from zoneinfo import ZoneInfo

from collector.demo.finish import (
    PackOutcome,
    build_and_verify,
    headline_lines,
    landed_points,
    outbox_counters,
    produced_readings,
)
from collector.demo.procs import Interrupted
from collector.demo.rig import Rig, RigOptions
from collector.demo.schedule import Step, demo_schedule
from collector.demo.status import LedgerTail, LiveApi, MqttWatch, OutboxProbe, Snapshot
from collector.demo.view import Header, Timeline, View, clock

log = logging.getLogger(__name__)


@dataclass
class DemoOptions:
    minutes: float
    run_dir: Path
    view: bool = True
    scenario: Path | None = None
    broker: bool = True
    store: bool = True


class StopFlag:
    """SIGINT/SIGTERM/SIGHUP set the flag; the demo then winds down in order instead of dying mid-write
    (and leaving its children behind: they run in their own sessions)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._previous: dict[int, object] = {}

    def __call__(self) -> bool:
        return self.reason is not None

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(sig, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.reason is None:
            self.reason = signal.Signals(signum).name


class Watch:
    """Snapshot sources plus derived timeline events (device offline/back, replay progress)."""

    def __init__(self, rig: Rig, timeline: Timeline) -> None:
        assert rig.plant_path is not None
        base = rig.plant_path.parent
        self.rig = rig
        self.timeline = timeline
        self.outbox = OutboxProbe(base / "data")
        self.ledger = LedgerTail(base / "data" / "ledger")
        self.live = LiveApi(rig.web_port, base / "web.token")
        self.mqtt: MqttWatch | None = None
        if rig.broker is not None:
            from collector.demo.plant import load_yaml

            site = load_yaml(rig.plant_path)["site"]
            self.mqtt = MqttWatch(rig.broker.port, f"uns/v1/{site['enterprise']}/{site['site']}")
        self._offline: dict[str, float] = {}
        self._accepted: dict[str, int] = {}
        self._grew: dict[str, float] = {}
        self._replaying: tuple[float, int] | None = None
        self.snapshot = Snapshot()

    def poll(self) -> Snapshot:
        snap = Snapshot()
        self.outbox.read(snap)
        for entry in self.ledger.new_entries():
            self._ledger_event(entry)
        self.ledger.read(snap)
        if self.mqtt is not None:
            self.mqtt.read(snap)
        self.live.read(snap)
        self._derive(snap)
        self.snapshot = snap
        return snap

    def _ledger_event(self, entry: dict[str, object]) -> None:
        kind, payload = entry.get("type"), entry.get("payload")
        if not isinstance(payload, dict):
            return
        at = self.rig.elapsed()
        if kind == "REPLAY":
            self.timeline.add(at, f"ledger: {payload.get('sink')} replayed {payload.get('records')} readings")
        elif kind == "DROP":
            self.timeline.add(
                at,
                f"ledger: {payload.get('sink')} dropped {payload.get('count')} "
                f"points of {payload.get('device')} ({payload.get('reason')})",
            )
        elif kind == "KPI" and payload.get("period") == "shift":
            oee = payload.get("oee")
            shown = f"{100 * oee:.1f}%" if isinstance(oee, int | float) else "n/a"
            self.timeline.add(
                at, f"shift {payload.get('label')} closed on {payload.get('device')}: OEE {shown}"
            )

    def _derive(self, snap: Snapshot) -> None:
        """Offline: the collector says so, or nothing accepted from the device for 5 s after it had
        delivered; a device never seen yet is still starting, not offline."""
        at = self.rig.elapsed()
        for dev in snap.devices.values():
            if dev.accepted > self._accepted.get(dev.id, 0):
                self._accepted[dev.id] = dev.accepted
                self._grew[dev.id] = at
            if dev.id not in self._grew:
                continue
            silent = dev.online is False or dev.state == "OFFLINE" or at - self._grew[dev.id] > 5
            if silent and dev.id not in self._offline:
                self._offline[dev.id] = at
                self.timeline.add(at, f"device {dev.id} offline since {clock(at)}")
            elif not silent and dev.id in self._offline:
                since = self._offline.pop(dev.id)
                self.timeline.add(at, f"device {dev.id} back after {at - since:.0f}s")
        depth = snap.depth.get("mqtt", 0)
        broker_up = self.rig.broker is not None and self.rig.broker.running
        if broker_up and self._replaying is None and depth > 50:
            self._replaying = (at, depth)
            self.timeline.add(at, f"replaying {depth} outbox records (batches of readings) to the broker")
        elif self._replaying is not None and depth <= 5:
            started, records = self._replaying
            self._replaying = None
            self.timeline.add(at, f"replay of {records} outbox records done in {at - started:.0f}s")

    def close(self) -> None:
        if self.mqtt is not None:
            self.mqtt.close()


def run_demo(opts: DemoOptions) -> int:
    view = View(live=opts.view)
    stop = StopFlag()
    stop.install()
    length = max(30.0, opts.minutes * 60.0)
    rig_opts = RigOptions(run_dir=opts.run_dir, length_s=length, broker=opts.broker, store=opts.store)
    if opts.scenario is not None:
        rig_opts.scenario = opts.scenario
    rig = Rig(rig_opts, stop_requested=stop)
    timeline = Timeline()
    watch: Watch | None = None
    code = 0
    view.say(f"shopfloor demo: {clock(length)} run in {opts.run_dir}")
    try:
        rig.start(on_progress=lambda m: view.say(f"  {m}"))
        for notice in rig.notices:
            view.say(f"  NOTICE: {notice}")
        view.say(_shift_text(rig))
        watch = Watch(rig, timeline)
        _loop(rig, watch, view, timeline, demo_schedule(length), length, stop)
    except Interrupted:
        pass
    except Exception as exc:
        log.debug("demo failed", exc_info=True)
        view.say(f"demo failed: {exc}")
        code = 1
    finally:
        if stop.reason:
            view.say(f"{stop.reason}: stopping cleanly and building the evidence pack of what was collected")
        outcome: PackOutcome | None = None
        try:
            if watch is not None:
                watch.close()
            outcome = _finish(rig, view)
        except Exception as exc:
            log.debug("finishing failed", exc_info=True)
            view.say(f"finishing the run failed: {exc}")
            code = 1
        finally:
            rig.close()
            stop.restore()
    if outcome is None:
        view.say("nothing was collected, so there is no evidence pack")
        return code or (130 if stop.reason else 1)
    _report(outcome, view)
    return code if outcome.verified and outcome.error is None else 1


def _loop(
    rig: Rig, watch: Watch, view: View, timeline: Timeline, steps: list[Step], length: float, stop: StopFlag
) -> None:
    pending = list(steps)
    services = _services(rig)
    assert rig.shift is not None
    next_frame = 0.0
    while not stop() and rig.elapsed() < length:
        while pending and pending[0].at <= rig.elapsed():
            step = pending.pop(0)
            timeline.add(rig.elapsed(), step.label)
            result = rig.apply(step)
            if step.action == "device":
                timeline.add(rig.elapsed(), f"  simulator: {result}")
        if rig.collector is not None and not rig.collector.running:
            raise RuntimeError(
                "the collector exited; see "
                + str(rig.collector.child.log_path if rig.collector.child else "its log")
            )
        if time.monotonic() >= next_frame:
            next_frame = time.monotonic() + 1.0
            snap = watch.poll()
            shift = _shift_state(rig)
            view.render(
                Header(rig.elapsed(), length, str(rig.opts.run_dir), services(), shift), snap, timeline
            )
        time.sleep(0.1)


def _services(rig: Rig) -> Callable[[], list[str]]:
    def describe() -> list[str]:
        out = []
        if rig.broker is not None:
            out.append(f"broker {'up' if rig.broker.running else 'DOWN'} :{rig.broker.port}")
        else:
            out.append("broker none (store only)")
        if rig.vm is not None:
            out.append(f"store VictoriaMetrics {'up' if rig.vm.running else 'DOWN'} :{rig.vm.port}")
        else:
            out.append("store embedded SQLite historian")
        out.append(f"status page http://127.0.0.1:{rig.web_port}/")
        return out

    return describe


def _shift_text(rig: Rig) -> str:
    assert rig.shift is not None and rig.plant_path is not None
    from collector.demo.plant import load_yaml

    tz = ZoneInfo(load_yaml(rig.plant_path)["site"].get("timezone") or "Asia/Shanghai")

    def local(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz).strftime("%H:%M:%S")

    span = f"{local(rig.shift.start_ms)}–{local(rig.shift.end_ms)} ({tz.key})"
    return (
        f"  shift {rig.shift.name} {span}: a shortened real-time shift, since OEE runs on the collector's "
        f"clock; the machines run {rig.time_scale:g}x faster, so setups, runs and alarms happen within it"
    )


def _shift_state(rig: Rig) -> str:
    assert rig.shift is not None
    now = time.time() * 1000
    if now < rig.shift.start_ms:
        return f"shift {rig.shift.name} starts in {(rig.shift.start_ms - now) / 1000:.0f}s"
    if now < rig.shift.end_ms:
        return f"shift {rig.shift.name} running, closes in {(rig.shift.end_ms - now) / 1000:.0f}s"
    return f"shift {rig.shift.name} closed: its OEE record is in the ledger and the pack"


def _finish(rig: Rig, view: View) -> PackOutcome | None:
    if rig.collector is None or rig.plant_path is None or not rig.started_ms:
        return None
    for line in rig.heal():
        view.say(f"  {line}")
    view.say("stopping the collector (SIGTERM: it flushes its outboxes)")
    code = rig.stop_collector()
    if code not in (0, None):
        view.say(f"  the collector exited with {code}; see {rig.opts.run_dir / 'logs' / 'collector.log'}")
    to_ms = time.time_ns() // 1_000_000
    data = rig.plant_path.parent / "data"
    if rig.vm is not None:
        ledger = data / "ledger"
        produced = produced_readings(ledger, rig.started_ms, to_ms)
        dropped = sum(v for (_d, n), v in outbox_counters(data, "mqtt").items() if n == "dropped")
        view.say(
            f"waiting for the historian to store the {produced - dropped} readings delivered to the broker"
        )
        plant = rig.plant_path
        landed = rig.drain(lambda: landed_points(plant, rig.started_ms, to_ms), produced - dropped)
        view.say(f"  the store holds {landed} readings")
    view.say("building and verifying the evidence pack")
    return build_and_verify(rig.plant_path, rig.started_ms, to_ms)


def _report(outcome: PackOutcome, view: View) -> None:
    if outcome.error is not None and outcome.path is None:
        view.say(f"EVIDENCE PACK MISSING: {outcome.error}")
        return
    view.say("")
    view.say(outcome.report.rstrip())
    view.say("")
    view.say(f"evidence pack: {outcome.path}")
    if outcome.zip_path is not None:
        view.say(f"zip:           {outcome.zip_path}")
    view.say(f"verified:      {'yes' if outcome.verified else 'NO'}")
    if outcome.error is not None:
        view.say(outcome.error)
    for line in headline_lines(outcome.headline, outcome.oee_rows):
        view.say(line)
