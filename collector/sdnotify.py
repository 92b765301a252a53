"""systemd's notify protocol (sd_notify) over $NOTIFY_SOCKET, stdlib only.

Type=notify units wait for READY=1 before they count as started; without $NOTIFY_SOCKET (run by
hand, under Windows, in tests) every call is a no-op that returns False.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send one state message (e.g. "READY=1\\nSTATUS=..."); True when a socket took it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not hasattr(socket, "AF_UNIX"):
        return False
    if address.startswith("@"):  # abstract namespace: a leading NUL byte on the wire
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as exc:  # a lost notification must never stop the collector
        log.warning("sd_notify to %s failed: %s", address, exc)
        return False
    return True


def ready(status: str = "") -> bool:
    """Startup finished: systemd marks the unit started (and `systemctl start` returns)."""
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def stopping() -> bool:
    """Orderly stop has begun (the outbox flush may take up to TimeoutStopSec)."""
    return notify("STOPPING=1")


def reloading() -> bool:
    """A reload (SIGHUP) is being applied; send ready() again when it is done."""
    return notify("RELOADING=1")


def status(text: str) -> bool:
    """One line shown by `systemctl status`."""
    return notify(f"STATUS={text}")


def watchdog() -> bool:
    """Keep-alive for WatchdogSec=: a unit that stops sending these is killed and restarted."""
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Seconds between keep-alives (half the unit's WatchdogSec), or None when no watchdog is armed."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None


async def watchdog_pings() -> None:
    """Ping the watchdog from the event loop until cancelled; returns at once when none is armed.

    Pinging from the loop (not a thread) is the point: a blocked loop stops the pings.
    """
    interval = watchdog_interval()
    if interval is None:
        return
    while True:
        watchdog()
        await asyncio.sleep(interval)
