"""Headless Debian `chromium` driven through the DevTools protocol over aiohttp's websocket client.

    async with Chromium(binary, tmp / "profile") as browser:
        page = await browser.new_page()
        await page.navigate(url)
        await page.wait_for("document.body.dataset.loaded === 'true'", 30, "first data")
        await page.click("#lang-en")
        await page.screenshot(tmp / "page.png")

No fixed sleeps: the DevTools port comes from the DevToolsActivePort file Chromium writes when it
listens, and page conditions are polled with Runtime.evaluate.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from tests.support.net import async_wait_for

FLAGS = (
    "--headless=new", "--remote-debugging-port=0", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--no-default-browser-check", "--disable-extensions", "--disable-background-networking", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-component-update", "--window-size=1366,900", "--lang=zh-CN",
)  # fmt: skip


class DevToolsError(RuntimeError):
    pass


class Page:
    """One tab: commands are matched to replies by id; events are ignored."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            future = self._pending.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(DevToolsError("the DevTools connection closed"))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        msg_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        await self.ws.send_json({"id": msg_id, "method": method, "params": params or {}})
        reply = await asyncio.wait_for(future, timeout)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float, what: str) -> None:
        async def truthy() -> bool:
            return bool(await self.evaluate(expression))

        await async_wait_for(truthy, timeout, what)

    async def navigate(self, url: str, timeout: float = 60) -> None:
        # the old document carries a mark the new one cannot have: no false "loaded" from the old page
        await self.evaluate("window.__leaving = true")
        await self.send("Page.navigate", {"url": url})
        await self.wait_for(
            f"!window.__leaving && location.href.startsWith({json.dumps(url)})"
            " && document.readyState === 'complete'",
            timeout,
            f"{url} loaded",
        )

    async def click(self, selector: str) -> None:
        """A real mouse click (pressed + released) at the centre of the element."""
        box = await self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
            )

    async def screenshot(self, *paths: Path) -> bytes:
        result = await self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        png = base64.b64decode(result["data"])
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
        return png

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class Chromium:
    """A headless browser process with its own profile; stopped by PID when the block ends."""

    def __init__(self, binary: str, profile: Path) -> None:
        self.binary = binary
        self.profile = profile
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._session: aiohttp.ClientSession | None = None
        self._pages: list[Page] = []

    @property
    def log(self) -> Path:
        return self.profile.parent / "chromium.log"

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.profile.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            args = [self.binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"]
            return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    async def __aenter__(self) -> Chromium:
        self.proc = proc = self._spawn()
        port_file = self.profile / "DevToolsActivePort"

        def listening() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"chromium exited {proc.returncode}: {self.log.read_text(errors='replace')}"
                )
            return port_file.exists() and len(port_file.read_text().splitlines()) >= 2

        try:
            await async_wait_for(listening, 60, "chromium's DevToolsActivePort")
            self.port = int(port_file.read_text().splitlines()[0])
            self._session = aiohttp.ClientSession()
        except BaseException:
            self._stop()
            raise
        return self

    async def new_page(self) -> Page:
        assert self._session is not None
        async with self._session.put(f"http://127.0.0.1:{self.port}/json/new?about:blank") as res:
            target = await res.json(content_type=None)
        ws = await self._session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        page = Page(ws)
        self._pages.append(page)
        return page

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for page in self._pages:
            await page.close()
        if self._session is not None:
            await self._session.close()
        self._stop()

    def _stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
