"""Store confirmations: what a historian publishes once the store holds readings, so the collector
can let them leave its outbox (docs/DELIVERY.md, "Store confirmation").

    topic    {root}/v1/{enterprise}/{site}/_edge/{edge_id}/confirm          (uns.Topics.confirm)
    payload  {"v":1,"by":"<historian client id>",
              "stored":[[device, session, [[first, last], ...]], ...],
              "rejected":[[device, session, [[first, last], ...], reason], ...]}

`first..last` are reading seqs; a run covers whole telemetry messages (a historian stores a message
entirely or not at all), merged with their neighbours. A historian gathers what it stored over
`EVERY` seconds (`Owed`) and sends one confirmation per edge then, so a slow plant whose every
message is its own store write does not get a confirmation per message. `rejected` names readings
the store refused for good (e.g. HTTP 400): the collector drops them with the reason instead of
sending them forever.

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
EVERY = 0.5  # seconds a historian gathers confirmations for: a few a second at most, per edge


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


class Owed:
    """The confirmations a historian owes, per edge, gathered until `EVERY` seconds passed since the
    oldest; kept across reconnects (what was stored while the connection was down is owed too)."""

    def __init__(self, every: float = EVERY) -> None:
        self.every = every
        self._stored = RunSet()
        self._rejected: dict[str, list[tuple[SeqRun, str]]] = defaultdict(list)
        self._since: float | None = None  # when the oldest owed confirmation arose (monotonic)

    def add(self, edge: str, run: SeqRun, refused: str, now: float) -> None:
        """A message's readings are in the store (`refused` empty), or were refused for good."""
        if refused:
            self._rejected[edge].append((run, refused))
        else:
            self._stored.add(edge, *run)
        if self._since is None:
            self._since = now

    def wait(self, now: float) -> float | None:
        """Seconds until the owed confirmations are due; None when nothing is owed."""
        return None if self._since is None else max(0.0, self._since + self.every - now)

    def payloads(self, by: str) -> list[tuple[str, bytes]]:
        """(edge, confirmation) for every edge owed one; afterwards nothing is owed."""
        edges = sorted(set(self._stored.edges()) | set(self._rejected))
        out = [(edge, encode(by, self._stored.runs(edge), self._rejected.get(edge, []))) for edge in edges]
        self._stored, self._rejected, self._since = RunSet(), defaultdict(list), None
        return out
