"""Soak and chaos run: the demo's plant, broker, store, historians and collector under a fault schedule,
then an accounting of every reading, the collector's memory and file descriptors, and the evidence pack.

    .venv/bin/python bench/soak/run.py --minutes 45          # the recorded run (BENCHMARKS.md)
    .venv/bin/python bench/soak/run.py --minutes 3 --out /tmp/soak
    .venv/bin/python bench/soak/run.py --minutes 30 --faults broker --no-kill   # one family, more often
    .venv/bin/python bench/soak/run.py --minutes 20 --scenario bench/soak/plant36.yaml   # 36 devices

What a user runs without reading the docs: `shopfloor run` and two `shopfloor historian` with their
defaults (the shared group `historian`, store confirmation), mosquitto without persistence.
Faults, in turn and repeated while time allows (collector/demo/schedule.py): a PLC restart, an OPC UA
server restart with renumbered namespaces, an RTU slave that stops answering (and, in the scenario, a
dead unit on a shared RS-485 line throughout), a broker SIGKILL (it comes back empty, or an empty
standby takes over at the failover address), a store outage (VictoriaMetrics stopped), a historian
SIGKILL and a collector SIGKILL, each followed by a restart. The process management is the demo's
(collector/demo/rig.py); this script adds the schedule, the sampling and the accounting.
Exit 0 when nothing is unaccounted and the pack verifies, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from collector.demo.accounting import (
    Accounting,
    Sample,
    account,
    dropped_keys,
    outbox_keys,
    produced_keys,
    sample_process,
    slope_per_hour,
    steady_series,
)
from collector.demo.finish import PackOutcome, build_and_verify, headline_lines
from collector.demo.procs import Interrupted
from collector.demo.rig import Rig, RigOptions, used_run_dir
from collector.demo.run import StopFlag
from collector.demo.schedule import FAULT_FAMILIES, Step, soak_schedule
from collector.demo.view import clock

SAMPLE_EVERY = 10.0
SCENARIO = Path(__file__).resolve().parent / "scenario.yaml"


def say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=3.0, help="length (the recorded run: 30 or more)")
    parser.add_argument("--out", help="run directory (default ./soak-run/<timestamp>)")
    parser.add_argument(
        "--scenario", default=str(SCENARIO), help="simulator scenario (default: scenario.yaml here)"
    )
    parser.add_argument(
        "--sqlite", action="store_true", help="the embedded SQLite historian, no VictoriaMetrics"
    )
    parser.add_argument(
        "--kills",
        type=int,
        default=2,
        metavar="N",
        help="collector SIGKILLs: the first N/2 and the last N/2 of the schedule's (default 2), so one "
        "long-lived process in the middle shows the memory trend; -1 keeps every one",
    )
    parser.add_argument("--no-kill", action="store_true", help="no collector SIGKILLs (same as --kills 0)")
    parser.add_argument(
        "--faults",
        type=fault_families,
        default=FAULT_FAMILIES,
        metavar="F,F",
        help=f"fault families to cycle through (default all: {','.join(FAULT_FAMILIES)}); fewer repeat "
        "more often, e.g. --faults broker for a memory diagnostic of broker outages alone",
    )
    parser.add_argument(
        "--rabbitmq",
        action="store_true",
        help="a 3-node RabbitMQ cluster (MQTT plugin, MQTT 3.1.1) instead of mosquitto: a broker fault "
        "SIGKILLs one node in turn and starts it again; historians subscribe plainly with clean sessions",
    )
    parser.add_argument(
        "--report", metavar="JSON", help="print the process table of a saved soak-result.json"
    )
    args = parser.parse_args(argv)
    if args.report:
        saved = json.loads(Path(args.report).read_text(encoding="utf-8"))
        say(process_table([Sample(**s) for s in saved["samples"]]))
        return 0
    run_dir = Path(args.out or Path("soak-run") / time.strftime("%Y%m%d-%H%M%S")).resolve()
    if (problem := used_run_dir(run_dir)) is not None:
        say(problem)
        return 2
    length = max(60.0, args.minutes * 60)
    stop = StopFlag()
    stop.install()
    shifts = max(2, min(12, round(length / 300)))  # ~5 min each: a shift with a collector kill reports no KPI
    opts = RigOptions(
        run_dir, length, Path(args.scenario), store=not args.sqlite, shifts=shifts,
        historians=2, historian_group=None, broker_persistent=False, standby_broker=not args.rabbitmq,
        rabbitmq=args.rabbitmq,
    )  # fmt: skip
    rig = Rig(opts, stop_requested=stop)
    samples: list[Sample] = []
    faults: list[tuple[float, str, str]] = []
    say(f"soak: {clock(length)} in {run_dir}")
    try:
        rig.start(on_progress=lambda m: say(f"  {m}"))
        for notice in rig.notices:
            say(f"  NOTICE: {notice}")
        try:
            steps = soak_schedule(length, store=rig.vm is not None, families=args.faults)
        except ValueError as e:
            say(f"soak: {e}")
            return 2
        steps = limit_kills(steps, 0 if args.no_kill else args.kills)
        say(f"  {len(steps)} fault steps scheduled")
        run(rig, steps, length, stop, samples, faults)
    except Interrupted:
        pass
    finally:
        if stop.reason:
            say(f"{stop.reason}: stopping early; accounting for what ran")
        try:
            result = finish(rig, samples, faults)
        finally:
            rig.close()
            stop.restore()
    return result


def run(rig: Rig, steps: list[Step], length: float, stop: StopFlag, samples: list[Sample],
        faults: list[tuple[float, str, str]]) -> None:  # fmt: skip
    pending = list(steps)
    next_sample = SAMPLE_EVERY  # not at 0: the process has just been spawned
    while not stop() and rig.elapsed() < length:
        while pending and pending[0].at <= rig.elapsed():
            step = pending.pop(0)
            result = rig.apply(step)
            faults.append((rig.elapsed(), step.label, result))
            say(f"[{clock(rig.elapsed())}] {step.label}: {result}")
        if rig.elapsed() >= next_sample:
            next_sample += SAMPLE_EVERY
            take_sample(rig, samples)
        time.sleep(0.2)


def fault_families(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in FAULT_FAMILIES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {','.join(FAULT_FAMILIES)}")
    return names


def limit_kills(steps: list[Step], kills: int) -> list[Step]:
    """Keep the first kills//2 and the last (kills+1)//2 collector kill episodes (each a kill and
    its restart); the rest of the schedule is untouched. A negative count keeps them all."""
    kill_at = [s.at for s in steps if s.action == "collector_kill"]
    if kills < 0 or kills >= len(kill_at):
        return steps
    kept = set(kill_at[: kills // 2]) | set(kill_at[len(kill_at) - (kills + 1) // 2 :] if kills else [])
    out: list[Step] = []
    dropping = False
    for s in steps:
        if s.action == "collector_kill":
            dropping = s.at not in kept
        if s.action in ("collector_kill", "collector_start") and dropping:
            continue
        out.append(s)
    return out


def take_sample(rig: Rig, samples: list[Sample]) -> None:
    child = rig.collector.child if rig.collector is not None else None
    if child is None or child.pid is None or not child.alive:
        return
    got = sample_process(child.pid)
    if got is None:
        return
    assert rig.collector is not None
    samples.append(Sample(rig.elapsed(), rig.collector.starts, got[0], got[1]))
    rss = f"RSS {got[0] / 1024:.1f} MiB"
    say(f"[{clock(rig.elapsed())}] collector #{rig.collector.starts}: {rss}, {got[1]} fds")


def finish(rig: Rig, samples: list[Sample], faults: list[tuple[float, str, str]]) -> int:
    if rig.plant_path is None or not rig.started_ms:
        say("nothing ran, nothing to account for")
        return 1
    for line in rig.heal():
        say(f"  {line}")
    if rig.collector is not None and not rig.collector.running:
        rig.collector.start()  # killed last: a fresh start delivers what the killed one left in its outbox
        rig.wait_collector_started()
    base = rig.plant_path.parent
    outbox = base / "data" / "outbox" / ("mqtt.sqlite" if rig.vm is not None else "store.sqlite")
    caught_up(outbox, rig.stop_requested)
    say("stopping the collector (SIGTERM, flush)")
    rig.stop_collector()
    to_ms = time.time_ns() // 1_000_000
    produced, holes = produced_keys(base / "data" / "ledger", rig.started_ms, to_ms)
    dropped = dropped_keys(outbox)
    expected = len(produced) - len(dropped.keys() & produced)
    say(f"waiting for the store to hold the {expected} readings not dropped")
    landed: set[tuple[str, int, int]] = set()

    def count() -> int:
        nonlocal landed
        landed = landed_keys(rig, to_ms)
        return len(landed & produced)

    rig.drain(count, expected, timeout=120)
    acc = account(produced, landed, dropped, outbox_keys(outbox)[0])
    acc.holes_stated = holes
    say("building and verifying the evidence pack")
    pack = build_and_verify(rig.plant_path, rig.started_ms, to_ms)
    report(acc, samples, pack, faults, base)
    return 0 if acc.unaccounted == acc.waiting == 0 and pack.verified and pack.error is None else 1


def caught_up(outbox: Path, stop: Callable[[], bool], behind_s: float = 10.0, timeout: float = 180.0) -> None:
    """Before the stop: wait (bounded) until the outbox holds nothing older than `behind_s`, i.e.
    the replays and re-sends after the last faults are confirmed, so the stop's flush has only
    the last seconds to deliver."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop():
        _keys, oldest = outbox_keys(outbox)
        if oldest is None or time.time() - oldest / 1000 < behind_s:
            return
        time.sleep(1.0)
    say(f"  the outbox still holds records older than {behind_s:.0f}s after {timeout:.0f}s")


