"""Address-space layouts of the CNC simulator and the mapping from machine state to tag values.

Two profiles:

``machinetool``
    Modelled on OPC 40501-1 (OPC UA for Machine Tools / umati): ``Objects/Machines/<name>/...``.
    Simplifications, documented because a reader may compare with the spec: plain Objects instead
    of the companion-spec ObjectTypes, String instead of LocalizedText for Identification, enum
    values as Int32, ``PowerOnDuration`` is UInt32 **hours** (as in the spec).
``legacy-cnc``
    Flat string NodeIds (``ns=<idx>;s=Spindle.Speed``) in one folder ``Objects/<name>``, the way
    retrofit gateways expose a controller.

A tag is addressed by its path relative to the machine ("Monitoring/Spindle/ActualSpeed") in the
machinetool profile and by its string id ("Spindle.Speed") in the legacy profile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asyncua import ua
from asyncua.server.server import Server

from simulators.machine import MachineSnapshot, Phase

log = logging.getLogger(__name__)

VT = ua.VariantType
UINT32_MASK = 0xFFFFFFFF

# Enumerations (values as in OPC 40501-1 where the brief fixed them, otherwise our own, documented).
OPERATION_MODE = {"Manual": 0, "Automatic": 1, "Setup": 2}
CHANNEL_STATE = {"Active": 0, "Interrupted": 1, "Reset": 2}
CHANNEL_MODE = {"Automatic": 0, "MDA": 1, "JogManual": 2}
SIGNAL_COLOR = {"Red": 1, "Green": 2, "Yellow": 4}
SIGNAL_MODE = {"Continuous": 0, "Blinking": 1}
PROGRAM_STATE_NUMBER = {"Initializing": 0, "Running": 1, "Interrupted": 2, "Ended": 3, "Aborted": 4}
LAMPS = ("Red", "Yellow", "Green")  # Lamp0, Lamp1, Lamp2

PROFILES = ("machinetool", "legacy-cnc")


@dataclass(frozen=True)
class Identity:
    name: str
    manufacturer: str
    model: str
    serial: str


@dataclass(frozen=True)
class TagSpec:
    path: str
    vtype: ua.VariantType


@dataclass
class Layout:
    """The built address space: tag path -> NodeId and variant type, plus the value mapping."""

    root: ua.NodeId  # top node we created (deleted on a renumbering restart)
    machine: ua.NodeId  # the machine object; emits the alarm events
    nodes: dict[str, ua.NodeId]
    types: dict[str, ua.VariantType]
    values: Callable[[MachineSnapshot, bool], dict[str, Any]]


def _channel_state(phase: Phase) -> int:
    if phase is Phase.RUNNING:
        return CHANNEL_STATE["Active"]
    # An alarm stops the channel mid-program: Interrupted until the reset, then Reset.
    if phase in (Phase.FEED_HOLD, Phase.ALARM):
        return CHANNEL_STATE["Interrupted"]
    return CHANNEL_STATE["Reset"]


def _lamps(phase: Phase, blink_on: bool) -> dict[str, tuple[bool, int]]:
    """(SignalOn, SignalMode) per lamp colour. IDLE and POWER_OFF show all lamps off."""
    cont = SIGNAL_MODE["Continuous"]
    lamps = {c: (False, cont) for c in LAMPS}
    if phase is Phase.RUNNING:
        lamps["Green"] = (True, cont)
    elif phase in (Phase.FEED_HOLD, Phase.SETUP):
        lamps["Yellow"] = (True, cont)
    elif phase is Phase.ALARM:
        lamps["Red"] = (blink_on, SIGNAL_MODE["Blinking"])
    return lamps


def _common(s: MachineSnapshot) -> dict[str, Any]:
    return {
        "mode": OPERATION_MODE["Setup"] if s.phase is Phase.SETUP else OPERATION_MODE["Automatic"],
        "channel_mode": CHANNEL_MODE["JogManual"] if s.phase is Phase.SETUP else CHANNEL_MODE["Automatic"],
        "power_on_h": int(s.power_on_s // 3600) & UINT32_MASK,
    }


MACHINETOOL_TAGS: tuple[TagSpec, ...] = (
    TagSpec("Identification/Manufacturer", VT.String),
    TagSpec("Identification/Model", VT.String),
    TagSpec("Identification/SerialNumber", VT.String),
    TagSpec("Monitoring/MachineTool/OperationMode", VT.Int32),
    TagSpec("Monitoring/MachineTool/PowerOnDuration", VT.UInt32),
    *(
        TagSpec(f"Monitoring/Stacklight/Lamp{i}/{leaf}", vt)
        for i in range(len(LAMPS))
        for leaf, vt in (("SignalColor", VT.Int32), ("SignalOn", VT.Boolean), ("SignalMode", VT.Int32))
    ),
    TagSpec("Monitoring/Channel1/ChannelState", VT.Int32),
    TagSpec("Monitoring/Channel1/ChannelMode", VT.Int32),
    TagSpec("Monitoring/Channel1/FeedOverride", VT.Double),
    TagSpec("Monitoring/Spindle/IsRotating", VT.Boolean),
    TagSpec("Monitoring/Spindle/ActualSpeed", VT.Double),
    TagSpec("Monitoring/Spindle/Override", VT.Double),
    TagSpec("Production/ActiveProgram/Name", VT.String),
    TagSpec("Production/ActiveProgram/State", VT.String),
    TagSpec("Production/ActiveProgram/StateNumber", VT.UInt32),
    TagSpec("Production/ActiveProgram/PartsCompletedPerRun", VT.UInt32),
    TagSpec("Production/ActiveProgram/PartsPlannedPerRun", VT.UInt32),
    TagSpec("Production/Statistics/PartsProducedInLifetime", VT.UInt32),
    TagSpec("Production/Statistics/PartsGoodInLifetime", VT.UInt32),
    TagSpec("Production/Statistics/PartsScrapInLifetime", VT.UInt32),
    TagSpec("Notification/Messages/ActiveAlarmCode", VT.Int32),
    TagSpec("Notification/Messages/ActiveAlarmText", VT.String),
)

LEGACY_TAGS: tuple[TagSpec, ...] = (
    TagSpec("Machine.Serial", VT.String),
    TagSpec("Machine.Mode", VT.Int32),
    TagSpec("Machine.PowerOnHours", VT.UInt32),
    TagSpec("Spindle.Speed", VT.Double),
    TagSpec("Spindle.Running", VT.Boolean),
    TagSpec("Channel.State", VT.Int32),
    TagSpec("Channel.FeedOverride", VT.Double),
    TagSpec("Program.Name", VT.String),
    TagSpec("Program.State", VT.String),
    TagSpec("Counter.Total", VT.UInt32),
    TagSpec("Counter.Run", VT.UInt32),
    TagSpec("Counter.Scrap", VT.UInt32),
    TagSpec("Alarm.Code", VT.Int32),
    TagSpec("Alarm.Text", VT.String),
    TagSpec("Lamp.Red", VT.Boolean),
    TagSpec("Lamp.Yellow", VT.Boolean),
    TagSpec("Lamp.Green", VT.Boolean),
)


def machinetool_values(ident: Identity) -> Callable[[MachineSnapshot, bool], dict[str, Any]]:
    def values(s: MachineSnapshot, blink_on: bool) -> dict[str, Any]:
        c = _common(s)
        out: dict[str, Any] = {
            "Identification/Manufacturer": ident.manufacturer,
            "Identification/Model": ident.model,
            "Identification/SerialNumber": ident.serial,
            "Monitoring/MachineTool/OperationMode": c["mode"],
            "Monitoring/MachineTool/PowerOnDuration": c["power_on_h"],
            "Monitoring/Channel1/ChannelState": _channel_state(s.phase),
            "Monitoring/Channel1/ChannelMode": c["channel_mode"],
            "Monitoring/Channel1/FeedOverride": s.feed_override,
            "Monitoring/Spindle/IsRotating": s.spindle_rotating,
            "Monitoring/Spindle/ActualSpeed": round(s.spindle_speed, 1),
            "Monitoring/Spindle/Override": 100.0 if s.spindle_rotating else 0.0,
            "Production/ActiveProgram/Name": s.program_name,
            "Production/ActiveProgram/State": s.program_state,
            "Production/ActiveProgram/StateNumber": PROGRAM_STATE_NUMBER[s.program_state],
            "Production/ActiveProgram/PartsCompletedPerRun": s.parts_in_run & UINT32_MASK,
            "Production/ActiveProgram/PartsPlannedPerRun": s.cycles_planned & UINT32_MASK,
            "Production/Statistics/PartsProducedInLifetime": s.parts_total & UINT32_MASK,
            "Production/Statistics/PartsGoodInLifetime": s.parts_good & UINT32_MASK,
            "Production/Statistics/PartsScrapInLifetime": s.parts_scrap & UINT32_MASK,
            "Notification/Messages/ActiveAlarmCode": s.alarm_code,
            "Notification/Messages/ActiveAlarmText": s.alarm_text,
        }
        for i, (colour, (on, mode)) in enumerate(_lamps(s.phase, blink_on).items()):
            base = f"Monitoring/Stacklight/Lamp{i}/"
            out[base + "SignalColor"] = SIGNAL_COLOR[colour]
            out[base + "SignalOn"] = on
            out[base + "SignalMode"] = mode
        return out

    return values


def legacy_values(ident: Identity) -> Callable[[MachineSnapshot, bool], dict[str, Any]]:
    def values(s: MachineSnapshot, blink_on: bool) -> dict[str, Any]:
        c = _common(s)
        lamps = _lamps(s.phase, blink_on)
        return {
            "Machine.Serial": ident.serial,
            "Machine.Mode": c["mode"],
            "Machine.PowerOnHours": c["power_on_h"],
            "Spindle.Speed": round(s.spindle_speed, 1),
            "Spindle.Running": s.spindle_rotating,
            "Channel.State": _channel_state(s.phase),
            "Channel.FeedOverride": s.feed_override,
            "Program.Name": s.program_name,
            "Program.State": s.program_state,
            "Counter.Total": s.parts_total & UINT32_MASK,
            "Counter.Run": s.parts_in_run & UINT32_MASK,
            "Counter.Scrap": s.parts_scrap & UINT32_MASK,
            "Alarm.Code": s.alarm_code,
            "Alarm.Text": s.alarm_text,
            "Lamp.Red": lamps["Red"][0],
            "Lamp.Yellow": lamps["Yellow"][0],
            "Lamp.Green": lamps["Green"][0],
        }

    return values


def _nid(sid: str, idx: int) -> ua.NodeId:
    return ua.NodeId(ua.String(sid), ua.Int16(idx))


def _qn(name: str, idx: int) -> ua.QualifiedName:
    return ua.QualifiedName(name, idx)


def _default(vt: ua.VariantType) -> Any:
    return {VT.String: "", VT.Boolean: False, VT.Double: 0.0}.get(vt, 0)


async def build(server: Server, idx: int, profile: str, ident: Identity) -> Layout:
    """Create the profile's nodes in namespace ``idx`` and return the tag registry."""
    objects = server.nodes.objects
    nodes: dict[str, ua.NodeId] = {}
    types: dict[str, ua.VariantType] = {}
    if profile == "legacy-cnc":
        folder = await objects.add_folder(_nid(ident.name, idx), _qn(ident.name, idx))
        for spec in LEGACY_TAGS:
            var = await folder.add_variable(
                _nid(spec.path, idx), _qn(spec.path, idx), _default(spec.vtype), spec.vtype
            )
            nodes[spec.path], types[spec.path] = var.nodeid, spec.vtype
        return Layout(folder.nodeid, folder.nodeid, nodes, types, legacy_values(ident))
    if profile != "machinetool":
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")

    machines = await objects.add_folder(_nid("Machines", idx), _qn("Machines", idx))
    machine = await machines.add_object(_nid(ident.name, idx), _qn(ident.name, idx))
    parents: dict[str, Any] = {"": machine}
    for spec in MACHINETOOL_TAGS:
        *dirs, leaf = spec.path.split("/")
        parent_path = ""
        for d in dirs:
            path = f"{parent_path}/{d}" if parent_path else d
            if path not in parents:
                sid = f"{ident.name}/{path}"
                parents[path] = await parents[parent_path].add_object(_nid(sid, idx), _qn(d, idx))
            parent_path = path
        var = await parents[parent_path].add_variable(
            _nid(f"{ident.name}/{spec.path}", idx),
            _qn(leaf, idx),
            _default(spec.vtype),
            spec.vtype,
        )
        nodes[spec.path], types[spec.path] = var.nodeid, spec.vtype
    return Layout(machines.nodeid, machine.nodeid, nodes, types, machinetool_values(ident))
