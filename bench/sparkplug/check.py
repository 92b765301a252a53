"""What the Sparkplug soak's listener received, held to the specification and to the store.

Every check reads the messages in arrival order, as a host would:
- births: no DBIRTH is empty, none comes for a device that is still born (no DDEATH or NBIRTH since);
- seq: 0 on NBIRTH and +1 (mod 256) on every later node message, until the session's NDEATH;
- bdSeq: every NDEATH names the bdSeq of an NBIRTH before it;
- gating: after the primary host's offline STATE and the edge node's NDEATH, nothing but NDEATH until
  the host's next online STATE (and no NBIRTH before its first);
- nothing lost: every reading in the store (the embedded historian gets each one) is what the host
  holds at its timestamp: a metric with that timestamp and value, or, where report by exception kept
  it back, the last value sent before it within the tag's deadband; readings taken while the host was
  offline arrive as is_historical.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.config.plant import PlantConfig
from collector.sinks.sparkplug import sparkplug_b_pb2 as pb
from collector.sinks.sparkplug.session import default_metric_name
from collector.sinks.sparkplug.specs import device_tags

BAD_NO_COMMUNICATION = 0x80310000
SIGNED_BITS = {1: 8, 2: 16, 3: 32, 4: 64}
FLOAT = 9


@dataclass
class Msg:
    at: int  # arrival, ms
    kind: str  # NBIRTH … or STATE
    device: str
    payload: Any  # pb.Payload, or the STATE JSON


@dataclass
class Entry:
    ts: int
    value: Any
    historical: bool
    birth: bool
    datatype: int


@dataclass
class Findings:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(what)
        self.counts["problems"] += 1


def decode(got: list[tuple[int, str, bytes]]) -> list[Msg]:
    out = []
    for at, topic, raw in got:
        parts = topic.split("/")
        if parts[1] == "STATE":
            out.append(Msg(at, "STATE", "", json.loads(raw)))
        elif parts[2] not in ("NCMD", "DCMD"):
            out.append(Msg(at, parts[2], parts[4] if len(parts) > 4 else "", pb.Payload.FromString(raw)))
    return out


def value_of(m: Any, datatype: int) -> Any:
    if m.is_null:
        return None
    kind = m.WhichOneof("value")
    value = getattr(m, kind) if kind else None
    bits = SIGNED_BITS.get(datatype)
    if bits and isinstance(value, int):
        carrier = 64 if bits == 64 else 32
        value &= (1 << carrier) - 1
        value = value - (1 << carrier) if value >> (carrier - 1) else value
    return value


def check_session(msgs: list[Msg], f: Findings) -> None:
    """Births, seq and bdSeq over the whole run."""
    seq: int | None = None
    bd: int | None = None
    born: set[str] = set()
    died: set[str] = set()  # devices with a DDEATH in this node session
    births_seen: set[int] = set()
    for m in msgs:
        if m.kind == "STATE":
            continue
        f.counts[m.kind] += 1
        if m.kind == "NDEATH":
            death_bd = int(m.payload.metrics[0].long_value)
            if death_bd not in births_seen:
                f.fail(f"NDEATH with bdSeq {death_bd} that no NBIRTH had")
            if death_bd == bd:
                seq, born, died = None, set(), set()
            continue
        if m.kind == "NBIRTH":
            bd = next(int(x.long_value) for x in m.payload.metrics if x.name == "bdSeq")
            births_seen.add(bd)
            seq, born, died = 0, set(), set()
            if m.payload.seq != 0:
                f.fail(f"NBIRTH with seq {m.payload.seq}")
            continue
        if seq is None or m.payload.seq != (seq + 1) % 256:
            f.fail(f"{m.kind} {m.device} seq {m.payload.seq} after {seq}")
        seq = m.payload.seq
        check_device(m, born, died, f)


def check_device(m: Msg, born: set[str], died: set[str], f: Findings) -> None:
    if m.kind == "DBIRTH":
        if not m.payload.metrics:
            f.fail(f"empty DBIRTH for {m.device}")
        if m.device in born:
            f.fail(f"DBIRTH for {m.device} while it was born (no DDEATH first)")
        f.counts["DBIRTH after a DDEATH in the same node session"] += m.device in died
        born.add(m.device)
    elif m.kind == "DDEATH":
        born.discard(m.device)
        died.add(m.device)
    elif m.kind == "DDATA" and m.device not in born:
        f.fail(f"DDATA for {m.device} before its DBIRTH")


def check_gating(msgs: list[Msg], f: Findings) -> list[tuple[int, int]]:
    """Nothing published while the primary host is offline; returns the offline windows (arrival ms)."""
    online, dead, since = False, False, msgs[0].at if msgs else 0
    windows: list[tuple[int, int]] = []
    for m in msgs:
        if m.kind == "STATE":
            if m.payload.get("online") and not online:
                windows.append((since, m.at))
            elif not m.payload.get("online") and online:
                since, dead = m.at, False
            online = bool(m.payload.get("online"))
        elif m.kind == "NDEATH":
            dead = dead or not online
        elif not online and (dead or m.kind == "NBIRTH" or not windows):
            f.fail(f"{m.kind} {m.device} while the primary host was offline")
    return windows


def host_series(msgs: list[Msg]) -> dict[tuple[str, str], list[Entry]]:
    """What a host learns of each (device, metric): the births' values and every DDATA value."""
    names: dict[int, tuple[str, str, int]] = {}
    series: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for m in msgs:
        if m.kind == "DBIRTH":
            for x in m.payload.metrics:
                names[x.alias] = (m.device, x.name, x.datatype)
        if m.kind not in ("DBIRTH", "DDATA"):
            continue
        for x in m.payload.metrics:
            device, name, datatype = names[x.alias]
            entry = Entry(x.timestamp, value_of(x, datatype), x.is_historical, m.kind == "DBIRTH", datatype)
            series[(device, name)].append(entry)
    for entries in series.values():
        entries.sort(key=lambda e: e.ts)
    return series


