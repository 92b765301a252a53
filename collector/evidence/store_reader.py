"""Read back every telemetry sample that landed in the time-series store during a window.

The evidence pack reconciles what the collector published against what the store holds, so this
reads the store itself, read-only: VictoriaMetrics (`/api/v1/export`, JSON lines), InfluxDB 2
(Flux over `/api/v2/query`, annotated CSV) or the embedded SQLite historian. The schema is the one
`collector/sinks/lineprotocol.py` writes: measurement `telemetry` with fields value / value_int /
value_str / q / seq / session, and for VictoriaMetrics the string readings as `telemetry_str` points
with the text in the `value` label. Every backend's rows become the same `StoredSample`.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path

from collector.config.sinks import Storage, StoreBackend
from collector.evidence.errors import EvidenceError
from collector.model import Value

_VM_FIELDS = ("value", "value_int", "q", "seq", "session")
_VM_STR_FIELDS = ("present", "q", "seq", "session")
_SERIES_KEYS = ("device", "tag")
TIMEOUT_S = 30.0


class StoreUnavailable(EvidenceError):
    """The store could not be queried (unreachable, refused, unreadable); `store` names it."""

    def __init__(self, store: str, message: str) -> None:
        super().__init__(f"{store}: {message}")
        self.store = store


@dataclass(frozen=True, slots=True)
class StoredSample:
    """One landed reading: point identity (device, tag, ts_ms) plus what the store kept of it."""

    device: str
    tag: str
    ts_ms: int  # the collector's receive clock (the point's timestamp in the store)
    value: Value
    status: int  # OPC UA StatusCode, 0 = Good
    session: int
    seq: int
    source_ts_ms: int | None = None  # only the embedded historian keeps the device clock

    @property
    def good(self) -> bool:
        return (self.status >> 30) == 0


def describe_store(storage: Storage, base: Path) -> str:
    """What the error messages and the pack call the store: backend and URL or file."""
    if storage.backend is StoreBackend.SQLITE:
        return f"sqlite {sqlite_path(storage, base)}"
    return f"{storage.backend.value} {storage.url}"


def sqlite_path(storage: Storage, base: Path) -> Path:
    path = storage.sqlite_path
    return path if path.is_absolute() else base / path


def read_samples(
    storage: Storage, base: Path, from_ms: int, to_ms: int, devices: Iterable[str] | None = None,
    site: str | None = None,
) -> list[StoredSample]:  # fmt: skip
    """Every sample with from_ms <= ts < to_ms (of `site` only, when given: one store may serve
    several plants), sorted by (device, ts, tag); StoreUnavailable on failure."""
    wanted = None if devices is None else frozenset(devices)
    if storage.backend is StoreBackend.SQLITE:
        rows = read_sqlite(sqlite_path(storage, base), from_ms, to_ms, site)
    elif storage.backend is StoreBackend.VICTORIAMETRICS:
        rows = read_victoria(_url(storage), from_ms, to_ms, site)
    else:
        rows = read_influx(storage, base, from_ms, to_ms, site)
    kept = [r for r in rows if from_ms <= r.ts_ms < to_ms and (wanted is None or r.device in wanted)]
    return sorted(kept, key=lambda r: (r.device, r.ts_ms, r.tag))


def count_samples(
    storage: Storage, base: Path, from_ms: int, to_ms: int, site: str | None = None
) -> int | None:
    """How many samples the window holds, counted by the store without sending them (None where the
    backend's count is not implemented: InfluxDB); StoreUnavailable on failure."""
    if storage.backend is StoreBackend.SQLITE:
        return count_sqlite(sqlite_path(storage, base), from_ms, to_ms, site)
    if storage.backend is StoreBackend.VICTORIAMETRICS:
        return count_victoria(_url(storage), from_ms, to_ms, site)
    return None


def _url(storage: Storage) -> str:
    if not storage.url:
        raise StoreUnavailable(storage.backend.value, "storage.url is not set")
    return storage.url.rstrip("/")


# --- embedded SQLite historian ---------------------------------------------------------------------


def _open_sqlite(path: Path) -> sqlite3.Connection:
    """Read-only (a running collector keeps writing: WAL lets both proceed)."""
    if not path.exists():
        raise StoreUnavailable(f"sqlite {path}", "no such file")
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"sqlite {path}", str(exc)) from exc


