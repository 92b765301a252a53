"""Store query-back: the embedded historian file, a recorded InfluxDB annotated CSV, VictoriaMetrics rows.

The SQLite case writes through the real historian sink class; the InfluxDB case parses a recorded
Flux response (no InfluxDB server runs in the tests); VictoriaMetrics is read for real in the
evidence integration and e2e tests (an unreachable one in tests/integration/test_evidence_build.py),
here only its join of export rows is checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.config.sinks import Storage, StoreBackend
from collector.evidence.store_reader import (
    StoredSample,
    StoreUnavailable,
    flux_query,
    join_victoria,
    parse_flux_csv,
    read_samples,
    rfc3339_ms,
)
from collector.sinks.sqlite_store import SqliteStore

pytestmark = pytest.mark.unit

T0 = 1_764_057_600_000  # 2025-11-25T08:00:00Z


def test_sqlite_rows_in_the_window_typed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "h.sqlite")
    site = ("s1", "a1", "l1")
    store.upsert(
        [
            ("m1", "power", T0 - 1, *site, 1.5, None, None, 0, 1, 1, None),  # before the window
            ("m1", "power", T0, *site, 2.5, None, None, 0, 1, 2, T0 - 20),
            ("m1", "run", T0, *site, None, 1, None, 0, 1, 3, None),
            ("m1", "prog", T0 + 5, *site, None, None, "O1234", 0, 1, 4, None),
            ("m1", "power", T0 + 10, *site, None, None, None, 0x800A0000, 1, 5, None),  # Bad, no value
            ("m1", "power", T0 + 1000, *site, 3.0, None, None, 0, 1, 6, None),  # at `to`: excluded
        ]
    )
    store.close()
    storage = Storage(backend=StoreBackend.SQLITE, sqlite_path=Path("h.sqlite"))
    rows = read_samples(storage, tmp_path, T0, T0 + 1000)
    assert rows == [
        StoredSample("m1", "power", T0, 2.5, 0, 1, 2, T0 - 20),
        StoredSample("m1", "run", T0, True, 0, 1, 3, None),
        StoredSample("m1", "prog", T0 + 5, "O1234", 0, 1, 4, None),
        StoredSample("m1", "power", T0 + 10, None, 0x800A0000, 1, 5, None),
    ]
    assert [r.good for r in rows] == [True, True, True, False]


def test_sqlite_missing_file_names_the_store(tmp_path: Path) -> None:
    storage = Storage(backend=StoreBackend.SQLITE, sqlite_path=tmp_path / "none.sqlite")
    with pytest.raises(StoreUnavailable, match=r"none\.sqlite"):
        read_samples(storage, tmp_path, T0, T0 + 1)


# A Flux response recorded from InfluxDB 2.7 for flux_query(): two tables (schemas differ: one has
# value, one value_int), one string table, separated by blank lines, each with its annotations.
FLUX_CSV = """\
#datatype,string,long,string,string,string,string,string,dateTime:RFC3339,long,long,long,double
#group,false,false,true,true,true,true,true,false,false,false,false,false
#default,_result,,,,,,,,,,,
,result,table,area,device,line,site,tag,_time,q,seq,session,value
,,0,a1,m1,l1,s1,power,2025-11-25T08:00:00Z,0,2,1,2.5
,,0,a1,m1,l1,s1,power,2025-11-25T08:00:00.010Z,2148139008,5,1,

#datatype,string,long,string,string,string,string,string,dateTime:RFC3339,long,long,long,long
#group,false,false,true,true,true,true,true,false,false,false,false,false
#default,_result,,,,,,,,,,,
,result,table,area,device,line,site,tag,_time,q,seq,session,value_int
,,1,a1,m1,l1,s1,run,2025-11-25T08:00:00.000123456Z,0,3,1,1

#datatype,string,long,string,string,string,string,string,dateTime:RFC3339,long,long,long,string
#group,false,false,true,true,true,true,true,false,false,false,false,false
#default,_result,,,,,,,,,,,
,result,table,area,device,line,site,tag,_time,q,seq,session,value_str
,,2,a1,m1,l1,s1,prog,2025-11-25T08:00:00.005Z,0,4,1,"O1,234"

