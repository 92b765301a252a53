"""How far the collector's clock is from NTP time, from `chronyc -c tracking` (TIMESYNC ledger entries).

Timestamps in the evidence are only as good as the clock: the ledger records the offset regularly,
and an offset above `evidence.timesync_max_offset` as an excursion. Without chrony the status is
"unavailable"; this never raises.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from typing import Any

log = logging.getLogger(__name__)

UNSYNCHRONISED = "Not synchronised"


def parse_tracking(line: str, max_offset_s: float) -> dict[str, Any] | None:
    """The TIMESYNC payload from one line of `chronyc -c tracking`; None when it is not that line.

    Fields: ref id (hex), ref name, stratum, ref time, system time offset (s), last offset, RMS
    offset, frequency, residual frequency, skew, root delay, root dispersion, update interval, leap."""
    fields = line.strip().split(",")
    if len(fields) < 14:
        return None
    try:
        stratum = int(fields[2])
        offset = float(fields[4])
    except ValueError:
        return None
    leap = fields[13]
    ok = abs(offset) <= max_offset_s and leap != UNSYNCHRONISED and stratum > 0
    return {
        "status": "ok" if ok else "excursion",
        "offset_s": offset,
        "stratum": stratum,
        "reference_id": fields[1] or fields[0],
        "leap_status": leap,
    }


def unavailable(reason: str) -> dict[str, Any]:
    return {
        "status": "unavailable",
        "offset_s": None,
        "stratum": None,
        "reference_id": None,
        "leap_status": None,
        "reason": reason,
    }


async def read_tracking(max_offset_s: float, answer_within: float = 5.0) -> dict[str, Any]:
    """Ask chronyd once; any failure is an "unavailable" payload with the reason."""
    binary = shutil.which("chronyc")
    if binary is None:
        return unavailable("chronyc not installed")
    try:
        proc = await asyncio.create_subprocess_exec(
            binary, "-c", "-n", "tracking",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    except OSError as exc:
        return unavailable(f"chronyc: {exc.strerror or exc}")
    try:
        async with asyncio.timeout(answer_within):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return unavailable("chronyc did not answer")
    if proc.returncode != 0:
        return unavailable(err.decode("utf-8", "replace").strip() or f"chronyc exit {proc.returncode}")
    payload = parse_tracking(out.decode("utf-8", "replace"), max_offset_s)
    return payload if payload is not None else unavailable("unexpected chronyc output")