def landed_keys(rig: Rig, to_ms: int) -> set[tuple[str, int, int]]:
    from collector.config import load_plant
    from collector.evidence.store_reader import read_samples

    assert rig.plant_path is not None
    plant = load_plant(rig.plant_path)
    rows = read_samples(plant.config.storage, plant.base_dir, rig.started_ms, to_ms + 60_000)
    return {(r.device, r.session, r.seq) for r in rows}


def report(acc: Accounting, samples: list[Sample], pack: PackOutcome, faults: list[tuple[float, str, str]],
           base: Path) -> None:  # fmt: skip
    say("")
    say("readings (ledger RAW_BATCH ranges vs the store and the outbox drops tables)")
    say(f"  {'produced':<34} {acc.produced:>10}")
    say(f"  {'landed in the store':<34} {acc.landed:>10}")
    for reason, n in sorted(acc.dropped.items()):
        say(f"  {'dropped: ' + reason:<34} {n:>10}")
    if not acc.dropped:
        say(f"  {'dropped (any reason)':<34} {0:>10}")
    say(f"  {'in the outbox, unconfirmed':<34} {acc.waiting:>10}")
    say(f"  {'UNACCOUNTED':<34} {acc.unaccounted:>10}")
    say(f"  {'landed, RAW_BATCH lost to SIGKILL':<34} {acc.landed_unledgered:>10}")
    if acc.unaccounted_sample:
        say(f"  first unaccounted (device, session, seq): {acc.unaccounted_sample}")
    say("")
    say(process_table(samples))
    say("")
    if pack.error is not None and pack.path is None:
        say(f"EVIDENCE PACK MISSING: {pack.error}")
    else:
        say(pack.report.rstrip())
        say(f"evidence pack: {pack.path} (verified: {'yes' if pack.verified else 'NO'})")
        for line in headline_lines(pack.headline, pack.oee_rows):
            say(line)
    result = {
        "accounting": {**asdict(acc), "dropped": dict(acc.dropped)},
        "samples": [asdict(s) for s in samples],
        "faults": [{"t": t, "fault": label, "result": res} for t, label, res in faults],
        "pack": {
            "path": str(pack.path),
            "verified": pack.verified,
            "headline": pack.headline,
            "error": pack.error,
        },
    }
    out = base / "soak-result.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    say(f"results: {out}")


