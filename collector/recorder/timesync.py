"""How far the collector's clock is from NTP time, from `chronyc -c tracking`, and when it stepped
(TIMESYNC ledger entries).

Timestamps in the evidence are only as good as the clock: the ledger records the offset regularly,
an offset above `evidence.timesync_max_offset` as an excursion, and a step of the wall clock with its
size. Without chrony the status is "unavailable"; this never raises.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from typing import Any

from collector.clock import Clock, ClockHealth, Step, StepWatch

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


def beyond_limit(payload: dict[str, Any], max_offset_s: float) -> bool:
    """Whether samples taken now must be Uncertain: chrony measured an offset beyond the limit. A
    host with no reachable time server ("Not synchronised") is recorded as an excursion, but its
    data is not condemned on an offset chrony no longer measures."""
    offset = payload.get("offset_s")
    return payload.get("status") == "excursion" and isinstance(offset, float) and abs(offset) > max_offset_s


def step_payload(step: Step) -> dict[str, Any]:
    """TIMESYNC for a step of the wall clock: stamps before it were off by step_s."""
    return {
        "status": "step", "step_s": step.size_ms / 1000, "before_ms": step.before_ms,
        "after_ms": step.after_ms, "offset_s": None, "stratum": None, "reference_id": None,
        "leap_status": None,
    }  # fmt: skip


Append = Callable[[str, dict[str, Any], int | None], None]


class ClockRecorder:
    """What the ledger says about the collector's clock: chrony's offset when asked (`sync`), a step
    of the wall clock when one is seen (`now`), and the excursion flag the device workers read."""

    def __init__(self, clock: Clock, health: ClockHealth, append: Append) -> None:
        self.health = health
        self._steps = StepWatch(clock)
        self._append = append
        self._status: str | None = None

    def now(self) -> int:
        """Wall time; a step since the last look is written first (TIMESYNC status "step")."""
        ts, step = self._steps.now()
        if step is not None:
            log.warning("the wall clock stepped by %+.3f s", step.size_ms / 1000)
            self._append("TIMESYNC", step_payload(step), step.after_ms)
        return ts

    async def sync(self, max_offset_s: float) -> None:
        """Ask chrony once: TIMESYNC, and Uncertain samples while the offset is beyond the limit."""
        payload = await read_tracking(max_offset_s)
        status = str(payload["status"])
        self.health.excursion = beyond_limit(payload, max_offset_s)
        if status == "unavailable" and self._status == "unavailable":
            return  # said once; the evaluator sees no clock data from then on
        if status == "excursion":
            log.warning("clock offset %s s is beyond evidence.timesync_max_offset", payload["offset_s"])
        self._status = status
        self._append("TIMESYNC", payload, None)
