"""Located configuration problems and how they are printed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PathT = tuple[str | int, ...]

# user:password@ in any URL (http://, opc.tcp://, mqtt://); the user name is kept, the password not.
URL_PASSWORD = re.compile(r"\b([a-z][a-z0-9+.-]*://[^/@\s:]*):[^/@\s]*@", re.IGNORECASE)


def hide_url_password(text: str, mask: str = "***") -> str:
    return URL_PASSWORD.sub(rf"\1:{mask}@", text)


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the configuration, with where it is and how to fix it."""

    location: Location | None
    path: PathT
    message: str
    hint: str | None = None
    warning: bool = False  # reported by `config check`, but the file is accepted

    def render(self) -> str:
        where = str(self.location) if self.location else "<config>"
        shown = format_path(self.path)
        message = f"warning: {self.message}" if self.warning else self.message
        text = f"{where}: {shown}: {message}" if shown else f"{where}: {message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return hide_url_password(text)  # a value echoed in a message must not print a password


def format_path(path: PathT) -> str:
    """('devices', 3, 'tags', 7, 'address') -> 'devices[3].tags[7].address'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass
class ConfigError(Exception):
    """Every problem found in one pass; the CLI prints them all and exits 2."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(p.render() for p in self.problems)
