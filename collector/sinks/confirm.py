"""Store confirmations: what a historian publishes once the store holds readings, so the collector
can let them leave its outbox (docs/DELIVERY.md, "Store confirmation").

    topic    {root}/v1/{enterprise}/{site}/_edge/{edge_id}/confirm          (uns.Topics.confirm)
    payload  {"v":1,"by":"<historian client id>",
              "stored":[[device, session, [[first, last], ...]], ...],
              "rejected":[[device, session, [[first, last], ...], reason], ...]}

`first..last` are reading seqs; a run covers whole telemetry messages (a historian stores a message
entirely or not at all), merged with their neighbours, so one confirmation per store write stays
small. `rejected` names readings the store refused for good (e.g. HTTP 400): the collector drops
them with the reason instead of sending them forever.

The edge a confirmation goes to is the `edge` field of the telemetry payload; a payload without it
(an older collector, another publisher) is stored and never confirmed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from collector.outbox import SeqRun

VERSION = 1


@dataclass(frozen=True, slots=True)
class Confirmation:
    by: str
    stored: tuple[SeqRun, ...]
    rejected: tuple[tuple[SeqRun, str], ...] = ()


class RunSet:
    """Seq runs collected over one store write, per edge; `runs(edge)` merges adjacent ones."""

    def __init__(self) -> None:
        self._by_edge: dict[str, dict[tuple[str, int], list[tuple[int, int]]]] = defaultdict(
            lambda: defaultdict(list)
        )

    def add(self, edge: str, device: str, session: int, first: int, last: int) -> None:
        self._by_edge[edge][(device, session)].append((first, last))

    def edges(self) -> list[str]:
        return sorted(self._by_edge)

    def runs(self, edge: str) -> list[SeqRun]:
        out: list[SeqRun] = []
        for (device, session), spans in sorted(self._by_edge.get(edge, {}).items()):
            merged: list[list[int]] = []
            for first, last in sorted(spans):
                if merged and first <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], last)
                else:
                    merged.append([first, last])
            out += [SeqRun(device, session, a, b) for a, b in merged]
        return out

    def __bool__(self) -> bool:
        return bool(self._by_edge)


def _grouped(runs: Iterable[SeqRun]) -> list[tuple[str, int, list[list[int]]]]:
    groups: dict[tuple[str, int], list[list[int]]] = defaultdict(list)
    for run in runs:
        groups[(run.device, run.session)].append([run.first, run.last])
    return [(device, session, spans) for (device, session), spans in groups.items()]


def encode(by: str, stored: Iterable[SeqRun], rejected: Iterable[tuple[SeqRun, str]] = ()) -> bytes:
    body: dict[str, Any] = {"v": VERSION, "by": by, "stored": _grouped(stored)}
    refused = [[run.device, run.session, [[run.first, run.last]], reason] for run, reason in rejected]
    if refused:
        body["rejected"] = refused
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def decode(payload: bytes) -> Confirmation:
    """Parse a confirmation; ValueError for anything else (the collector ignores it and counts it)."""
    try:
        obj = json.loads(payload)
        if not isinstance(obj, dict) or obj.get("v") != VERSION:
            raise ValueError("not a v1 store confirmation")
        stored = tuple(
            SeqRun(str(device), int(session), int(a), int(b))
            for device, session, spans in obj.get("stored", [])
            for a, b in spans
        )
        rejected = tuple(
            (SeqRun(str(device), int(session), int(a), int(b)), str(reason))
            for device, session, spans, reason in obj.get("rejected", [])
            for a, b in spans
        )
    except (TypeError, KeyError) as exc:
        raise ValueError(f"malformed store confirmation: {exc}") from exc
    return Confirmation(str(obj.get("by", "")), stored, rejected)
