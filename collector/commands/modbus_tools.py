"""`shopfloor modbus word-order` and `shopfloor import modbus-map|s7-map|mc-map`: commissioning aids.

word-order reads a tag's registers live (or takes them from `--words`) and lists every type and byte
order that decodes into the range the engineer expects (docs/STANDARDS.md §9.4). modbus-map turns a register
table from the integrator into device YAML and lists the rows it could not map.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from collector.commands.common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK
from collector.config import ConfigError, load_plant
from collector.config.plant import ModbusDevice
from collector.importers.modbus_map import ImportFailed, ImportOptions, convert, read_sheet, to_yaml
from collector.importers.plc_map import PlcImportOptions, convert_plc, plc_yaml
from drivers.mc.spec import Series
from drivers.modbus.bus import BusRegistry
from drivers.modbus.errors import LinkDown, RequestFailed, UnitQuarantined
from drivers.modbus.spec import ModbusTagSpec, Table
from drivers.modbus.wordorder import describe_candidates, guess_word_order

PROTOCOLS = ("modbus_tcp", "modbus_rtu_over_tcp", "modbus_rtu")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    modbus = sub.add_parser("modbus", help="Modbus commissioning tools")
    tools = modbus.add_subparsers(dest="modbus_cmd", required=True, metavar="{word-order}")
    wo = tools.add_parser("word-order", help="guess type and byte order from registers and a plausible range")
    wo.add_argument("-c", "--config", help="plant YAML (to read the tag live)")
    wo.add_argument("--device", help="device id (with -c)")
    wo.add_argument("--tag", help="tag name (with -c); its registers are read once")
    wo.add_argument("--count", type=int, choices=(1, 2, 4), help="registers to read (default: the tag's)")
    wo.add_argument("--words", help="offline: registers as read, e.g. 0x4366,0x0000")
    wo.add_argument("--range", required=True, help="plausible engineering values, e.g. 200:250")
    wo.set_defaults(func=_word_order)

    imp = sub.add_parser("import", help="turn integrator documents into configuration")
    kinds = imp.add_subparsers(dest="import_cmd", required=True, metavar="{modbus-map,s7-map,mc-map}")
    mm = kinds.add_parser("modbus-map", help="register table (.csv, .xlsx) -> device YAML")
    mm.add_argument("file", type=Path, help="CSV (UTF-8 or GBK) or XLSX register table")
    mm.add_argument("--device-id", default="device-01")
    mm.add_argument("--protocol", choices=PROTOCOLS, default="modbus_tcp")
    mm.add_argument("--host", default="127.0.0.1", help="device host (modbus_rtu: the serial port)")
    mm.add_argument("--port", type=int, default=502)
    mm.add_argument("--unit-id", type=int, default=1)
    mm.add_argument("--base", type=int, choices=(0, 1), default=0, help="base of bare register offsets")
    mm.add_argument("--table", choices=[t.value for t in Table], default=Table.HOLDING_REGISTER.value,
                    help="table of bare offsets when the sheet has no table column")  # fmt: skip
    mm.set_defaults(func=_import_map)
    s7 = kinds.add_parser("s7-map", help="TIA Portal tag table or DB offsets (.csv, .xlsx) -> S7 device YAML")
    s7.add_argument("file", type=Path, help="CSV (UTF-8 or GBK) or XLSX: 名称, 数据类型, 地址 or 偏移量")
    s7.add_argument("--device-id", default="device-01")
    s7.add_argument("--host", default="127.0.0.1")
    s7.add_argument("--port", type=int, default=None, help="default 102")
    s7.add_argument("--db", type=int, default=None, help="DB number of a 偏移量 (offset) column")
    s7.set_defaults(func=_import_plc, protocol="s7")
    mc = kinds.add_parser("mc-map", help="GX Works label or device list (.csv, .xlsx) -> MC device YAML")
    mc.add_argument("file", type=Path, help="CSV (UTF-8 or GBK) or XLSX: 名称, 软元件 (D100, X17), 数据类型")
    mc.add_argument("--device-id", default="device-01")
    mc.add_argument("--host", default="127.0.0.1")
    mc.add_argument("--port", type=int, required=True, help="the MC/SLMP port set in the CPU")
    mc.add_argument("--series", choices=[s.value for s in Series], default=Series.Q.value,
                    help="iq-f numbers X/Y in octal, the others in hex")  # fmt: skip
    mc.set_defaults(func=_import_plc, protocol="mc")


def _parse_range(text: str) -> tuple[float, float]:
    low, sep, high = text.partition(":")
    if not sep:
        raise ValueError(f"--range {text!r}: write LOW:HIGH, e.g. 200:250")
    return float(low), float(high)


def _parse_words(text: str) -> list[int]:
    words = [int(w.strip(), 0) for w in text.split(",") if w.strip()]
    if not all(0 <= w <= 0xFFFF for w in words):
        raise ValueError("--words: each register is 0..0xFFFF")
    return words


def _word_order(args: argparse.Namespace) -> int:
    try:
        low, high = _parse_range(args.range)
        if args.words:
            words = _parse_words(args.words)
        elif args.config and args.device and args.tag:
            words = _read_live(args)
        else:
            print("give --words, or -c PLANT --device ID --tag NAME", file=sys.stderr)
            return EXIT_BAD_INPUT
    except _LiveFailed as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILURE
    except (ValueError, _BadInput) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    if len(words) not in (1, 2, 4):
        print(f"need 1, 2 or 4 registers, got {len(words)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"registers {' '.join(f'0x{w:04X}' for w in words)}; readings within {low:g}..{high:g}:")
    print(describe_candidates(guess_word_order(words, low, high)))
    return EXIT_OK


class _BadInput(Exception):
    pass


class _LiveFailed(Exception):
    pass


def _read_live(args: argparse.Namespace) -> list[int]:
    try:
        plant = load_plant(args.config)
    except ConfigError as exc:
        raise _BadInput(str(exc)) from exc
    device = next((d for d in plant.config.devices if d.id == args.device), None)
    if device is None or not isinstance(device, ModbusDevice):
        raise _BadInput(f"no Modbus device {args.device!r} in {args.config}")
    spec = next((t for t in device.tag_specs() if t.name == args.tag), None)
    if spec is None:
        raise _BadInput(f"device {args.device} has no tag {args.tag!r}")
    if spec.table.is_bit:
        raise _BadInput(f"tag {args.tag} is a {spec.table.value}: bits have no word order")
    return asyncio.run(_read_words(device, spec, args.count or spec.count))


async def _read_words(device: ModbusDevice, spec: ModbusTagSpec, count: int) -> list[int]:
    bus = BusRegistry().bus_for(device.endpoint(), device.timeout, device.id)
    try:
        await bus.acquire()
        try:
            return await bus.request(
                spec.unit_id, lambda link: link.read(spec.unit_id, spec.table, spec.address, count)
            )
        finally:
            bus.release()
    except (LinkDown, UnitQuarantined, RequestFailed) as exc:
        raise _LiveFailed(f"{device.id}: reading {spec.name} failed: {exc}") from exc


def _import_map(args: argparse.Namespace) -> int:
    options = ImportOptions(
        device_id=args.device_id,
        protocol=args.protocol,
        host=args.host,
        port=args.port,
        unit_id=args.unit_id,
        base=args.base,
        default_table=Table(args.table),
    )
    try:
        sheet = read_sheet(args.file)
    except ImportFailed as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    result = convert(sheet.rows, options)
    print(to_yaml(result, options, args.file.name), end="")
    return _report(args.file, sheet.ignored, result.problems, result.notes, len(result.tags))


def _import_plc(args: argparse.Namespace) -> int:
    options = PlcImportOptions(
        protocol=args.protocol, device_id=args.device_id, host=args.host, port=args.port,
        db=getattr(args, "db", None), series=Series(getattr(args, "series", Series.Q.value)),
    )  # fmt: skip
    try:
        sheet = read_sheet(args.file)
    except ImportFailed as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    result = convert_plc(sheet.rows, options)
    print(plc_yaml(result, options, args.file.name, sheet.ignored), end="")
    return _report(args.file, sheet.ignored, result.problems, [], len(result.tags))


def _report(
    path: Path, ignored: list[str], problems: list[tuple[int, str]], notes: list[str], imported: int
) -> int:
    """What was not imported, on stderr: columns, rows and what the integrator must decide by hand."""
    if ignored:
        print(f"{path}: columns not imported: {', '.join(ignored)}", file=sys.stderr)
    for number, why in problems:
        print(f"{path}: row {number}: not imported: {why}", file=sys.stderr)
    for note in notes:
        print(f"{path}: {note}", file=sys.stderr)
    print(f"{imported} tags imported, {len(problems)} rows skipped", file=sys.stderr)
    return EXIT_OK if imported else EXIT_BAD_INPUT
