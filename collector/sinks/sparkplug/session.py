"""The edge node's Sparkplug B session: which message to send next, with which seq and bdSeq.

Transport-free on purpose: every method returns the `Message`s to publish, in order, and the caller
(the MQTT sink) hands them to the client in that order before it calls the session again. Call order
for one MQTT connection:

    will = s.connect()                  # before CONNECT: register will as the MQTT Will
    ... CONNECT, subscribe s.command_subscriptions() ...
    publish(s.birth())                  # NBIRTH + one DBIRTH per device heard from and not lost
    publish(s.data(device, readings))   # a device's first data: its DBIRTH, fresh values included
    publish(s.device_lost(device, readings))   # DDEATH
    publish(s.handle_command(topic, payload))  # NCMD Rebirth → NBIRTH + DBIRTHs
    publish([s.death()])                # before an intentional DISCONNECT

A device is born from its first data rather than at NBIRTH time when nothing is known of it yet, so
no DBIRTH goes out empty or with values nobody read. Not thread-safe: call it from the one task that
owns the MQTT client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from collector.clock import now_ms
from collector.model import Reading, Value
from collector.sinks.base import SinkError
from collector.sinks.sparkplug import codec
from collector.sinks.sparkplug.codec import (
    DEFAULT_ENCODING,
    AliasTable,
    BdSeq,
    DataType,
    Encoding,
    SeqCounter,
)
from collector.sinks.sparkplug.metrics import Checked, Device, Metric, TagSpec, checked, stamp

log = logging.getLogger(__name__)

SpecLike = TagSpec | tuple[str, str | int | None, str | None]


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


class SparkplugSession:
    def __init__(
        self,
        group_id: str,
        edge_node_id: str,
        *,
        first_bd_seq: int = 0,
        clock: Callable[[], int] = now_ms,
        metric_name: Callable[[str], str] = default_metric_name,
        encoding: Encoding = DEFAULT_ENCODING,
        refresh_ms: int = 0,
    ) -> None:
        """`first_bd_seq` lets the sink persist bdSeq across restarts (the spec only asks +1 per CONNECT);
        `refresh_ms` > 0 re-sends values unchanged for that long (report by exception otherwise)."""
        self.group_id = codec.validate_id(group_id, "group_id")
        self.edge_node_id = codec.validate_id(edge_node_id, "edge_node_id")
        self._clock = clock
        self._metric_name = metric_name
        self._encoding = encoding
        self._refresh_ms = refresh_ms
        self._bd_seq = BdSeq(first_bd_seq)
        self._seq = SeqCounter()
        self._aliases = AliasTable()
        self._devices: dict[str, Device] = {}
        self._removed: list[str] = []  # born devices a reload removed: their DDEATH is due
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
        self.disconnected()
        self._connected = True
        return self.will()

    def connect_not_sent(self) -> None:
        """The CONNECT of the last `connect()` never went out (the TCP connection failed): the bdSeq
        counts CONNECT packets, so the next attempt uses the same value."""
        self._bd_seq.retract()
        self.disconnected()

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
        """The connection is gone (lost or closed): births must be repeated after the next connect(),
        and what the edge node last knew of each value is no longer vouched for."""
        self._connected = False
        self._node_born = False
        self._removed.clear()
        for dev in self._devices.values():
            dev.born = False
            dev.mark_stale()

    # -- definitions ---------------------------------------------------------------------------------

    def declare(self, devices: Mapping[str, Sequence[SpecLike]]) -> None:
        """Add or update device tag definitions; aliases of known metrics never change."""
        for device, tags in devices.items():
            dev = self._device(device)
            for spec in map(_spec, tags):
                dev.specs[spec.tag] = spec
                if spec.datatype is not None:
                    dtype = codec.datatype_for(spec.datatype)
                    self._define(device, dev, spec.tag, dtype, spec.unit, spec.deadband)

    def redefine(self, devices: Mapping[str, Sequence[SpecLike]]) -> None:
        """A reload: the plant's devices now. A removed device gets its DDEATH (from `pending()`); a
        changed one gets DDEATH + DBIRTH before its next data, so its units and types reach hosts."""
        for device in [d for d in self._devices if d not in devices]:
            if self._devices.pop(device).born:
                self._removed.append(device)
        for device, tags in devices.items():
            dev = self._device(device)
            specs = {s.tag: s for s in map(_spec, tags)}
            changed = any(dev.metrics.pop(tag, None) is not None for tag in set(dev.specs) - set(specs))
            dev.specs = specs
            for spec in specs.values():
                metric = dev.metrics.get(spec.tag)
                if spec.datatype is not None:
                    dtype = codec.datatype_for(spec.datatype)
                    changed |= self._define(device, dev, spec.tag, dtype, spec.unit, spec.deadband)
                elif metric is not None:  # typed from its first value: keep the type, take the rest
                    changed |= metric.unit != spec.unit
                    metric.unit, metric.deadband = spec.unit, spec.deadband
            dev.redefined |= changed and dev.born

    def pending(self) -> list[Message]:
        """DDEATHs a reload left due (devices removed from the plant); publish before anything else."""
        removed, self._removed = self._removed, []
        if not self._node_born:
            return []
        now = self._clock()
        return [Message(self.topic("DDEATH", d), codec.encode_ddeath(now, self._seq.next())) for d in removed]

    def _device(self, device: str) -> Device:
        dev = self._devices.get(device)
        if dev is None:
            codec.validate_id(device, "device_id")
            dev = self._devices[device] = Device()
        return dev

    def _define(
        self, device: str, dev: Device, tag: str, dtype: DataType, unit: str | None, deadband: float | None
    ) -> bool:
        """Declare or update one metric; True when what a birth says about it changed."""
        name = self._metric_name(tag)
        other = next((t for t, m in dev.metrics.items() if m.name == name and t != tag), None)
        if other is not None:
            raise codec.CodecError(f"{device}: tags {other!r} and {tag!r} both map to {name!r}")
        known = dev.metrics.get(tag)
        if known is None:
            dev.metrics[tag] = Metric(name, self._aliases.alias(device, name), dtype, unit, deadband)
            return True
        changed = known.datatype is not dtype or known.unit != unit
        if known.datatype is not dtype:  # the remembered value may not fit the new type
            known.value, known.quality, known.timestamp, known.stale = None, codec.Quality.GOOD, None, False
        known.datatype, known.unit, known.deadband = dtype, unit, deadband
        return changed

    # -- births --------------------------------------------------------------------------------------

    def birth(self, devices: Mapping[str, Sequence[SpecLike]] | None = None) -> list[Message]:
        """NBIRTH (seq 0, bdSeq of the Will), then a DBIRTH for each device heard from and not lost."""
        if not self._connected:
            raise SessionError("connect() must come first: the NBIRTH's bdSeq must match the Will")
        if devices:
            self.declare(devices)
        now = self._clock()
        self._seq.reset()
        self._removed.clear()  # a new NBIRTH: hosts await new DBIRTHs, removed devices get none
        out = [Message(self.topic("NBIRTH"), codec.encode_nbirth(now, self._bd_seq.current))]
        self._node_born = True
        for device, dev in self._devices.items():
            dev.born = False
            if dev.known and not dev.lost and dev.metrics:
                out.append(self._dbirth(device, dev, now))
        return out

    def rebirth(self) -> list[Message]:
        """A new NBIRTH + DBIRTHs on the same connection (same bdSeq, seq restarts at 0)."""
        return self.birth()

    def _dbirth(self, device: str, dev: Device, now: int) -> Message:
        payload = codec.encode(now, self._seq.next(), dev.birth_metrics(now), encoding=self._encoding)
        return Message(self.topic("DBIRTH", device), payload)

    def _ddeath(self, device: str, dev: Device) -> Message:
        dev.born = False
        return Message(self.topic("DDEATH", device), codec.encode_ddeath(self._clock(), self._seq.next()))

    # -- data ----------------------------------------------------------------------------------------

    def data(self, device: str, readings: Sequence[Reading], historical: bool = False) -> list[Message]:
        """DDATA for `readings` (aliases only), after a DBIRTH when the device needs one.

        Live readings update the values births report and go out by exception; a DBIRTH they cause
        already carries them. `historical` marks replayed store-and-forward data: every reading goes
        out, with is_historical, and none becomes fresh."""
        if not self._node_born:
            raise SessionError("birth() must come first: DDATA is only valid after NBIRTH")
        dev = self._device(device)
        readings = self._declared(device, dev, readings, historical)
        if not readings:
            return []
        values = [checked(device, dev.metrics[r.tag], r) for r in readings]
        self._advance(dev, readings, lost=False)
        taken = dev.take(readings, values, live=not historical)
        now, out = self._clock(), []
        if dev.needs_birth(readings):
            if dev.born:  # a new or redefined tag mid-session: end the device's session first
                out.append(self._ddeath(device, dev))
            out.append(self._dbirth(device, dev, now))
            rest = [i for i in range(len(readings)) if historical or i not in taken]
            metrics = [self._metric(dev, readings[i], values[i], True) for i in rest]
        elif historical:
            metrics = [self._metric(dev, r, v, True) for r, v in zip(readings, values, strict=True)]
        else:
            metrics = [
                self._metric(dev, r, v, False)
                for r, v in zip(readings, values, strict=True)
                if dev.metrics[r.tag].report(*v, now, self._refresh_ms)
            ]
        if metrics:
            metrics.sort(key=lambda m: m.timestamp)  # chronological, as the spec asks of DDATA
            payload = codec.encode(now, self._seq.next(), metrics, birth=False, encoding=self._encoding)
            out.append(Message(self.topic("DDATA", device), payload))
        if dev.lost and dev.born:  # replayed data of a device that is lost now: born for it, no longer
            out.append(self._ddeath(device, dev))
        return out

    def device_lost(
        self, device: str, readings: Sequence[Reading] = (), historical: bool = False
    ) -> list[Message]:
        """The engine's "device stopped answering" batch: DDEATH if the device was born (hosts mark
        its metrics stale) and it stays out of births until data comes again. A replayed loss older
        than what is known of the device is only history."""
        dev = self._devices.get(device)
        if dev is None:
            return []
        if historical and readings and max(r.collected_ts for r in readings) < dev.state_ts:
            return self.data(device, readings, historical=True)
        self._advance(dev, readings, lost=True)
        dev.mark_stale()
        if not (self._node_born and dev.born):
            dev.born = False
            return []
        return [self._ddeath(device, dev)]

    def device_offline(self, device: str) -> list[Message]:
        """`device_lost` without the engine's batch (the device is lost now)."""
        return self.device_lost(device)

    def _advance(self, dev: Device, readings: Sequence[Reading], lost: bool) -> None:
        """The newest record decides whether a device is lost; replays older than it do not."""
        newest = max((r.collected_ts for r in readings), default=dev.state_ts)
        if newest >= dev.state_ts:
            dev.state_ts, dev.known, dev.lost = newest, True, lost

    def _declared(
        self, device: str, dev: Device, readings: Sequence[Reading], historical: bool
    ) -> list[Reading]:
        """Readings of declared tags, declaring new ones from their first value (a new tag needs a new
        DBIRTH: births list every metric) and taking a live reading's unit when it changed."""
        new: list[str] = []
        for r in readings:
            metric = dev.metrics.get(r.tag)
            if metric is None and r.value is not None:
                spec = dev.specs.get(r.tag) or TagSpec(r.tag, None, r.unit)
                dtype = _infer(r.value) if spec.datatype is None else codec.datatype_for(spec.datatype)
                try:
                    self._define(device, dev, r.tag, dtype, spec.unit or r.unit, spec.deadband)
                    new.append(f"{r.tag} ({dtype.name})")
                except codec.CodecError as exc:  # e.g. its name collides with another tag's
                    log.error("sparkplug: %s: dropping tag %r: %s", device, r.tag, exc)
            elif metric is not None and not historical and r.unit is not None and r.unit != metric.unit:
                metric.unit = r.unit
                dev.redefined |= dev.born
        if new:
            log.info("sparkplug: %s: typed from their values: %s", device, ", ".join(new))
        return [r for r in readings if r.tag in dev.metrics]

    @staticmethod
    def _metric(dev: Device, r: Reading, v: Checked, historical: bool) -> codec.MetricValue:
        m = dev.metrics[r.tag]
        return codec.MetricValue(m.alias, m.datatype, v[0], stamp(r), quality=v[1], historical=historical)

    # -- commands ------------------------------------------------------------------------------------

    def handle_command(self, topic: str, payload: bytes | bytearray) -> list[Message]:
        """Messages to publish in reply to an NCMD/DCMD; only `Node Control/Rebirth` is acted on."""
        if topic == self.topic("NCMD") and self._node_born and codec.rebirth_requested(bytes(payload)):
            log.info("sparkplug: rebirth requested by NCMD")
            return self.rebirth()
        return []


def _spec(tag: SpecLike) -> TagSpec:
    return tag if isinstance(tag, TagSpec) else TagSpec(*tag)


def _infer(value: Value) -> DataType:
    try:
        return codec.infer_datatype(value)
    except codec.CodecError:  # e.g. a list of strings: sent as its text
        return DataType.String
