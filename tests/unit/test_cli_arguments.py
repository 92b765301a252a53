"""Values that start with '-' (a negative range, an age such as -1h) are values, not options: before
the fix argparse answered "expected one argument" (issue 18)."""

from __future__ import annotations

import pytest

from collector.cli import build_parser, join_negative_values, main

pytestmark = pytest.mark.unit


def test_a_negative_range_for_word_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["modbus", "word-order", "--words", "0xFFFB", "--range", "-5:-2"]) == 0
    assert "int16 AB → -5" in capsys.readouterr().out


def test_an_age_for_evidence_build_as_the_docs_write_it() -> None:
    parser = build_parser()
    argv = join_negative_values(
        parser, ["evidence", "build", "-c", "plant.yaml", "--from", "-1h", "--to", "-5m"]
    )
    args = parser.parse_args(argv)
    assert (args.from_, args.to) == ("-1h", "-5m")
    # flags and options without a value are left alone
    assert join_negative_values(parser, ["probe", "-c", "p.yaml", "--plan", "--json"]) == [
        "probe", "-c", "p.yaml", "--plan", "--json"
    ]  # fmt: skip
