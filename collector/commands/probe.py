"""`shopfloor probe`: read every tag of the devices once and show what came back.

The commissioning check before the collector runs: values, the raw registers or bytes behind them (to
spot a wrong word order or an off-by-one address at a glance), each tag's quality and the poll
latency. With `--plan` it first shows the requests the driver will send per poll. It exits 0 only when
every device answered and every tag is Good (the commissioning sign-off), 1 otherwise, 2 for a bad file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from collector.commands.common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, load_or_report
from collector.commands.plans import mc_plan_rows, modbus_plan_rows, s7_plan_rows
from collector.config.mc import McDevice
from collector.config.opcua import OpcUaDevice
from collector.config.plant import Device, ModbusDevice
from collector.config.s7 import S7Device
from drivers import status as status_codes
from drivers.base import DriverError, RawSample
from drivers.modbus.bus import BusRegistry
from drivers.modbus.driver import ModbusDriver
from drivers.modbus.planner import PlanError, describe_plan

_STATUS_NAMES: dict[int, str] = {
    value: name
    for name, value in vars(status_codes).items()
    if name.isupper() and not name.startswith("_") and isinstance(value, int)
}


def status_name(code: int) -> str:
    """'GOOD', 'BAD_TIMEOUT' …, or the hex code when it has no name here."""
    return _STATUS_NAMES.get(code, f"0x{code:08X}")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "probe", help="read every tag once: value, raw registers or bytes, quality; exit 0 only if all Good"
    )
    parser.add_argument("-c", "--config", required=True, help="plant YAML file")
    parser.add_argument("--device", action="append", metavar="ID", help="only this device (repeatable)")
    parser.add_argument("--plan", action="store_true", help="also show the read requests of each device")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=_probe)


@dataclass
class DeviceReport:
    device: str
    endpoint: str
    plan: str = ""
    plan_requests: list[dict[str, Any]] = field(default_factory=list)  # --plan, one entry per request
    requests: int = 0
    latency_ms: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # what the driver learned while reading
    tags: list[dict[str, Any]] = field(default_factory=list)

    @property
    def bad(self) -> list[str]:
        return [t["name"] for t in self.tags if status_codes.is_bad(t["status"])]


def _probe(args: argparse.Namespace) -> int:
    plant = load_or_report(args.config)
    if plant is None:
        return EXIT_BAD_INPUT
    devices = plant.config.devices
    if args.device:
        unknown = sorted(set(args.device) - {d.id for d in devices})
        if unknown:
            print(f"no device {', '.join(unknown)} in {args.config}", file=sys.stderr)
            return EXIT_BAD_INPUT
        devices = [d for d in devices if d.id in args.device]
    pki_dir = plant.resolve(plant.config.data_dir) / "pki"  # the collector's own trust store
    try:
        reports = asyncio.run(_probe_all(devices, args.plan, pki_dir))
    except (PlanError, ValueError) as exc:  # a tag larger than one request allows
        print(f"{args.config}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps([asdict(r) for r in reports], ensure_ascii=False, indent=2))
    else:
        print("\n\n".join(_render(r) for r in reports))
    failed = [r for r in reports if r.error or r.bad]
    for r in failed:
        why = r.error or f"{len(r.bad)} tag{'s' * (len(r.bad) != 1)} Bad: {', '.join(r.bad)}"
        print(f"probe: {r.device}: {why}", file=sys.stderr)
    return EXIT_FAILURE if failed else EXIT_OK


async def _probe_all(devices: list[Device], with_plan: bool, pki_dir: Path) -> list[DeviceReport]:
    registry = BusRegistry()  # devices on one serial line share it, as in the collector
    reports = []
    for dev in devices:
        if isinstance(dev, OpcUaDevice):
            reports.append(await _probe_opcua(dev, pki_dir))
        elif isinstance(dev, S7Device | McDevice):
            reports.append(await _probe_plc(dev, with_plan))
        elif isinstance(dev, ModbusDevice):
            reports.append(await _probe_modbus(dev, registry, with_plan))
    return reports


async def _probe_opcua(device: OpcUaDevice, pki_dir: Path) -> DeviceReport:
    """One Read of every tag through the collector's own driver (same resolution, security, trust)."""
    from drivers.opcua.driver import OpcUaDriver

    report = DeviceReport(device.id, device.endpoint)
    driver = OpcUaDriver(device.driver_options(), pki_dir)
    try:
        async with driver:
            started = time.monotonic()
            samples = await driver.read()
            report.latency_ms = round((time.monotonic() - started) * 1000, 2)
    except DriverError as exc:
        report.error = f"{type(exc).__name__}: {exc}"
        return report
    report.requests = 1
    report.tags = [_tag_row(s, None) for s in samples]
    return report


