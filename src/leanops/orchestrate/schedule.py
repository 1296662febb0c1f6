"""`leanops run --every 15m`: cycles until stopped, with a clean shutdown on SIGINT/SIGTERM.

A signal stops the loop from starting anything new; the running cycle finishes its stages (each
stage commits atomically, so even a hard kill leaves nothing half-committed).
"""
from __future__ import annotations

import re
import signal
import threading
import time
from typing import Callable

from leanops.errors import LeanOpsError

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")


def parse_interval(text: str) -> float:
    """'15m' -> 900.0; units s, m, h (seconds when none).

    >>> parse_interval("15m"), parse_interval("30s"), parse_interval("1h"), parse_interval("5")
    (900.0, 30.0, 3600.0, 5.0)
    """
    match = _INTERVAL.match(text)
    if not match or float(match[1]) <= 0:
        raise LeanOpsError(f"interval {text!r}: use a positive number with s, m or h, e.g. 15m")
    return float(match[1]) * {"s": 1, "m": 60, "h": 3600, None: 1}[match[2]]


def run_every(interval: float, cycle: Callable[[], object], stop: threading.Event | None = None,
              max_cycles: int | None = None) -> int:
    """Run `cycle` every `interval` seconds until a signal (or `stop`); returns the cycles run."""
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    cycles = 0
    try:
        while not stop.is_set():
            started = time.monotonic()
            cycle()
            cycles += 1
            if max_cycles is not None and cycles >= max_cycles:
                break
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return cycles
