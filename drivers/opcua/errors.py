"""asyncua exceptions to the project's errors, with messages that say what to do."""

from __future__ import annotations

import asyncio
import traceback
from typing import TYPE_CHECKING

from asyncua import ua
from asyncua.ua.status_codes import StatusCodes as SC
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from drivers.opcua.options import OpcUaDriverOptions, SecurityMode

if TYPE_CHECKING:
    from drivers.opcua.security import Pki

# Status codes that mean the session or channel is gone: only a new session helps.
SESSION_GONE = frozenset({
    SC.BadSessionIdInvalid, SC.BadSessionClosed, SC.BadSessionNotActivated, SC.BadSecureChannelIdInvalid,
    SC.BadSecureChannelClosed, SC.BadConnectionClosed, SC.BadTimeout, SC.BadRequestTimeout,
    SC.BadCommunicationError, SC.BadNotConnected, SC.BadServerHalted, SC.BadShutdown,
    SC.BadServerNotConnected, SC.BadTcpSecureChannelUnknown, SC.BadNoSubscription,
    SC.BadSubscriptionIdInvalid, SC.BadTooManySessions,
})  # fmt: skip

_NOT_TRUSTED = frozenset({SC.BadCertificateUntrusted, SC.BadSecurityChecksFailed, SC.BadCertificateInvalid})
_USER = frozenset({
    SC.BadIdentityTokenRejected, SC.BadIdentityTokenInvalid, SC.BadUserAccessDenied,
    SC.BadUserSignatureInvalid,
})  # fmt: skip
_CERT_FIELDS = {
    SC.BadCertificateHostNameInvalid: "its host name does not match",
    SC.BadCertificateUriInvalid: "its application URI does not match the one the collector presents",
    SC.BadCertificateTimeInvalid: "it has expired or is not valid yet (check the clock of both machines)",
    SC.BadCertificateRevocationUnknown: "the server cannot check its revocation list",
    SC.BadCertificateIssuerRevocationUnknown: "the server cannot check its issuer's revocation list",
}


def _name(code: int) -> str:
    return ua.StatusCode(ua.UInt32(code)).name


def code_of(exc: BaseException) -> int | None:
    if isinstance(exc, UaStatusCodeError):
        return int(exc.code)
    return None


def is_connection_error(exc: BaseException) -> bool:
    code = code_of(exc)
    if code is not None:
        return code in SESSION_GONE
    return isinstance(exc, OSError | asyncio.TimeoutError | TimeoutError | ConnectionError | UaError)


def _raised_in(exc: BaseException, function: str) -> bool:
    """Whether `exc` was raised inside a call of `function` (a library step without its own error)."""
    return any(frame.name == function for frame in traceback.extract_tb(exc.__traceback__))


def explain(exc: BaseException, device: OpcUaDriverOptions, pki: Pki) -> str:
    """One sentence about what failed and what to do, for connect-time failures."""
    where = device.endpoint
    code = code_of(exc)
    own = pki.own_cert
    trust_us = (
        f"copy {own} into the server's trusted certificates folder (or accept it in its certificate "
        "manager); the collector retries by itself"
    )
    if code in _NOT_TRUSTED:
        return f"{where}: the server does not trust our certificate ({_name(code)}): {trust_us}"
    secured = device.security.mode is not SecurityMode.NONE
    if code is None and secured and _raised_in(exc, "open_secure_channel"):
        # Some servers (node-opcua among them) refuse a client certificate they do not trust by
        # answering OpenSecureChannel with a ServiceFault, which asyncua cannot read and reports as
        # a bare AssertionError: the refusal of the channel is all that is known, and distrust of
        # our certificate is what it means in practice.
        return (
            f"{where}: the server refused to open a secure channel with our certificate; it most "
            f"likely does not trust it yet: {trust_us}"
        )
    if code in _USER:
        who = device.auth.username or device.auth.type.value
        return (
            f"{where}: the server rejected the user identity {who!r} ({_name(code)}): check "
            "auth.username and the password (or auth.cert_file/key_file) and that this user may log in"
        )
    if code in _CERT_FIELDS:
        return f"{where}: the server refused our certificate {own}: {_CERT_FIELDS[code]}"
    if code in (SC.BadSecurityPolicyRejected, SC.BadSecurityModeRejected):
        return (
            f"{where}: the server rejects security mode {device.security.mode.value} with policy "
            f"{device.security.policy.value}; run 'shopfloor browse {where}' to list what it offers"
        )
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return f"{where}: no answer within {device.timeout:g}s (server stalled or overloaded?)"
    if isinstance(exc, OSError):
        return f"{where}: cannot connect: {exc.strerror or exc}"
    return f"{where}: {type(exc).__name__}: {exc}"