async def _probe_modbus(device: ModbusDevice, registry: BusRegistry, with_plan: bool) -> DeviceReport:
    options = device.driver_options()
    driver = ModbusDriver(options, registry)
    report = DeviceReport(device.id, f"{options.endpoint} unit {device.unit_id}")
    if with_plan:
        report.plan, report.plan_requests = describe_plan(driver.plan), modbus_plan_rows(driver.plan)
    try:
        async with driver:
            samples, raw = await driver.read_with_raw()
    except DriverError as exc:
        report.error = f"{type(exc).__name__}: {exc}"
        return report
    _finish(report, driver.stats.last_poll_requests, driver.stats.last_poll_s)
    report.tags = [_tag_row(s, _words(raw.get(s.tag))) for s in samples]
    for kind, size in driver.stats.limit_learned.items():
        report.notes.append(
            f"the device refused longer reads (exception 03): learned max_{kind}: {size}; "
            f"add it to the device to skip the learning"
        )
    if with_plan and driver.stats.limit_learned:
        report.plan, report.plan_requests = describe_plan(driver.plan), modbus_plan_rows(driver.plan)
    if samples and all(s.status == status_codes.BAD_TIMEOUT for s in samples):
        report.error = (
            f"connected, but no answer within {device.timeout:g} s (check unit id {device.unit_id})"
        )
    return report


async def _probe_plc(device: S7Device | McDevice, with_plan: bool) -> DeviceReport:
    """An S7 or MC device: the plan is made from what the CPU granted, so it is shown after connecting."""
    from drivers.mc.driver import McDriver
    from drivers.s7.driver import S7Driver

    driver: S7Driver | McDriver
    driver = (
        S7Driver(device.driver_options())
        if isinstance(device, S7Device)
        else McDriver(device.driver_options())
    )
    report = DeviceReport(device.id, driver.options.endpoint)
    try:
        async with driver:
            if with_plan:
                report.plan = driver.describe_plan()
                rows = (
                    s7_plan_rows(driver.plan) if isinstance(driver, S7Driver) else mc_plan_rows(driver.plan)
                )
                report.plan_requests = rows
            samples, raw = await driver.read_with_raw()
    except DriverError as exc:
        report.error = f"{type(exc).__name__}: {exc}"
        return report
    _finish(report, driver.stats.last_poll_requests, driver.stats.last_poll_s)
    shown = {name: _bytes(v) if isinstance(v, bytes) else _words(v) for name, v in raw.items()}
    report.tags = [_tag_row(s, shown.get(s.tag)) for s in samples]
    return report


def _finish(report: DeviceReport, requests: int, poll_s: float | None) -> None:
    report.requests = requests
    if poll_s is not None:
        report.latency_ms = round(poll_s * 1000, 2)


def _words(words: tuple[int, ...] | None) -> list[str] | None:
    return [f"0x{w:04X}" for w in words] if words is not None else None


def _bytes(data: bytes) -> list[str]:
    return [data[i : i + 4].hex().upper() for i in range(0, len(data), 4)]


def _tag_row(sample: RawSample, raw: list[str] | None) -> dict[str, Any]:
    return {
        "name": sample.tag,
        "value": sample.value,
        "raw": raw,
        "quality": status_name(sample.status),
        "status": sample.status,
    }


def _render(r: DeviceReport) -> str:
    lines = [f"{r.device}  {r.endpoint}"]
    if r.plan:
        lines.extend("  " + line for line in r.plan.splitlines())
    lines.extend(f"  LEARNED: {note}" for note in r.notes)
    if r.error:
        lines.append(f"  UNREACHABLE: {r.error}")
        if not r.tags:
            return "\n".join(lines)
    lines.append(f"  {len(r.tags)} tags in {r.requests} requests, {r.latency_ms} ms")
    width = max((len(t["name"]) for t in r.tags), default=4)
    for t in r.tags:
        raw = " ".join(t["raw"]) if t["raw"] else "-"
        value = "-" if t["value"] is None else repr(t["value"])
        lines.append(f"  {t['name']:<{width}}  {value:>20}  {raw:<24}  {t['quality']}")
    return "\n".join(lines)