def count_sqlite(path: Path, from_ms: int, to_ms: int, site: str | None = None) -> int:
    db = _open_sqlite(path)
    try:
        query = "SELECT COUNT(*) FROM telemetry WHERE ts >= ? AND ts < ? AND (? IS NULL OR site = ?)"
        return int(db.execute(query, (from_ms, to_ms, site, site)).fetchone()[0])
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"sqlite {path}", str(exc)) from exc
    finally:
        db.close()


def read_sqlite(path: Path, from_ms: int, to_ms: int, site: str | None = None) -> list[StoredSample]:
    db = _open_sqlite(path)
    try:
        cur = db.execute(
            "SELECT device, tag, ts, value, value_int, value_str, status, session, seq, source_ts"
            " FROM telemetry WHERE ts >= ? AND ts < ? AND (? IS NULL OR site = ?)",
            (from_ms, to_ms, site, site),
        )
        names: dict[str, str] = {}  # one string per device and tag name, not one per row
        return [
            StoredSample(
                names.setdefault(dev, dev), names.setdefault(tag, tag), ts, _typed(val, vint, vstr),
                status, session, seq, src,
            )
            for dev, tag, ts, val, vint, vstr, status, session, seq, src in cur
        ]  # fmt: skip
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"sqlite {path}", str(exc)) from exc
    finally:
        db.close()


def _typed(value: float | None, value_int: int | None, value_str: str | None) -> Value:
    """The reading as written: value_int holds bools (0/1), value_str strings and JSON arrays."""
    if value_int is not None:
        return bool(value_int)
    if value is not None:
        return value  # ints were written as floats: the store cannot tell 5 from 5.0
    return value_str


# --- VictoriaMetrics --------------------------------------------------------------------------------


def victoria_export_form(from_ms: int, to_ms: int, site: str | None = None) -> dict[str, str]:
    """The form of the one /api/v1/export request that reads a window (bench/pack_bench.py sends it too)."""
    names = "|".join(
        [*(f"telemetry_{f}" for f in _VM_FIELDS), *(f"telemetry_str_{f}" for f in _VM_STR_FIELDS)]
    )
    return {
        "match[]": f'{{__name__=~"{names}"{_site_label(site)}}}',
        "start": f"{from_ms / 1000:.3f}",
        "end": f"{max(from_ms, to_ms - 1) / 1000:.3f}",  # export's end is inclusive
    }


def read_victoria(url: str, from_ms: int, to_ms: int, site: str | None = None) -> list[StoredSample]:
    """One export of every telemetry series, joined on (series labels, timestamp)."""
    form = urllib.parse.urlencode(victoria_export_form(from_ms, to_ms, site)).encode()
    store = f"victoriametrics {url}"
    rows: list[dict[str, object]] = []
    try:  # parsed line by line as it arrives: the body is never held whole
        with _open(f"{url}/api/v1/export", form, {}, store) as resp:
            rows.extend(json.loads(line) for line in resp if line.strip())
    except (OSError, ValueError) as exc:  # cut off or garbled mid-stream
        raise StoreUnavailable(store, f"cannot read the export: {exc}") from exc
    return list(join_victoria(rows))


def count_victoria(url: str, from_ms: int, to_ms: int, site: str | None = None) -> int:
    """Points of the seq series (every sample has one) in [from_ms, to_ms), counted by VictoriaMetrics."""
    window_ms = max(1, to_ms - from_ms)
    selector = f'{{__name__=~"telemetry_seq|telemetry_str_seq"{_site_label(site)}}}'
    # the range ends at `time` inclusive and starts after time - window: shift by 1 ms to get [from, to)
    query = f"sum(count_over_time({selector}[{window_ms}ms]))"
    # nocache: a cached rollup missed the newest points of a window ending now (2 per series, measured)
    form = {"query": query, "time": f"{(to_ms - 1) / 1000:.3f}", "nocache": "1"}
    body = _post(f"{url}/api/v1/query", urllib.parse.urlencode(form).encode(), {}, f"victoriametrics {url}")
    try:
        result = json.loads(body)["data"]["result"]
        return int(float(result[0]["value"][1])) if result else 0
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise StoreUnavailable(f"victoriametrics {url}", f"unexpected count answer: {body[:200]}") from exc


