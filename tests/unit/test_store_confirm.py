"""Store confirmation without sockets: the message, the outbox's accounting, the deadlines and the
sink runner that keeps published records until the store confirms them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.config.sinks import ConfirmMode, Mqtt, MqttMode, Storage, StoreBackend, store_confirmed
from collector.delivery import SinkRunner
from collector.outbox import UNCONFIRMED, Entry, Outbox, SeqRun
from collector.sinks.base import DATA, RejectedBatchError, RetryableSinkError
from collector.sinks.confirm import Confirmation, Owed, RunSet, decode, encode
from collector.sinks.unconfirmed import MAX_FACTOR, Deadlines, Unconfirmed
from tests.support.delivery import ScriptedSink, drain

pytestmark = pytest.mark.unit


def entry(device: str, first: int, n: int = 1, session: int = 1, kind: str = DATA) -> Entry:
    return Entry(kind, device, session, first, first + n - 1, n, b"x" * 10)


# -- the message ------------------------------------------------------------------------------


def test_runs_merge_adjacent_messages_whatever_their_order() -> None:
    runs = RunSet()
    for first, last in [(21, 30), (1, 10), (11, 20), (41, 50)]:  # backlog and live interleave
        runs.add("edge-1", "m1", 3, first, last)
    runs.add("edge-1", "m1", 4, 1, 5)
    runs.add("edge-2", "m9", 1, 7, 7)
    assert runs.edges() == ["edge-1", "edge-2"]
    assert runs.runs("edge-1") == [SeqRun("m1", 3, 1, 30), SeqRun("m1", 3, 41, 50), SeqRun("m1", 4, 1, 5)]


def test_a_confirmation_round_trips() -> None:
    stored = [SeqRun("m1", 3, 1, 30), SeqRun("m1", 3, 41, 50), SeqRun("m2", 3, 1, 2)]
    payload = encode("h-1", stored, [(SeqRun("m2", 3, 5, 9), "HTTP 400: bad field")])
    assert len(payload) < 200  # compact: one per store write
    got = decode(payload)
    assert got == Confirmation("h-1", tuple(stored), ((SeqRun("m2", 3, 5, 9), "HTTP 400: bad field"),))


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[]", b'{"v":2,"stored":[]}', b'{"v":1,"stored":[["m1",1]]}', b'{"v":1,"stored":7}'],
)
def test_anything_else_is_not_a_confirmation(payload: bytes) -> None:
    with pytest.raises(ValueError):
        decode(payload)


def test_a_historian_gathers_what_it_owes_per_edge() -> None:
    owed = Owed(every=0.5)
    assert owed.wait(0.0) is None
    owed.add("edge-1", SeqRun("m1", 1, 1, 10), "", now=10.0)
    owed.add("edge-1", SeqRun("m1", 1, 11, 20), "", now=10.3)
    owed.add("edge-2", SeqRun("m9", 2, 5, 5), "HTTP 400: bad", now=10.4)
    assert owed.wait(10.2) == pytest.approx(0.3) and owed.wait(11.0) == 0.0  # from the oldest
    sent = {edge: decode(payload) for edge, payload in owed.payloads("h-1")}
    assert sent == {
        "edge-1": Confirmation("h-1", (SeqRun("m1", 1, 1, 20),)),
        "edge-2": Confirmation("h-1", (), ((SeqRun("m9", 2, 5, 5), "HTTP 400: bad"),)),
    }
    assert owed.wait(11.0) is None and owed.payloads("h-1") == []


# -- the outbox -------------------------------------------------------------------------------


def test_published_records_stay_and_count_acked_then_resent(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", confirmable=True)
    box.append([entry("a", 1, 3), entry("a", 4, 2)])
    records = box.fetch(0, 10)
    assert box.published(records, hist=True) == 0
    assert box.depth == 2 and [r.sent for r in box.fetch(0, 10)] == [1, 1]
    assert box.published(records[:1], hist=True) == 3  # sent again: counted as resent, not acked
    c = box.counters()
    assert (c[("a", "acked")], c[("a", "replayed")], c[("a", "resent")]) == (5, 5, 3)
    assert ("a", "confirmed") not in c


def test_a_confirmation_removes_only_the_records_it_covers(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", confirmable=True)
    box.append([entry("a", 1, 3), entry("a", 4, 3), entry("a", 7, 3), entry("b", 1, 3)])
    box.append([entry("a", 1, 3, session=2), entry("a", 1, 1, kind="state")])
    box.published(box.fetch(0, 10), hist=False)
    gone = box.confirm([SeqRun("a", 1, 1, 8)])  # [7, 9] is only partly covered: it stays
    assert [(r.seq_first, r.seq_last) for r in gone] == [(1, 3), (4, 6)]
    left = [(r.device, r.session, r.kind, r.seq_first) for r in box.fetch(0, 10)]
    assert left == [("a", 1, DATA, 7), ("b", 1, DATA, 1), ("a", 2, DATA, 1), ("a", 1, "state", 1)]
    assert box.counters()[("a", "confirmed")] == 6
    assert box.confirm([SeqRun("a", 1, 1, 8)]) == []  # a duplicate confirmation changes nothing
    assert box.counters()[("a", "confirmed")] == 6


def test_a_confirmation_that_overtakes_the_puback_counts_both(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", confirmable=True)
    box.append([entry("a", 1, 2)])
    in_flight = box.fetch(0, 10)
    box.confirm([SeqRun("a", 1, 1, 2)])  # the historian was quicker than our PUBACK handling
    box.published(in_flight, hist=False)
    c = box.counters()
    assert (c[("a", "acked")], c[("a", "confirmed")]) == (2, 2) and ("a", "resent") not in c


def test_a_store_sink_ack_is_a_confirmation(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.append([entry("a", 1, 2)])
    box.ack(box.fetch(0, 10), hist=False, stored=True)
    c = box.counters()
    assert (c[("a", "acked")], c[("a", "confirmed")]) == (2, 2)


def test_a_bound_says_when_it_drops_what_the_store_may_hold(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_bytes=3 * 74, confirmable=True)
    forgotten: list[int] = []
    box.on_drop = forgotten.extend
    box.append([entry("a", 1), entry("a", 2)])
    box.published(box.fetch(0, 1), hist=False)  # seq 1 went out, seq 2 did not
    box.append([entry("a", 3), entry("a", 4)])
    reasons = {(d.reason, d.seq_first) for d in box.drops()}
    assert reasons == {("max_bytes" + UNCONFIRMED, 1)}
    box.append([entry("a", 5)])
    assert {(d.reason, d.seq_first) for d in box.drops()} == reasons | {("max_bytes", 2)}
    assert forgotten == [1, 2]
    assert box.counters()[("a", "dropped")] == 2


def test_an_outbox_written_before_confirmation_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE records(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, device TEXT NOT NULL,"
        " session INTEGER NOT NULL, seq_first INTEGER NOT NULL, seq_last INTEGER NOT NULL,"
        " count INTEGER NOT NULL, created_ms INTEGER NOT NULL, size INTEGER NOT NULL, body BLOB NOT NULL);"
        "INSERT INTO records(kind, device, session, seq_first, seq_last, count, created_ms, size, body)"
        " VALUES ('data', 'a', 1, 1, 2, 2, 0, 66, x'00');"
    )
    db.commit()
    db.close()
    box = Outbox(path, confirmable=True)
    (record,) = box.fetch(0, 10)
    assert record.sent == 0
    assert box.confirm([SeqRun("a", 1, 1, 2)]) == [record]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.sampled_from("pcn")), min_size=1, max_size=40))
def test_every_point_is_confirmed_dropped_or_pending(
    tmp_path_factory: object, ops: list[tuple[int, str]]
) -> None:
    """accepted == confirmed + dropped + pending, whatever the order of PUBACKs, confirmations and drops;
    acked never exceeds accepted."""
    path = tmp_path_factory.mktemp("ob") / "o.sqlite"  # type: ignore[attr-defined]
    box = Outbox(path, max_bytes=700, confirmable=True)
    seq = 1
    for n, op in ops:
        box.append([entry("a", seq, n)])
        seq += n
        oldest = box.fetch(0, 2)
        if op == "p":
            box.published(oldest, hist=False)
        elif op == "c" and oldest:
            box.confirm([SeqRun("a", 1, oldest[0].seq_first, oldest[-1].seq_last)])
    c = box.counters()
    pending = box.pending_by_device().get("a", 0)
    assert c[("a", "accepted")] == seq - 1
    assert c.get(("a", "confirmed"), 0) + c.get(("a", "dropped"), 0) + pending == seq - 1
    assert c.get(("a", "acked"), 0) <= seq - 1


# -- deadlines --------------------------------------------------------------------------------


def test_deadlines_double_up_to_a_bound() -> None:
    d = Deadlines(timeout=10.0)
    d.sent([1, 2], now=0.0)
    assert d.due(9.9, 10) == [] and not d.overdue(9.9)
    assert d.overdue(10.0) and d.due(10.0, 1) == [1] and d.due(10.0, 10) == [2]
    waits = []
    at = 10.0
    for _ in range(6):
        d.sent([1], now=at)
        nxt = at
        while not d.due(nxt, 10):
            nxt += 1.0
        waits.append(nxt - at)
        at = nxt
    assert waits == [20.0, 40.0, 80.0, 80.0, 80.0, 80.0] and MAX_FACTOR == 8


def test_hold_and_forget() -> None:
    d = Deadlines(timeout=1.0)
    d.sent([1, 2, 3], now=0.0)
    d.hold()
    assert d.due(1e9, 10) == [] and len(d) == 3
    d.sent([2], now=0.0)  # sent again by the replay: due again
    d.forget([3])
    assert d.due(5.0, 10) == [2] and 3 not in d and 1 in d


def test_a_stopping_collector_brings_deadlines_forward_never_back() -> None:
    d = Deadlines(timeout=30.0)
    d.sent([1], now=0.0)
    d.sent([2], now=0.0)
    d.sent([2], now=0.0)  # its second send: due at 60
    d.expedite(5.0)
    assert d.due(4.9, 10) == [] and sorted(d.due(5.0, 10)) == [1, 2]
    d.sent([3], now=10.0)
    d.expedite(50.0)  # later than its deadline: unchanged
    assert d.due(39.9, 10) == [] and d.due(40.0, 10) == [3]


# -- the runner -------------------------------------------------------------------------------


def runner_with(tmp_path: Path, timeout: float = 60.0, window: int = 100) -> tuple[SinkRunner, ScriptedSink]:
    box = Outbox(tmp_path / "mqtt.sqlite", confirmable=True)
    sink = ScriptedSink()
    return SinkRunner(sink, box, batch_records=2, awaiting=Unconfirmed(box, timeout, window)), sink


def confirm(runner: SinkRunner, first: int, last: int, device: str = "d") -> None:
    runner.confirmed(Confirmation("h", (SeqRun(device, 1, first, last),)))


async def test_a_record_leaves_only_when_the_store_confirms(tmp_path: Path) -> None:
    runner, sink = runner_with(tmp_path)
    runner.outbox.append([entry("d", s) for s in range(1, 6)])
    await drain(runner)
    assert [seqs for seqs, _ in sink.batches] == [[1, 2], [3, 4], [5]]
    assert runner.outbox.depth == 5 and runner.metrics().unconfirmed == 5
    confirm(runner, 1, 4)
    assert not await runner.step()  # applies the confirmation; nothing is due
    assert [r.seq_first for r in runner.outbox.fetch(0, 10)] == [5]
    assert runner.metrics().unconfirmed == 1
    c = runner.outbox.counters()
    assert (c[("d", "acked")], c[("d", "confirmed")]) == (5, 4)


async def test_state_and_event_records_leave_at_the_puback(tmp_path: Path) -> None:
    """Historians store telemetry only: waiting for a confirmation of a state record would keep it
    (and send it again) forever."""
    runner, sink = runner_with(tmp_path, window=1)
    runner.outbox.append([entry("d", 1, kind="state"), entry("d", 1), entry("d", 2, kind="event/counter")])
    await drain(runner)
    assert [seqs for seqs, _ in sink.batches] == [[1, 1], [2]]  # the state took no room in the window
    assert [(r.kind, r.seq_first) for r in runner.outbox.fetch(0, 10)] == [(DATA, 1)]
    assert runner.metrics().unconfirmed == 1


async def test_the_window_holds_the_backlog_in_the_outbox(tmp_path: Path) -> None:
    runner, sink = runner_with(tmp_path, window=3)
    runner.outbox.append([entry("d", s) for s in range(1, 9)])
    await drain(runner)
    assert [s for seqs, _ in sink.batches for s in seqs] == [1, 2, 3]
    confirm(runner, 1, 2)
    await drain(runner)
    assert [s for seqs, _ in sink.batches for s in seqs] == [1, 2, 3, 4, 5]


async def test_unconfirmed_past_the_deadline_is_sent_again_as_hist(tmp_path: Path) -> None:
    runner, sink = runner_with(tmp_path, timeout=1e-6)  # due as soon as it was sent
    runner.outbox.append([entry("d", 1), entry("d", 2)])
    assert await runner.step()
    assert await runner.step()  # the same records again: the broker or a historian lost them
    assert sink.batches == [([1, 2], False), ([1, 2], True)]  # live, then again as hist
    confirm(runner, 1, 2)
    await runner.step()
    assert runner.outbox.depth == 0
    c = runner.outbox.counters()
    assert (c[("d", "acked")], c[("d", "resent")], c[("d", "confirmed")]) == (2, 2, 2)


async def test_a_lost_connection_replays_what_the_broker_took_but_nobody_confirmed(tmp_path: Path) -> None:
    runner, sink = runner_with(tmp_path)
    runner.outbox.append([entry("d", 1), entry("d", 2)])
    await drain(runner)
    sink.batches.clear()
    runner.outbox.append([entry("d", 3), entry("d", 4), entry("d", 5)])
    sink.script = [RetryableSinkError("mqtt connection lost", retry_after=0.0)]
    await drain(runner)
    # the crashed broker's [1, 2] come first, once each; nothing is sent twice
    assert sink.batches == [([1, 2], True), ([3, 4], True), ([5], True)]


async def test_a_rejected_confirmation_drops_with_the_stores_reason(tmp_path: Path) -> None:
    runner, _sink = runner_with(tmp_path)
    runner.outbox.append([entry("d", 1), entry("d", 2)])
    await drain(runner)
    runner.confirmed(Confirmation("h", (), ((SeqRun("d", 1, 1, 2), "HTTP 400: bad field"),)))
    await runner.step()
    assert runner.outbox.depth == 0 and len(runner.awaiting or ()) == 0
    (drop,) = runner.outbox.drops()
    assert drop.reason == "rejected: HTTP 400: bad field" and drop.points == 2


async def test_a_broker_refusal_forgets_the_record(tmp_path: Path) -> None:
    runner, sink = runner_with(tmp_path)
    runner.outbox.append([entry("d", 1), entry("d", 2)])
    first_id = runner.outbox.fetch(0, 1)[0].id
    sink.script = [RejectedBatchError("broker refused: quota", (first_id,))]
    await drain(runner)
    assert [r.seq_first for r in runner.outbox.fetch(0, 10)] == [2]
    assert runner.metrics().unconfirmed == 1


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "backend", "direct", "confirm", "expected"),
    [
        (MqttMode.UNS, StoreBackend.VICTORIAMETRICS, False, ConfirmMode.AUTO, True),
        (MqttMode.UNS, StoreBackend.INFLUXDB, False, ConfirmMode.AUTO, True),
        (
            MqttMode.UNS,
            StoreBackend.VICTORIAMETRICS,
            True,
            ConfirmMode.AUTO,
            False,
        ),  # the store sink confirms
        (MqttMode.UNS, StoreBackend.SQLITE, False, ConfirmMode.AUTO, False),  # no historian behind MQTT
        (MqttMode.SPARKPLUG, StoreBackend.VICTORIAMETRICS, False, ConfirmMode.AUTO, False),
        (MqttMode.UNS, StoreBackend.VICTORIAMETRICS, False, ConfirmMode.BROKER, False),
        (MqttMode.UNS, StoreBackend.SQLITE, False, ConfirmMode.STORE, True),
    ],
)
def test_store_confirmation_is_the_default_where_a_historian_fills_the_store(
    mode: MqttMode, backend: StoreBackend, direct: bool, confirm: ConfirmMode, expected: bool
) -> None:
    mqtt = Mqtt(mode=mode, confirm={"mode": confirm})  # type: ignore[arg-type]
    storage = Storage(backend=backend, url="http://127.0.0.1:8428", direct=direct)
    assert store_confirmed(mqtt, storage) is expected


def test_failover_nodes_and_what_is_refused() -> None:
    mqtt = Mqtt(host="10.0.0.1", failover=["10.0.0.2:1883", "[fd00::3]:1884"])
    assert mqtt.addresses() == [("10.0.0.1", 1883), ("10.0.0.2", 1883), ("fd00::3", 1884)]
    for bad in (["10.0.0.2"], ["10.0.0.2:0"], ["10.0.0.2:65536"], ["a b:1"]):
        with pytest.raises(ValueError, match="host:port"):
            Mqtt(failover=bad)
    with pytest.raises(ValueError, match="needs mode 'uns'"):
        Mqtt(mode=MqttMode.SPARKPLUG, confirm={"mode": ConfirmMode.STORE})  # type: ignore[arg-type]
