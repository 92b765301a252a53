"""Tag addresses to NodeIds, resolved afresh on every connect.

Supported address forms (the config validator admits the same):

- NodeId strings: ``ns=2;s=Spindle.Speed``, ``i=2258``, ``ns=3;g=<guid>``, ``ns=1;b=<base64>``.
- Namespace-URI-qualified: ``nsu=urn:vendor:cnc;s=Spindle.Speed`` (index looked up in the server's
  NamespaceArray, so a server that renumbers its namespaces after a restart keeps working).
- Browse paths from the Objects folder: ``m:Machines/cnc-01/Monitoring/Spindle/ActualSpeed``. The
  first segment's prefix (an alias from the device's ``namespaces``) applies to every segment; a
  segment may carry its own ``alias:`` (or, discouraged, a numeric ``3:``) prefix for that segment
  only. Without any prefix the segments are in namespace 0. All paths of a device are translated in
  batched TranslateBrowsePathsToNodeIds calls.

An address that cannot be resolved gives that tag a Bad status (BadNodeIdUnknown, BadNoMatch ...)
instead of failing the device.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from asyncua import ua
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.uaerrors import UaStringParsingError

from drivers import status
from drivers.base import DriverError

_SEGMENT_PREFIX = re.compile(r"^([A-Za-z0-9_.-]+):(.+)$")
HIERARCHICAL = ua.NodeId(ua.Int32(ObjectIds.HierarchicalReferences))
OBJECTS = ua.NodeId(ua.Int32(ObjectIds.ObjectsFolder))
BAD_NO_MATCH = 0x806F0000
BAD_BROWSE_NAME_INVALID = 0x80600000


class AddressError(DriverError, ValueError):
    """An address that cannot be parsed; the tag becomes Bad with `code`."""

    def __init__(self, message: str, code: int = status.BAD_NODE_ID_UNKNOWN) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Resolved:
    """A tag's NodeId, or the status code that says why it has none."""

    node: ua.NodeId | None
    code: int = status.GOOD
    reason: str = ""


def is_browse_path(address: str) -> bool:
    return "/" in address and "=" not in address.split("/")[0]


def parse_node_id(address: str, namespaces: Sequence[str]) -> ua.NodeId:
    """A NodeId from 'ns=..;x=..' or 'nsu=<uri>;x=..' using the server's current NamespaceArray."""
    text = address.strip()
    uri = None
    if text.startswith("nsu="):
        uri, _, text = text[4:].partition(";")
    try:
        parsed = ua.NodeId.from_string(text)
    except (UaStringParsingError, ValueError) as exc:
        raise AddressError(f"cannot parse NodeId {address!r}: {exc}", BAD_BROWSE_NAME_INVALID) from exc
    index = parsed.NamespaceIndex
    if uri is not None:
        if uri not in namespaces:
            raise AddressError(f"namespace {uri!r} is not in the server's NamespaceArray")
        index = ua.Int16(namespaces.index(uri))
    return ua.NodeId(parsed.Identifier, index, parsed.NodeIdType)


def _qualified(
    segment: str, default: int | None, aliases: dict[str, str], ns: Sequence[str]
) -> tuple[ua.QualifiedName, int | None]:
    """(QualifiedName, the namespace index this segment's prefix named, if any)."""
    match = _SEGMENT_PREFIX.match(segment)
    if match:
        prefix, name = match.groups()
        if prefix in aliases:
            uri = aliases[prefix]
            if uri not in ns:
                raise AddressError(f"namespace {uri!r} (alias {prefix!r}) is not on the server")
            return ua.QualifiedName(name, ns.index(uri)), ns.index(uri)
        if prefix.isdigit():
            return ua.QualifiedName(name, int(prefix)), int(prefix)
    return ua.QualifiedName(segment, default or 0), None


def browse_path(address: str, aliases: dict[str, str], namespaces: Sequence[str]) -> ua.BrowsePath:
    """A BrowsePath from the Objects folder for 'alias:A/B/C'."""
    elements = []
    default: int | None = None
    for i, segment in enumerate(s for s in address.strip().split("/") if s):
        name, named = _qualified(segment, default, aliases, namespaces)
        if i == 0:
            default = named
        elements.append(
            ua.RelativePathElement(
                ReferenceTypeId=HIERARCHICAL,
                IsInverse=False,  # type: ignore[arg-type]  # asyncua annotates bools as a marker class
                IncludeSubtypes=True,  # type: ignore[arg-type]
                TargetName=name,
            )
        )
    return ua.BrowsePath(StartingNode=OBJECTS, RelativePath=ua.RelativePath(Elements=elements))


Translate = Callable[[list[ua.BrowsePath]], Awaitable[list[ua.BrowsePathResult]]]


async def resolve(
    addresses: dict[str, str],
    aliases: dict[str, str],
    namespaces: Sequence[str],
    translate: Translate,
    chunk: int,
) -> dict[str, Resolved]:
    """Tag -> Resolved for every address; browse paths go to `translate` in chunks of `chunk`."""
    out: dict[str, Resolved] = {}
    paths: list[tuple[str, ua.BrowsePath]] = []
    for tag, address in addresses.items():
        try:
            if is_browse_path(address):
                paths.append((tag, browse_path(address, aliases, namespaces)))
            else:
                out[tag] = Resolved(parse_node_id(address, namespaces))
        except AddressError as exc:
            out[tag] = Resolved(None, exc.code, str(exc))
    for start in range(0, len(paths), max(chunk, 1)):
        batch = paths[start : start + max(chunk, 1)]
        results = await translate([p for _, p in batch])
        for (tag, _), result in zip(batch, results, strict=True):
            out[tag] = _target(result, addresses[tag])
    return out


def _target(result: ua.BrowsePathResult, address: str) -> Resolved:
    code = int(result.StatusCode.value)
    if not status.is_good(code) or not result.Targets:
        return Resolved(None, code or BAD_NO_MATCH, f"browse path {address!r} not found (0x{code:08X})")
    target = result.Targets[0].TargetId
    return Resolved(ua.NodeId(target.Identifier, target.NamespaceIndex, target.NodeIdType))
