"""Sparkplug hosts the project did not write, run as child processes over captured messages.

`tahu(messages)` runs tests/interop/sparkplug_host.js (Eclipse Tahu's sparkplug-payload 1.0.3 for
node) and `pysparkplug(messages)` tests/interop/pysparkplug_host.py (pysparkplug 0.6.1 in its own
venv); both are installed by scripts/setup. Each returns one `Decoded` per message, in a common shape,
so a test can hold both to the same checks. With CI=true a missing interpreter fails the test,
otherwise it skips (tests/support/net.py `require_binary`).
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.net import require_binary

INTEROP = Path(__file__).resolve().parents[1] / "interop"
PYSPARKPLUG_PYTHON = INTEROP / ".venv-pysparkplug" / "bin" / "python"

Message = tuple[str, bytes]  # (topic, payload) as the broker delivered it


@dataclass
class Metric:
    name: str | None  # in births; data messages carry only the alias
    alias: int | None
    value: Any
    timestamp: int | None
    historical: bool
    datatype: str | int | None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class Decoded:
    topic: str
    kind: str
    device: str
    seq: int | None
    metrics: list[Metric]
    error: str | None = None


def tahu(messages: Sequence[Message]) -> list[Decoded]:
    node = require_binary("node", "/usr/bin/node")
    require_binary("sparkplug-payload", str(INTEROP / "node_modules" / "sparkplug-payload"))  # a folder
    return [_from_tahu(line) for line in _run([node, str(INTEROP / "sparkplug_host.js")], messages)]


def pysparkplug(messages: Sequence[Message]) -> list[Decoded]:
    python = require_binary("pysparkplug", str(PYSPARKPLUG_PYTHON))
    return [
        _from_pysparkplug(line) for line in _run([python, str(INTEROP / "pysparkplug_host.py")], messages)
    ]


def _run(cmd: list[str], messages: Sequence[Message]) -> list[dict[str, Any]]:
    lines = "".join(
        json.dumps({"topic": topic, "payload": base64.b64encode(payload).decode()}) + "\n"
        for topic, payload in messages
    )
    done = subprocess.run(cmd, input=lines, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{cmd[-1]} failed: {done.stderr[-2000:]}"
    out = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(out) == len(messages), f"{cmd[-1]} answered {len(out)} of {len(messages)} messages"
    return out


def _decoded(line: dict[str, Any], seq: Any, metrics: list[Metric]) -> Decoded:
    parts = line["topic"].split("/")
    device = parts[4] if len(parts) > 4 else ""
    return Decoded(line["topic"], parts[2], device, seq, metrics, line.get("error"))


def _number(value: Any) -> Any:
    """Tahu's longs arrive as {"long": "<decimal>"}: back to an int, nothing rounded."""
    if isinstance(value, dict) and set(value) == {"long"}:
        return int(value["long"])
    return value


def _from_tahu(line: dict[str, Any]) -> Decoded:
    payload = line.get("decoded", {})
    metrics = [
        Metric(
            m.get("name"), _number(m.get("alias")), _number(m.get("value")), _number(m.get("timestamp")),
            bool(m.get("isHistorical")), m.get("type"),
            {k: _number(v.get("value")) for k, v in (m.get("properties") or {}).items()},
        )
        for m in payload.get("metrics", [])
    ]  # fmt: skip
    return _decoded(line, _number(payload.get("seq")), metrics)


def _from_pysparkplug(line: dict[str, Any]) -> Decoded:
    payload = line.get("decoded", {})
    metrics = [
        Metric(m["name"], m["alias"], None if m["is_null"] else m["value"], m["timestamp"],
               m["is_historical"], m["datatype"])
        for m in payload.get("metrics", [])
    ]  # fmt: skip
    return _decoded(line, payload.get("seq"), metrics)
