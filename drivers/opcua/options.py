"""What one OPC UA driver is given, as plain values, and the vocabulary (enums) it is written in.

The collector's configuration layer validates the plant file into its own models, which use these
enums, and builds an `OpcUaDriverOptions` from them (`driver_options()`); the driver never sees YAML
or pydantic. No protocol library is imported here, so the configuration layer may import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class SecurityMode(StrEnum):
    NONE = "None"
    SIGN = "Sign"
    SIGN_AND_ENCRYPT = "SignAndEncrypt"


class SecurityPolicy(StrEnum):
    NONE = "None"
    BASIC256SHA256 = "Basic256Sha256"
    AES128_SHA256_RSAOAEP = "Aes128_Sha256_RsaOaep"
    AES256_SHA256_RSAPSS = "Aes256_Sha256_RsaPss"
    BASIC256 = "Basic256"  # deprecated by the OPC Foundation: only on explicit request
    BASIC128RSA15 = "Basic128Rsa15"  # deprecated


class AuthType(StrEnum):
    ANONYMOUS = "anonymous"
    USERNAME = "username"
    CERTIFICATE = "certificate"


class Mode(StrEnum):
    SUBSCRIBE = "subscribe"
    POLL = "poll"


class DeadbandType(StrEnum):
    ABSOLUTE = "absolute"
    PERCENT = "percent"


@dataclass(frozen=True, slots=True)
class Security:
    mode: SecurityMode = SecurityMode.NONE
    policy: SecurityPolicy = SecurityPolicy.NONE


@dataclass(frozen=True, slots=True)
class Auth:
    type: AuthType = AuthType.ANONYMOUS
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log line
    password_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


@dataclass(frozen=True, slots=True)
class Deadband:
    type: DeadbandType
    value: float


@dataclass(frozen=True, slots=True)
class TagOptions:
    name: str
    node: str  # a NodeId or a browse path, resolved on every connect
    mode: Mode | None = None  # None: the device's mode
    sampling_interval: float | None = None  # seconds; None: the publishing interval
    queue_size: int = 1
    deadband: Deadband | None = None


@dataclass(frozen=True, slots=True)
class OpcUaDriverOptions:
    """One server session's worth of configuration; times are in seconds."""

    id: str
    endpoint: str
    tags: tuple[TagOptions, ...] = ()
    timeout: float = 1.0
    mode: Mode = Mode.SUBSCRIBE
    publishing_interval: float = 1.0
    security: Security = Security()
    auth: Auth = Auth()
    namespaces: tuple[tuple[str, str], ...] = ()  # alias -> namespace URI
    keepalive: float = 2.0  # also bounds how long a silent server's cached values stay Good
    watchdog: float | None = None  # None: 2 x revised keep-alive period + timeout
    max_items_per_subscription: int = 1000
    pki_dir: Path | None = None
    trust_on_first_use: bool = False
    application_uri: str | None = None
