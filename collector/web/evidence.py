"""Evidence endpoints (token required): build a pack, list the packs, download one as a zip.

    POST /api/v1/evidence?from=-24h&to=now      201 {name, path, zip, download, headline}; 409 while busy
    GET  /api/v1/evidence                       200 {dir, packs:[{name, dir, zip, zip_bytes, download, ...}]}
    GET  /api/v1/evidence/{name}.zip            the zip (application/zip)

A build reads the ledger and the whole window back from the store: seconds to minutes of CPU and a
heap that grows with the window (bench/pack_bench.py). It runs as a child process (`shopfloor
evidence build --json`), one at a time: in a thread of the collector it would hold the GIL against the
devices' loop, leave the collector's heap grown for good, stall the loop in full collections of
millions of objects, and on a window too large for the machine bring the OOM killer to the collector.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from collector.config import LoadedPlant
from collector.evidence.window import parse_time

log = logging.getLogger(__name__)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
PREFIX = "/api/v1/evidence"


class EvidenceApi:
    def __init__(self, plant: Callable[[], LoadedPlant]) -> None:
        self._plant = plant
        self.busy = asyncio.Lock()  # one build at a time

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(PREFIX, self.build),
            web.get(PREFIX, self.listing),
            web.get(PREFIX + "/{name:[A-Za-z0-9][A-Za-z0-9._-]*}.zip", self.download),
        ]

    def directory(self) -> Path:
        plant = self._plant()
        return plant.resolve(plant.config.evidence.dir)

    async def build(self, request: web.Request) -> web.Response:

        if self.busy.locked():
            return _error(409, "busy", "an evidence pack is being built; try again when it is done")
        plant = self._plant()
        now_ms = time.time_ns() // 1_000_000
        tz = ZoneInfo(plant.config.site.timezone)
        try:
            from_ms = parse_time(request.query.get("from", "-24h"), tz, now_ms)
            to_ms = parse_time(request.query.get("to", "now"), tz, now_ms)
        except ValueError as exc:
            return _error(400, "bad_window", f"from/to: {exc} (ISO 8601, 'now' or relative like -24h)")
        if to_ms <= from_ms:
            return _error(400, "bad_window", "'to' must be after 'from'")
        async with self.busy:
            log.warning("building an evidence pack over [%d, %d) for the web API", from_ms, to_ms)
            status, body = await build_in_child(plant.file, from_ms, to_ms)
        if status != 201:
            return _error(status, str(body["error"]), str(body["message"]))
        name = Path(body["path"]).name
        body["download"] = f"{PREFIX}/{name}.zip" if body["zip"] is not None else None
        return web.json_response({"name": name, **body}, status=201)

    async def listing(self, request: web.Request) -> web.Response:
        root = self.directory()
        packs: dict[str, dict[str, Any]] = {}
        if root.is_dir():
            for entry in sorted(root.iterdir()):
                name = entry.name.removesuffix(".zip") if entry.is_file() else entry.name
                if not NAME_RE.match(name) or not (entry.is_dir() or entry.suffix == ".zip"):
                    continue
                row = packs.setdefault(name, {"name": name, "dir": False, "zip": False, "zip_bytes": None,
                                              "modified_ms": 0, "download": None})  # fmt: skip
                stat = entry.stat()
                row["modified_ms"] = max(row["modified_ms"], stat.st_mtime_ns // 1_000_000)
                if entry.is_dir():
                    row["dir"] = True
                else:
                    row.update(zip=True, zip_bytes=stat.st_size, download=f"{PREFIX}/{name}.zip")
        return web.json_response({"dir": str(root), "packs": list(packs.values())})

    async def download(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        root = self.directory().resolve()
        path = (root / f"{name}.zip").resolve()
        if not NAME_RE.match(name) or path.parent != root or not path.is_file():
            return _error(404, "not_found", f"no evidence pack {name}.zip")
        return web.FileResponse(
            path,
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": f'attachment; filename="{path.name}"',
            },
        )


_STATUS = {"bad_window": 400, "window_too_large": 400, "bad_argument": 400, "bad_config": 500,
           "store_unavailable": 503}  # fmt: skip


async def build_in_child(plant_file: Path, from_ms: int, to_ms: int) -> tuple[int, dict[str, Any]]:
    """(HTTP status, the child's outcome or an error body). The plant file is read again by the child:
    an edit not yet reloaded is what it builds with (a relative path: the child has our cwd). A
    cancelled request kills the child."""
    argv = [sys.executable, "-m", "collector", "evidence", "build", "-c", str(plant_file),
            "--from", _iso(from_ms), "--to", _iso(to_ms), "--json"]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    lines = out.decode("utf-8", "replace").strip().splitlines()
    try:
        outcome: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        outcome = {}
    if proc.returncode == 0 and "path" in outcome:
        return 201, outcome
    if "error" in outcome:
        return _STATUS.get(str(outcome["error"]), 500), outcome
    tail = err.decode("utf-8", "replace").strip()[-800:]  # killed (e.g. out of memory) or crashed
    log.error("evidence build child exited %s: %s", proc.returncode, tail)
    return 500, {"error": "build_failed", "message": f"the builder exited {proc.returncode}: {tail}"}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)
