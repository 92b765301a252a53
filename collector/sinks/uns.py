"""Unified-namespace topics and JSON payloads (docs/STANDARDS.md §5.1–§5.3).

    {root}/v1/{enterprise}/{site}/{area}/{line}/{device}/{suffix}    data, state, meta, event/…, kpi/…
    {root}/v1/{enterprise}/{site}/_edge/{edge_id}/status              birth / Last Will, retained
    {root}/v1/{enterprise}/{site}/_edge/{edge_id}/confirm             historians' store confirmations

A missing area or line is `_`. Outbox record kinds map to a topic suffix and a retain flag in
`KINDS`; a kind other than "data" carries its finished JSON object in the record body and only gets
`hist` set here, so adding a record kind means adding a row to `KINDS`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from collector.config.plant import Device, PlantConfig
from collector.outbox import OutboxRecord
from collector.sinks.base import DATA, decode_points

PAYLOAD_VERSION = 1
MISSING = "_"


@dataclass(frozen=True, slots=True)
class KindSpec:
    retain: bool


# kind prefix (before any "/") -> how it is published; the suffix is the kind itself
KINDS: dict[str, KindSpec] = {
    DATA: KindSpec(retain=False),
    "state": KindSpec(retain=True),
    "meta": KindSpec(retain=True),
    "event": KindSpec(retain=False),
    "kpi": KindSpec(retain=False),
}


def kind_spec(kind: str) -> KindSpec | None:
    return KINDS.get(kind.split("/", 1)[0])


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Topics:
    """Topic names of one plant; device placement (area, line) comes from the plant config."""

    def __init__(
        self, root: str, enterprise: str, site: str, edge_id: str, places: dict[str, tuple[str, str]]
    ):
        self.base = f"{root}/v1/{enterprise}/{site}"
        self.edge_id = edge_id
        self.places = places

    @classmethod
    def of(cls, plant: PlantConfig) -> Topics:
        places = {d.id: (d.area or MISSING, d.line or MISSING) for d in plant.devices}
        s = plant.site
        return cls(plant.mqtt.root, s.enterprise, s.site, s.edge_id, places)

    def device(self, device: str, suffix: str) -> str:
        area, line = self.places.get(device, (MISSING, MISSING))
        return f"{self.base}/{area}/{line}/{device}/{suffix}"

    def status(self) -> str:
        return f"{self.base}/_edge/{self.edge_id}/status"

    def confirm(self, edge_id: str | None = None) -> str:
        """Where historians confirm what the store holds, for this edge or `edge_id`'s (sinks/confirm.py)."""
        return f"{self.base}/_edge/{edge_id or self.edge_id}/confirm"

    def all_data(self) -> str:
        """The wildcard filter a historian subscribes to."""
        return f"{self.base}/+/+/+/{DATA}"


def telemetry_payload(record: OutboxRecord, hist: bool, edge: str | None = None) -> bytes:
    """`edge` asks a historian to confirm the points to that edge once the store holds them
    (sinks/confirm.py); without it no confirmation is sent."""
    decoded = decode_points(record.body)
    points = [
        {"k": p.tag, "v": p.value, "u": p.unit, "st": p.source_ts, "q": p.status, "seq": p.seq}
        for p in decoded
    ]
    ts = max((p.collected_ts for p in decoded), default=record.created_ms)
    body = {"v": PAYLOAD_VERSION, "device": record.device, "session": record.session, "seq": record.seq_first,
            "ts": ts, "hist": hist}  # fmt: skip
    if edge is not None:
        body["edge"] = edge
    body["points"] = points
    return _dumps(body)


def render(
    topics: Topics, record: OutboxRecord, hist: bool, confirm: bool = False
) -> tuple[str, bytes, bool] | None:
    """(topic, payload, retain) of a record, or None for a kind this namespace has no topic for.
    `confirm`: telemetry asks historians for a store confirmation (carries this edge's id)."""
    spec = kind_spec(record.kind)
    if spec is None:
        return None
    if record.kind == DATA:
        payload = telemetry_payload(record, hist, topics.edge_id if confirm else None)
    else:
        obj = json.loads(record.body)
        obj["hist"] = hist
        payload = _dumps(obj)
    return topics.device(record.device, record.kind), payload, spec.retain


def birth_payload(session: int, ts: int, sw: str) -> bytes:
    return _dumps({"online": True, "ts": ts, "session": session, "sw": sw})


def will_payload(session: int) -> bytes:
    return _dumps({"online": False, "session": session})


def meta_payload(device: Device, ts: int) -> bytes:
    """Retained description of a device: names (Chinese ones too), placement and its tag list."""
    tags: Iterable[Any] = getattr(device, "tags", ())
    return _dumps(
        {"v": PAYLOAD_VERSION, "device": device.id, "name": device.name, "name_zh": device.name_zh,
         "protocol": device.protocol, "area": device.area, "line": device.line, "ts": ts,
         "tags": [_tag_meta(t) for t in tags]}
    )  # fmt: skip


def _tag_meta(tag: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"name": tag.name, "name_zh": tag.name_zh, "unit": tag.unit}
    kind = getattr(tag, "type", None)
    if kind is not None:
        info["type"] = str(kind)
    link = getattr(tag, "business_link", None)
    if link is not None:
        info["business_link"] = str(link)
    return info


def decode_telemetry(payload: bytes) -> dict[str, Any]:
    """Parse and minimally check a telemetry payload (the historian's input)."""
    obj = json.loads(payload)
    if (
        not isinstance(obj, dict)
        or obj.get("v") != PAYLOAD_VERSION
        or not isinstance(obj.get("points"), list)
    ):
        raise ValueError("not a v1 telemetry payload")
    return obj


def device_place(topic: str) -> tuple[str, str, str]:
    """(area, line, device) from a data topic."""
    parts: Sequence[str] = topic.split("/")
    return parts[-4], parts[-3], parts[-2]