def _site_label(site: str | None) -> str:
    return "" if site is None else f",site={json.dumps(site)}"


_Series = dict[str, tuple[list[float], list[float]]]  # field -> (timestamps, values)
_REQUIRED = frozenset({"q", "seq", "session"})


def join_victoria(series: Iterable[dict[str, object]]) -> Iterator[StoredSample]:
    """Export rows (one per metric and series) → samples; a point lacking seq/session/q is skipped.
    The fields of a sample are separate metrics with the same labels and timestamp: grouped per
    series, then zipped where their timestamps agree (the usual case), joined per point elsewhere."""
    grouped: dict[tuple[bool, tuple[tuple[str, str], ...]], _Series] = {}
    for row in series:
        metric = dict(row["metric"])  # type: ignore[call-overload]
        name = str(metric.pop("__name__"))
        is_str = name.startswith("telemetry_str_")
        field = name.removeprefix("telemetry_str_") if is_str else name.removeprefix("telemetry_")
        labels = tuple(sorted((str(k), str(v)) for k, v in metric.items()))
        fields = grouped.setdefault((is_str, labels), {})
        stamps, values = row["timestamps"], row["values"]
        if field in fields:  # the same series in more than one row: one column
            fields[field][0].extend(stamps)  # type: ignore[arg-type]
            fields[field][1].extend(values)  # type: ignore[arg-type]
        else:
            fields[field] = (stamps, values)  # type: ignore[assignment]
    while grouped:  # popped, so each series' columns are freed as its samples are made
        (is_str, labels), fields = grouped.popitem()
        yield from _series_samples(is_str, dict(labels), fields)


def _series_samples(is_str: bool, meta: dict[str, str], fields: _Series) -> Iterator[StoredSample]:
    if not fields.keys() >= _REQUIRED:
        return
    device, tag = meta.get("device", ""), meta.get("tag", "")
    stamps = fields["seq"][0]
    aligned = all(len(ts) == len(stamps) and ts == stamps for ts, _ in fields.values())
    # a store without deduplication keeps a replayed point twice: the join counts it once
    if not aligned or any(b <= a for a, b in pairwise(stamps)):
        yield from _joined_per_point(is_str, meta, fields)
        return
    q, seq, session = fields["q"][1], fields["seq"][1], fields["session"][1]
    text = _label_text(meta) if is_str else None
    numbers = fields.get("value_int") or fields.get("value")
    as_bool = "value_int" in fields
    for i, ts in enumerate(stamps):
        value: Value = text
        if not is_str and numbers is not None:
            value = bool(numbers[1][i]) if as_bool else _typed(numbers[1][i], None, None)
        yield StoredSample(device, tag, int(ts), value, int(q[i]), int(session[i]), int(seq[i]))


def _joined_per_point(is_str: bool, meta: dict[str, str], fields: _Series) -> Iterator[StoredSample]:
    """A series whose fields differ in timestamps (a Bad reading has no value field; a point
    whose last field has not landed yet): joined on the timestamp."""
    points: dict[int, dict[str, float]] = {}
    for field, (stamps, values) in fields.items():
        for ts, v in zip(stamps, values, strict=True):
            points.setdefault(int(ts), {})[field] = float(v)
    for ts, got in sorted(points.items()):
        if not got.keys() >= _REQUIRED:
            continue
        value: Value
        if is_str:
            value = _label_text(meta)
        elif "value_int" in got:
            value = bool(got["value_int"])
        elif "value" in got:
            value = _typed(got["value"], None, None)
        else:
            value = None
        yield StoredSample(
            meta.get("device", ""), meta.get("tag", ""), ts, value,
            int(got["q"]), int(got["session"]), int(got["seq"]),
        )  # fmt: skip


