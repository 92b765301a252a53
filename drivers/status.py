"""OPC UA StatusCode values used as the one quality vocabulary for every source (docs/STANDARDS.md §1.1)."""

from __future__ import annotations

from collections.abc import Iterable

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
_CODE_MASK = 0xFFFF0000  # severity and sub-code; the low bits are flags (overflow, limits)

# What a tag carries when the device gave no answer for it, as opposed to an answer that refused it
# or a value; each with what it says about the device. A poll in which every tag carries one of these
# was not answered at all: the device is not talking to us, whatever the state of the TCP connection
# (collector/worker.py).
NO_ANSWER: dict[int, str] = {
    BAD_TIMEOUT: "every request timed out (BadTimeout)",
    BAD_COMMUNICATION_ERROR: "every answer was garbled (BadCommunicationError)",
    BAD_NO_COMMUNICATION: "no communication (BadNoCommunication)",
    BAD_WAITING_FOR_INITIAL_DATA: "no subscription has delivered a first value (BadWaitingForInitialData)",
    UNCERTAIN_NO_COMMUNICATION_LAST_USABLE: (
        "the server stopped publishing; every value is the last one received "
        "(UncertainNoCommunicationLastUsableValue)"
    ),
}


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


def unanswered(statuses: Iterable[int]) -> bool:
    """True when there were statuses and every one says the device did not answer (NO_ANSWER)."""
    seen = False
    for status in statuses:
        if status & _CODE_MASK not in NO_ANSWER:
            return False
        seen = True
    return seen


def why_unanswered(status: int) -> str:
    """What a NO_ANSWER status says about the device, for a log line."""
    return NO_ANSWER.get(status & _CODE_MASK, f"status 0x{status:08X}")
