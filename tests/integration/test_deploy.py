"""deploy/: the systemd units verify, and the offline install runs a collector that reports ready.

The wheelhouse is made without network: every runtime dependency is repacked from this .venv into a
wheel (the files its RECORD lists inside site-packages). deploy/make-wheelhouse.sh does the real thing
with `pip download` on a connected machine.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import aiohttp
import pytest
from packaging.requirements import Requirement
from packaging.tags import Tag, sys_tags
from packaging.utils import canonicalize_name

from collector import sdnotify
from simulators.modbus import PlcSimulator
from tests.support.net import async_wait_for, free_port, require_binary

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
UNITS = ("shopfloor-collector.service", "shopfloor-historian.service", "shopfloor-journal-export.service")
SUPPORTED = set(sys_tags())
SKIP_INFO = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}

PLANT = """version: 1
site: {{enterprise: acme, site: s1, edge_id: ipc-01}}
data_dir: data
devices:
  - id: meter-01
    protocol: modbus_tcp
    host: 127.0.0.1
    port: {port}
    byte_order: CDAB
    tags:
      - {{name: voltage, address: "400001", type: float32}}
      - {{name: current, address: "400003", type: float32}}
mqtt: {{mode: "off"}}
storage: {{backend: sqlite, sqlite_path: data/historian.sqlite}}
web: {{host: 127.0.0.1, port: {web_port}}}
"""


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _repack(dist: importlib.metadata.Distribution, out: Path) -> None:
    """One installed distribution back into a wheel; pip regenerates the console scripts."""
    site = Path(str(dist.locate_file("")))
    files = [f for f in dist.files or [] if f.parts[0] != ".." and "__pycache__" not in f.parts]
    info = next(f.parts[0] for f in files if f.parts[0].endswith(".dist-info"))
    tags = [line.split(":", 1)[1].strip() for line in (site / info / "WHEEL").read_text().splitlines()
            if line.startswith("Tag:")]  # fmt: skip
    tag = next(t for t in tags if Tag(*t.split("-")) in SUPPORTED)  # e.g. py3-none-any, not py2-none-any
    name, version = info.removesuffix(".dist-info").rsplit("-", 1)
    record: list[str] = []
    with zipfile.ZipFile(out / f"{name}-{version}-{tag}.whl", "w") as whl:
        for rel in files:
            if rel.parts[0] == info and rel.name in SKIP_INFO:
                continue
            data = (site / rel).read_bytes()
            whl.writestr(rel.as_posix(), data)
            record.append(f"{rel.as_posix()},{_record_hash(data)},{len(data)}")
        record.append(f"{info}/RECORD,,")
        whl.writestr(f"{info}/RECORD", "\n".join(record) + "\n")


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as whl:
        meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(whl.read(meta).decode()).get_all("Requires-Dist") or []


def _wheelhouse(wheel: Path, out: Path) -> None:
    """Every runtime dependency of the wheel (markers evaluated, no extras), as installed here."""
    todo, seen = _requirements(wheel), set[str]()
    while todo:
        req = Requirement(todo.pop())
        name = canonicalize_name(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        dist = importlib.metadata.distribution(name)
        _repack(dist, out)
        todo.extend(dist.requires or [])


def _install(wheel: Path, house: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    """install.sh --no-system with the interpreter this .venv was made from; pip may not go online."""
    python = Path(sys.base_prefix) / "bin" / "python3"
    command = [str(REPO / "deploy" / "install.sh"), "--no-system", "--wheel", str(wheel), "--wheelhouse",
               str(house), "--prefix", str(prefix), "--python", str(python)]  # fmt: skip
    env = {**os.environ, "PIP_NO_INDEX": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Wheel built from a clean copy of the source, wheelhouse, install.sh --no-system: the prefix."""
    root = tmp_path_factory.mktemp("deploy")
    src, dist, house, prefix = root / "src", root / "dist", root / "wheelhouse", root / "opt" / "shopfloor"
    src.mkdir()
    house.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for package in ("collector", "drivers", "simulators"):
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", str(src), "-w", str(dist)],
                   check=True)  # fmt: skip
    (wheel,) = dist.glob("shopfloor_collector-*.whl")
    _wheelhouse(wheel, house)
    result = _install(wheel, house, prefix)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "installed: shopfloor 0." in result.stdout
    yield prefix


