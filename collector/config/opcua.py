"""OPC UA devices and their tags."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from collector.config.common import BusinessLink, Id, Secret, Strict
from collector.config.device import DeviceBase
from collector.config.units import Duration
from drivers.opcua import options as drv
from drivers.opcua.options import AuthType, DeadbandType, Mode, SecurityMode, SecurityPolicy

_NODE_RE = re.compile(r"^(nsu=[^;]+;|ns=\d+;)?(i=\d+|s=.+|g=[0-9a-fA-F-]{36}|b=[A-Za-z0-9+/=]+)$")
_NODE_HINT = (
    "use a NodeId such as 'ns=2;s=Spindle.Speed', 'nsu=urn:vendor:cnc;s=Speed', 'i=2258', "
    "or a browse path such as 'Machines/CNC01/Monitoring/Spindle/ActualSpeed'"
)


def _check_node(value: str) -> str:
    text = value.strip()
    if _NODE_RE.match(text) or ("/" in text and "=" not in text.split("/")[0] and not text.startswith("/")):
        return text
    raise PydanticCustomError(
        "opcua_node", "'{value}' is neither a NodeId nor a browse path", {"value": value, "hint": _NODE_HINT}
    )


Node = Annotated[str, AfterValidator(_check_node)]


class Security(Strict):
    mode: SecurityMode = SecurityMode.NONE
    policy: SecurityPolicy = SecurityPolicy.NONE

    @model_validator(mode="after")
    def _consistent(self) -> Security:
        if (self.mode is SecurityMode.NONE) != (self.policy is SecurityPolicy.NONE):
            raise PydanticCustomError(
                "opcua_security",
                "mode {mode} does not fit policy {policy}",
                {
                    "mode": self.mode.value,
                    "policy": self.policy.value,
                    "hint": "use mode None with policy None, or Sign/SignAndEncrypt with e.g. Basic256Sha256",
                },
            )
        return self


class Auth(Strict):
    type: AuthType = AuthType.ANONYMOUS
    username: str | None = None
    password: Secret | None = None
    password_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> Auth:
        if self.type is AuthType.USERNAME and (
            not self.username or (self.password is None and self.password_file is None)
        ):
            raise PydanticCustomError(
                "opcua_auth",
                "username authentication needs username and a password",
                {"hint": "add username and password: ${OPCUA_PASSWORD} (or password_file)"},
            )
        if self.type is AuthType.CERTIFICATE and (self.cert_file is None or self.key_file is None):
            raise PydanticCustomError(
                "opcua_auth", "certificate authentication needs cert_file and key_file", {}
            )
        return self


class Deadband(Strict):
    type: DeadbandType = DeadbandType.ABSOLUTE
    value: float = Field(ge=0)


class OpcUaTag(Strict):
    name: Id
    name_zh: str | None = None
    description: str | None = None
    node: Node
    unit: str | None = None
    mode: Mode | None = Field(None, description="defaults to the device's mode")
    sampling_interval: Duration | None = None
    queue_size: int = Field(1, ge=1, le=1000)
    deadband: Deadband | None = None
    writable: bool = False
    business_link: BusinessLink | None = None
    required: bool = True


class OpcUaDevice(DeviceBase):
    protocol: Literal["opcua"]
    endpoint: Annotated[str, Field(pattern=r"^opc\.tcp://[^\s]+$")]
    mode: Mode = Mode.SUBSCRIBE
    publishing_interval: Duration = 1.0
    security: Security = Field(default_factory=Security)
    auth: Auth = Field(default_factory=Auth)
    namespaces: dict[str, str] = Field(
        default_factory=dict, description="alias -> namespace URI, usable as '<alias>:' in browse paths"
    )
    tags: list[OpcUaTag] = Field(default_factory=list)
    keepalive: Duration = Field(
        2.0,
        description="an idle subscription still reports at least this often; values older than this plus "
        "publishing_interval are not Good",
    )
    watchdog: Duration | None = Field(
        None, description="no publish response for this long -> reconnect; default 2 x keepalive + timeout"
    )
    max_items_per_subscription: int = Field(1000, ge=1, description="larger tag lists use more subscriptions")
    pki_dir: Path | None = Field(None, description="own/, trusted/, rejected/; default <data_dir>/pki")
    trust_on_first_use: bool = Field(
        False, description="trust an unknown server certificate once and record it in pki_dir/tofu.log"
    )
    application_uri: str | None = Field(None, description="default urn:<hostname>:shopfloor:collector")

    def driver_options(self) -> drv.OpcUaDriverOptions:
        """What the driver is given: plain values, the password resolved from its Secret."""
        auth = self.auth
        password = auth.password.get_secret_value() if auth.password is not None else None
        return drv.OpcUaDriverOptions(
            id=self.id,
            endpoint=self.endpoint,
            tags=tuple(
                drv.TagOptions(
                    t.name, t.node, t.mode, t.sampling_interval, t.queue_size,
                    drv.Deadband(t.deadband.type, t.deadband.value) if t.deadband else None,
                )
                for t in self.tags
            ),
            timeout=self.timeout,
            mode=self.mode,
            publishing_interval=self.publishing_interval,
            security=drv.Security(self.security.mode, self.security.policy),
            auth=drv.Auth(
                auth.type, auth.username, password, auth.password_file, auth.cert_file, auth.key_file
            ),
            namespaces=tuple(self.namespaces.items()),
            keepalive=self.keepalive,
            watchdog=self.watchdog,
            max_items_per_subscription=self.max_items_per_subscription,
            pki_dir=self.pki_dir,
            trust_on_first_use=self.trust_on_first_use,
            application_uri=self.application_uri,
        )  # fmt: skip
