"""Read a configuration file as UTF-8 text, or say exactly why it cannot be.

Plant files, templates and device files are UTF-8 (a byte-order mark is allowed). A file in another
encoding is refused, not guessed: the same bytes decode to different text in GBK, Big5 or Latin-1,
and a wrong guess would put wrong device names into topics, the store and the signed evidence. The
refusal says what the file looks like (most often GB18030/GBK, which Notepad on a Chinese Windows
saves as "ANSI"), shows the first bad line as it reads in that encoding, and gives the command that
converts it.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from collector.config.errors import Location, Problem

# A plant file of tens of thousands of tags is a few MB; far larger is a wrong path, not a plant.
MAX_FILE_BYTES = 64 << 20

_UTF16_32_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def read_text(path: Path, display: str, problems: list[Problem]) -> str | None:
    """The file's text, or None after a located problem was added."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            problems.append(
                Problem(
                    Location(display, 1, 1),
                    (),
                    f"the file is {size / (1 << 20):.0f} MiB; configuration files are limited to "
                    f"{MAX_FILE_BYTES >> 20} MiB",
                    "check the path; split a very large plant into devices_dir files",
                )
            )
            return None
        data = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(None, (), f"cannot read {display}: {exc.strerror}", "check the path"))
        return None
    for bom, name in _UTF16_32_BOMS:
        if data.startswith(bom):
            problems.append(
                Problem(
                    Location(display, 1, 1),
                    (),
                    f"the file is {name}-encoded (it starts with a {name} byte-order mark); "
                    "configuration files are UTF-8",
                    _convert_hint(display, name),
                )
            )
            return None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(_not_utf8(data, exc.start, display))
        return None


def _not_utf8(data: bytes, at: int, display: str) -> Problem:
    line_start = data.rfind(b"\n", 0, at) + 1
    line_end = data.find(b"\n", at)
    line_bytes = data[line_start : line_end if line_end >= 0 else len(data)].rstrip(b"\r")
    line = data.count(b"\n", 0, at) + 1
    # GBK bytes before the failing one may happen to form UTF-8: the foreign text starts at the
    # line's first non-ASCII byte
    start = next(i for i in range(line_start, at + 1) if data[i] >= 0x80)
    column = len(data[line_start:start].decode("utf-8", "replace")) + 1
    where = Location(display, line, column)
    found = f"byte 0x{data[at]:02X} is not UTF-8"
    try:
        data.decode("gb18030")
    except UnicodeDecodeError:
        return Problem(where, (), f"{found}, and the file is in no encoding recognised here; "
                       "configuration files are UTF-8", _convert_hint(display, "<its encoding>"))  # fmt: skip
    shown = line_bytes.decode("gb18030").strip()
    return Problem(
        where,
        (),
        f"{found}: the file is GB18030/GBK-encoded (Notepad's 'ANSI' on a Chinese Windows); this line "
        f"reads {shown!r} in GB18030. Configuration files are UTF-8",
        _convert_hint(display, "GB18030"),
    )


def _convert_hint(display: str, encoding: str) -> str:
    return (
        f"convert it once: iconv -f {encoding} -t UTF-8 {display} > converted.yaml && "
        f"mv converted.yaml {display} (or in an editor: Save As, encoding UTF-8)"
    )
