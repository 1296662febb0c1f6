"""Crash-test hooks: named points between the steps of every command that writes, where a test stops it.

    fault_point("after-curated-commit")

Environment (read at each point, so a test sets it per subprocess; unset, a point costs one lookup):
  LEANOPS_FAULT=<name>      the point of that name ends the process at once (exit 75)
  LEANOPS_KILL_AT=<n>       the n-th point the process passes (any name, counted from 1) SIGKILLs it: the
                            kill -9 harness (tests/test_kill_harness.py) spreads kills over a command's run
  LEANOPS_FAULT_LOG=<path>  each point passed appends its name to this file: how the harness counts them
"""
from __future__ import annotations

import itertools
import os
import signal
import threading

FAULT_ENV = "LEANOPS_FAULT"
KILL_AT_ENV = "LEANOPS_KILL_AT"
FAULT_LOG_ENV = "LEANOPS_FAULT_LOG"

_passed = itertools.count(1)
_lock = threading.Lock()  # one number per point, in log order, when topics run in threads


def fault_point(name: str) -> None:
    """Die here when the environment asks for this point (by name, or by its number)."""
    env = os.environ
    if env.get(FAULT_ENV) == name:
        os._exit(75)
    kill_at, log = env.get(KILL_AT_ENV), env.get(FAULT_LOG_ENV)
    if not kill_at and not log:
        return
    with _lock:
        number = next(_passed)
        if log:
            with open(log, "a", encoding="utf-8") as out:
                out.write(f"{number} {name}\n")
        if kill_at and number == int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["FAULT_ENV", "FAULT_LOG_ENV", "KILL_AT_ENV", "fault_point"]
