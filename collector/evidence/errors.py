"""The evidence builder's errors: one base, so a caller (the CLI, the status page) can report any of
them as "the pack was not built" with the message, which says why."""


class EvidenceError(Exception):
    """A pack cannot be built over this window; the message says why."""
