"""Retries with exponential backoff for errors worth retrying (I/O, commit conflicts), via tenacity.

Deterministic failures (bad input, a poisoned schema, a bug) are not retried: the same input gives
the same failure, and retrying only delays the alert.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable, TypeVar

from pyiceberg.exceptions import CommitFailedException
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from leanops.errors import CommitConflictError, TransientError

T = TypeVar("T")
log = logging.getLogger("leanops.retry")


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2  # seed 003: max 2 retries
    base_seconds: float = 2.0  # waits 2 s, 4 s, ... (capped)
    max_seconds: float = 60.0


def is_transient(exc: BaseException) -> bool:
    """I/O errors and commit conflicts may pass on a retry; everything else is deterministic."""
    return isinstance(exc, (TransientError, CommitFailedException, OSError, TimeoutError))


def call_with_retries(policy: RetryPolicy, what: str, fn: Callable[[], T], on_retry: Callable[[int, BaseException], None]
                      = lambda attempt, exc: None) -> T:
    def before_sleep(state) -> None:
        exc = state.outcome.exception()
        # a lost commit race is routine (another writer committed first): DEBUG; other I/O trouble: WARNING
        level = logging.DEBUG if isinstance(exc, (CommitConflictError, CommitFailedException)) else logging.WARNING
        log.log(level, "%s: attempt %d failed with %s: %s; retrying", what, state.attempt_number,
                type(exc).__name__, exc)
        on_retry(state.attempt_number, exc)

    retrying = Retrying(retry=retry_if_exception(is_transient), stop=stop_after_attempt(policy.retries + 1),
                        wait=wait_exponential(multiplier=policy.base_seconds, max=policy.max_seconds),
                        before_sleep=before_sleep, reraise=True)
    return retrying(fn)
