"""Subcommands of the `shopfloor` CLI, one module each."""
