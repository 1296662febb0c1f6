"""The landing's thresholds and timings: a module of its own, so the light readers of the landing's state
(leanops.landing.failures: `leanops accountability`, `files orphans`) need not import the ingest."""
from __future__ import annotations

import dataclasses

from leanops.errors import LeanOpsError

MiB = 1 << 20


@dataclasses.dataclass(frozen=True)
class LandingOptions:
    """Seed 003's thresholds and the landing's timings."""

    max_files: int = 200
    max_bytes: int = 700 * MiB
    max_wait_seconds: float = 300.0
    settle_seconds: float = 5.0
    processing_timeout_seconds: float = 3600.0  # a manifest processing longer than this is stuck
    max_attempts: int = 3  # a failed manifest is retried until it has been tried this often

    def __post_init__(self) -> None:
        if self.max_files < 1 or self.max_bytes < 1:
            raise LeanOpsError("max_files and max_bytes must be at least 1")
        if min(self.max_wait_seconds, self.settle_seconds, self.processing_timeout_seconds) < 0:
            raise LeanOpsError("landing timings cannot be negative")
        if self.max_attempts < 1:
            raise LeanOpsError("max_attempts must be at least 1")
