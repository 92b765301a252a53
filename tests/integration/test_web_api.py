"""The web side against real Modbus simulators: readiness, /metrics, the JSON API and its token.

In process (Engine + Delivery + the web app on a free port) for what needs the engine's own view,
and as `python -m collector run` for the wiring of `shopfloor run` and the evidence endpoints.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import sys
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from collector.config import load_plant
from collector.web.app import EVIDENCE
from tests.support.engine import running
from tests.support.net import async_wait_for, free_port
from tests.support.web import collector_process, in_process, plant_simulators, plant_text

pytestmark = pytest.mark.integration

DEVICES = ("sl-01", "meter-01", "gone-01")
API = ["/api/v1/status", "/api/v1/devices/sl-01", "/api/v1/indicators", "/api/v1/sinks", "/api/v1/evidence"]
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:\\[\\"n]|[^"\\\n])*"'
SAMPLE_RE = re.compile(rf"^({_NAME})(?:\{{{_LABEL}(?:,{_LABEL})*\}})? (NaN|[+-]Inf|[-+]?[0-9][0-9.eE+-]*)$")
COMMENT_RE = re.compile(rf"^# (?:HELP {_NAME} .+|TYPE {_NAME} (?:counter|gauge|histogram|summary|untyped))$")


def parse_exposition(text: str) -> dict[str, list[str]]:
    """Every line must be valid text exposition format; returns sample lines by metric name."""
    assert text.endswith("\n")
    samples: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert COMMENT_RE.match(line), f"bad comment line: {line!r}"
            continue
        match = SAMPLE_RE.match(line)
        assert match, f"bad sample line: {line!r}"
        float(match.group(2))
        samples.setdefault(match.group(1), []).append(line)
    return samples


async def get(session: aiohttp.ClientSession, url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with session.get(url, headers=headers) as res:
        body = await res.json() if res.content_type == "application/json" else await res.text()
        return res.status, body


async def assert_refused(session: aiohttp.ClientSession, method: str, url: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        async with session.request(method, url, headers=headers) as res:
            assert res.status == 401, (method, url, headers)
            assert res.headers["WWW-Authenticate"].startswith("Bearer")
            assert (await res.json())["error"] == "unauthorized"


@pytest.fixture
async def sims() -> AsyncIterator[tuple[int, int]]:
    async with plant_simulators() as ports:
        yield ports


async def test_in_process_readiness_metrics_and_status(tmp_path: Path, sims: tuple[int, int]) -> None:
    port = free_port()
    path = tmp_path / "plant.yaml"
    path.write_text(plant_text(port, stacklight=sims[0], meter=sims[1], dead=free_port()), encoding="utf-8")
    stop = asyncio.Event()
    async with in_process(path, port) as app, aiohttp.ClientSession() as session:
        engine, delivery, web, base = app.engine, app.delivery, app.web, app.url
        try:
            assert (await get(session, base + "/healthz"))[0] == 200
            code, body = await get(session, base + "/readyz")
            assert code == 503 and "device tasks not running" in body["reason"]
            deliver = asyncio.create_task(delivery.run(stop))
            async with running(engine):
                ready = lambda: _ok(session, base + "/readyz")  # noqa: E731
                await async_wait_for(ready, 30, "/readyz 200")
                token = (tmp_path / "data" / "web-token").read_text().strip()

                async def polled() -> bool:
                    _, doc = await get(session, base + "/api/v1/status", token)
                    devs = {d["id"]: d for d in doc["devices"]}
                    return (
                        devs["sl-01"]["state"] is not None
                        and devs["gone-01"]["state"] == "OFFLINE"
                        and len(devs["meter-01"]["values"]) == 6
                        and devs["sl-01"]["health"]["latency_ms"]["samples"] >= 3
                    )

                await async_wait_for(polled, 30, "states, values and latencies in the API")
                _, doc = await get(session, base + "/api/v1/status", token)
                health = {h.device: h for h in engine.health()}
                for dev in doc["devices"]:
                    assert dev["connected"] == health[dev["id"]].connected
                    assert dev["health"]["reads"] <= health[dev["id"]].reads
                meter = next(d for d in doc["devices"] if d["id"] == "meter-01")
                voltage = next(v for v in meter["values"] if v["tag"] == "voltage")
                assert (
                    voltage["unit"] == "V" and voltage["name_zh"] == "电压" and voltage["quality"] == "good"
                )
                assert meter["state"] is None and meter["state_source"] == "none"
                gone = next(d for d in doc["devices"] if d["id"] == "gone-01")
                assert gone["health"]["errors"]["unreachable"] >= 1 and not gone["connected"]
                assert (
                    doc["indicators"]["devices_total"] == 3 and doc["indicators"]["declared_networked"] == 2
                )
                assert doc["indicators"]["online_now"] == 2
                _, page_doc = await get(session, base + "/live.json")
                assert all("health" not in d for d in page_doc["devices"]), "the open page shows no internals"

                code, text = await get(session, base + "/metrics")
                assert code == 200
                series = parse_exposition(text)
                for device in DEVICES:
                    for name in ("shopfloor_device_connected", "shopfloor_device_reads_total"):
                        assert any(f'device="{device}"' in s for s in series[name]), (name, device)
                assert any(
                    'device="gone-01",kind="unreachable"' in s
                    for s in series["shopfloor_device_errors_total"]
                )
                buckets = [s for s in series["shopfloor_device_read_latency_seconds_bucket"] if "sl-01" in s]
                assert buckets[-1].startswith(
                    'shopfloor_device_read_latency_seconds_bucket{device="sl-01",le="+Inf"}'
                )
                assert any('state="' in s and s.endswith(" 1") for s in series["shopfloor_device_state"])
                assert series["shopfloor_outbox_depth"] and series["shopfloor_sink_points_total"]
                assert series["shopfloor_outbox_unconfirmed"]  # records waiting for a store confirmation
                assert any('result="confirmed"' in s for s in series["shopfloor_sink_points_total"])
                assert 'shopfloor_sink_up{sink="' in series["shopfloor_sink_up"][0]
                assert series["process_resident_memory_bytes"] and series["process_open_fds"]

                auth = {"Authorization": f"Bearer {token}"}
                async with (
                    web.app[EVIDENCE].busy,  # a build in progress
                    session.post(base + "/api/v1/evidence", headers=auth) as res,
                ):
                    assert res.status == 409 and (await res.json())["error"] == "busy"
                async with session.post(base + "/api/v1/evidence?from=now&to=-1h", headers=auth) as res:
                    assert res.status == 400 and (await res.json())["error"] == "bad_window"
            stop.set()
            await asyncio.wait_for(deliver, 20)
        finally:
            stop.set()


async def _ok(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        return (await get(session, url))[0] == 200
    except aiohttp.ClientError:
        return False


async def test_shopfloor_run_serves_the_api_behind_a_token(tmp_path: Path, sims: tuple[int, int]) -> None:
    async with collector_process(tmp_path, stacklight=sims[0], meter=sims[1]) as run:
        mode = stat.S_IMODE(run.token_file.stat().st_mode)
        assert mode == 0o600, oct(mode)
        token = run.token()
        assert token not in run.log.read_text(errors="replace"), "the token is never logged"
        async with aiohttp.ClientSession() as session:
            assert (await get(session, run.url + "/healthz"))[0] == 200
            for path in (*API, "/api/v1/devices/nope", "/api/v1/evidence/evidence_x.zip", "/api/v2/other"):
                await assert_refused(session, "GET", run.url + path)
            await assert_refused(session, "POST", run.url + "/api/v1/evidence?from=-1h&to=now")
            for path in API:
                code, _ = await get(session, run.url + path, token)
                assert code == 200, path
            assert (await get(session, run.url + "/api/v1/devices/nope", token))[0] == 404
            code, sinks = await get(session, run.url + "/api/v1/sinks", token)
            assert [s["sink"] for s in sinks["sinks"]] and all("outbox_depth" in s for s in sinks["sinks"])
            code, page = await get(session, run.url + "/")
            assert code == 200 and "<script>" in page and "http://" not in page and "https://" not in page
            code, text = await get(session, run.url + "/metrics")
            series = parse_exposition(text)
            assert {s.split('"')[1] for s in series["shopfloor_device_reads_total"]} == set(DEVICES)


async def test_evidence_pack_built_listed_and_downloaded(tmp_path: Path, sims: tuple[int, int]) -> None:
    async with collector_process(tmp_path, stacklight=sims[0], meter=sims[1]) as run:
        token = run.token()
        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as session:
            code, listing = await get(session, run.url + "/api/v1/evidence", token)
            assert code == 200 and listing["packs"] == []
            async with session.post(run.url + "/api/v1/evidence?from=-10m&to=now", headers=auth) as res:
                built = await res.json()
                assert res.status == 201, built
            # built by a child process: its heap, GIL and collections are not the collector's
            assert built["build"]["pid"] not in (run.proc.pid, os.getpid())
            assert built["build"]["cpu_s"] > 0 and built["build"]["peak_rss_mib"] > 0
            assert built["raw"]["rows"] > 0 and built["headline"]["devices_total"] == 3
            code, listing = await get(session, run.url + "/api/v1/evidence", token)
            pack = next(p for p in listing["packs"] if p["name"] == built["name"])
            assert pack["dir"] and pack["zip"] and pack["download"] == built["download"]
            async with session.get(run.url + built["download"], headers=auth) as res:
                assert res.status == 200 and res.headers["Content-Type"] == "application/zip"
                data = await res.read()
            zip_path = tmp_path / "download.zip"
            zip_path.write_bytes(data)
            with zipfile.ZipFile(zip_path) as zf:
                assert any(n.endswith("manifest.json") for n in zf.namelist())
            code, _ = await get(session, run.url + "/api/v1/evidence/..%2Fplant.zip", token)
            assert code == 404


async def test_a_build_that_cannot_read_the_store_says_so(tmp_path: Path, sims: tuple[int, int]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    dead_store = f"storage: {{backend: victoriametrics, url: '{dead}', direct: true}}\n"  # writes wait
    async with collector_process(tmp_path, stacklight=sims[0], meter=sims[1], extra=dead_store) as run:
        auth = {"Authorization": f"Bearer {run.token()}"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(run.url + "/api/v1/evidence?from=-10m&to=now", headers=auth) as res,
        ):
            body = await res.json()
        assert res.status == 503 and body["error"] == "store_unavailable", body
        assert "victoriametrics http://127.0.0.1:" in body["message"]
        assert run.proc.poll() is None  # the collector carries on
        plant = load_plant(run.plant)
        assert not list(plant.resolve(plant.config.evidence.dir).glob("*evidence_*")), "no half pack left"


async def test_a_pack_built_while_running_verifies_across_a_closed_shift(
    tmp_path: Path, sims: tuple[int, int]
) -> None:
    """A shift ends while the stack light's state (its clock stands still) and the dead device's
    OFFLINE are still open: the shift's KPI rows must be recomputable from the pack's state timeline,
    so the ledger holds those intervals up to the shift end although they have not ended."""
    tz = ZoneInfo("Asia/Shanghai")  # plant_text's site has no timezone: the default
    start = datetime.now(tz) + timedelta(
        seconds=12
    )  # after the collector started: windows before are skipped
    end = start + timedelta(seconds=15)
    if end.date() != start.date():
        pytest.skip("the shift would cross local midnight")
    calendar = f"calendar:\n  shifts: [{{name: T, start: '{start:%H:%M:%S}', end: '{end:%H:%M:%S}'}}]\n"
    async with collector_process(tmp_path, stacklight=sims[0], meter=sims[1], extra=calendar) as run:
        ledger = run.plant.parent / "data" / "ledger"

        def shift_kpis() -> int:
            lines = [
                json.loads(x)
                for f in sorted(ledger.glob("audit-*.jsonl"))
                for x in f.read_text().splitlines()
            ]
            return sum(1 for e in lines if e["type"] == "KPI" and e["payload"]["period"] == "shift")

        await async_wait_for(lambda: shift_kpis() == 2, 60, "the shift's KPI rows (sl-01 and gone-01)")
        async with aiohttp.ClientSession() as session:
            auth = {"Authorization": f"Bearer {run.token()}"}
            # a window reaching 100,000 days back (it wrote a 471 MB pack) is cut to the ledger's span
            async with session.post(run.url + "/api/v1/evidence?from=-100000d&to=now", headers=auth) as res:
                built = await res.json()
                assert res.status == 201, built
            first = min(json.loads(f.read_text().splitlines()[0])["ts"] for f in ledger.glob("audit-*.jsonl"))
            assert built["window"]["from_ms"] == first > built["requested"]["from_ms"]
            assert await asyncio.to_thread(os.path.getsize, built["zip"]) < 5_000_000
            # built by a child process: its heap, GIL and collections are not the collector's
            assert built["build"]["pid"] not in (run.proc.pid, os.getpid())
            assert built["build"]["cpu_s"] > 0 and built["build"]["peak_rss_mib"] > 0
            assert built["raw"]["rows"] > 0 and built["headline"]["devices_total"] == 3
        verify = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "collector", "evidence", "verify", built["path"], "-c", str(run.plant),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await verify.communicate()
        report = out.decode()
        assert verify.returncode == 0, report
        assert re.search(r"PASS .*OEE recomputation .*time elements of 2 recomputed", report), report
