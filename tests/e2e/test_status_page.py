"""The evaluator's live page in a real headless browser (Debian `chromium`), served by `shopfloor run`.

The page must show every device's state as the API reports it, switch between 中文 and English, and
keep the choice; screenshots of both languages are kept under the test's tmp dir and build/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.browser import Chromium, Page
from tests.support.net import async_wait_for, require_binary
from tests.support.web import REPO, collector_process, plant_simulators

pytestmark = pytest.mark.e2e
SCREENSHOTS = REPO / "build" / "screenshots"
CJK = re.compile(r"[\u4e00-\u9fff]")
HEADERS_ZH = ["设备", "状态", "连接", "数据质量", "数据时效", "关键数值"]
HEADERS_EN = ["Device", "State", "Connection", "Quality", "Data age", "Key values"]
STATE_LABELS = {
    "zh": {"RUNNING": "运行", "IDLE": "待机", "ALARM": "报警", "STOPPED": "停机", "OFFLINE": "离线", "": "—"},
    "en": {
        "RUNNING": "Running",
        "IDLE": "Idle",
        "ALARM": "Alarm",
        "STOPPED": "Stopped",
        "OFFLINE": "Offline",
        "": "—",
    },
}
SHOWN = """[...document.querySelectorAll('#devices tbody tr')].map(r => ({
  id: r.dataset.device, state: r.querySelector('.state').dataset.state,
  label: r.querySelector('.state').textContent,
  connected: r.querySelector('[data-connected]').dataset.connected === 'true',
  values: r.querySelectorAll('[data-tag]').length}))"""
HEADERS = "[...document.querySelectorAll('th')].map(e => e.textContent)"
LABELS = "[...document.querySelectorAll('th, .card .label, footer')].map(e => e.textContent)"


@pytest.fixture
async def sims() -> AsyncIterator[tuple[int, int]]:
    async with plant_simulators() as ports:
        yield ports


async def api_states(session: aiohttp.ClientSession, url: str, token: str) -> dict[str, Any]:
    async with session.get(url + "/api/v1/status", headers={"Authorization": f"Bearer {token}"}) as res:
        assert res.status == 200
        doc = await res.json()
    return {d["id"]: (d["state"] or "", d["connected"]) for d in doc["devices"]}


async def shown_rows(page: Page) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await page.evaluate(SHOWN)
    return rows


async def test_status_page_matches_the_api_and_switches_language(
    tmp_path: Path, sims: tuple[int, int]
) -> None:
    chromium = require_binary("chromium", "/usr/bin/chromium", "chromium-browser")
    async with (
        collector_process(tmp_path / "run", stacklight=sims[0], meter=sims[1]) as run,
        Chromium(chromium, tmp_path / "browser" / "profile") as browser,
        aiohttp.ClientSession() as session,
    ):
        token = run.token()
        page = await browser.new_page()
        await page.navigate(run.url + "/")
        await page.wait_for(
            "document.body.dataset.loaded === 'true'"
            " && document.querySelectorAll('#devices tbody tr').length === 3",
            60,
            "device rows on the page",
        )

        async def same_as_api() -> bool:
            # both settle within a refresh: the stack light's state is decided, the dead device is OFFLINE
            api = await api_states(session, run.url, token)
            shown = {r["id"]: (r["state"], r["connected"]) for r in await shown_rows(page)}
            return shown == api and api["sl-01"][0] != "" and api["gone-01"][0] == "OFFLINE"

        await async_wait_for(same_as_api, 60, "the page's states equal /api/v1/status")
        rows = await shown_rows(page)
        assert [r["id"] for r in rows] == ["sl-01", "meter-01", "gone-01"]
        for row in rows:
            assert row["label"] == STATE_LABELS["zh"][row["state"]], row
        assert next(r for r in rows if r["id"] == "meter-01")["values"] == 6, "key values shown"
        assert await page.evaluate(HEADERS) == HEADERS_ZH
        assert "设备联网率（申报）" in await page.evaluate(LABELS)
        networked = await page.evaluate(
            "document.querySelector('[data-indicator=networked_rate_declared] .value').textContent"
        )
        assert networked == "66.7%"
        await page.screenshot(tmp_path / "status-page.png", SCREENSHOTS / "status-page.png")

        await page.click("#lang-en")
        await page.wait_for("document.querySelector('th').textContent === 'Device'", 30, "English labels")
        assert await page.evaluate(HEADERS) == HEADERS_EN
        labels = await page.evaluate(LABELS)
        assert not any(CJK.search(label) for label in labels), labels
        for row in await shown_rows(page):
            assert row["label"] == STATE_LABELS["en"][row["state"]], row
        assert "lang=en" in await page.evaluate("location.search")
        png = await page.screenshot(tmp_path / "status-page-en.png", SCREENSHOTS / "status-page-en.png")
        assert png.startswith(b"\x89PNG\r\n\x1a\n")

        # the choice is remembered: a fresh load without ?lang= comes back in English
        await page.navigate(run.url + "/")
        await page.wait_for("document.body.dataset.loaded === 'true'", 60, "reloaded page")
        assert await page.evaluate("document.querySelector('th').textContent") == "Device"
        assert await page.evaluate("localStorage.getItem('shopfloor.lang')") == "en"
