"""Secure channel and user identity for one client, checked against our trust store first.

Before a secured connect we ask the server for its endpoints over an unsecured channel (GetEndpoints
is allowed there), pick the one with the configured mode and policy, and check its certificate
against `<pki>/trusted/certs`. An unknown certificate is saved to `<pki>/rejected/certs` and the
connect fails with the command that trusts it - unless trust-on-first-use is on, in which case it
is trusted and a line is appended to `<pki>/tofu.log`.
"""

from __future__ import annotations

import logging
import socket

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import security_policies as sp

from drivers.base import DriverError
from drivers.opcua.certs import Pki, default_application_uri, describe, fingerprint
from drivers.opcua.options import AuthType, OpcUaDriverOptions, SecurityMode, SecurityPolicy

log = logging.getLogger(__name__)

POLICIES: dict[SecurityPolicy, type[sp.SecurityPolicy]] = {
    SecurityPolicy.BASIC256SHA256: sp.SecurityPolicyBasic256Sha256,
    SecurityPolicy.AES128_SHA256_RSAOAEP: sp.SecurityPolicyAes128Sha256RsaOaep,
    SecurityPolicy.AES256_SHA256_RSAPSS: sp.SecurityPolicyAes256Sha256RsaPss,
    SecurityPolicy.BASIC256: sp.SecurityPolicyBasic256,
    SecurityPolicy.BASIC128RSA15: sp.SecurityPolicyBasic128Rsa15,
}
DEPRECATED = frozenset({SecurityPolicy.BASIC256, SecurityPolicy.BASIC128RSA15})
MODES = {
    SecurityMode.SIGN: ua.MessageSecurityMode.Sign,
    SecurityMode.SIGN_AND_ENCRYPT: ua.MessageSecurityMode.SignAndEncrypt,
}

__all__ = ["Pki", "SecurityProblem", "configure"]


class SecurityProblem(DriverError):
    """A configuration or trust problem with an actionable message; retrying alone will not fix it."""


async def configure(client: Client, device: OpcUaDriverOptions, pki: Pki) -> None:
    """Application identity, user identity and (when asked for) the secure channel."""
    client.application_uri = device.application_uri or default_application_uri()
    client.name = client.description = f"shopfloor collector ({socket.gethostname()})"
    await _user(client, device)
    if device.security.mode is SecurityMode.NONE:
        return
    policy = device.security.policy
    if policy in DEPRECATED:
        log.warning("%s: security policy %s is deprecated by the OPC Foundation", device.id, policy.value)
    if not (pki.own_cert.exists() and pki.own_key.exists()):
        raise SecurityProblem(
            f"{device.id}: no client certificate in {pki.root}: run 'shopfloor certs init --pki {pki.root}' "
            "and give the server the certificate it prints"
        )
    server_der = await _server_certificate(client, device)
    _check_trust(server_der, device, pki)
    await client.set_security(
        POLICIES[policy],
        str(pki.own_cert),
        str(pki.own_key),
        server_certificate=server_der,
        mode=MODES[device.security.mode],
    )


async def _user(client: Client, device: OpcUaDriverOptions) -> None:
    auth = device.auth
    if auth.type is AuthType.USERNAME:
        assert auth.username is not None  # the config model guarantees it
        client.set_user(auth.username)
        if auth.password is not None:
            client.set_password(auth.password)
        elif auth.password_file is not None:
            client.set_password(auth.password_file.read_text(encoding="utf-8").strip())
    elif auth.type is AuthType.CERTIFICATE:
        assert auth.cert_file is not None and auth.key_file is not None
        await client.load_client_certificate(str(auth.cert_file))
        await client.load_private_key(auth.key_file)


async def _server_certificate(client: Client, device: OpcUaDriverOptions) -> bytes:
    endpoints = await client.connect_and_get_server_endpoints()
    mode, uri = MODES[device.security.mode], POLICIES[device.security.policy].URI
    for ep in endpoints:
        if ep.SecurityMode == mode and ep.SecurityPolicyUri == uri and ep.ServerCertificate:
            return _first_certificate(ep.ServerCertificate)
    offered = sorted(
        {f"{ep.SecurityMode.name}/{ep.SecurityPolicyUri.rsplit('#', 1)[-1]}" for ep in endpoints}
    )
    raise SecurityProblem(
        f"{device.endpoint}: the server offers no endpoint with mode {device.security.mode.value} and "
        f"policy {device.security.policy.value}; it offers: {', '.join(offered)}"
    )


def _first_certificate(blob: bytes) -> bytes:
    """Servers may send a chain; the first DER element is theirs (its length is in the header)."""
    if len(blob) > 4 and blob[0] == 0x30 and blob[1] == 0x82:
        return bytes(blob[: 4 + int.from_bytes(blob[2:4], "big")])
    return bytes(blob)


def _check_trust(der: bytes, device: OpcUaDriverOptions, pki: Pki) -> None:
    if pki.is_trusted(der):
        return
    if device.trust_on_first_use:
        path = pki.store(der, pki.trusted)
        pki.record_tofu(der, device.endpoint)
        log.warning(
            "%s: trusted the server certificate %s on first use (%s)", device.id, fingerprint(der), path
        )
        return
    path = pki.store(der, pki.rejected)
    info = describe(path)
    raise SecurityProblem(
        f"{device.endpoint}: we do not trust the server certificate '{info.subject}' (SHA-256 "
        f"{info.fingerprint}); check the fingerprint with the machine's operator, then run "
        f"'shopfloor certs trust \"{path}\" --pki {pki.root}'"
    )
