"""A small HTTP endpoint on loopback through which tests, chaos runs and the demo script faults.

    GET  /devices                      every device: name, kind, profile, endpoint
    GET  /devices/<name>               one device, with what its machine has done so far
    POST /devices/<name>/faults        body {"kind": "stall", "seconds": 5, "tags": [...]}
    GET  /faults                       faults applied so far

Plain asyncio streams: the simulator needs no web framework for four routes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, is_dataclass
from typing import Any

from simulators.plant import SimulatedPlant

log = logging.getLogger(__name__)
_MAX_BODY = 64 * 1024


class ControlServer:
    def __init__(self, plant: SimulatedPlant, host: str = "127.0.0.1", port: int = 0) -> None:
        self.plant = plant
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> ControlServer:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await self._respond(reader)
        except Exception as exc:  # a bad request must never take the simulators down
            log.exception("control request failed")
            status, body = 500, {"error": str(exc)}
        payload = json.dumps(body, ensure_ascii=False, default=_jsonable).encode()
        head = f"HTTP/1.1 {status} {_REASON.get(status, 'OK')}\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + payload)
        try:
            await writer.drain()
        finally:
            writer.close()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, Any]:
        request = (await reader.readline()).decode("latin-1").split()
        if len(request) < 2:
            return 400, {"error": "bad request line"}
        method, path = request[0], request[1].split("?")[0].rstrip("/")
        length = 0
        while (line := (await reader.readline()).decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        if length > _MAX_BODY:
            return 413, {"error": "body too large"}
        body = json.loads(await reader.readexactly(length)) if length else {}
        return await self._route(method, path.split("/")[1:], body)

    async def _route(self, method: str, parts: list[str], body: dict[str, Any]) -> tuple[int, Any]:
        devices = self.plant.devices
        if method == "GET" and parts == ["devices"]:
            return 200, [_summary(d) for d in devices.values()]
        if method == "GET" and parts == ["faults"]:
            return 200, [
                dict(zip(("t", "device", "kind", "result"), f, strict=True)) for f in self.plant.fault_log
            ]
        if len(parts) >= 2 and parts[0] == "devices":
            if parts[1] not in devices:
                return 404, {"error": f"no device {parts[1]!r}", "devices": sorted(devices)}
            if method == "GET" and len(parts) == 2:
                return 200, _detail(self.plant, parts[1])
            if method == "POST" and parts[2:] == ["faults"]:
                kind = str(body.get("kind", ""))
                try:
                    result = await self.plant.fault(
                        parts[1], kind, seconds=body.get("seconds"), tags=body.get("tags")
                    )
                except ValueError as exc:
                    return 400, {"error": str(exc)}
                return 200, {"device": parts[1], "kind": kind, "result": result}
        return 404, {
            "error": "unknown route",
            "routes": ["GET /devices", "GET /devices/<name>", "POST /devices/<name>/faults", "GET /faults"],
        }


_REASON = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    413: "Payload Too Large",
    500: "Internal Server Error",
}


def _summary(dev: Any) -> dict[str, Any]:
    return {
        "name": dev.name,
        "kind": dev.kind,
        "profile": dev.profile,
        "endpoint": dev.endpoint,
        "unit_id": dev.unit_id,
    }


def _detail(plant: SimulatedPlant, name: str) -> dict[str, Any]:
    dev = plant.devices[name]
    out = _summary(dev)
    model = _model_of(dev)
    if model is not None:
        out["snapshot"] = model.snapshot
        out["totals"] = model.totals
    return out


def _model_of(dev: Any) -> Any:
    if dev.kind == "cnc":
        return dev.sim.model
    return dev.sim.device(dev.unit_id).machine


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)
