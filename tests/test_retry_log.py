"""A commit conflict that a retry resolves is a DEBUG line: a successful run prints no WARNING.

Two writers of one table: the second commits on stale metadata, PyIceberg retries it on the refreshed
table (leanops.catalog.retry_log), and the orchestrator's stage retry of a lost commit race is DEBUG too
(leanops.orchestrate.retry). Other retried errors stay WARNING.
"""
from __future__ import annotations

import logging

import pyarrow as pa

from leanops.errors import CommitConflictError
from leanops.orchestrate.retry import RetryPolicy, call_with_retries


def _stale_writer_conflicts(ctx) -> list:
    """Two handles on one table; the second appends after the first committed (a real conflict)."""
    dlq = ctx.lake.dlq_table()
    first, second = ctx.lake.catalog.load_table(dlq.name()), ctx.lake.catalog.load_table(dlq.name())
    rows = pa.Table.from_pylist([{name: None for name in dlq.schema().column_names}],
                                schema=dlq.schema().as_arrow())
    first.append(rows)
    second.append(rows)  # stale: its commit fails once, PyIceberg refreshes and commits again
    return ctx.lake.catalog.load_table(dlq.name()).scan().to_arrow().num_rows


def test_a_retried_commit_conflict_is_no_warning(ctx, caplog):
    caplog.set_level(logging.WARNING)
    assert _stale_writer_conflicts(ctx) == 2  # both appends landed
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_with_debug_the_retry_shows_as_a_debug_line(ctx, caplog):
    caplog.set_level(logging.DEBUG, logger="pyiceberg.table")
    assert _stale_writer_conflicts(ctx) == 2
    retries = [r for r in caplog.records if "Commit failed due to a concurrent update" in r.getMessage()]
    assert retries and all(r.levelname == "DEBUG" for r in retries)


def test_other_pyiceberg_warnings_still_show(caplog):
    caplog.set_level(logging.WARNING)
    logging.getLogger("pyiceberg.table").warning("something else went wrong")
    assert [r.getMessage() for r in caplog.records] == ["something else went wrong"]


def test_a_stage_retried_after_a_lost_commit_race_logs_debug_other_errors_warn(caplog):
    caplog.set_level(logging.DEBUG, logger="leanops.retry")
    failures = [CommitConflictError("curated.errors", "lost the race"), OSError("disk hiccup")]

    def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "done"

    assert call_with_retries(RetryPolicy(retries=2, base_seconds=0.0, max_seconds=0.0), "curated", flaky) == "done"
    assert [(r.levelname, r.getMessage().split(" failed with ")[1].split(":")[0]) for r in caplog.records] == [
        ("DEBUG", "CommitConflictError"), ("WARNING", "OSError")]
