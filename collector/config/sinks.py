"""Where data goes (MQTT, the time-series store) and what the collector serves (evidence, web)."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from collector.config.common import Id, Secret, Strict
from collector.config.units import ByteSize, Duration

_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):([0-9]{1,5})$")  # host:port, [v6]:port


def _host_port(text: str) -> str:
    match = _HOST_PORT.match(text)
    if match is None or not 1 <= int(match.group(2)) <= 65535:
        raise ValueError(f"{text!r} is not host:port (e.g. 10.0.0.12:1883)")
    return text


class Outbox(Strict):
    """Bounds of a sink's durable outbox: past either, the oldest records are dropped and counted."""

    max_bytes: ByteSize = Field(1 << 30, description="e.g. '1GiB'")
    max_age: Duration = Field(30 * 86400.0, description="e.g. '30d'")
    synchronous: Literal["normal", "full"] = Field(
        "normal", description="normal: survives a killed process; full: also power loss (fsync per batch)"
    )


class MqttMode(StrEnum):
    UNS = "uns"  # ISA-95 unified namespace, JSON
    SPARKPLUG = "sparkplug"  # Sparkplug B 3.0
    OFF = "off"


class MqttVersion(StrEnum):
    V311 = "3.1.1"
    V5 = "5"


class ConfirmMode(StrEnum):
    AUTO = "auto"  # STORE when `shopfloor historian` fills the store from MQTT, else BROKER
    STORE = "store"  # a record leaves the outbox when a historian confirms the store holds it
    BROKER = "broker"  # a record leaves the outbox at the broker's PUBACK (lost if the broker crashes)


class Confirm(Strict):
    """When a record published over MQTT may leave the outbox (docs/DELIVERY.md, "Store confirmation")."""

    mode: ConfirmMode = Field(
        ConfirmMode.AUTO,
        description="auto: store when `shopfloor historian` feeds the store from MQTT, else broker",
    )
    timeout: Duration = Field(
        30.0, gt=0, description="unconfirmed this long after its PUBACK: sent again (the wait doubles, to 8x)"
    )
    window: int = Field(
        10000, ge=1, le=1_000_000, description="records published and not yet confirmed, at most"
    )


class Tls(Strict):
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: Secret | None = None
    key_password_file: Path | None = None


class SparkplugDelivery(StrEnum):
    """How a Sparkplug record is made durable (docs/SPARKPLUG.md, "Delivery modes")."""

    ACKNOWLEDGED = "acknowledged"  # QoS 1: a record leaves the outbox once the broker PUBACKed it
    CONFORMANT = "conformant"  # QoS 0 as the specification says; outbox, host STATE and replay window


class Uint32Field(StrEnum):
    """Which protobuf field carries UInt32 values: hosts disagree (docs/SPARKPLUG.md, "Interop")."""

    LONG = "long_value"  # what Tahu (Java and JavaScript) and Ignition write; every common host reads it
    INT = "int_value"  # the specification's datatype table; Tahu JS 1.0.3 shows it as null


def _check_host_id(value: str | None) -> str | None:
    if value is not None and (not value or any(c in value for c in "+/#")):
        raise PydanticCustomError(
            "sparkplug_host_id",
            "'{value}' is not a Sparkplug host id",
            {
                "value": value,
                "hint": "the last level of spBv1.0/STATE/<host_id>: no '+', '/' or '#'",
            },
        )
    return value


class Sparkplug(Strict):
    """`mqtt.sparkplug`: what only the Sparkplug B output mode uses."""

    primary_host: Annotated[str | None, AfterValidator(_check_host_id)] = Field(
        None, description="host id of the primary host application: births wait for its STATE online"
    )
    delivery: SparkplugDelivery = Field(
        SparkplugDelivery.ACKNOWLEDGED, description="acknowledged (QoS 1, the default) or conformant (QoS 0)"
    )
    refresh: Duration = Field(
        0.0, ge=0, description="re-send a value unchanged for this long (0: report by exception only)"
    )
    replay_window: Duration = Field(
        60.0, ge=0, description="data sent this long before the primary host went offline is sent again"
    )
    uint32_field: Uint32Field = Field(
        Uint32Field.LONG, description="long_value (hosts' practice) or int_value"
    )
    datatypes_in_data: bool = Field(
        False, description="also put the datatype in DDATA (for decoders that keep no birth state)"
    )


