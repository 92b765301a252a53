"""The collector's pid file: which process runs which plant, so `shopfloor reload` signals only it.

    <pid>
    <the process's start time, clock ticks after boot (/proc/<pid>/stat field 22)>
    <the plant file, absolute>

A pid file outlives a collector that did not stop cleanly (a crash, a power cut), and its number may
by then belong to any other process, which SIGHUP would end. The start time tells the process that
wrote the file from a later one with the same number; the plant path tells this plant's collector
from another plant's on the same machine. Both are read from Linux's /proc; where there is none the
check refuses instead of guessing.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def write(path: Path, plant_file: Path) -> None:
    pid = os.getpid()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"{pid}\n{start_time(pid) or '-'}\n{os.path.abspath(plant_file)}\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def start_time(pid: int, proc: Path = PROC) -> str | None:
    try:
        stat = (proc / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the name in parentheses may hold spaces
    return fields[19] if len(fields) > 19 else None


def check(path: Path, plant_file: Path, proc: Path = PROC) -> tuple[int | None, str | None]:
    """(pid, None) when the pid file names this plant's running collector, else (pid, why not)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        pid = int(lines[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None, f"no running collector found ({path})"
    if not (proc / "self").is_dir():
        return pid, "cannot be checked on this system (no /proc): restart the service instead"
    if len(lines) < 3:
        return (
            pid,
            "comes from a pid file without the process's identity (an older collector): restart it once",
        )
    started = start_time(pid, proc)
    if started is None:
        return pid, "is not running (a stale pid file from a collector that did not stop cleanly)"
    if started != lines[1]:
        return pid, "belongs to a process started after the collector that wrote the pid file (a stale file)"
    try:
        same = os.path.samefile(lines[2], plant_file)
    except OSError:
        same = False
    return pid, None if same else f"is the collector of another plant file ({lines[2]})"
