"""The edge node's Sparkplug B session: which message to send next, with which seq and bdSeq.

Transport-free on purpose: every method returns the `Message`s to publish, in order, and the caller
(the MQTT sink) publishes them. Call order for one MQTT connection:

    will = s.connect()                  # before CONNECT: register will as the MQTT Will
    ... CONNECT, subscribe s.command_subscriptions() ...
    publish(s.birth(devices))           # NBIRTH + one DBIRTH per device not known to be offline
    publish(s.data(device, readings))   # DBIRTH first if the device is not born, then DDATA
    publish(s.device_offline(device))   # DDEATH
    publish(s.handle_command(topic, payload))   # NCMD Rebirth → NBIRTH + DBIRTHs
    publish([s.death()])                # before an intentional DISCONNECT

Not thread-safe: call it from the one task or thread that owns the MQTT client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from collector.clock import now_ms
from collector.model import Reading, Value
from collector.sinks.base import SinkError
from collector.sinks.sparkplug import codec
from collector.sinks.sparkplug.codec import AliasTable, BdSeq, DataType, MetricValue, Quality, SeqCounter

log = logging.getLogger(__name__)

TagSpec = tuple[str, str | int, str | None]  # (tag, datatype name or Sparkplug DataType, unit)


class SessionError(SinkError, RuntimeError):
    """A call out of the Sparkplug order (e.g. data before birth)."""


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int = 0  # the spec fixes QoS 0 for everything but the Will (QoS 1)
    retain: bool = False  # never retained in Sparkplug B edge-node messages


def default_metric_name(tag: str) -> str:
    """Tags that are already paths ("State/Current") keep their name; plain tags go under Telemetry/."""
    return tag if "/" in tag else f"Telemetry/{tag}"


def group_id_for(enterprise: str, site: str) -> str:
    """docs/STANDARDS.md §5.4: group_id = {enterprise}-{site}."""
    return codec.validate_id(f"{enterprise}-{site}", "group_id")


@dataclass(slots=True)
class _Metric:
    name: str
    alias: int
    datatype: DataType
    unit: str | None
    value: Value = None  # last real-time value, for the next DBIRTH
    quality: Quality = Quality.GOOD
    timestamp: int | None = None


@dataclass(slots=True)
class _Device:
    metrics: dict[str, _Metric] = field(default_factory=dict)  # by tag
    born: bool = False  # DBIRTH sent since the last NBIRTH
    offline: bool = False  # DDEATH sent or device_offline() called; no DBIRTH until new data


class SparkplugSession:
    def __init__(
        self,
        group_id: str,
        edge_node_id: str,
        *,
        first_bd_seq: int = 0,
        clock: Callable[[], int] = now_ms,
        metric_name: Callable[[str], str] = default_metric_name,
    ) -> None:
        """`first_bd_seq` lets the sink persist bdSeq across restarts (the spec only asks +1 per CONNECT)."""
        self.group_id = codec.validate_id(group_id, "group_id")
        self.edge_node_id = codec.validate_id(edge_node_id, "edge_node_id")
        self._clock = clock
        self._metric_name = metric_name
        self._bd_seq = BdSeq(first_bd_seq)
        self._seq = SeqCounter()
        self._aliases = AliasTable()
        self._devices: dict[str, _Device] = {}
        self._connected = False
        self._node_born = False

    # -- state ---------------------------------------------------------------------------------------

    @property
    def bd_seq(self) -> int:
        return self._bd_seq.current

    @property
    def node_born(self) -> bool:
        return self._node_born

    def device_born(self, device: str) -> bool:
        dev = self._devices.get(device)
        return dev is not None and dev.born

    def topic(self, message_type: str, device: str | None = None) -> str:
        return codec.topic(self.group_id, message_type, self.edge_node_id, device)

    def command_subscriptions(self) -> list[tuple[str, int]]:
        """Topics the edge node subscribes to, with QoS 1 as the spec requires."""
        return [(self.topic("NCMD"), 1), (self.topic("DCMD", "+"), 1)]

    # -- connection lifecycle ------------------------------------------------------------------------

    def connect(self) -> Message:
        """Start a new MQTT connection: next bdSeq; returns the NDEATH to register as the Will."""
        self._bd_seq.on_connect()
        self._connected = True
        self._node_born = False
        for dev in self._devices.values():
            dev.born = False
        return self.will()

    def will(self) -> Message:
        """The NDEATH for the current connection: QoS 1, not retained, bdSeq only."""
        payload = codec.encode_ndeath(self._clock(), self._bd_seq.current)
        return Message(self.topic("NDEATH"), payload, qos=1, retain=False)

    def death(self) -> Message:
        """NDEATH to publish before an intentional DISCONNECT; the session is unborn afterwards."""
        msg = self.will()
        self.disconnected()
        return msg

    def disconnected(self) -> None:
        """The connection is gone (lost or closed): births must be repeated after the next connect()."""
        self._connected = False
        self._node_born = False
        for dev in self._devices.values():
            dev.born = False

    # -- births --------------------------------------------------------------------------------------

    def declare(self, devices: Mapping[str, Sequence[TagSpec]]) -> None:
        """Add or update device metric definitions; aliases of known metrics never change."""
        for device, tags in devices.items():
            codec.validate_id(device, "device_id")
            dev = self._devices.setdefault(device, _Device())
            names = {m.name: tag for tag, m in dev.metrics.items()}
            for tag, datatype, unit in tags:
                name = self._metric_name(tag)
                if names.get(name, tag) != tag:
                    raise codec.CodecError(f"{device}: tags {names[name]!r} and {tag!r} both map to {name!r}")
                names[name] = tag
                dtype = codec.datatype_for(datatype)
                known = dev.metrics.get(tag)
                if known is None:
                    dev.metrics[tag] = _Metric(name, self._aliases.alias(device, name), dtype, unit)
                else:
                    if known.datatype is not dtype:  # the cached value may not fit the new type
                        known.value, known.quality, known.timestamp = None, Quality.GOOD, None
                    known.datatype, known.unit = dtype, unit

    def birth(self, devices: Mapping[str, Sequence[TagSpec]] | None = None) -> list[Message]:
        """NBIRTH (seq 0, bdSeq of the Will), then a DBIRTH for each device not known to be offline."""
        if not self._connected:
            raise SessionError("connect() must come first: the NBIRTH's bdSeq must match the Will")
        if devices:
            self.declare(devices)
        now = self._clock()
        self._seq.reset()
        out = [Message(self.topic("NBIRTH"), codec.encode_nbirth(now, self._bd_seq.current))]
        self._node_born = True
        for device, dev in self._devices.items():
            dev.born = False
            if not dev.offline:
                out.append(self._dbirth(device, dev, now))
        return out

    def rebirth(self) -> list[Message]:
        """A new NBIRTH + DBIRTHs on the same connection (same bdSeq, seq restarts at 0)."""
        return self.birth()

    def _dbirth(self, device: str, dev: _Device, now: int) -> Message:
        metrics = [
            MetricValue(
                m.alias,
                m.datatype,
                m.value,
                m.timestamp if m.timestamp is not None else now,
                name=m.name,
                quality=m.quality,
                unit=m.unit,
            )
            for m in dev.metrics.values()
        ]
        dev.born = True
        dev.offline = False
        return Message(self.topic("DBIRTH", device), codec.encode(now, self._seq.next(), metrics))

    # -- data ----------------------------------------------------------------------------------------

    def data(self, device: str, readings: Sequence[Reading], historical: bool = False) -> list[Message]:
        """DDATA for `readings` (aliases only), preceded by a DBIRTH when the device is not born.

        `historical` marks replayed store-and-forward data: is_historical on every metric, and the
        values do not become the "current" values of later DBIRTHs.
        """
        if not self._node_born:
            raise SessionError("birth() must come first: DDATA is only valid after NBIRTH")
        if not readings:
            return []
        dev = self._devices.get(device)
        if dev is None:
            codec.validate_id(device, "device_id")
            dev = self._devices[device] = _Device()
        out: list[Message] = []
        undeclared = {r.tag: r.value for r in readings if r.tag not in dev.metrics}
        if undeclared:
            # Births must list every metric: a new tag needs a new DBIRTH before its first DDATA.
            log.info("sparkplug: %s: undeclared tags %s, re-sending DBIRTH", device, sorted(undeclared))
            for tag, value in undeclared.items():
                try:
                    self.declare({device: [(tag, self._infer(value), None)]})
                except codec.CodecError as exc:  # e.g. its name collides with another tag's
                    log.error("sparkplug: %s: dropping tag %r: %s", device, tag, exc)
            dev.born = False
            readings = [r for r in readings if r.tag in dev.metrics]
        now = self._clock()
        if not dev.born:
            out.append(self._dbirth(device, dev, now))
        if not readings:
            return out
        metrics = [self._metric_value(device, dev.metrics[r.tag], r, historical) for r in readings]
        out.append(Message(self.topic("DDATA", device), codec.encode(now, self._seq.next(), metrics)))
        return out

    @staticmethod
    def _infer(value: Value) -> DataType:
        try:
            return DataType.String if value is None else codec.infer_datatype(value)
        except codec.CodecError:  # e.g. a list of strings: sent as its text
            return DataType.String

    def _metric_value(self, device: str, m: _Metric, r: Reading, historical: bool) -> MetricValue:
        ts = r.source_ts if r.source_ts is not None else r.collected_ts
        value, quality = r.value, codec.quality_of(r.status)
        try:
            codec.check_value(m.datatype, value)
        except codec.CodecError as exc:
            # One bad value must not drop the batch: send it as a null with BAD quality.
            log.warning("sparkplug: %s/%s: %s; sent as null with BAD quality", device, r.tag, exc)
            value, quality = None, Quality.BAD
        if not historical and (m.timestamp is None or ts >= m.timestamp):
            m.value, m.quality, m.timestamp = value, quality, ts
        return MetricValue(m.alias, m.datatype, value, ts, quality=quality, historical=historical)

    def device_offline(self, device: str) -> list[Message]:
        """DDEATH if the device was born; the device gets a DBIRTH again with its next data."""
        dev = self._devices.get(device)
        if dev is None:
            return []
        dev.offline = True
        if not (self._node_born and dev.born):
            return []
        dev.born = False
        return [Message(self.topic("DDEATH", device), codec.encode_ddeath(self._clock(), self._seq.next()))]

    # -- commands ------------------------------------------------------------------------------------

    def handle_command(self, topic: str, payload: bytes | bytearray) -> list[Message]:
        """Messages to publish in reply to an NCMD/DCMD; only `Node Control/Rebirth` is acted on."""
        if topic == self.topic("NCMD") and self._node_born and codec.rebirth_requested(bytes(payload)):
            log.info("sparkplug: rebirth requested by NCMD")
            return self.rebirth()
        return []


def host_state(payload: bytes) -> bool | None:
    """`online` from a primary host's STATE message (JSON, not protobuf); None when unreadable."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    online = doc.get("online") if isinstance(doc, dict) else None
    return online if isinstance(online, bool) else None
