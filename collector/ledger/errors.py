"""The ledger layer's errors: one base, so a caller can stop on any of them with one clause."""


class LedgerError(Exception):
    """The ledger cannot be opened or written; the message says why."""


class KeyFileError(LedgerError):
    """The signing key file exists but cannot be used; the message says which file and why."""
