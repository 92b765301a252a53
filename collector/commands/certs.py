"""`shopfloor certs init|list|trust|reject`: the OPC UA client certificate and the server trust store.

The PKI folder is `--pki DIR`, else `<data_dir>/pki` of the plant given with `-c`, else `data/pki`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from collector.commands.common import EXIT_BAD_INPUT, EXIT_OK
from drivers.opcua.certs import CertInfo, Pki, default_application_uri, describe


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("certs", help="OPC UA client certificate and trusted server certificates")
    cmds = parser.add_subparsers(dest="certs_cmd", required=True, metavar="{init,list,trust,reject}")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--pki", type=Path, help="PKI folder (default <data_dir>/pki of -c, else data/pki)")
        p.add_argument("-c", "--config", help="plant YAML whose data_dir holds the PKI folder")

    init = cmds.add_parser("init", help="create the collector's application certificate (RSA 2048, SHA-256)")
    common(init)
    init.add_argument("--application-uri", help=f"default {default_application_uri()}")
    init.add_argument("--hostname", help="DNS name in the certificate (default: this host's name)")
    init.add_argument("--force", action="store_true", help="replace an existing certificate and key")
    init.set_defaults(func=_init)
    listing = cmds.add_parser("list", help="own, trusted and rejected certificates with fingerprints")
    common(listing)
    listing.set_defaults(func=_list)
    for name, what in (("trust", "trust a server certificate"), ("reject", "stop trusting a certificate")):
        p = cmds.add_parser(name, help=f"{what} (a file, or a fingerprint prefix from 'certs list')")
        common(p)
        p.add_argument("certificate", help="file path or SHA-256/SHA-1 fingerprint prefix (8+ hex digits)")
        p.set_defaults(func=_trust if name == "trust" else _reject)


def _pki(args: argparse.Namespace) -> Pki:
    if args.pki is not None:
        return Pki(args.pki)
    if args.config:
        from collector.config import load_plant

        plant = load_plant(args.config)
        return Pki(plant.resolve(plant.config.data_dir) / "pki")
    return Pki(Path("data/pki"))


def _init(args: argparse.Namespace) -> int:
    pki = _pki(args)
    created = pki.init(args.application_uri or default_application_uri(), args.hostname, force=args.force)
    info = describe(pki.own_cert)
    verb = "created" if created else "exists (use --force to replace)"
    print(f"certificate {verb}: {pki.own_cert}")
    print(f"  application URI {info.uri}\n  subject {info.subject}\n  SHA-256 {info.fingerprint}")
    print(f"  key {pki.own_key} (mode 0600)")
    print("Copy the certificate into the server's trusted certificates folder (or accept it in its UI).")
    if info.uri != default_application_uri():
        print(f"Set application_uri: {info.uri} on the OPC UA devices: the client must present this URI.")
    return EXIT_OK


def _show(title: str, certs: list[CertInfo]) -> None:
    print(f"{title}:")
    if not certs:
        print("  (none)")
    for c in certs:
        print(f"  {c.path.name}\n    {c.subject}  valid until {c.not_after:%Y-%m-%d}")
        print(f"    SHA-256 {c.fingerprint}\n    SHA-1   {c.thumbprint}")


def _list(args: argparse.Namespace) -> int:
    pki = _pki(args)
    own = [describe(pki.own_cert)] if pki.own_cert.exists() else []
    _show(f"own ({pki.own_cert.parent})", own)
    _show(f"trusted ({pki.trusted})", pki.certificates(pki.trusted))
    _show(f"rejected ({pki.rejected})", pki.certificates(pki.rejected))
    if pki.tofu_log.exists():
        print(f"trusted on first use: see {pki.tofu_log}")
    return EXIT_OK


def _trust(args: argparse.Namespace) -> int:
    return _move(args, trusted=True)


def _reject(args: argparse.Namespace) -> int:
    return _move(args, trusted=False)


def _move(args: argparse.Namespace, trusted: bool) -> int:
    pki = _pki(args)
    pki.make_dirs()
    source = pki.find(args.certificate)
    if source is None:
        print(f"certs: no certificate file or fingerprint matches {args.certificate!r}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        target = pki.move(source, pki.trusted if trusted else pki.rejected)
    except ValueError as exc:
        print(f"certs: {source} is not a certificate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    info = describe(target)
    print(
        f"{'trusted' if trusted else 'rejected'}: {info.subject} (SHA-256 {info.fingerprint})\n  -> {target}"
    )
    return EXIT_OK
