"""What can go wrong with one Modbus request, below the driver's public error tree.

The link and the bus raise these; the driver turns them into a tag status (timeout, exception
response, garbled answer) or into `DeviceUnreachable` / `DeviceBusy` (connection gone, unit
quarantined, device busy for too long). They never leave the driver.
"""

from __future__ import annotations

from drivers.base import DriverError
from drivers.status import (
    BAD_COMMUNICATION_ERROR,
    BAD_DEVICE_FAILURE,
    BAD_NOT_READABLE,
    BAD_TIMEOUT,
)

ILLEGAL_FUNCTION = 0x01
ILLEGAL_DATA_ADDRESS = 0x02
ILLEGAL_DATA_VALUE = 0x03
SLAVE_DEVICE_FAILURE = 0x04
SLAVE_DEVICE_BUSY = 0x06


class RequestFailed(DriverError):
    """One request got no usable answer; `status` is what its tags become."""

    status = BAD_COMMUNICATION_ERROR


class RequestTimeout(RequestFailed):
    """No answer within the device's timeout."""

    status = BAD_TIMEOUT


class GarbledResponse(RequestFailed):
    """An answer that does not belong to the request (wrong unit, transaction, function, size)."""

    status = BAD_COMMUNICATION_ERROR


class ExceptionResponse(RequestFailed):
    """The device answered with a Modbus exception code."""

    def __init__(self, code: int, function_code: int) -> None:
        super().__init__(f"exception {code:02d} to function {function_code}")
        self.code = code
        self.function_code = function_code

    @property
    def status(self) -> int:  # type: ignore[override]
        return BAD_NOT_READABLE if self.code == ILLEGAL_DATA_ADDRESS else BAD_DEVICE_FAILURE


class LinkDown(DriverError):
    """The connection (socket, serial port) is closed or could not be opened."""


class UnitQuarantined(DriverError):
    """The unit stopped answering on a shared line and is skipped until its next probe."""

    def __init__(self, unit_id: int, retry_in: float) -> None:
        super().__init__(f"unit {unit_id} quarantined, next probe in {retry_in:.1f} s")
        self.unit_id = unit_id
        self.retry_in = retry_in
