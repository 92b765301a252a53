"""The append-only, hash-chained audit ledger: one JSON line per fact, signed checkpoints.

    ledger = Ledger(plant.resolve(evidence.ledger_dir), key, "collector@edge-01")
    ledger.append("DEVICE_CONNECT", {"device": "plc-01"})      # one line, flushed (no fsync)
    ledger.checkpoint("stop")                                  # signed CHECKPOINT, fsynced
    ledger.close()

Format (exact: the in-pack verifier checks it) is in collector/ledger/chain.py and the evidence
plan: files `audit-YYYY-MM-DD.jsonl` by UTC day, `seq` global, each entry's `prev_hash` is the
previous entry's `entry_hash`. The first append after UTC midnight is preceded by a daily CHECKPOINT.
A torn last line (the process was killed mid-write) is cut off on open and a LEDGER_RECOVERED
entry says how many bytes went. Only one writer: an fcntl lock on `ledger.lock` guards the directory.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.clock import now_ms
from collector.ledger.chain import ALG, GENESIS, canonical, checkpoint_body, entry_hash, payload_digest
from collector.ledger.errors import LedgerError
from collector.ledger.keys import key_id, sign
from collector.ledger.reader import Entry, day_of, ledger_files, read_complete, utc_day

log = logging.getLogger(__name__)


class Ledger:
    """The single writer of a ledger directory; not thread-safe (the collector's event loop owns it)."""

    def __init__(self, directory: Path, key: Ed25519PrivateKey, actor: str) -> None:
        self.directory = directory
        self.actor = actor
        self._key = key
        self.key_id = key_id(key)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._lock = _lock(directory / "ledger.lock")
        except OSError as exc:
            raise LedgerError(f"{directory}: cannot open the ledger: {exc.strerror or exc}") from exc
        self._file: BinaryIO | None = None
        self._day = ""  # the day file being written; never goes back even if the clock does
        self._seq = 0
        self._prev = GENESIS
        self._last_ts: int | None = None
        self._since_checkpoint: Counter[str] = Counter()
        self._window_from: int | None = None  # ts of the first entry after the last checkpoint
        try:
            torn = self._resume()
        except BaseException:
            self._release()
            raise
        if torn is not None:
            name, cut = torn
            log.warning("ledger %s: cut %d bytes of a torn last line", name, cut)
            self.append("LEDGER_RECOVERED", {"file": name, "truncated_bytes": cut})

    @property
    def head(self) -> tuple[int, str]:
        """(seq, entry_hash) of the last entry; (-1, GENESIS) when the ledger is empty."""
        return self._seq - 1, self._prev

    def append(self, type_: str, payload: dict[str, Any], ts: int | None = None) -> Entry:
        """Write one entry (flushed to the OS, not fsynced); a daily CHECKPOINT first after midnight."""
        at = now_ms() if ts is None else ts
        if type_ != "CHECKPOINT" and self._day_changed(at):
            self.checkpoint("daily", at)
        return self._write(type_, payload, at)

    def tick(self, ts: int | None = None) -> None:
        """Write the daily checkpoint when a UTC day ended without any append since."""
        at = now_ms() if ts is None else ts
        if self._day_changed(at):
            self.checkpoint("daily", at)

    def checkpoint(self, reason: str, ts: int | None = None) -> Entry:
        """Sign the chain head with the counts since the previous checkpoint; fsync."""
        at = now_ms() if ts is None else ts
        head_seq, head_hash = self.head
        to = self._last_ts if self._last_ts is not None else at
        body = {
            "head_seq": head_seq,
            "head_hash": head_hash,
            "from": self._window_from if self._window_from is not None else to,  # empty window: from = to
            "to": to,
            "counts": dict(sorted(self._since_checkpoint.items())),
            "key_id": self.key_id,
        }
        signature = sign(self._key, canonical(checkpoint_body(body)))
        entry = self._write("CHECKPOINT", {**body, "alg": ALG, "signature": signature, "reason": reason}, at)
        self.sync()
        return entry

    def sync(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        try:
            self.sync()
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None
            self._release()

    # -- internals ----------------------------------------------------------------------------

    def _day_changed(self, at: int) -> bool:
        return self._last_ts is not None and utc_day(at) > self._day

    def _write(self, type_: str, payload: dict[str, Any], at: int) -> Entry:
        entry: Entry = {
            "seq": self._seq,
            "ts": at,
            "type": type_,
            "actor": self.actor,
            "payload": payload,
            "payload_digest": payload_digest(payload),
            "prev_hash": self._prev,
        }
        entry["entry_hash"] = entry_hash(entry)
        line = canonical(entry) + b"\n"
        self._open_for(at).write(line)
        assert self._file is not None
        self._file.flush()
        self._seq += 1
        self._prev = entry["entry_hash"]
        self._last_ts = at
        if type_ == "CHECKPOINT":
            self._since_checkpoint.clear()
            self._window_from = None
        else:
            self._since_checkpoint[type_] += 1
            if self._window_from is None:
                self._window_from = at
        return entry

    def _open_for(self, at: int) -> BinaryIO:
        day = max(utc_day(at), self._day)
        if self._file is None or day != self._day:
            if self._file is not None:
                self.sync()
                self._file.close()
            self._file = (self.directory / f"audit-{day}.jsonl").open("ab")
            self._day = day
        return self._file

    def _resume(self) -> tuple[str, int] | None:
        """Continue seq/prev_hash from the newest complete entry; cut a torn tail. (file, bytes cut)."""
        torn: tuple[str, int] | None = None
        files = ledger_files(self.directory)
        for path in reversed(files):
            entries, good_bytes, size = read_complete(path)
            if good_bytes < size:
                with path.open("r+b") as fh:
                    fh.truncate(good_bytes)
                    os.fsync(fh.fileno())
                torn = torn or (path.name, size - good_bytes)
            if entries:
                self._restore(entries, files[: files.index(path)])
                self._day = day_of(path)
                return torn
        return torn

    def _restore(self, newest: list[Entry], older: list[Path]) -> None:
        last = newest[-1]
        self._seq, self._prev, self._last_ts = int(last["seq"]) + 1, str(last["entry_hash"]), int(last["ts"])
        # counts since the last checkpoint: usually in the newest file (each day starts with one)
        tail: list[Entry] = []
        chunks = [newest]
        for path in reversed(older):
            if any(e["type"] == "CHECKPOINT" for e in chunks[-1]):
                break
            chunks.append(read_complete(path)[0])
        for chunk in reversed(chunks):
            tail.extend(chunk)
        for entry in tail:
            if entry["type"] == "CHECKPOINT":
                self._since_checkpoint.clear()
                self._window_from = None
            else:
                self._since_checkpoint[str(entry["type"])] += 1
                if self._window_from is None:
                    self._window_from = int(entry["ts"])

    def _release(self) -> None:
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()


def _lock(path: Path) -> BinaryIO:
    fh = path.open("a+b")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().decode("ascii", "replace").strip() or "?"
        fh.close()
        raise LedgerError(
            f"{path.parent}: the ledger is in use by another collector (pid {holder}); "
            "only one process may write it"
        ) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n".encode("ascii"))
    fh.flush()
    return fh
