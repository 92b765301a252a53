"""`python -m collector`: the same entry as the `shopfloor` script."""

from collector.cli import entry

entry()
