"""Evidence endpoints (token required): build a pack, list the packs, download one as a zip.

    POST /api/v1/evidence?from=-24h&to=now      201 {name, path, zip, download, headline}; 409 while busy
    GET  /api/v1/evidence                       200 {dir, packs:[{name, dir, zip, zip_bytes, download, ...}]}
    GET  /api/v1/evidence/{name}.zip            the zip (application/zip)

A build reads the ledger and queries the store back, which takes seconds: it runs in a worker thread,
one at a time, so the event loop (devices, sinks, the page) keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from collector.config import LoadedPlant

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
        from collector.commands.evidence import parse_time

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
            try:
                from collector.evidence.pack import build_pack
                from collector.evidence.store_reader import StoreUnavailable
            except ImportError as exc:  # a build without the evidence modules
                return _error(503, "unavailable", f"the evidence pack builder is not available: {exc}")
            log.warning("building an evidence pack over [%d, %d) for the web API", from_ms, to_ms)
            try:
                result = await asyncio.to_thread(build_pack, plant, from_ms, to_ms, None, make_zip=True)
            except StoreUnavailable as exc:
                return _error(503, "store_unavailable", f"cannot read the time-series store: {exc}")
            except ValueError as exc:
                return _error(400, "bad_window", str(exc))
            except Exception as exc:
                log.error("evidence build failed: %s", exc, exc_info=True)
                return _error(500, "build_failed", f"{type(exc).__name__}: {exc}")
        name = Path(result.path).name
        body: dict[str, Any] = {
            "name": name,
            "path": str(result.path),
            "zip": str(result.zip_path) if result.zip_path is not None else None,
            "download": f"{PREFIX}/{name}.zip" if result.zip_path is not None else None,
            "window": {"from_ms": from_ms, "to_ms": to_ms},
            "headline": result.summary.get("headline"),
        }
        return web.json_response(body, status=201)

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


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)
