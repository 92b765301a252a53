"""OPC UA faults independent testing found (issue 17, "Devices"), each a test that failed before its
fix: a server that stops publishing never has its cached values passed off as Good; a server that
does not trust our certificate (node-opcua) gets the advice, not asyncua's AssertionError; and a
routine fault is one WARNING line from the collector, with asyncua's tracebacks kept at DEBUG."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from collector.config.opcua import OpcUaDevice
from drivers.backoff import Backoff
from drivers.opcua.certs import Pki
from drivers.status import UNCERTAIN_NO_COMMUNICATION_LAST_USABLE, is_good
from simulators.opcua import CncSimulator
from tests.support.interop import NS, node_opcua_server
from tests.support.net import async_wait_for
from tests.support.opcua import device
from tests.support.worker import Worked, connected, service_logging, warnings_from, worker_running

pytestmark = pytest.mark.integration

SPEED = "Monitoring/Spindle/ActualSpeed"
QUICK = Backoff(base=0.2, cap=1.0)  # the server's port answers throughout: no TCP watch to hurry it


def from_worker(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in warnings_from(caplog) if r.name == "collector.worker"]


def after(worked: Worked, start: int, tag: str) -> list[int]:
    return [r.status for r in worked.readings[start:] if r.tag == tag]


async def test_a_server_that_stops_publishing_never_has_its_cache_passed_off_as_good() -> None:
    async with CncSimulator(name="cnc-01", update_interval=0.2) as sim:
        # keep-alive 500 ms at 100 ms publishing; the watchdog is far away, so only the cache rule acts
        dev = device(sim, paths=[SPEED], poll_interval="100ms", watchdog="60s")
        tag = dev.tags[0].name
        async with worker_running(dev) as (worker, worked):
            await async_wait_for(lambda: any(map(is_good, worked.statuses(tag))), 30, "Good values")
            await sim.mute()  # the session and reads go on; no publish, no keep-alive
            muted_at = len(worked.readings)
            await async_wait_for(
                lambda: UNCERTAIN_NO_COMMUNICATION_LAST_USABLE in after(worked, muted_at, tag),
                30, "the cached value marked as the last usable one",
            )  # fmt: skip
            statuses = after(worked, muted_at, tag)
            unconfirmed = statuses.index(UNCERTAIN_NO_COMMUNICATION_LAST_USABLE)
            assert not any(map(is_good, statuses[unconfirmed:])), "no Good value once it is unconfirmed"
            marked = next(r for r in worked.readings[muted_at:] if r.status != 0)
            assert marked.value is not None, "the last value is kept, marked Uncertain"
            assert not connected(worker)
            assert worker.health.errors["no_answer"] >= 1
            await sim.unmute()
            unmuted_at = len(worked.readings)
            await async_wait_for(lambda: any(map(is_good, after(worked, unmuted_at, tag))), 30, "Good again")
            assert connected(worker)


def secured(endpoint: str, pki: Pki) -> OpcUaDevice:
    return OpcUaDevice.model_validate({
        "id": "interop", "protocol": "opcua", "endpoint": endpoint, "timeout": "2s", "poll_interval": "200ms",
        "security": {"mode": "SignAndEncrypt", "policy": "Basic256Sha256"}, "pki_dir": str(pki.root),
        "trust_on_first_use": True, "application_uri": "urn:shopfloor-test:collector",
        "namespaces": {"n": NS}, "tags": [{"name": "speed", "node": "n:Machine/Speed"}],
    })  # fmt: skip


async def test_a_server_that_does_not_trust_us_gets_the_advice_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pki = Pki(tmp_path / "collector-pki")
    pki.init("urn:shopfloor-test:collector", "127.0.0.1")
    server_pki = tmp_path / "server-pki"
    with service_logging(caplog):
        async with (
            node_opcua_server(server_pki, "--distrust") as endpoint,
            worker_running(secured(endpoint, pki), backoff=QUICK) as (worker, worked),
        ):
            await async_wait_for(lambda: worker.health.consecutive_errors >= 2, 60, "refused twice")
            (refused,) = from_worker(caplog)
            # the advice works: our certificate, moved to the server's trusted folder, is accepted
            rejected = lambda: [p for p in (server_pki / "rejected").iterdir() if p.suffix == ".pem"]  # noqa: E731
            (ours,) = await async_wait_for(rejected, 30, "our certificate among the server's rejected ones")
            shutil.move(ours, server_pki / "trusted" / "certs" / ours.name)
            await async_wait_for(lambda: any(map(is_good, worked.statuses("speed"))), 60, "Good values")
    assert refused.getMessage() == (
        f"interop: {endpoint}: the server refused to open a secure channel with our certificate; it most "
        f"likely does not trust it yet: copy {pki.own_cert} into the server's trusted certificates "
        "folder (or accept it in its certificate manager); the collector retries by itself"
    )
    assert [r.getMessage() for r in from_worker(caplog)] == [refused.getMessage(), "interop: reading again"]
    # besides, only the driver's note that it trusted the server's certificate (trust_on_first_use)
    expected = ["drivers.opcua.security", "collector.worker", "collector.worker"]
    assert [r.name for r in warnings_from(caplog)] == expected
    assert not [r for r in caplog.records if r.exc_info or r.name.startswith("asyncua")]


async def test_a_stalled_server_is_one_warning_and_no_library_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with service_logging(caplog):
        async with CncSimulator(name="cnc-01", update_interval=0.2) as sim:
            dev = device(sim, paths=[SPEED], poll_interval="100ms", watchdog="1s")
            async with worker_running(dev, backoff=QUICK) as (worker, worked):
                tag = dev.tags[0].name
                await async_wait_for(lambda: any(map(is_good, worked.statuses(tag))), 30, "Good values")
                await sim.stall()
                await async_wait_for(
                    lambda: worker.health.errors["unreachable"] >= 2, 30, "reconnects failing"
                )
                await sim.unstall()
                await async_wait_for(lambda: connected(worker), 30, "connected again")
    said = [(r.name, r.getMessage()) for r in warnings_from(caplog)]
    assert len(said) == 2 and said[1] == ("collector.worker", "cnc: reading again"), said
    assert said[0][0] == "collector.worker"
    assert not [r for r in caplog.records if r.exc_info or r.name.startswith("asyncua")]
