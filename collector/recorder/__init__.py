"""The runtime recorder: what `shopfloor run` does, written to the audit ledger as it happens.

It sits beside the engine: it observes the engine, the workers and the delivery, and turns their
facts (connections, batches, replays, state intervals, counter events, KPI windows, clock offsets)
into ledger entries. The evidence pack is later built from those entries (collector/evidence).
"""

from collector.recorder.recorder import EvidenceRecorder

__all__ = ["EvidenceRecorder"]
