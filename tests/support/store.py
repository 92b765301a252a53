"""Reading what landed in VictoriaMetrics back, for delivery and reconciliation tests."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request


def export(url: str, match: str = '{__name__=~"telemetry_seq|telemetry_str_seq"}') -> list[dict[str, object]]:
    urllib.request.urlopen(f"{url}/internal/force_flush", timeout=5).read()
    data = urllib.parse.urlencode({"match[]": match, "start": "0"}).encode()
    with urllib.request.urlopen(f"{url}/api/v1/export", data=data, timeout=10) as resp:
        return [json.loads(row) for row in resp.read().splitlines() if row.strip()]


def seqs_by_device(url: str) -> dict[tuple[str, int], list[int]]:
    """(device, session) -> every stored seq (a reading stored twice shows up twice)."""
    seq_rows = export(url)  # before the sessions: a point visible here is visible there too
    sessions: dict[tuple[object, int], int] = {}
    for row in export(url, '{__name__=~"telemetry_session|telemetry_str_session"}'):
        key = tuple(sorted(row["metric"].items()))[1:]  # type: ignore[attr-defined]
        for ts, v in zip(row["timestamps"], row["values"], strict=True):  # type: ignore[call-overload]
            sessions[(key, ts)] = int(v)
    out: dict[tuple[str, int], list[int]] = {}
    for row in seq_rows:
        m = row["metric"]
        key = tuple(sorted(m.items()))[1:]  # type: ignore[attr-defined]
        for ts, v in zip(row["timestamps"], row["values"], strict=True):  # type: ignore[call-overload]
            out.setdefault((m["device"], sessions[(key, ts)]), []).append(int(v))  # type: ignore[index]
    return {k: sorted(v) for k, v in out.items()}
