"""Debian's mbpoll (libmodbus, an independent Modbus master) against the energy-meter simulator."""

from __future__ import annotations

import asyncio
import os
import re
import shutil

import pytest

from simulators.modbus import PlcSimulator
from simulators.modbus.testing import ManualClock, socat_pty_pair

pytestmark = pytest.mark.integration

_VALUE_RE = re.compile(r"^\[(\d+)\]:\s+(\S+)", re.MULTILINE)


def require_binary(name: str) -> None:
    """In CI a missing tool is a failure (the image must provide it); locally just skip."""
    if shutil.which(name) is None:
        msg = f"{name} binary not found (Debian package '{name}')"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


async def mbpoll(*args: str) -> dict[int, float]:
    """Run mbpoll once (-1) and return {reference: value} from its output."""
    proc = await asyncio.create_subprocess_exec(
        "mbpoll", *args, "-1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    async with asyncio.timeout(20):
        out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    values = {int(ref): float(val) for ref, val in _VALUE_RE.findall(text)}
    assert values, text
    return values


def g6(value: float) -> float:
    """mbpoll prints floats with printf %g (6 significant digits)."""
    return float(f"{value:.6g}")


async def test_mbpoll_tcp_reads_energy_meter() -> None:
    require_binary("mbpoll")
    clock = ManualClock()
    async with PlcSimulator(profile="energy-meter", clock=clock, update_interval=3600) as sim:
        clock.advance(900)
        await sim.step()
        port = str(sim.port)
        # -B: big-endian word order (ABCD); -r is 1-based, so reference 1 is wire address 0.
        got = await mbpoll(
            "-m", "tcp", "-a", "1", "-r", "1", "-c", "4", "-t", "4:float", "-B", "-p", port, "127.0.0.1"
        )
        assert got == {
            1: g6(sim.value("voltage")),
            3: g6(sim.value("current")),
            5: g6(sim.value("power")),
            7: g6(sim.value("energy_kwh")),
        }
        # -0: PDU (0-based) addressing; input-register mirror of the same values.
        got = await mbpoll(
            "-m", "tcp", "-0", "-r", "0", "-c", "2", "-t", "3:float", "-B", "-p", port, "127.0.0.1"
        )
        assert got == {0: g6(sim.value("voltage")), 2: g6(sim.value("current"))}
        # Without -B mbpoll assumes little-endian word order: the ABCD value comes out wrong.
        got = await mbpoll("-m", "tcp", "-r", "1", "-c", "1", "-t", "4:float", "-p", port, "127.0.0.1")
        assert got[1] != g6(sim.value("voltage"))
        # Plain 16-bit registers: the uint32 device clock at wire 20-21.
        got = await mbpoll("-m", "tcp", "-0", "-r", "20", "-c", "2", "-t", "4", "-p", port, "127.0.0.1")
        assert (int(got[20]) << 16) | int(got[21]) == int(clock.now())


async def test_mbpoll_rtu_over_pty_reads_energy_meter() -> None:
    require_binary("mbpoll")
    require_binary("socat")
    clock = ManualClock()
    async with (
        socat_pty_pair() as (server_end, client_end),
        PlcSimulator(
            profile="energy-meter",
            transport="rtu",
            serial_port=server_end,
            baudrate=9600,
            byte_order="CDAB",  # mbpoll's default word order
            clock=clock,
            update_interval=3600,
        ) as sim,
    ):
        args = ("-m", "rtu", "-b", "9600", "-P", "none", "-a", "1", "-r", "1", "-c", "2")
        got = await mbpoll(*args, "-t", "4:float", client_end)
        assert got == {1: g6(sim.value("voltage")), 3: g6(sim.value("current"))}
        raw = await mbpoll(*args, "-t", "4", client_end)
        assert set(raw) == {1, 2}
        await sim.stall()  # mbpoll must report a timeout, not a value
        proc = await asyncio.create_subprocess_exec(
            "mbpoll", *args, "-t", "4", "-o", "0.3", "-1", client_end,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        async with asyncio.timeout(20):
            out, _ = await proc.communicate()
        assert not _VALUE_RE.search(out.decode(errors="replace"))