"""


def test_flux_annotated_csv_parsed_per_table() -> None:
    rows = sorted(parse_flux_csv(FLUX_CSV), key=lambda r: r.seq)
    assert rows == [
        StoredSample("m1", "power", T0, 2.5, 0, 1, 2),
        StoredSample("m1", "run", T0, True, 0, 1, 3),
        StoredSample("m1", "prog", T0 + 5, "O1,234", 0, 1, 4),
        StoredSample("m1", "power", T0 + 10, None, 0x800A0000, 1, 5),
    ]


def test_flux_error_row_raises() -> None:
    text = "#datatype,string,string\n#group,true,true\n#default,,\n,error,reference\n,bucket not found,\n"
    with pytest.raises(StoreUnavailable, match="bucket not found"):
        list(parse_flux_csv(text))


def test_flux_query_window_in_nanoseconds() -> None:
    query = flux_query("plant", T0, T0 + 1)
    assert f"start: time(v: {T0 * 1_000_000})" in query and 'from(bucket: "plant")' in query
    assert rfc3339_ms("2025-11-25T08:00:00.999999Z") == T0 + 999


def test_victoria_export_rows_joined_on_series_and_time() -> None:
    labels = {"site": "s1", "area": "a1", "line": "l1", "device": "m1", "tag": "power"}
    text_labels = {**labels, "tag": "prog", "value": "O1234"}
    export = [
        {"metric": {"__name__": "telemetry_value", **labels}, "values": [2.5], "timestamps": [T0]},
        {
            "metric": {"__name__": "telemetry_q", **labels},
            "values": [0, 2148139008],
            "timestamps": [T0, T0 + 10],
        },
        {"metric": {"__name__": "telemetry_seq", **labels}, "values": [2, 5], "timestamps": [T0, T0 + 10]},
        {
            "metric": {"__name__": "telemetry_session", **labels},
            "values": [1, 1],
            "timestamps": [T0, T0 + 10],
        },
        {
            "metric": {"__name__": "telemetry_str_present", **text_labels},
            "values": [1],
            "timestamps": [T0 + 5],
        },
        {"metric": {"__name__": "telemetry_str_q", **text_labels}, "values": [0], "timestamps": [T0 + 5]},
        {"metric": {"__name__": "telemetry_str_seq", **text_labels}, "values": [4], "timestamps": [T0 + 5]},
        {
            "metric": {"__name__": "telemetry_str_session", **text_labels},
            "values": [1],
            "timestamps": [T0 + 5],
        },
        # a point whose seq series has not landed yet is not a sample (yet)
        {"metric": {"__name__": "telemetry_q", **labels, "tag": "x"}, "values": [0], "timestamps": [T0]},
    ]
    rows = sorted(join_victoria(json.loads(json.dumps(r)) for r in export), key=lambda r: r.seq)
    assert rows == [
        StoredSample("m1", "power", T0, 2.5, 0, 1, 2),
        StoredSample("m1", "prog", T0 + 5, "O1234", 0, 1, 4),
        StoredSample("m1", "power", T0 + 10, None, 0x800A0000, 1, 5),
    ]


def test_victoria_series_with_aligned_fields_split_rows_and_duplicates() -> None:
    labels = {"site": "s1", "device": "m1", "tag": "run"}

    def row(field: str, values: list[float], stamps: list[int]) -> dict[str, object]:
        metric = {"__name__": f"telemetry_{field}", **labels}
        return {"metric": metric, "values": values, "timestamps": stamps}

    stamps = [T0, T0 + 10, T0 + 20]
    aligned = [row("value_int", [1, 0, 1], stamps), row("q", [0, 0, 0], stamps),
               row("seq", [7, 8, 9], stamps), row("session", [3, 3, 3], stamps)]  # fmt: skip
    runs = [True, False, True]
    expected = [StoredSample("m1", "run", T0 + 10 * i, v, 0, 3, 7 + i) for i, v in enumerate(runs)]
    assert sorted(join_victoria(aligned), key=lambda r: r.seq) == expected
    # one series' field spread over two rows: still one column
    split = [*aligned[:2], row("seq", [7], stamps[:1]), row("seq", [8, 9], stamps[1:]), aligned[3]]
    assert sorted(join_victoria(split), key=lambda r: r.seq) == expected
    # a store without deduplication: a replayed point is there twice, a sample once
    columns = {"value_int": [1, 0, 1], "q": [0, 0, 0], "seq": [7, 8, 9], "session": [3, 3, 3]}
    twice = [row(f, [*v, v[-1]], [*stamps, stamps[-1]]) for f, v in columns.items()]
    assert sorted(join_victoria(twice), key=lambda r: r.seq) == expected


def test_sqlite_reads_only_the_plant_site(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "h.sqlite")
    store.upsert(
        [
            ("m1", "power", T0, "s1", "a1", "l1", 1.0, None, None, 0, 1, 1, None),
            ("m9", "power", T0, "other", "a1", "l1", 9.0, None, None, 0, 1, 1, None),
        ]
    )
    store.close()
    storage = Storage(backend=StoreBackend.SQLITE, sqlite_path=Path("h.sqlite"))
    rows = read_samples(storage, tmp_path, T0, T0 + 1, site="s1")
    assert [r.value for r in rows] == [1.0]
    assert len(read_samples(storage, tmp_path, T0, T0 + 1)) == 2
