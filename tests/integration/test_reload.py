"""`shopfloor reload` signals the collector of this plant and nothing else: a stale pid file (after a
crash or a reboot) may hold a number that now belongs to any process, which SIGHUP would end."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.net import free_port, wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _plant(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plant = folder / "plant.yaml"
    plant.write_text(
        f"version: 1\nsite: {{enterprise: acme, site: s1}}\nweb: {{port: {free_port()}}}\n", encoding="utf-8"
    )
    return plant


def _reload(plant: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector", "reload", "-c", str(plant)],
        capture_output=True, text=True, check=False, cwd=REPO, timeout=60,
    )  # fmt: skip


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A running collector of plant B, started from its own folder with a relative -c."""
    plant = _plant(tmp_path / "b")
    log = (tmp_path / "b.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector", "-v", "run", "-c", "plant.yaml"],
        cwd=plant.parent, stdout=log, stderr=subprocess.STDOUT, env={"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    wait_for(lambda: (plant.parent / "data" / "collector.pid").exists(), 60, "collector B's pid file")
    yield plant, proc
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    log.close()


def _pid_file(plant: Path, pid: int, started: str) -> None:
    """A pid file as a collector of `plant` that started at `started` (clock ticks) wrote it."""
    (plant.parent / "data").mkdir(exist_ok=True)
    (plant.parent / "data" / "collector.pid").write_text(f"{pid}\n{started}\n{plant}\n", encoding="utf-8")


@pytest.mark.parametrize("old_format", [False, True])
def test_a_stale_pid_file_whose_number_was_reused_is_not_signalled(tmp_path: Path, old_format: bool) -> None:
    plant = _plant(tmp_path / "a")
    bystander = subprocess.Popen(["sleep", "600"])
    try:
        _pid_file(plant, bystander.pid, "1")  # the collector that wrote it started right after boot
        if old_format:  # a bare number, as collectors before this check wrote it
            (plant.parent / "data" / "collector.pid").write_text(f"{bystander.pid}\n", encoding="ascii")
        proc = _reload(plant)
        assert proc.returncode == 1 and f"not reloaded: pid {bystander.pid}" in proc.stderr
        assert ("older collector" if old_format else "started after the collector") in proc.stderr
        assert bystander.poll() is None  # SIGHUP would have ended it
    finally:
        bystander.kill()
        bystander.wait()


def test_the_collector_of_another_plant_is_not_signalled_and_its_own_reload_works(
    tmp_path: Path, collector: tuple[Path, subprocess.Popen[bytes]]
) -> None:
    plant_b, proc_b = collector
    plant_a = _plant(tmp_path / "a")
    # B's pid file where A's collector would look: two plant files sharing one data_dir
    (plant_a.parent / "data").mkdir()
    (plant_a.parent / "data" / "collector.pid").write_bytes(
        (plant_b.parent / "data" / "collector.pid").read_bytes()
    )
    refused = _reload(plant_a)
    assert refused.returncode == 1 and "is the collector of another plant file" in refused.stderr
    done = _reload(plant_b)
    assert done.returncode == 0, done.stderr
    assert f"reload requested from collector pid {proc_b.pid}" in done.stdout
    assert proc_b.poll() is None


def test_a_pid_file_of_a_process_that_is_gone_says_so(tmp_path: Path) -> None:
    plant = _plant(tmp_path / "a")
    gone = subprocess.Popen(["true"])
    gone.wait()
    _pid_file(plant, gone.pid, "1")
    proc = _reload(plant)
    assert proc.returncode == 1 and "is not running (a stale pid file" in proc.stderr
