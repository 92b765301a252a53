"""Starting and stopping the web server beside the engine (in the same event loop).

    async with serving(engine, delivery, session):     # what `shopfloor run` does around the collector
        await collector.run()

`serving` puts the live view in front of the engine's outputs (before any device task starts), then
serves until the block ends, i.e. after the final outbox flush. Lower level:

    web = await WebServer.start(Sources(engine, delivery, live, session))   # None when web.enabled is false
    await web.stop()

A port that cannot be bound is logged and the collector keeps collecting: data comes first.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from collector.delivery import Delivery
from collector.engine import Engine
from collector.web.app import Sources, build_app
from collector.web.auth import TokenError, resolve_token
from collector.web.live import LiveView

log = logging.getLogger(__name__)


class WebServer:
    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self._runner = runner
        self.host = host
        self.port = port

    @property
    def app(self) -> web.Application:
        return self._runner.app

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @classmethod
    async def start(cls, sources: Sources) -> WebServer | None:
        cfg = sources.plant.config.web
        if not cfg.enabled:
            log.info("web: disabled (web.enabled: false)")
            return None
        try:
            token = resolve_token(sources.plant)
        except (TokenError, OSError) as exc:
            log.error("web: not started: %s", exc)
            return None
        # access_log=None: the page polls every few seconds; requests are not worth a log line each.
        runner = web.AppRunner(build_app(sources, token), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, cfg.host, cfg.port)
        try:
            await site.start()
        except OSError as exc:
            log.error(
                "web: cannot listen on %s:%d: %s; collecting without the status page", cfg.host, cfg.port, exc
            )
            await runner.cleanup()
            return None
        server = cls(runner, cfg.host, cfg.port)
        log.info("web: status page %s/ (API under /api/v1, token required)", server.url)
        return server

    async def stop(self) -> None:
        await self._runner.cleanup()


@contextlib.asynccontextmanager
async def serving(engine: Engine, delivery: Delivery, session: int) -> AsyncIterator[WebServer | None]:
    """The web server for the block; the engine's outputs are wrapped by the live view first, so
    call this before `engine.run()` (device tasks take `engine.output` when they start)."""
    live = LiveView()
    engine.output = live.output(engine.output)
    engine.events = live.events(engine.events)
    live.bind(engine)
    server = await WebServer.start(Sources(engine, delivery, live, session))
    try:
        yield server
    finally:
        if server is not None:
            await server.stop()
