"""What the collector writes is for its user and group only, however it is started: a shell's umask
0022 used to leave the ledger, keys, outboxes, packs, the pid file and the web token readable by every
local user. `shopfloor` sets umask 027 once, at its entry."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.net import free_port, wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _shopfloor(args: str, log: Path) -> list[str]:
    """The command as a login shell with the usual umask would start it."""
    return ["sh", "-c", f"umask 022 && exec {sys.executable} -m collector {args} >>{log} 2>&1"]


def _open_to_others(root: Path) -> list[str]:
    return [
        f"{p.relative_to(root)} {stat.filemode(p.stat().st_mode)}"
        for p in [root, *root.rglob("*")]
        if p.stat().st_mode & 0o007
    ]


def test_files_the_collector_writes_are_not_readable_by_others(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir(mode=0o755)
    plant = site / "plant.yaml"
    plant.write_text(
        "version: 1\nsite: {enterprise: acme, site: s1}\n"
        f"devices:\n  - {{id: plc-01, protocol: modbus_tcp, host: 127.0.0.1, port: {free_port()},\n"
        "     tags: [{name: t, address: 40001}]}\n"
        f"web: {{port: {free_port()}}}\n",
        encoding="utf-8",
    )
    log = tmp_path / "run.log"
    proc = subprocess.Popen(_shopfloor(f"run -c {plant}", log), cwd=REPO)
    data = site / "data"
    try:
        wanted = [data / "collector.pid", data / "web-token", data / "keys" / "evidence-ed25519.pub.pem"]
        wait_for(lambda: all(p.exists() for p in wanted) and any((data / "ledger").glob("*.jsonl")),
                 60, "the collector's files")  # fmt: skip
        running = _open_to_others(data)  # the pid file exists only while it runs
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text(errors="replace")[-3000:]
    build = subprocess.run(_shopfloor(f"evidence build -c {plant} --from=-1h", log), cwd=REPO, check=False)
    assert build.returncode == 0, log.read_text(errors="replace")[-3000:]
    assert {"web-token", "evidence-ed25519.pem", "store.sqlite"} <= {p.name for p in data.rglob("*")}
    assert any(p.suffix == ".zip" for p in (site / "evidence").iterdir())
    assert running == [] and _open_to_others(data) == [] and _open_to_others(site / "evidence") == []
    assert os.stat(site).st_mode & 0o007 == 0o005  # the plant's own folder is not ours to change
