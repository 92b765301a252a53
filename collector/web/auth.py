"""The API token: from web.token (${ENV}), web.token_file, or generated once into <data_dir>/web-token.

Requests to /api/ carry `Authorization: Bearer <token>`; the comparison is constant-time. The token
itself is never logged, only the file that holds it.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

from aiohttp import web

from collector.config import LoadedPlant

log = logging.getLogger(__name__)
TOKEN_FILE_NAME = "web-token"


class TokenError(Exception):
    """The configured token cannot be used (missing or empty file)."""


def default_token_path(plant: LoadedPlant) -> Path:
    return plant.resolve(plant.config.data_dir) / TOKEN_FILE_NAME


def resolve_token(plant: LoadedPlant) -> str:
    cfg = plant.config.web
    if cfg.token is not None:
        token = cfg.token.get_secret_value().strip()
        if not token:
            raise TokenError("web.token is empty")
        return token
    path = plant.resolve(cfg.token_file) if cfg.token_file is not None else default_token_path(plant)
    if cfg.token_file is None and not path.exists():
        _generate(path)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TokenError(f"cannot read the web API token file {path}: {exc}") from exc
    if not token:
        raise TokenError(f"the web API token file {path} is empty")
    log.info("web API token: %s", path)
    return token


def _generate(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_urlsafe(32) + "\n")
    log.warning("generated a web API token into %s (readable by this user only)", path)


def bearer_ok(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def unauthorized(request: web.Request) -> web.Response:
    wrong = "Authorization" in request.headers
    challenge = 'Bearer realm="shopfloor"' + (', error="invalid_token"' if wrong else "")
    return web.json_response(
        {
            "error": "unauthorized",
            "message": "wrong token" if wrong else "send Authorization: Bearer <token> (see web.token)",
        },
        status=401,
        headers={"WWW-Authenticate": challenge},
    )
