"""`./scripts/demo` unattended, as a newcomer runs it: real simulators, mosquitto, VictoriaMetrics (or
the SQLite historian where it is not installed), collector and historian as child processes.

It must end with exit 0 and name an evidence pack that verifies, also when interrupted mid-run, and
leave no child process behind.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from collector.cli import main
from collector.evidence.verify.verifier import verify_pack
from tests.support.net import wait_for

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def start_demo(out: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = out.parent / f"{out.name}.out"
    with log.open("wb") as fh:
        proc = subprocess.Popen([str(REPO / "scripts" / "demo"), "--no-view", "--out", str(out), *args],
                                cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)  # fmt: skip
    return proc, log


def pack_of(output: str) -> Path:
    found = re.search(r"^evidence pack: (.+)$", output, re.MULTILINE)
    assert found, output
    return Path(found.group(1).strip())


def sessions_started_in(out: Path) -> list[int]:
    """Leftover processes: every child runs in its own session, so look for the run dir in cmdlines."""
    hits = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(out) in cmdline:
                hits.append(int(entry.name))
    return hits


def accepted(out: Path) -> int:
    path = out / "data" / "outbox" / ("mqtt.sqlite" if (out / "data" / "outbox" / "mqtt.sqlite").exists()
                                      else "store.sqlite")  # fmt: skip
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
    try:
        row = db.execute("SELECT COALESCE(SUM(value), 0) FROM counters WHERE name = 'accepted'").fetchone()
        return int(row[0])
    except sqlite3.Error:
        return 0
    finally:
        db.close()


def test_the_demo_runs_to_the_end_and_prints_a_verified_pack(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc, log = start_demo(out, "--minutes", "0.75")
    try:
        code = proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text(encoding="utf-8")
    assert code == 0, output
    pack = pack_of(output)
    assert pack.is_dir() and pack.with_suffix(".zip").is_file()
    assert verify_pack(pack).ok
    assert "broker outage" in output and "sl-02 stops answering" in output
    assert "设备联网率" in output and "OEE" in output
    assert sessions_started_in(out) == []


def test_an_interrupted_demo_still_ends_with_a_verified_pack(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc, log = start_demo(out, "--minutes", "5")
    try:
        wait_for(lambda: accepted(out) > 500 or proc.poll() is not None, timeout=120, what="collected data")
        assert proc.poll() is None, log.read_text(encoding="utf-8")
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text(encoding="utf-8")
    assert code == 0, output
    assert "SIGINT: stopping cleanly" in output
    assert verify_pack(pack_of(output)).ok
    assert sessions_started_in(out) == []


def test_a_run_directory_holding_an_earlier_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an earlier run's "ready" in its simulators.log would pass the readiness check at once and its
    # emitted plant file name ports nobody listens on: the run would collect nothing and "verify"
    earlier = tmp_path / "run"
    (earlier / "sim").mkdir(parents=True)
    (earlier / "sim" / "simulators.log").write_text("ready\n", encoding="utf-8")
    assert main(["demo", "--out", str(earlier), "--minutes", "1"]) == 2
    assert "is not empty" in capsys.readouterr().out
    assert sorted(p.name for p in earlier.rglob("*")) == ["sim", "simulators.log"]  # nothing started
