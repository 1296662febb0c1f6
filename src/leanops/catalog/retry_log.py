"""PyIceberg's commit retries, logged at DEBUG instead of WARNING.

Topics running at once append to the shared tables (DLQ, parse errors, curated and semantic errors), so
one commit sometimes loses the race to another. PyIceberg then refreshes the table and commits again, and
logs each retry as a WARNING ("Commit failed due to a concurrent update, retrying (1/4) in 103 ms"). A
conflict that a retry resolves is routine: it shows with `--debug`, and a successful run prints no
warning. A commit that still fails after its retries raises, as before (leanops.catalog.commit retries
it again, then the stage reports it).
"""
from __future__ import annotations

import logging

PYICEBERG_TABLE_LOGGER = "pyiceberg.table"
RETRY_MESSAGE = "Commit failed due to a concurrent update, retrying"


class RetriedCommitIsDebug(logging.Filter):
    """Turns PyIceberg's retry warning into a DEBUG record, dropped unless DEBUG is enabled."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING or not str(record.msg).startswith(RETRY_MESSAGE):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_commit_retries() -> None:
    """Install the filter on PyIceberg's table logger once (idempotent)."""
    logger = logging.getLogger(PYICEBERG_TABLE_LOGGER)
    if not any(isinstance(f, RetriedCommitIsDebug) for f in logger.filters):
        logger.addFilter(RetriedCommitIsDebug())