def _label_text(meta: dict[str, str]) -> str | None:
    text = meta.get("value")
    return None if text == "_" else text  # lineprotocol writes "_" for an empty string


# --- InfluxDB 2 -------------------------------------------------------------------------------------


def flux_query(bucket: str, from_ms: int, to_ms: int, site: str | None = None) -> str:
    """Every telemetry point in [from, to), one row per point with its fields as columns."""
    where = "" if site is None else f" and r.site == {json.dumps(site)}"
    return (
        f"from(bucket: {json.dumps(bucket)})\n"
        f"  |> range(start: time(v: {from_ms * 1_000_000}), stop: time(v: {to_ms * 1_000_000}))\n"
        f'  |> filter(fn: (r) => r._measurement == "telemetry"{where})\n'
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        '  |> drop(columns: ["_start", "_stop", "_measurement"])\n'
    )


def read_influx(
    storage: Storage, base: Path, from_ms: int, to_ms: int, site: str | None = None
) -> list[StoredSample]:

    url = _url(storage)
    org, bucket = storage.org or "shopfloor", storage.bucket or "shopfloor"
    payload = {
        "query": flux_query(bucket, from_ms, to_ms, site),
        "type": "flux",
        "dialect": {"annotations": ["datatype", "group", "default"], "header": True},
    }
    headers = {
        "Authorization": f"Token {storage.api_token(base)}",
        "Content-Type": "application/json",
        "Accept": "application/csv",
    }
    target = f"{url}/api/v2/query?{urllib.parse.urlencode({'org': org})}"
    body = _post(target, json.dumps(payload).encode(), headers, f"influxdb {url}")
    return list(parse_flux_csv(body))


def parse_flux_csv(text: str) -> Iterator[StoredSample]:
    """Annotated CSV: tables separated by blank lines, each with #annotations, a header, rows."""
    header: list[str] | None = None
    for row in csv.reader(io.StringIO(text)):
        if not row or not any(row):
            header = None
            continue
        if row[0].startswith("#"):
            header = None  # annotations start a new table; its header follows
            continue
        if header is None:
            header = row
            continue
        cells = dict(zip(header, row, strict=False))
        if cells.get("error"):
            raise StoreUnavailable("influxdb", cells["error"])
        sample = _flux_row(cells)
        if sample is not None:
            yield sample


def _flux_row(cells: dict[str, str]) -> StoredSample | None:
    if not cells.get("_time") or not cells.get("seq") or not cells.get("session"):
        return None
    value: Value = None
    if cells.get("value_int"):
        value = bool(int(cells["value_int"]))
    elif cells.get("value"):
        value = _typed(float(cells["value"]), None, None)
    elif "value_str" in cells and cells["value_str"] != "":
        value = cells["value_str"]
    return StoredSample(
        cells.get("device", ""), cells.get("tag", ""), rfc3339_ms(cells["_time"]), value,
        int(cells.get("q") or 0), int(cells["session"]), int(cells["seq"]),
    )  # fmt: skip


def rfc3339_ms(text: str) -> int:
    """'2026-11-25T08:00:00.123456789Z' → UTC ms (fractions beyond ms are cut, as the store rounds)."""
    head, _, frac = text.rstrip("Z").partition(".")
    whole = datetime.fromisoformat(head + "+00:00")
    millis = int((frac + "000")[:3]) if frac else 0
    return int(whole.timestamp()) * 1000 + millis


# --- HTTP -------------------------------------------------------------------------------------------


def _post(url: str, data: bytes, headers: dict[str, str], store: str) -> str:
    try:
        with _open(url, data, headers, store) as resp:
            return str(resp.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreUnavailable(store, f"cannot query: {exc}") from exc


def _open(url: str, data: bytes, headers: dict[str, str], store: str) -> http.client.HTTPResponse:
    """The response of a POST, to be read by the caller; StoreUnavailable if there is none."""
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        resp: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=TIMEOUT_S)
        return resp
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")[:300]
        raise StoreUnavailable(store, f"HTTP {exc.code}: {detail}") from exc
    except (OSError, ValueError) as exc:
        raise StoreUnavailable(store, f"cannot query: {exc}") from exc
