"""The audit ledger: the hash-chain format, the signing key, the single writer and the readers.

The bottom of the evidence chain: it imports nothing from the rest of the collector, so the
collector's runtime recorder, the evidence pack builder and the tests all share one definition of
what a ledger entry is. The in-pack verifier carries a copy of `chain.py` (see
collector/evidence/verify/vendor/).
"""

from collector.clock import now_ms
from collector.ledger.errors import KeyFileError, LedgerError
from collector.ledger.reader import Entry, excerpt, first_ts, iter_entries, ledger_files, utc_day
from collector.ledger.writer import Ledger

__all__ = [
    "Entry",
    "KeyFileError",
    "Ledger",
    "LedgerError",
    "excerpt",
    "first_ts",
    "iter_entries",
    "ledger_files",
    "now_ms",
    "utc_day",
]
