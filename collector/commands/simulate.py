"""`shopfloor simulate cnc|plc|plant`: the simulators, for development, demos and commissioning drills."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from collector.commands.common import EXIT_BAD_INPUT, EXIT_OK, report_problems
from collector.config import ConfigError
from collector.config.units import parse_duration


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("simulate", help="run simulated CNC machines (OPC UA) and PLCs (Modbus)")
    cmds = parser.add_subparsers(dest="sim_cmd", required=True, metavar="{cnc,plc,plant}")

    def common(p: argparse.ArgumentParser, port: int) -> None:
        p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=port, help=f"TCP port (default {port}; 0 = any free port)")
        p.add_argument("--seed", type=int, default=1, help="seed of the machine's schedule")
        p.add_argument("--time-scale", type=float, default=1.0, help="simulated seconds per real second")
        p.add_argument("--update-interval", default="1s", help="how often values change (real time)")

    cnc = cmds.add_parser("cnc", help="one CNC machine over OPC UA (OPC 40501 MachineTool layout)")
    common(cnc, 4840)
    cnc.add_argument("--name", default="cnc-01")
    cnc.add_argument("--profile", choices=["machinetool", "legacy-cnc"], default="machinetool")
    cnc.set_defaults(func=_cnc)

    plc = cmds.add_parser("plc", help="one PLC or meter over Modbus TCP, RTU or RTU over TCP")
    common(plc, 5020)
    plc.add_argument("--name", default="plc-01")
    plc.add_argument(
        "--profile", default="stacklight-plc", help="stacklight-plc, energy-meter, injection-molding"
    )
    plc.add_argument("--transport", choices=["tcp", "rtu", "rtu-over-tcp"], default="tcp")
    plc.add_argument(
        "--serial-port", help="serial device for --transport rtu (e.g. one end of a socat pty pair)"
    )
    plc.add_argument("--byte-order", choices=["ABCD", "BADC", "CDAB", "DCBA"], default="ABCD")
    plc.add_argument("--unit-id", type=int, default=1)
    plc.set_defaults(func=_plc)

    plant = cmds.add_parser("plant", help="a whole plant scenario: many machines, faults, control endpoint")
    plant.add_argument(
        "-c", "--config", required=True, help="scenario YAML (configs/sim/, simulators/scenarios/)"
    )
    plant.add_argument("--emit-config", metavar="FILE", help="write the matching collector plant YAML here")
    plant.add_argument("--no-faults", action="store_true", help="ignore the scenario's fault schedule")
    plant.add_argument("--duration", help="stop after this long (e.g. 10m); default: until Ctrl-C")
    plant.set_defaults(func=_plant)


def _interval(args: argparse.Namespace) -> float:
    return parse_duration(args.update_interval)


def _cnc(args: argparse.Namespace) -> int:
    from simulators.opcua.cli import run_cnc

    coro = run_cnc(args.name, args.host, args.port, args.profile, args.seed, args.time_scale, _interval(args))
    return _run_forever(coro)


def _plc(args: argparse.Namespace) -> int:
    from simulators.modbus import available_profiles
    from simulators.modbus.cli import run_plc

    if args.profile not in available_profiles():
        print(f"unknown profile {args.profile!r}; known: {', '.join(available_profiles())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.transport == "rtu" and not args.serial_port:
        print("--transport rtu needs --serial-port", file=sys.stderr)
        return EXIT_BAD_INPUT
    coro = run_plc(
        args.name, args.host, args.port, args.profile, args.seed, args.time_scale, _interval(args),
        args.transport, serial_port=args.serial_port, byte_order=args.byte_order, unit_id=args.unit_id,
    )  # fmt: skip
    return _run_forever(coro)


def _plant(args: argparse.Namespace) -> int:
    from simulators.scenario import load_scenario

    try:
        scenario = load_scenario(args.config)
    except ConfigError as exc:
        report_problems(exc)
        return EXIT_BAD_INPUT
    duration = parse_duration(args.duration) if args.duration else None
    emit = Path(args.emit_config) if args.emit_config else None
    return _run_forever(_serve_plant(scenario, emit, not args.no_faults, duration))


async def _serve_plant(scenario: object, emit: Path | None, faults: bool, duration: float | None) -> None:
    from simulators.control import ControlServer
    from simulators.emit import write_plant_config
    from simulators.plant import SimulatedPlant
    from simulators.scenario import Scenario

    assert isinstance(scenario, Scenario)
    async with SimulatedPlant(scenario, run_faults=faults) as plant:
        print(f"scenario {scenario.name}: {len(plant.devices)} devices, time scale {scenario.time_scale}x")
        for line in plant.endpoints():
            print("  " + line)
        if scenario.control_port is not None:
            async with ControlServer(plant, scenario.host, scenario.control_port) as control:
                print(f"fault control: {control.url}/devices", flush=True)
                await _finish(plant, emit, duration, write_plant_config)
        else:
            await _finish(plant, emit, duration, write_plant_config)


async def _finish(plant: object, emit: Path | None, duration: float | None, writer: object) -> None:
    if emit is not None:
        writer(plant, emit)  # type: ignore[operator]
        print(f"collector plant file written to {emit}", flush=True)
    print("ready", flush=True)
    if duration is None:
        await asyncio.Event().wait()
    else:
        await asyncio.sleep(duration)


def _run_forever(coro: object) -> int:
    try:
        asyncio.run(coro)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # port taken, serial device missing: bad input, said plainly
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    return EXIT_OK
