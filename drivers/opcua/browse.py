"""Walk a server's address space and write the device YAML for what it finds.

Variables become tags addressed by browse path from the Objects folder (the form that survives a
namespace renumbering), with their data type as a comment. A variable whose value is a structure
(ServerStatus, BuildInfo) cannot be read as one value (the driver gives it BadTypeMismatch), so its
readable member variables are listed instead. The `Server` object (the server's own diagnostics) is
left out of a walk from Objects — the output says so — and can be browsed with `--path Server`.
When the MachineTool structure (OPC 40501) is recognised - Monitoring/Channel*/ChannelState,
Production/ActiveProgram/State, Stacklight lamps - a `state:` section for the `machinetool`
equipment-state template is suggested too.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds

from drivers.opcua.values import convert
from drivers.status import BAD_TYPE_MISMATCH

Segment = tuple[int, str]  # (namespace index, browse name)
_SKIP = {ua.NodeId(ua.Int32(ObjectIds.Server)), ua.NodeId(ua.Int32(ObjectIds.Aliases))}
_HAS_PROPERTY = ua.NodeId(ua.Int32(ObjectIds.HasProperty))
RED, YELLOW = 1, 4  # SignalColor values (OPC 10000-200)
# The standard structure data types (ServerStatusDataType ...), from asyncua's generated classes.
_STRUCTURES = frozenset(
    getattr(c, "data_type")  # noqa: B009 - the generated classes carry it; the type checker cannot know
    for c in vars(ua).values()
    if isinstance(c, type)
    and dataclasses.is_dataclass(c)
    and isinstance(getattr(c, "data_type", None), ua.NodeId)
)


@dataclass
class Variable:
    path: list[Segment]
    node: ua.NodeId
    data_type: str = "?"
    array: bool = False
    value: object = None
    type_id: ua.NodeId | None = None

    @property
    def structure(self) -> bool:
        """Its value is a structure (or an array of them): not one value the driver can read."""
        return self.type_id in _STRUCTURES or convert(self.value)[1] == BAD_TYPE_MISMATCH


async def find_start(client: Client, path: str) -> tuple[ua.NodeId, list[Segment]]:
    """The node at 'A/B/C' below Objects, matching browse names in any namespace."""
    node, trail = ua.NodeId(ua.Int32(ObjectIds.ObjectsFolder)), list[Segment]()
    for name in (s for s in path.split("/") if s):
        refs = await client.get_node(node).get_children_descriptions()
        match = [r for r in refs if r.BrowseName.Name == name.split(":", 1)[-1]]
        if not match:
            raise LookupError(f"no child {name!r} under {'/'.join(n for _, n in trail) or 'Objects'}")
        node = _plain(match[0].NodeId)
        trail.append((int(match[0].BrowseName.NamespaceIndex), str(match[0].BrowseName.Name)))
    return node, trail


def _plain(nid: ua.NodeId) -> ua.NodeId:
    return ua.NodeId(nid.Identifier, nid.NamespaceIndex, nid.NodeIdType)


@dataclass
class Walk:
    variables: list[Variable]
    skipped: list[str]  # what was left out, and why: said in the output, never silently


async def walk(client: Client, start: ua.NodeId, trail: list[Segment], depth: int) -> Walk:
    """Variables below `start` down to `depth` levels of objects (properties are left out); a
    structure-valued variable is replaced by its readable members."""
    found: list[Variable] = []
    skipped: list[str] = []
    level = [(start, trail)]
    for _ in range(depth):
        following = []
        for node, path in level:
            for ref in await client.get_node(node).get_children_descriptions():
                child, here = (
                    _plain(ref.NodeId),
                    [*path, (ref.BrowseName.NamespaceIndex, ref.BrowseName.Name)],
                )
                if child in _SKIP:
                    skipped.append(
                        f"the {ref.BrowseName.Name} object (browse it with --path {ref.BrowseName.Name})"
                    )
                elif ref.ReferenceTypeId == _HAS_PROPERTY:
                    continue
                elif ref.NodeClass == ua.NodeClass.Variable:
                    found.append(Variable(here, child))
                elif ref.NodeClass == ua.NodeClass.Object:
                    following.append((child, here))
        level = following
    await _describe(client, found)
    variables = await _members_of_structures(client, found, depth, skipped)
    return Walk(variables, skipped)


async def _members_of_structures(
    client: Client, variables: list[Variable], depth: int, skipped: list[str]
) -> list[Variable]:
    """Each variable whose value is a structure replaced, in place, by its member variables."""
    out: list[Variable] = []
    for var in variables:
        if not var.structure:
            out.append(var)
            continue
        members = [
            Variable([*var.path, (r.BrowseName.NamespaceIndex, r.BrowseName.Name)], _plain(r.NodeId))
            for r in await client.get_node(var.node).get_children_descriptions()
            if r.NodeClass == ua.NodeClass.Variable and r.ReferenceTypeId != _HAS_PROPERTY
        ]
        name = "/".join(n for _, n in var.path)
        if not members or depth <= 1:
            skipped.append(f"{name} ({var.data_type}: a structure without readable members)")
            continue
        await _describe(client, members)
        out.extend(await _members_of_structures(client, members, depth - 1, skipped))
    return out


async def _describe(client: Client, variables: Sequence[Variable]) -> None:
    """Data type names, array-ness and current values, in batched Reads."""
    for start in range(0, len(variables), 200):
        chunk = variables[start : start + 200]
        attrs = (AttributeIds.DataType, AttributeIds.ValueRank, AttributeIds.Value)
        ids = [ua.ReadValueId(NodeId=v.node, AttributeId=a) for v in chunk for a in attrs]
        dvs = await client.uaclient.read(ua.ReadParameters(NodesToRead=ids))
        for i, var in enumerate(chunk):
            dtype, rank, value = (
                dv.Value.Value if dv.Value is not None else None for dv in dvs[3 * i : 3 * i + 3]
            )
            var.array = isinstance(rank, int) and rank >= 1
            var.value = value
            if isinstance(dtype, ua.NodeId):
                var.type_id = dtype
                var.data_type = await _type_name(client, dtype)


_TYPE_NAMES: dict[ua.NodeId, str] = {}


async def _type_name(client: Client, dtype: ua.NodeId) -> str:
    if dtype not in _TYPE_NAMES:
        try:
            _TYPE_NAMES[dtype] = (await client.get_node(dtype).read_browse_name()).Name or "?"
        except Exception:  # an unreadable type name is only cosmetic
            _TYPE_NAMES[dtype] = dtype.to_string()
    return _TYPE_NAMES[dtype]


def tag_id(segments: Sequence[str]) -> str:
    """'Monitoring', 'Spindle', 'ActualSpeed' -> 'monitoring_spindle_actual_speed'."""
    words = [re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", s) for s in segments]
    text = re.sub(r"[^a-z0-9_-]+", "_", "_".join(words).lower()).strip("_-")
    return (text or "tag")[:64].rstrip("_-")


def aliases(variables: Sequence[Variable], namespaces: Sequence[str]) -> dict[int, str]:
    used = sorted({ns for v in variables for ns, _ in v.path if ns != 0})
    out: dict[int, str] = {}
    for ns in used:
        uri = namespaces[ns] if ns < len(namespaces) else f"ns{ns}"
        base = (
            re.sub(r"[^a-z0-9_-]+", "-", re.split(r"[:/]", uri.rstrip("/:"))[-1].lower()).strip("-") or "ns"
        )
        alias = base if base not in out.values() else f"{base}-{ns}"
        out[ns] = alias
    return out


def browse_path(path: Sequence[Segment], alias: dict[int, str]) -> str:
    first = path[0][0]
    parts = []
    for i, (ns, name) in enumerate(path):
        prefix = alias.get(ns, str(ns)) if (i == 0 and ns) or (i and ns != first) else ""
        parts.append(f"{prefix}:{name}" if prefix else name)
    return "/".join(parts)


def common_depth(variables: Sequence[Variable]) -> int:
    """How many leading path segments every variable shares (its objects, not itself)."""
    if not variables:
        return 0
    parents = [[n for _, n in v.path[:-1]] for v in variables]
    depth = 0
    while all(len(p) > depth and p[depth] == parents[0][depth] for p in parents):
        depth += 1
    return depth


def _names(variables: Sequence[Variable], skip: int) -> list[str]:
    """Unique tag ids from the path below the shared part (e.g. below Machines/cnc-01)."""
    seen: dict[str, int] = {}
    out = []
    for var in variables:
        name = tag_id([n for _, n in var.path[skip:]] or [var.path[-1][1]])
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name[:60]}_{seen[name]}")
    return out


def machinetool_inputs(variables: Sequence[Variable], names: Sequence[str]) -> dict[str, str]:
    """Inputs of the `machinetool` state template, when the structure is there."""
    by_tail: dict[str, str] = {}
    lamps: dict[str, dict[str, object]] = {}
    for var, name in zip(variables, names, strict=True):
        segs = [n for _, n in var.path]
        tail = "/".join(segs[-3:])
        if re.fullmatch(r"Channel\w*/ChannelState", "/".join(segs[-2:])) and "channel_state" not in by_tail:
            by_tail["channel_state"] = name
        elif re.fullmatch(r"Channel\w*/ChannelMode", "/".join(segs[-2:])) and "channel_mode" not in by_tail:
            by_tail["channel_mode"] = name
        elif tail == "Production/ActiveProgram/State":
            by_tail["program_state"] = name
        elif "/".join(segs[-2:]) == "MachineTool/OperationMode":
            by_tail["operation_mode"] = name
        elif segs[-1] == "ActiveAlarmCode":
            by_tail["alarm_code"] = name
        elif len(segs) >= 3 and segs[-3] == "Stacklight" and segs[-1] in ("SignalOn", "SignalColor"):
            lamps.setdefault(segs[-2], {})[segs[-1]] = name if segs[-1] == "SignalOn" else var.value
    if "channel_state" not in by_tail:
        return {}
    for lamp in lamps.values():
        signal = lamp.get("SignalColor")
        colour = {RED: "red", YELLOW: "yellow"}.get(signal) if isinstance(signal, int) else None
        if colour and isinstance(lamp.get("SignalOn"), str):
            by_tail[colour] = str(lamp["SignalOn"])
    order = (
        "channel_state",
        "program_state",
        "operation_mode",
        "channel_mode",
        "alarm_code",
        "red",
        "yellow",
    )
    return {k: by_tail[k] for k in order if k in by_tail}


def render(
    endpoint: str, device_id: str, variables: Sequence[Variable], namespaces: Sequence[str], skip: int
) -> str:
    """The device YAML: one tag per variable, plus a state suggestion for MachineTool servers."""
    alias = aliases(variables, namespaces)
    names = _names(variables, max(skip, common_depth(variables)))
    lines = [f"- id: {device_id}", "  protocol: opcua", f"  endpoint: {endpoint}", "  mode: subscribe"]
    if alias:
        lines.append("  namespaces:")
        lines += [
            f"    {a}: {json.dumps(namespaces[ns] if ns < len(namespaces) else a)}" for ns, a in alias.items()
        ]
    lines.append("  tags:")
    for var, name in zip(variables, names, strict=True):
        kind = var.data_type + ("[]" if var.array else "")
        lines.append(f"    - {{name: {name}, node: {json.dumps(browse_path(var.path, alias))}}}  # {kind}")
    inputs = machinetool_inputs(variables, names)
    if inputs:
        lines += [
            "  # MachineTool (OPC 40501) structure recognised: equipment state from its channel state",
            "  state:",
        ]
        lines += ["    template: machinetool", "    inputs:"]
        lines += [f"      {k}: {v}" for k, v in inputs.items()]
    return "\n".join(lines) + "\n"
