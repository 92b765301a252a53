"""Plant files that are not what the loader expects: another encoding, runaway nesting, alias bombs,
syntax errors. Each ends in a located problem (never a traceback), at the place to fix."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from collector.config import load_plant
from collector.config.compose import MAX_ALIAS_NODES, MAX_DEPTH
from collector.config.errors import PathT
from collector.config.source import load_yaml
from tests.support.configs import HEAD, problems_of, write

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def at(line: str) -> str:
    """The rendered problem from the file's name on: 'plant.yaml:4:9: ...'."""
    return "plant.yaml:" + line.split("plant.yaml:", 1)[1]


def test_gbk_file_is_refused_naming_the_encoding_and_the_conversion(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    text = HEAD + "devices:\n  - id: plc-01\n    name_zh: 一号线\n    protocol: modbus_tcp\n    host: h\n"
    path.write_bytes(text.encode("gbk"))
    (line,) = problems_of(path)
    assert "plant.yaml:5:14:" in line  # where the GBK text starts
    assert "GB18030/GBK" in line and "一号线" in line  # what was found, shown as it reads
    assert "iconv -f GB18030 -t UTF-8" in line


def test_utf8_with_a_byte_order_mark_loads_and_utf16_is_named(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    path.write_bytes(codecs.BOM_UTF8 + HEAD.encode("utf-8"))
    assert load_plant(path).config.site.site == "s1"
    path.write_bytes(HEAD.encode("utf-16"))
    (line,) = problems_of(path)
    assert "plant.yaml:1:1:" in line and "UTF-16" in line and "iconv -f UTF-16" in line


def test_deep_nesting_is_refused_at_the_limit_not_with_a_recursion_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "x: " + "[" * 5000 + "]" * 5000 + "\n")
    (line,) = problems_of(path)
    assert f"nested deeper than {MAX_DEPTH} levels" in line
    assert f"plant.yaml:3:{4 + MAX_DEPTH - 1}:" in line  # the bracket that crosses the limit


def test_alias_bomb_is_refused_before_it_grows(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")  # 10**9 strings once expanded
    path = write(tmp_path, HEAD + "\n".join(lines) + "\n")
    (line,) = problems_of(path)
    assert f"aliases expand to more than {MAX_ALIAS_NODES:,} values" in line
    assert "plant.yaml:" in line


def test_aliases_and_merge_keys_are_expanded_with_positions(tmp_path: Path) -> None:
    text = HEAD + (
        "x-tags: &tags\n  - {name: a, address: 40001}\n  - {name: b, address: 40002, type: uint7}\n"
        "x-base: &base {protocol: modbus_tcp, host: h, poll_interval: 2s}\n"
        "devices:\n  - {<<: *base, id: d1, tags: *tags}\n  - {<<: *base, id: d2, host: h2}\n"
    )
    doc = load_yaml(write(tmp_path, text), "plant.yaml", [])
    assert doc is not None
    d1, d2 = doc.data["devices"]
    assert d1["host"] == "h" and d2["host"] == "h2" and d2["poll_interval"] == "2s"
    assert d1["tags"][1]["type"] == "uint7"
    assert d1["tags"] is not doc.data["x-tags"]  # a copy: the loader edits devices in place
    # an error inside an aliased value points at the anchor's definition, where it is fixed
    where = doc.smap.locate(("devices", 0, "tags", 1, "type"))
    assert where is not None and (where.line, where.column) == (5, text.splitlines()[4].index("uint7") + 1)


def test_duplicate_key_is_located_at_the_second_one(tmp_path: Path) -> None:
    (line,) = problems_of(write(tmp_path, HEAD + "web: {port: 1}\nweb: {port: 2}\n"))
    assert "plant.yaml:4:1: web: duplicate key 'web' (first at line 3)" in line


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        # an unclosed quote: the parser gives up at the end of the file; the quote is the mistake
        ('web:\n  host: "abc\n  port: 1\n', "4:9", "quoted scalar"),
        # an unclosed brace: the parser gives up on the next line
        ("web: {host: a, port: 1\nmqtt: {}\n", "3:6", "flow mapping"),
        # a key without its colon: the parser gives up a line late
        ("web:\n  host a\n  port: 1\n", "4:3", "has no ':' after its key"),
    ],
)
def test_syntax_error_is_located_where_the_unfinished_construct_starts(
    tmp_path: Path, text: str, where: str, words: str
) -> None:
    (line,) = problems_of(write(tmp_path, HEAD + text))
    assert at(line).startswith(f"plant.yaml:{where}: YAML syntax error"), line
    assert words in line


def test_full_width_colon_is_named_at_its_own_position(tmp_path: Path) -> None:
    text = HEAD + "devices:\n  - id: plc-01\n    protocol: modbus_tcp\n    host： 127.0.0.1\n    port: 502\n"
    (line,) = problems_of(write(tmp_path, text))
    assert at(line).startswith("plant.yaml:6:9: YAML syntax error: full-width colon '："), line
    assert "ASCII colon" in line


def test_full_width_colon_inside_a_value_is_text(tmp_path: Path) -> None:
    text = HEAD + "devices:\n  - {id: d1, protocol: modbus_tcp, host: h, name_zh: 状态：运行}\n"
    assert load_plant(write(tmp_path, text)).config.devices[0].name_zh == "状态：运行"


def test_full_width_colon_in_a_key_that_parses_gets_the_hint(tmp_path: Path) -> None:
    (line,) = problems_of(write(tmp_path, HEAD + "web: {port： 8080}\n"))
    assert "unknown key 'port： 8080'" in line and "full-width colon" in line


def test_a_value_libyaml_refuses_is_read_as_yaml_1_2(tmp_path: Path) -> None:
    """libyaml refuses ':' inside a plain value in braces; ruamel.yaml (the dialect) accepts it."""
    doc = load_yaml(write(tmp_path, "x: {start: 2026-11-25T14:00, n: 0x10, on: yes}\n"), "p.yaml", [])
    assert doc is not None and doc.data == {"x": {"start": "2026-11-25T14:00", "n": 16, "on": "yes"}}


def _round_trip(node: object, path: PathT, out: dict[PathT, tuple[int, int]]) -> None:
    if isinstance(node, CommentedMap):
        for key in node:
            line, col = node.lc.value(key)
            out[(*path, str(key))] = (line + 1, col + 1)
            _round_trip(node[key], (*path, str(key)), out)
    elif isinstance(node, CommentedSeq):
        for index, item in enumerate(node):
            line, col = node.lc.item(index)
            out[(*path, index)] = (line + 1, col + 1)
            _round_trip(item, (*path, index), out)


@pytest.mark.parametrize(
    "path", sorted(p for p in (REPO / "configs").rglob("*.y*ml")), ids=lambda p: str(p.relative_to(REPO))
)
def test_positions_match_ruamel_round_trip_loader(path: Path) -> None:
    """The composer replaced ruamel.yaml's round-trip loader: every value keeps the position that
    loader gave it, on every file the project ships."""
    want: dict[PathT, tuple[int, int]] = {}
    _round_trip(YAML(typ="rt").load(path.read_text(encoding="utf-8")), (), want)
    doc = load_yaml(path, path.name, [])
    assert doc is not None
    got = {p: (loc.line, loc.column) for p, loc in doc.smap.values.items() if p != ()}
    assert got == want
