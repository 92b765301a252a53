"""Normalisation: equipment state, part counters and ISO 22400 KPIs (pure; time is passed in).

Kept import-free so that config models can use `collector.normalise.expr` without a cycle.
"""
