"""The memory check before a pack is built: the kernel's MemAvailable against the store's count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector import ledger
from collector.evidence import budget, window

pytestmark = pytest.mark.unit

GIB = 1 << 30
DAY = 86_400_000


def fake_proc(tmp: Path, available_kb: int | None, cgroup: str) -> Path:
    proc = tmp / "proc"
    (proc / "self").mkdir(parents=True)
    mem = "MemTotal:       24576000 kB\nMemFree:  100 kB\n"
    if available_kb is not None:
        mem += f"MemAvailable:   {available_kb} kB\n"
    (proc / "meminfo").write_text(mem)
    (proc / "self" / "cgroup").write_text(cgroup)
    return proc


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_mem_available_without_a_cgroup_limit(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    write(root / "system.slice" / "x.service" / "memory.max", "max\n")
    write(root / "system.slice" / "x.service" / "memory.current", "1000\n")
    proc = fake_proc(tmp_path, 20480000, "0::/system.slice/x.service\n")
    assert budget.available_bytes(proc, root) == 20480000 * 1024
    assert budget.available_bytes(fake_proc(tmp_path / "b", None, "0::/\n"), root) is None  # nothing said
    assert budget.available_bytes(tmp_path / "absent", root) is None
    assert budget.available_bytes() is not None  # this machine is Linux


def test_a_cgroup_limit_below_mem_available_wins(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    service = root / "system.slice" / "shopfloor-collector.service"
    write(service / "memory.max", f"{2 * GIB}\n")  # MemoryMax=2G
    write(service / "memory.current", f"{GIB // 2}\n")
    proc = fake_proc(tmp_path, 20480000, "0::/system.slice/shopfloor-collector.service\n")
    assert budget.available_bytes(proc, root) == 2 * GIB - GIB // 2
    # cgroup v1, as a container sees it: its own cgroup mounted as the memory root
    v1 = tmp_path / "v1"
    write(v1 / "memory" / "memory.limit_in_bytes", f"{GIB}\n")
    write(v1 / "memory" / "memory.usage_in_bytes", f"{GIB // 4}\n")
    proc1 = fake_proc(tmp_path / "c", 20480000, "5:devices:/\n4:memory:/docker/abc\n0::/\n")
    assert budget.available_bytes(proc1, v1) == GIB - GIB // 4
    write(v1 / "memory" / "memory.limit_in_bytes", "9223372036854771712\n")  # unlimited
    assert budget.available_bytes(proc1, v1) == 20480000 * 1024


def test_a_window_that_fits_passes_and_unknowns_are_not_refused() -> None:
    budget.check(1_000_000, 8 * GIB)
    budget.check(None, 1)  # the store could not count (InfluxDB)
    budget.check(10**12, None)  # the kernel does not say


def test_a_window_that_does_not_fit_is_refused_with_figures_and_a_way_out() -> None:
    samples = 100_000_000
    available = 4 * GIB
    assert budget.needed_bytes(samples) > budget.USABLE_SHARE * available
    with pytest.raises(budget.WindowTooLarge) as err:
        budget.check(samples, available)
    text = str(err.value)
    assert "100,000,000 samples" in text and "4.0 GiB are available" in text
    fits = int((budget.USABLE_SHARE * available - budget.FIXED_BYTES) / budget.BYTES_PER_SAMPLE)
    assert f"about {fits:,} samples" in text and "--from/--to" in text
    with pytest.raises(budget.WindowTooLarge, match="more than 1,000,000,000 samples"):
        budget.check(budget.TOO_MANY_TO_COUNT, 16 * GIB)


def test_the_boundary_is_the_usable_share() -> None:
    available = 10 * GIB
    fits = int((budget.USABLE_SHARE * available - budget.FIXED_BYTES) / budget.BYTES_PER_SAMPLE)
    budget.check(fits, available)
    with pytest.raises(budget.WindowTooLarge):
        budget.check(fits + 1_000, available)


def _ledger(folder: Path, first_ms: int) -> Path:
    """A ledger directory whose first entry is at `first_ms` (only what window.bounded reads)."""
    folder.mkdir()
    entry = {"seq": 0, "ts": first_ms, "type": "COLLECTOR_START", "entry_hash": "x"}
    (folder / f"audit-{ledger.utc_day(first_ms)}.jsonl").write_text(
        json.dumps(entry) + "\n", encoding="utf-8"
    )
    return folder


def test_the_window_is_cut_to_the_ledger_and_now(tmp_path: Path) -> None:
    now, first = 1_800_000_000_000, 1_790_000_000_000
    folder = _ledger(tmp_path / "ledger", first)
    assert window.bounded(folder, now - 100_000 * DAY, now + DAY, now) == (first, now)
    assert window.bounded(folder, first + DAY, now - DAY, now) == (first + DAY, now - DAY)
    with pytest.raises(window.EmptyWindow, match="first entry is at"):
        window.bounded(folder, first - 3 * DAY, first - DAY, now)


def test_a_window_longer_than_the_limit_is_refused_with_the_fix(tmp_path: Path) -> None:
    now = 1_800_000_000_000
    folder = _ledger(tmp_path / "ledger", now - 800 * DAY)
    with pytest.raises(budget.WindowTooLarge, match=r"covers 800 days .* at most 366 days.*per month"):
        window.bounded(folder, 0, now, now)
    assert window.bounded(folder, now - 366 * DAY, now, now) == (now - 366 * DAY, now)