def test_units_as_installed_pass_systemd_analyze_verify(installed: Path) -> None:
    analyze = require_binary("systemd-analyze", "/usr/bin/systemd-analyze")
    units = [installed / "share" / "systemd" / unit for unit in UNITS]
    timer = installed / "share" / "systemd" / "shopfloor-journal-export.timer"
    result = subprocess.run([analyze, "verify", *map(str, units), str(timer)], capture_output=True, text=True)
    # verify exits 0 on unknown keys but prints them: any output is a finding.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    text = units[0].read_text()
    assert f"ExecStart={installed}/venv/bin/shopfloor -v run -c /etc/shopfloor/plant.yaml" in text
    assert "@PREFIX@" not in text


def test_install_again_is_idempotent(installed: Path) -> None:
    root = installed.parent.parent
    (wheel,) = (root / "dist").glob("*.whl")
    result = _install(wheel, root / "wheelhouse", installed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "creating venv" not in result.stdout  # the existing venv is reused


def test_the_installed_package_carries_the_demo_scenario(installed: Path) -> None:
    # `shopfloor demo` with no arguments must work from the wheel, away from any source tree
    probe = (
        "from collector.demo.rig import DEFAULT_SCENARIO as d; from simulators.scenario import load_scenario;"
        "s = load_scenario(d); print(d); print(s.name, len(s.cnc), len(s.plc))"
    )
    python = installed / "venv" / "bin" / "python"
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=installed)
    assert result.returncode == 0, result.stderr
    path, summary = result.stdout.splitlines()
    assert Path(path).is_relative_to(installed / "venv") and Path(path).is_file()
    assert summary.startswith("demo-cell ")


@contextlib.contextmanager
def notify_socket(path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


async def _until_ready(sock: socket.socket, proc: asyncio.subprocess.Process) -> list[str]:
    loop = asyncio.get_running_loop()
    messages: list[str] = []
    exited = asyncio.ensure_future(proc.wait())
    try:
        while not any("READY=1" in m.split("\n") for m in messages):
            received = asyncio.ensure_future(loop.sock_recv(sock, 4096))
            done, _ = await asyncio.wait({received, exited}, return_when=asyncio.FIRST_COMPLETED)
            if received not in done:
                received.cancel()
                raise AssertionError(f"collector exited with {proc.returncode} before READY=1")
            messages.append(received.result().decode())
    finally:
        if not exited.done():
            exited.cancel()
    return messages


async def test_installed_collector_reports_ready_then_stops_cleanly_on_sigterm(
    installed: Path, tmp_path: Path
) -> None:
    web_port = free_port()
    async with PlcSimulator(profile="energy-meter", byte_order="CDAB") as sim:
        plant = tmp_path / "plant.yaml"
        plant.write_text(PLANT.format(port=sim.port, web_port=web_port), encoding="utf-8")
        with notify_socket(tmp_path / "notify.sock") as sock:
            proc = await asyncio.create_subprocess_exec(
                str(installed / "venv" / "bin" / "shopfloor"), "run", "-c", str(plant),
                stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
                env={**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")},
            )  # fmt: skip
            try:
                try:
                    async with asyncio.timeout(60):  # a hang guard, not a performance bound
                        await _until_ready(sock, proc)
                        await _readyz(web_port)  # the status server agrees
                except TimeoutError:
                    pytest.fail("no READY=1 on $NOTIFY_SOCKET and 200 from /readyz (sdnotify.ready() wired?)")
                proc.send_signal(signal.SIGTERM)
                async with asyncio.timeout(60):
                    _, err = await proc.communicate()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()


async def _readyz(port: int) -> None:
    async with aiohttp.ClientSession() as http:

        async def ready() -> bool:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    return response.status == 200
            return False

        await async_wait_for(ready, 60, "200 from /readyz")  # within the caller's 60 s hang guard


def test_sdnotify_sends_datagrams_to_a_path_and_an_abstract_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready() is False  # not under systemd: a no-op
    with notify_socket(tmp_path / "n.sock") as sock:
        sock.setblocking(True)
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "n.sock"))
        assert sdnotify.ready("3 devices")
        assert sock.recv(4096) == b"READY=1\nSTATUS=3 devices"
        assert sdnotify.stopping()
        assert sock.recv(4096) == b"STOPPING=1"
    abstract = f"shopfloor-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + abstract)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + abstract)
        assert sdnotify.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 10.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # armed for another process
    assert sdnotify.watchdog_interval() is None
