"""The collector session number: +1 at every start, persisted atomically under the data dir."""

from __future__ import annotations

import os
from pathlib import Path


def next_session(data_dir: Path) -> int:
    """Readings carry (device, session, seq); a new session after a restart keeps (session, seq) unique."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "session"
    try:
        current = int(path.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        current = 0
    session = current + 1
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="ascii") as fh:
        fh.write(f"{session}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return session
