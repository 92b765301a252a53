"""OPC UA StatusCode values used as the one quality vocabulary for every source (docs/STANDARDS.md §1.1)."""

from __future__ import annotations

GOOD = 0x00000000
UNCERTAIN = 0x40000000
BAD = 0x80000000

BAD_COMMUNICATION_ERROR = 0x80050000
BAD_TIMEOUT = 0x800A0000
BAD_NODE_ID_UNKNOWN = 0x80340000
BAD_NOT_READABLE = 0x803A0000
BAD_NO_COMMUNICATION = 0x80310000
BAD_WAITING_FOR_INITIAL_DATA = 0x80320000
BAD_DEVICE_FAILURE = 0x808B0000
BAD_SENSOR_FAILURE = 0x808C0000
BAD_OUT_OF_SERVICE = 0x808D0000
BAD_DECODING_ERROR = 0x80070000
BAD_TYPE_MISMATCH = 0x80740000
BAD_USER_ACCESS_DENIED = 0x801F0000
UNCERTAIN_NO_COMMUNICATION_LAST_USABLE = 0x408F0000
UNCERTAIN_LAST_USABLE_VALUE = 0x40900000
UNCERTAIN_SENSOR_NOT_ACCURATE = 0x40930000
UNCERTAIN_ENGINEERING_UNITS_EXCEEDED = 0x40940000

_SEVERITY_MASK = 0xC0000000


def is_good(status: int) -> bool:
    return status & _SEVERITY_MASK == GOOD


def is_uncertain(status: int) -> bool:
    return status & _SEVERITY_MASK == UNCERTAIN


def is_bad(status: int) -> bool:
    return status & _SEVERITY_MASK == BAD


def severity(status: int) -> str:
    """'good', 'uncertain' or 'bad' from the two top bits."""
    if is_good(status):
        return "good"
    if is_uncertain(status):
        return "uncertain"
    return "bad"
