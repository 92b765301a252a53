"""The web application of `shopfloor run`: routes, token check, readiness, and the server's lifetime.

/               the evaluator's live page (read-only, open)      /live.json   what the page shows
/healthz        200 while the event loop runs                    /readyz      200 once every device
/metrics        Prometheus text                                               and sink task started
/api/v1/...     JSON API and evidence packs (Authorization: Bearer <token>)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from collector.clock import now_ms
from collector.config import LoadedPlant
from collector.delivery import Delivery
from collector.engine import Engine
from collector.web import metrics, status
from collector.web.auth import bearer_ok, unauthorized
from collector.web.evidence import EvidenceApi
from collector.web.live import LiveView
from collector.web.page import render_page

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NO_STORE = {"Cache-Control": "no-store"}
# The page loads nothing from elsewhere; this keeps it so even if a value carried markup.
PAGE_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass
class Sources:
    """The running parts the web app reads (never writes)."""

    engine: Engine
    delivery: Delivery
    live: LiveView
    session: int

    @property
    def plant(self) -> LoadedPlant:
        return self.engine.plant  # replaced on reload

    def not_ready(self) -> str | None:
        """Why the collector is not ready yet, or None once every device and sink task started."""
        devices = self.plant.config.devices
        waiting = [d.id for d in devices if self.engine.task(d.id) is None]
        if waiting:
            return f"device tasks not running: {', '.join(waiting)}"
        # Delivery.run names each sink's task deliver[<sink>]; a finished one is not ready either.
        running = {t.get_name() for t in asyncio.all_tasks() if not t.done()}
        sinks = [r.sink.name for r in self.delivery.runners if f"deliver[{r.sink.name}]" not in running]
        if sinks:
            return f"sink tasks not running: {', '.join(sinks)}"
        return None


EVIDENCE = web.AppKey("evidence", EvidenceApi)


def build_app(sources: Sources, token: str) -> web.Application:
    evidence = EvidenceApi(lambda: sources.plant)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/api/") and not bearer_ok(request, token):
            return unauthorized(request)
        return await handler(request)

    def document(detail: bool) -> dict[str, Any]:
        health = sources.engine.health()
        cfg = sources.plant.config
        return status.plant_document(cfg, sources.live, health, sources.session, now_ms(), detail=detail)

    async def page(request: web.Request) -> web.Response:
        cfg = sources.plant.config
        title = cfg.site.enterprise_name_zh or cfg.site.name_zh or cfg.site.enterprise
        headers = {**NO_STORE, "Content-Security-Policy": PAGE_CSP, "X-Content-Type-Options": "nosniff"}
        body = render_page(round(cfg.web.refresh * 1000), title)
        return web.Response(text=body, content_type="text/html", charset="utf-8", headers=headers)

    async def live_json(request: web.Request) -> web.Response:
        body = document(False)
        body["refresh_ms"] = round(sources.plant.config.web.refresh * 1000)
        return web.json_response(body, headers=NO_STORE)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, headers=NO_STORE)

    async def readyz(request: web.Request) -> web.Response:
        reason = sources.not_ready()
        if reason is not None:
            return web.json_response({"status": "starting", "reason": reason}, status=503, headers=NO_STORE)
        return web.json_response({"status": "ready"}, headers=NO_STORE)

    async def prometheus(request: web.Request) -> web.Response:
        sinks = [(r.metrics(), not r.outage) for r in sources.delivery.runners]
        text = metrics.render(
            sources.plant.config, sources.engine.health(), sources.live, sinks, sources.session
        )
        return web.Response(body=text.encode("utf-8"), headers={"Content-Type": metrics.CONTENT_TYPE})

    async def api_status(request: web.Request) -> web.Response:
        return web.json_response(document(True), headers=NO_STORE)

    async def api_device(request: web.Request) -> web.Response:
        device_id = request.match_info["device"]
        cfg = sources.plant.config
        device = next((d for d in cfg.devices if d.id == device_id), None)
        if device is None:
            return web.json_response({"error": "not_found", "message": f"no device {device_id}"}, status=404)
        health = next((h for h in sources.engine.health() if h.device == device_id), None)
        view = status.device_view(device, sources.live.devices.get(device_id), health, now_ms(), detail=True)
        return web.json_response(view, headers=NO_STORE)

    async def api_indicators(request: web.Request) -> web.Response:
        health = {h.device: h for h in sources.engine.health()}
        body = status.indicators(sources.plant.config, health)
        return web.json_response({"generated_ms": now_ms(), **body}, headers=NO_STORE)

    async def api_sinks(request: web.Request) -> web.Response:
        rows = []
        for runner in sources.delivery.runners:
            m = runner.metrics()
            devices: dict[str, dict[str, int]] = {}
            for device, name, value in m.counters:
                devices.setdefault(device, {})[name] = value
            rows.append({
                "sink": m.sink, "up": not runner.outage, "outbox_depth": m.depth, "outbox_bytes": m.bytes,
                "oldest_age_ms": m.oldest_age_ms, "batches": m.connected_batches, "devices": devices,
                "unconfirmed": m.unconfirmed,
                "dropped": sum(v for _d, n, v in m.counters if n == "dropped"),
            })  # fmt: skip
        return web.json_response({"generated_ms": now_ms(), "sinks": rows}, headers=NO_STORE)

    async def api_unknown(request: web.Request) -> web.Response:
        return web.json_response({"error": "not_found", "message": f"no endpoint {request.path}"}, status=404)

    app = web.Application(middlewares=[guard])
    app[EVIDENCE] = evidence
    app.add_routes([
        web.get("/", page),
        web.get("/live.json", live_json),
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", prometheus),
        web.get("/api/v1/status", api_status),
        web.get("/api/v1/devices/{device}", api_device),
        web.get("/api/v1/indicators", api_indicators),
        web.get("/api/v1/sinks", api_sinks),
        *evidence.routes(),
        web.route("*", "/api/{tail:.*}", api_unknown),
    ])  # fmt: skip
    return app