class Mqtt(Strict):
    mode: MqttMode = MqttMode.OFF
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    version: MqttVersion = MqttVersion.V5
    client_id: str | None = Field(None, description="stable id; default shopfloor-<edge_id>")
    root: Id = "uns"
    qos: Literal[0, 1] = 1
    keepalive: Duration = 30.0
    max_inflight: int = Field(1000, ge=1, le=20000, description="unacknowledged QoS 1 messages")
    username: str | None = None
    password: Secret | None = None
    password_file: Path | None = None
    tls: Tls | None = None
    failover: list[Annotated[str, AfterValidator(_host_port)]] = Field(
        default_factory=list,
        description="other nodes of the same broker cluster as host:port, tried in turn when one fails",
    )
    confirm: Confirm = Field(default_factory=Confirm)
    outbox: Outbox = Field(default_factory=Outbox)
    sparkplug: Sparkplug = Field(default_factory=Sparkplug)

    @model_validator(mode="after")
    def _sparkplug_qos(self) -> Mqtt:
        # In Sparkplug mode the QoS follows sparkplug.delivery; an explicit qos 0 asked for something else.
        if self.mode is MqttMode.SPARKPLUG and "qos" in self.model_fields_set and self.qos == 0:
            raise PydanticCustomError(
                "sparkplug_qos",
                "in sparkplug mode the QoS follows sparkplug.delivery, not qos",
                {"hint": "remove qos; sparkplug: {delivery: conformant} is the specification's QoS 0"},
            )
        return self

    @model_validator(mode="after")
    def _store_confirmation_needs_uns(self) -> Mqtt:
        if self.confirm.mode is ConfirmMode.STORE and self.mode is MqttMode.SPARKPLUG:
            raise PydanticCustomError(
                "confirm_mode",
                "confirm.mode 'store' needs mode 'uns'",
                {"hint": "no historian confirms Sparkplug data yet: use confirm.mode 'broker' or 'auto'"},
            )
        return self

    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of `host`/`port`, then of each `failover` entry."""
        split = [text.rsplit(":", 1) for text in self.failover]
        return [(self.host, self.port), *((host.strip("[]"), int(port)) for host, port in split)]


class StoreBackend(StrEnum):
    SQLITE = "sqlite"  # embedded local historian
    VICTORIAMETRICS = "victoriametrics"
    INFLUXDB = "influxdb"


class Storage(Strict):
    backend: StoreBackend = StoreBackend.SQLITE
    url: str | None = Field(None, description="e.g. http://127.0.0.1:8428 or http://127.0.0.1:8086")
    org: str | None = None
    bucket: str | None = None
    token: Secret | None = None
    token_file: Path | None = None
    sqlite_path: Path = Path("data/historian.sqlite")
    direct: bool = Field(False, description="write from the collector, without the MQTT historian")
    outbox: Outbox = Field(default_factory=Outbox)

    def api_token(self, base: Path) -> str:
        """The store's API token: `token`, else the content of `token_file` (relative to the plant
        file's folder), else empty (a store without authentication)."""
        if self.token is not None:
            return self.token.get_secret_value()
        if self.token_file is not None:
            return (base / self.token_file).read_text(encoding="utf-8").strip()
        return ""


class Evidence(Strict):
    """The signed audit ledger `shopfloor run` keeps, and where evidence packs go."""

    dir: Path = Field(Path("evidence"), description="where evidence packs are written")
    ledger_dir: Path = Field(
        Path("data/ledger"), description="hash-chained audit ledger (audit-YYYY-MM-DD.jsonl)"
    )
    signing_key_file: Path = Field(
        Path("data/keys/evidence-ed25519.pem"),
        description="Ed25519 key (PKCS8 PEM, 0600) created on first run; public part: <name>.pub.pem",
    )
    verified_min_coverage: float = Field(0.95, gt=0, le=1)
    verified_min_days: float = Field(0.9, gt=0, le=1)
    batch_interval: Duration = Field(
        60.0, gt=0, description="readings and sink deliveries are summarised in the ledger this often"
    )
    timesync_interval: Duration = Field(
        300.0, gt=0, description="how often the clock's offset is read from chronyc and recorded"
    )
    timesync_max_offset: Duration = Field(
        1.0, gt=0, description="a larger clock offset is recorded as a TIMESYNC excursion"
    )


class Web(Strict):
    """The status page, JSON API, /metrics, /healthz, /readyz and evidence downloads of `shopfloor run`."""

    enabled: bool = Field(True, description="serve the status page and API while the collector runs")
    host: str = Field("127.0.0.1", description="bind address; loopback unless evaluators connect remotely")
    port: int = Field(8080, ge=1, le=65535)
    token: Secret | None = Field(None, description="bearer token for /api/v1/*: use ${ENV_VAR}")
    token_file: Path | None = Field(
        None,
        description="file holding the API token; default: generated at first start into <data_dir>/web-token",
    )
    refresh: Duration = Field(2.0, gt=0, description="how often the status page reloads its data, e.g. '2s'")


def store_confirmed(mqtt: Mqtt, storage: Storage) -> bool:
    """Whether the MQTT sink keeps a record until a historian confirms the store holds it. `auto`
    does so when the store is filled from MQTT by `shopfloor historian` (UNS, an HTTP store, not
    direct); otherwise nothing would ever confirm, and the broker's PUBACK is all there is."""
    if mqtt.confirm.mode is ConfirmMode.AUTO:
        return mqtt.mode is MqttMode.UNS and storage.backend is not StoreBackend.SQLITE and not storage.direct
    return mqtt.confirm.mode is ConfirmMode.STORE