def process_table(samples: list[Sample]) -> str:
    if not samples:
        return "collector process: no samples"
    rss = [s.rss_kb / 1024 for s in samples]
    fds = [s.fds for s in samples]
    steady = steady_series(samples)
    late = [s for s in steady if s.t >= (steady[0].t + steady[-1].t) / 2] if steady else []
    starts = len({s.incarnation for s in samples})

    def span(run: list[Sample]) -> str:
        return f"{clock(run[0].t)}–{clock(run[-1].t)}" if run else "-"

    def per_hour(run: list[Sample], value: Callable[[Sample], float], unit: str) -> str:
        v = slope_per_hour([(s.t, value(s)) for s in run])
        return "n/a (too few samples)" if v is None else f"{v:+.2f} {unit}/h"

    def mib(s: Sample) -> float:
        return s.rss_kb / 1024

    def fd(s: Sample) -> float:
        return float(s.fds)

    short = " (under 10 min of samples: not a trend)" if steady and steady[-1].t - steady[0].t < 600 else ""
    first_late = f"{mib(late[0]):.1f}M → {mib(late[-1]):.1f}M" if late else "-"
    floor = minute_floor(late)
    first_floor = f"{mib(floor[0]):.1f}M → {mib(floor[-1]):.1f}M" if floor else "-"
    return "\n".join([
        f"collector process ({len(samples)} samples every {SAMPLE_EVERY:.0f}s, {starts} incarnation(s))",
        f"  {'':<6} {'first':>8} {'last':>8} {'max':>8}   slope over the longest run ({span(steady)}){short}",
        f"  {'RSS':<6} {rss[0]:>7.1f}M {rss[-1]:>7.1f}M {max(rss):>7.1f}M   {per_hour(steady, mib, 'MiB')}",
        f"  {'FDs':<6} {fds[0]:>8} {fds[-1]:>8} {max(fds):>8}   {per_hour(steady, fd, 'fds')}",
        f"  its second half ({span(late)}): RSS {first_late}, {per_hour(late, mib, 'MiB')}; "
        f"FDs {per_hour(late, fd, 'fds')}",
        f"  the second half's per-minute floor (the collector trims its C heap once a minute): RSS "
        f"{first_floor}, {per_hour(floor, mib, 'MiB')}",
    ])  # fmt: skip


def minute_floor(samples: list[Sample]) -> list[Sample]:
    """The lowest sample of each minute: what the process holds once freed heap pages went back."""
    by_minute: dict[int, Sample] = {}
    for s in samples:
        low = by_minute.get(int(s.t // 60))
        if low is None or s.rss_kb < low.rss_kb:
            by_minute[int(s.t // 60)] = s
    return [by_minute[m] for m in sorted(by_minute)]


if __name__ == "__main__":
    sys.exit(main())
