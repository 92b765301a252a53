"""The collector's wall clock: UTC milliseconds, the unit every stamp in a record, the ledger and the
store uses. Durations inside one process are measured on the monotonic clock instead."""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
