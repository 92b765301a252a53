"""Modbus RTU framing: CRC16 and a request-frame splitter for byte streams.

RTU has no length field; a slave finds frame ends from 3.5 character times of
silence. Over a pty or a TCP socket those gaps are not observable reliably, so
the splitter computes a request's length from its function code and uses a
silence gap only to throw away garbage (a half frame followed by a pause).
"""

from __future__ import annotations

import time


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes | bytearray | memoryview) -> int:
    """Modbus CRC16 (poly 0xA001, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def with_crc(frame: bytes) -> bytes:
    return frame + crc16(frame).to_bytes(2, "little")


# Request lengths (unit + pdu + crc) for fixed-size function codes.
_FIXED_LEN = {1: 8, 2: 8, 3: 8, 4: 8, 5: 8, 6: 8}


def request_length(buf: bytes | bytearray) -> int | None:
    """Full RTU request length if it can be known from the bytes so far, else None."""
    if len(buf) < 2:
        return None
    fc = buf[1]
    if fc in _FIXED_LEN:
        return _FIXED_LEN[fc]
    if fc in (15, 16):
        return 9 + buf[6] if len(buf) >= 7 else None
    return None


class RtuSplitter:
    """Accumulates bytes and yields complete CRC-checked request frames (without CRC)."""

    def __init__(self, gap_s: float = 0.05) -> None:
        self.gap_s = gap_s
        self._buf = bytearray()
        self._last_rx = 0.0
        self.crc_errors = 0

    def feed(self, data: bytes) -> list[bytes]:
        now = time.monotonic()
        if self._buf and now - self._last_rx > self.gap_s:
            # Silence after a partial frame: the rest never came, start over.
            self._buf.clear()
        self._last_rx = now
        self._buf += data
        frames: list[bytes] = []
        while self._buf:
            need = request_length(self._buf)
            if need is None:
                # Unknown function code: accept the whole buffer once its CRC checks out.
                if len(self._buf) >= 4 and self._buf[1] not in (15, 16) and self._crc_ok(self._buf):
                    frames.append(bytes(self._buf[:-2]))
                    self._buf.clear()
                break
            if len(self._buf) < need:
                break
            frame = self._buf[:need]
            del self._buf[:need]
            if self._crc_ok(frame):
                frames.append(bytes(frame[:-2]))
            else:
                # A real slave stays silent on CRC errors. Drop only this frame: if the rest
                # is misaligned garbage, the next silence gap clears it.
                self.crc_errors += 1
        return frames

    @staticmethod
    def _crc_ok(frame: bytes | bytearray) -> bool:
        return crc16(memoryview(frame)[:-2]) == int.from_bytes(frame[-2:], "little")
