"""What every subcommand shares: exit codes and how configuration problems are reported."""

from __future__ import annotations

import sys
from pathlib import Path

from collector.config import ConfigError, LoadedPlant, load_plant

# Every command ends with one of these; the systemd units do not restart after EXIT_BAD_INPUT.
EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def report_problems(exc: ConfigError) -> None:
    """Every located problem on stderr, then how many: the same text wherever a file is read."""
    for problem in exc.problems:
        print(problem.render(), file=sys.stderr)
    count = len(exc.problems)
    print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)


def load_or_report(path: str | Path) -> LoadedPlant | None:
    """The plant, or None after its problems were printed (the caller exits with EXIT_BAD_INPUT)."""
    try:
        return load_plant(path)
    except ConfigError as exc:
        report_problems(exc)
        return None
