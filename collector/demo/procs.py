"""Child processes that are always stopped: each in its own process group, logged to a file.

A child never shares the terminal's process group, so Ctrl-C reaches only the demo, which then stops
the collector with SIGTERM (a clean flush) before anything else. Every started child is registered
and stopped again at interpreter exit, whatever happened in between.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

_LIVE: set[Child] = set()


class Interrupted(Exception):
    """A stop was requested (Ctrl-C, SIGTERM) while waiting."""


class Child:
    """One subprocess: `start()`, `stop()` (SIGTERM to the group, SIGKILL after a grace), `kill()`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        _LIVE.add(self)
        log.info("started %s (pid %d): %s", self.name, self.proc.pid, " ".join(self.argv))
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM to the whole group; SIGKILL when it has not exited after `grace` seconds."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0fs; killing it", self.name, grace)
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout=10)
        _LIVE.discard(self)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL, as a power cut or the OOM killer would."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        _LIVE.discard(self)


def stop_all() -> None:
    for child in list(_LIVE):
        with contextlib.suppress(Exception):
            child.stop(grace=5.0)


atexit.register(stop_all)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def wait_until(
    ready: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    child: Child | None = None,
    stop: Callable[[], bool] | None = None,
) -> None:
    """Poll `ready` until true; TimeoutError, RuntimeError when `child` died, Interrupted on `stop`."""
    deadline = time.monotonic() + timeout
    while not ready():
        if stop is not None and stop():
            raise Interrupted(what)
        if child is not None and not child.alive:
            tail = child.log_text()[-1500:]
            raise RuntimeError(f"{child.name} exited while waiting for {what}; its log ends:\n{tail}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)
