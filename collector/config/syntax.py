"""A YAML syntax error as a located problem: at the place to fix, with both of the parser's marks.

The parser reports where it gave up (the "problem" mark) and, for a construct it could not finish,
where that construct began (the "context" mark). For an unclosed quote or bracket, or a key without
its colon, it gives up lines later — at the next key or at the end of the file — so the problem is
located at the start of the unfinished construct and the message names both lines.

Typing Chinese with the input method's punctuation on gives a full-width colon '：', comma '，' or
space '　' where YAML needs ASCII; the parser then fails a line late with "could not find expected
':'". When such a character sits between the two marks it is the cause, and the problem says so at
its own position.
"""

from __future__ import annotations

import re

from ruamel.yaml.error import MarkedYAMLError, YAMLError

from collector.config.errors import Location, Problem

_FULL_WIDTH = {
    "：": ("full-width colon '：'", "type an ASCII colon and a space, e.g. 'host: 10.0.0.5'"),
    "，": ("full-width comma '，'", "separate items with an ASCII comma ','"),
    "\u3000": ("full-width space (U+3000)", "indent with ASCII spaces"),
}
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_FULL_WIDTH_HINT = "switch the input method to English punctuation while typing YAML syntax"
# Constructs the parser reports from their start: the mistake is there, not where it gave up.
_UNFINISHED = {
    "simple key": "a key needs a colon and a space after it ('key: value')",
    "quoted scalar": "close the quote on the line where the value ends",
    "flow mapping": "close '{' with '}' and separate its entries with ', '",
    "flow sequence": "close '[' with ']' and separate its items with ', '",
    "block scalar": "indent every line of a '|' or '>' text deeper than its key",
}
_DEFAULT_HINT = "check the indentation (spaces only) and quoting"


def syntax_problem(exc: YAMLError, display: str, text: str) -> Problem:
    problem_at, context_at = _marks(exc)
    what = str(getattr(exc, "problem", None) or exc).strip()
    context = str(getattr(exc, "context", None) or "").strip()
    lines = text.splitlines()
    span = sorted(m[0] for m in (problem_at, context_at) if m is not None) or [len(lines) - 1]
    found = _full_width(lines, span[0], span[-1])
    if found is not None:
        line, column, char = found
        name, fix = _FULL_WIDTH[char]
        return Problem(
            Location(display, line + 1, column + 1),
            (),
            f"YAML syntax error: {name} where YAML needs ASCII punctuation (the parser stopped at "
            f"{_at(problem_at)}: {what})",
            f"{fix}; {_FULL_WIDTH_HINT}",
        )
    runaway = _runaway_key(lines, problem_at) if "mapping values are not allowed" in what else None
    if runaway is not None:
        return Problem(
            Location(display, runaway[0] + 1, runaway[1] + 1),
            (),
            f"YAML syntax error: line {runaway[0] + 1} has no ':' after its key, so it runs into the "
            f"next line, where the parser stopped ({what} at {_at(problem_at)})",
            _UNFINISHED["simple key"],
        )
    unfinished = next((k for k in _UNFINISHED if k in context), None)
    later = problem_at is not None and context_at is not None and problem_at[0] > context_at[0]
    if unfinished is not None and later and context_at is not None:
        return Problem(
            Location(display, context_at[0] + 1, context_at[1] + 1),
            (),
            f"YAML syntax error: {what} at {_at(problem_at)}, {context} that starts here",
            _UNFINISHED[unfinished],
        )
    at = problem_at or context_at or (0, 0)
    detail = f" ({context} at {_at(context_at)})" if context and context_at and context_at != at else ""
    tab = at[0] < len(lines) and lines[at[0]][at[1] : at[1] + 1] == "\t"
    hint = "indent with spaces, never tabs" if tab else _DEFAULT_HINT
    return Problem(Location(display, at[0] + 1, at[1] + 1), (), f"YAML syntax error: {what}{detail}", hint)


def _marks(exc: YAMLError) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """(problem, context) as 0-based (line, column); a reader error has only a character offset."""
    if isinstance(exc, MarkedYAMLError):
        return _pair(exc.problem_mark), _pair(exc.context_mark)
    return _pair(getattr(exc, "mark", None)), None


def _pair(mark: object) -> tuple[int, int] | None:
    line, column = getattr(mark, "line", None), getattr(mark, "column", None)
    return (line, column) if isinstance(line, int) and isinstance(column, int) else None


def _at(mark: tuple[int, int] | None) -> str:
    return f"line {mark[0] + 1}, column {mark[1] + 1}" if mark else "the end of the file"


def _runaway_key(lines: list[str], problem_at: tuple[int, int] | None) -> tuple[int, int] | None:
    """The line before the problem, at the same indentation and without a colon: a key whose ':'
    was forgotten, which YAML reads as the first line of a text running into the next key."""
    if problem_at is None or problem_at[0] >= len(lines):
        return None
    here = lines[problem_at[0]]
    indent = len(here) - len(here.lstrip(" "))
    for number in range(problem_at[0] - 1, -1, -1):
        code = lines[number].split(" #", 1)[0].rstrip()
        if not code.strip() or code.lstrip().startswith("#"):
            continue
        item = code.lstrip().startswith("-")
        if len(code) - len(code.lstrip(" ")) == indent and ":" not in code and not item:
            return number, indent
        return None
    return None


def _full_width(lines: list[str], first: int, last: int) -> tuple[int, int, str] | None:
    """A full-width character in lines first..last where YAML syntax belongs: a colon in the key
    (before any ASCII ': '), a comma inside brackets, a space in the indentation. The same
    characters inside a value ('状态：运行') are text and stay unnamed."""
    for number in range(min(last, len(lines) - 1), max(first, 0) - 1, -1):
        line = lines[number]
        code = _QUOTED.sub(lambda m: " " * len(m.group()), line.split(" #", 1)[0])
        indent = len(code) - len(code.lstrip(" \u3000"))
        if "\u3000" in code[:indent]:
            return number, code.index("\u3000"), "\u3000"
        key_end = min((i for i in (code.find(": "), len(code) - 1 if code.endswith(":") else -1) if i >= 0),
                      default=len(code))  # fmt: skip
        if "：" in code[:key_end]:
            return number, code.index("："), "："
        if "，" in code and ("[" in code or "{" in code):
            return number, code.index("，"), "，"
    return None
