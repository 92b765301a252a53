"""Normalisation: readings into telemetry, equipment state, part counters and ISO 22400 KPIs.

Time is passed in (no clock reads), so the same code serves the live collector and tests; the only
I/O is the counters' baseline file, written so a restart does not count parts twice.
"""
