"""Will a pack over this window fit in memory? Asked before the samples are read.

The builder holds every sample of its window in memory (the figures are recomputed from all of them).
A window too large for the machine would otherwise run for minutes and end in the OOM killer, which on
the plant's PC may pick another process. The store counts the window's samples first; the estimate
uses the peak memory per sample that bench/pack_bench.py measures (BENCHMARKS.md, "Evidence pack
build") and the memory available now: the kernel's MemAvailable, or what the process's cgroup limit
leaves when that is less.
"""

from __future__ import annotations

from pathlib import Path

from collector.evidence.errors import EvidenceError

# peak RSS per raw sample of a build above its fixed part: 358 MiB per million measured on a
# 984,004-sample soak window (bench/pack_bench.py, BENCHMARKS.md), 375 B, rounded up
BYTES_PER_SAMPLE = 400
FIXED_BYTES = 150 << 20  # the interpreter, the modules and a small pack
USABLE_SHARE = 0.8  # of MemAvailable: leave the collector and the OS their room
TOO_MANY_TO_COUNT = 1_000_000_000  # VictoriaMetrics' default -search.maxSamplesPerQuery


class WindowTooLarge(EvidenceError, ValueError):
    """The window's samples would not fit in the memory available now."""


def available_bytes(proc: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """What a build may grow into now: MemAvailable, or less when this process's cgroup has a memory
    limit (a systemd MemoryMax=, a container) — that limit is what the OOM killer enforces then.
    None where the kernel says neither (not Linux): the check is then skipped."""
    limits = [v for v in (_mem_available(proc / "meminfo"), _cgroup_room(proc, cgroup_root)) if v is not None]
    return min(limits) if limits else None


def _mem_available(meminfo: Path) -> int | None:
    try:
        text = meminfo.read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _cgroup_room(proc: Path, root: Path) -> int | None:
    """limit − usage of this process's memory cgroup (v2 or v1); None when unlimited or unknown."""
    try:
        lines = (proc / "self" / "cgroup").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2: one unified hierarchy
            files = [(root / path.lstrip("/"), "memory.max", "memory.current")]
        elif "memory" in controllers.split(","):  # v1; a container may show its own cgroup as the root
            base = root / "memory"
            v1 = ("memory.limit_in_bytes", "memory.usage_in_bytes")
            files = [(base / path.lstrip("/"), *v1), (base, *v1)]
        else:
            continue
        for directory, limit_name, usage_name in files:
            try:
                limit_text = (directory / limit_name).read_text(encoding="ascii").strip()
                usage = int((directory / usage_name).read_text(encoding="ascii").strip())
            except (OSError, ValueError):
                continue
            if limit_text == "max" or int(limit_text) >= 1 << 60:  # unlimited
                return None
            return max(0, int(limit_text) - usage)
    return None


def needed_bytes(samples: int) -> int:
    return FIXED_BYTES + samples * BYTES_PER_SAMPLE


def check(samples: int | None, available: int | None) -> None:
    """WindowTooLarge with the figures and what to do; nothing when it fits or either is unknown."""
    if samples is None or available is None:
        return
    need = needed_bytes(samples)
    if need <= USABLE_SHARE * available:
        return
    gib = 1 << 30
    fits = max(0, int((USABLE_SHARE * available - FIXED_BYTES) / BYTES_PER_SAMPLE))
    counted = f"{samples:,}" if samples < TOO_MANY_TO_COUNT else f"more than {TOO_MANY_TO_COUNT:,}"
    raise WindowTooLarge(
        f"the window holds {counted} samples; building its pack needs about {need / gib:.1f} GiB and "
        f"{available / gib:.1f} GiB are available (a build may use {USABLE_SHARE:.0%} of it, about "
        f"{fits:,} samples). Build packs over shorter windows (--from/--to), e.g. one per day or shift"
    )
