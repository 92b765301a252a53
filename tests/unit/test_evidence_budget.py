"""The memory check before a pack is built: the kernel's MemAvailable against the store's count."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.evidence import budget

GIB = 1 << 30


def test_mem_available_is_read_from_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24576000 kB\nMemFree:  100 kB\nMemAvailable:   20480000 kB\n")
    assert budget.available_bytes(meminfo) == 20480000 * 1024
    meminfo.write_text("MemTotal:       24576000 kB\n")  # a kernel that does not say
    assert budget.available_bytes(meminfo) is None
    assert budget.available_bytes(tmp_path / "absent") is None
    assert budget.available_bytes() is not None  # this machine is Linux


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
