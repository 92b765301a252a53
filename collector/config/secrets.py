"""Secrets never sit in a plant file: not as plain text, not as a `${NAME:-default}` fallback, not
inside a URL.

A secret key (`password`, `token`, `key_password`) takes `${NAME}` or its `*_file` twin. A default
after `:-` is text in the file like any other, so it is refused for secrets (a missing variable is
then reported instead of silently using the fallback). A password inside a URL
(`http://user:pass@host`, `opc.tcp://user:pass@host`) is refused wherever it is written, even when it
came from `${ENV}`: a URL is printed by `config check`, in log lines, in error messages and on the
status page, and every one of those would show it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from collector.config.common import SECRET_KEYS
from collector.config.compose import SourceMap
from collector.config.errors import URL_PASSWORD, PathT, Problem, hide_url_password


def secret_problems(data: Any, smap: SourceMap) -> list[Problem]:
    return list(_walk(data, (), smap))


def _walk(node: Any, path: PathT, smap: SourceMap) -> Iterator[Problem]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = (*path, key)
            if key in SECRET_KEYS and isinstance(value, str):
                yield from _secret(key, here, smap)
            else:
                yield from _walk(value, here, smap)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, (*path, index), smap)
    elif isinstance(node, str) and "@" in node and URL_PASSWORD.search(node):
        yield Problem(
            smap.locate(path),
            path,
            f"the URL {hide_url_password(node)!r} carries a password",
            f"{_where_credentials_go(path)}; a URL is printed in logs, errors and the status page",
        )


def _secret(key: str, here: PathT, smap: SourceMap) -> Iterator[Problem]:
    if here not in smap.from_env:
        yield Problem(
            smap.locate(here),
            here,
            f"secret {key!r} is written in plain text",
            f"use {key}: ${{ENV_VAR}} or {key}_file: /path/readable/only/by/the/service",
        )
    elif here in smap.env_defaults:
        yield Problem(
            smap.locate(here),
            here,
            f"secret {key!r} has a default in ${{NAME:-default}}: the default is plain text in the file",
            f"write {key}: ${{NAME}} without ':-' (a missing variable is then reported), or use {key}_file",
        )


def _where_credentials_go(path: PathT) -> str:
    if path[:1] == ("storage",):
        return "put the store's credentials in storage.token: ${ENV_VAR} or storage.token_file"
    if path[:1] == ("mqtt",):
        return "use mqtt.username and mqtt.password: ${ENV_VAR} or mqtt.password_file"
    if path[-1:] == ("endpoint",):
        return "use auth: {type: username, username: ..., password_file: ...} on the device"
    return "credentials come from ${ENV_VAR} or *_file keys"
