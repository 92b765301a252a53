"""A Sparkplug host built on pysparkplug, for the Sparkplug sink's conformance test.

Runs in its own environment (pysparkplug 0.6.1 needs paho-mqtt < 2, the collector 2.x), created by
scripts/setup: tests/interop/.venv-pysparkplug/bin/python pysparkplug_host.py < in.jsonl > out.jsonl

Input: one JSON object per line, {"topic": "...", "payload": "<base64>"}. Output: one line per input
line: {"topic", "type", "decoded": {...}} or {"topic", "error": "..."}. Data messages are decoded
with the device's (or node's) latest birth, as pysparkplug's Payload.decode(raw, birth=...) allows:
that is where a host gets the names and datatypes a data message leaves out. Imports nothing of the
collector, on purpose.
"""

from __future__ import annotations

import base64
import datetime
import json
import sys
from typing import Any

import pysparkplug as sp

PAYLOADS = {
    "NBIRTH": sp.NBirth, "DBIRTH": sp.DBirth, "NDATA": sp.NData, "DDATA": sp.DData,
    "NDEATH": sp.NDeath, "DDEATH": sp.DDeath,
}  # fmt: skip


def plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def metric(m: sp.Metric) -> dict[str, Any]:
    return {
        "name": m.name, "alias": m.alias, "timestamp": m.timestamp, "datatype": int(m.datatype),
        "value": plain(m.value), "is_null": m.is_null, "is_historical": m.is_historical,
    }  # fmt: skip


def main() -> None:
    births: dict[str, Any] = {}  # topic without the message type → latest birth payload
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        topic, raw = msg["topic"], base64.b64decode(msg["payload"])
        parts = topic.split("/")
        kind, key = parts[2], "/".join(parts[:2] + parts[3:])
        try:
            payload = PAYLOADS[kind].decode(raw, birth=births.get(key))
            if kind in ("NBIRTH", "DBIRTH"):
                births[key] = payload
            out: dict[str, Any] = {"timestamp": getattr(payload, "timestamp", None)}
            if hasattr(payload, "seq"):
                out["seq"] = payload.seq
            if hasattr(payload, "metrics"):
                out["metrics"] = [metric(m) for m in payload.metrics]
            if kind == "NDEATH":
                out["metrics"] = [metric(payload.bd_seq_metric)]
            print(json.dumps({"topic": topic, "type": kind, "decoded": out}), flush=True)
        except Exception as exc:  # report any decoder failure per message; the test decides
            error = f"{type(exc).__name__}: {exc}"
            print(json.dumps({"topic": topic, "type": kind, "error": error}), flush=True)


if __name__ == "__main__":
    main()