def same(a: Any, b: Any, datatype: int, deadband: float | None = None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b) if not isinstance(a, bool) else bool(a) == bool(b)
    if deadband:
        return abs(float(a) - float(b)) <= deadband
    rel = 1e-6 if datatype == FLOAT else 1e-12
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-12)


def pending(outbox: Path) -> set[tuple[str, str, int]]:
    """(device, tag, collector ts) of the readings the Sparkplug outbox still holds: kept for the next
    start (a stop during a replay leaves some), not lost."""
    if not outbox.exists():
        return set()
    with sqlite3.connect(outbox) as db:
        rows = db.execute("SELECT device, body FROM records WHERE kind = 'data'").fetchall()
    return {(device, str(p[0]), int(p[6])) for device, body in rows for p in json.loads(body)}


def check_store(
    series: dict[tuple[str, str], list[Entry]], store: Path, outbox: Path, plant: PlantConfig,
    windows: list[tuple[int, int]], f: Findings,
) -> None:  # fmt: skip
    deadbands = {(d, s.tag): s.deadband for d, specs in device_tags(plant).items() for s in specs}
    kept = pending(outbox)
    with sqlite3.connect(store) as db:
        rows = db.execute(
            "SELECT device, tag, ts, value, value_int, value_str, status, source_ts FROM telemetry"
        ).fetchall()
    for device, tag, ts, value, value_int, value_str, status, source_ts in rows:
        if status == BAD_NO_COMMUNICATION:
            f.counts["store rows: device lost (DDEATH)"] += 1
            continue
        if (device, tag, ts) in kept:
            f.counts["store rows: still in the Sparkplug outbox"] += 1
            continue
        entries = series.get((device, default_metric_name(tag)))
        if not entries:
            f.counts["store rows: tag never in a birth"] += 1
            continue
        f.counts["store rows checked"] += 1
        stored = value if value is not None else value_int if value_int is not None else value_str
        at = source_ts if source_ts is not None else ts
        exact = [e for e in entries if e.ts == at and same(e.value, stored, e.datatype)]
        in_outage = any(start <= ts <= end for start, end in windows)
        if exact:
            f.counts["store rows: sent"] += 1
            if in_outage and not any(e.historical for e in exact):
                f.fail(f"{device}/{tag} at {at}: taken while the host was offline, not sent as history")
            f.counts["store rows: host outage, as history"] += in_outage
            continue
        before = [e for e in entries if e.ts < at and not e.historical]
        deadband = deadbands.get((device, tag))
        if before and not in_outage and same(before[-1].value, stored, before[-1].datatype, deadband):
            f.counts["store rows: kept back by exception"] += 1
            continue
        f.fail(f"{device}/{tag} at {at}: value {stored!r} never reached the host")


def analyse(got: list[tuple[int, str, bytes]], store: Path, outbox: Path, plant: PlantConfig) -> Findings:
    msgs = decode(got)
    f = Findings()
    check_session(msgs, f)
    windows = check_gating(msgs, f)  # the first is the start, before the host's first online
    f.counts["primary host offline periods after the start"] = max(0, len(windows) - 1)
    check_store(host_series(msgs), store, outbox, plant, windows, f)
    return f
