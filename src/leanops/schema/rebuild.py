"""The historical rebuilder: replay a topic's whole RAW history into new Standardized/Curated tables.

    leanops rebuild events

1. PAUSE the topic and take its lease (the orchestrator skips it; its data keeps landing in RAW).
2. Archive: rename `standardized.<t>`, `curated.<t>` and `semantic.<t>` to `<t>_archive_<UTC timestamp>`
   and move the topic's rows of the shared error tables into archive tables of the same suffix, so
   the new tables' accountability starts from zero.
3. Replay: run the normal stages (Semantic too, when the schema has it) from no checkpoint up to the RAW snapshot current at the start
   (pinned), batch after batch (`max_batch_rows`, so memory stays bounded for a RAW larger than RAM),
   against the current schema file. Checkpoints land in the new tables' commits as always.
   Parse errors corrected before (`leanops errors replay --layer parse`) are corrected again from
   raw.parse_corrections once Standardized is replayed, before Curated runs.
4. ENABLE the topic again. Data that arrived in RAW during the rebuild is after the pinned snapshot,
   so the next normal run picks it up: no gap, no double.

Resumable from any kill point: the rebuild record in the state store is the step journal (`status`),
and every action of a step can be done again:

| status | done | running `leanops rebuild` again |
|---|---|---|
| ARCHIVING | suffix and pinned snapshot chosen | renames what is not renamed yet, moves the error rows not moved yet (a partial copy is replaced), then REPLAYING |
| REPLAYING | archive complete | replays on from the new tables' own checkpoints (a stage killed between its commits is redone as in any run) |
| REPLAYED | replay complete | ENABLEs the topic |
| SUCCEEDED | done | a new rebuild |

A failed step keeps its status, with the error. A record of a replay under another schema file, and
one written before this journal (`RUNNING`, `FAILED`: how far its archive got is unknown), start over
under a new suffix: whatever is live then is archived too, so nothing is lost.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Callable

from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import EqualTo
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from leanops.catalog.commit import append_with_retry
from leanops.catalog.tables import SUMMARY_SOURCE_FROM, SUMMARY_TOPIC, Lakehouse, ancestors
from leanops.context import Context
from leanops.errors import LeanOpsError, UnknownTopicError
from leanops.faults import fault_point
from leanops.ops.corrections import apply_parse_corrections
from leanops.orchestrate.cycle import acquire, holder_id
from leanops.schema_file import TopicSchema, fingerprint
from leanops.stages.checkpoint import checkpoint_from_table, position_from_table
from leanops.stages.position import Position
from leanops.stages.incremental import data_head_id
from leanops.stages.result import StageResult
from leanops.types import FlowControl, RunStatus

LEASE_TTL_SECONDS = 24 * 3600.0  # a rebuild holds the topic for as long as it takes
REBUILD_MARK = "rebuild"  # SUMMARY_SOURCE_FROM of the commit that moves a topic's errors to the archive
# the rebuild record's status: the step it is at (see the module doc)
ARCHIVING, REPLAYING, REPLAYED, SUCCEEDED = "ARCHIVING", "REPLAYING", "REPLAYED", "SUCCEEDED"


@dataclasses.dataclass
class RebuildReport:
    topic: str
    archive_suffix: str
    target_raw_snapshot: int | None
    batches: int = 0
    standardized_rows: int = 0
    curated_rows: int = 0
    semantic_rows: int = 0
    corrections_applied: int = 0  # stored parse-error corrections written to the new Standardized table
    status: str = "RUNNING"
    error: str | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def rebuild(ctx: Context, topic: str, on_batch: Callable[[StageResult], None] = lambda r: None,
            schema: TopicSchema | None = None, resume: bool = True) -> RebuildReport:
    """Rebuild `topic` against `schema` (default: its file in the schema directory), or resume its rebuild.

    `resume=False` leaves the topic PAUSED after a successful rebuild, for a caller that resumes it
    itself once its own last steps are done (the Step Functions rebuilder)."""
    if ctx.lake.raw_table(topic) is None and ctx.state.get_topic(topic) is None:
        raise UnknownTopicError(topic)
    schema = schema or ctx.schema(topic)
    if schema is None or schema.standardized is None:
        raise LeanOpsError(f"{topic}: no schema with a standardized section to rebuild against")
    ctx.state.register_topic(topic)
    ctx.state.set_flow_control(topic, FlowControl.PAUSED)
    holder = holder_id()
    if not acquire(ctx, topic, holder, LEASE_TTL_SECONDS):
        raise LeanOpsError(f"{topic}: an orchestrator is processing the topic right now; the topic is PAUSED, "
                           "so run the rebuild again in a moment")
    try:
        fault_point("rebuild-after-pause")
        return _rebuild_leased(ctx, topic, schema, on_batch, resume)
    finally:
        ctx.state.release_lease(topic, holder)


def _rebuild_leased(ctx: Context, topic: str, schema: TopicSchema, on_batch: Callable[[StageResult], None],
                    resume: bool) -> RebuildReport:
    sha = fingerprint(schema)[1]
    pending = resumable(ctx.state.get_rebuild(topic), sha)
    if pending is not None:
        suffix, target, step = pending["archive_suffix"], pending["target_raw_snapshot"], pending["status"]
    else:
        suffix, step = new_suffix(ctx.lake, topic), ARCHIVING
        target = data_head_id(ctx.lake.raw_table(topic))  # a compaction on top adds nothing to replay
        ctx.state.put_rebuild(topic, suffix, target, step, None, sha)
        fault_point("rebuild-after-start")
    report = RebuildReport(topic, suffix, target)

    def journal(status: str, error: str | None = None) -> None:
        ctx.state.put_rebuild(topic, suffix, target, status, error, sha)

    try:
        if step == ARCHIVING:
            archive(ctx.lake, topic, suffix)
            step = REPLAYING
            journal(step)
            fault_point("rebuild-after-archive")
        if step == REPLAYING:
            _replay(ctx, topic, schema, target, report, on_batch)
            step = REPLAYED
            journal(step)
            fault_point("rebuild-after-replay")
    except Exception as exc:
        report.status, report.error = "FAILED", f"{type(exc).__name__}: {exc}"
        journal(step, report.error)
        return report  # the topic stays PAUSED; running the rebuild again resumes this step
    if resume:
        ctx.state.set_flow_control(topic, FlowControl.ENABLED)
        fault_point("rebuild-after-enable")
    journal(SUCCEEDED)
    report.status = SUCCEEDED
    return report


def resumable(record: dict | None, sha: str) -> dict | None:
    """The rebuild record to resume, or None when a new rebuild starts (none pending, or not resumable)."""
    if record is None or record["status"] not in (ARCHIVING, REPLAYING, REPLAYED):
        return None  # none, SUCCEEDED, or an older release's record (RUNNING, FAILED): start over
    if record["status"] != ARCHIVING and record.get("schema_sha256") != sha:
        return None  # the tables were replayed under another schema file: rebuild them again
    return record


def new_suffix(lake: Lakehouse, topic: str) -> str:
    """`archive_<UTC yyyymmddHHMMSS>`, with `_1`, `_2`... when a rebuild of the same second took it."""
    base = suffix = "archive_" + datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    taken = 0
    while any(lake.load(name) is not None for name in _archive_names(lake, topic, suffix)):
        taken += 1
        suffix = f"{base}_{taken}"
    return suffix


def _error_tables(lake: Lakehouse) -> list[Table]:
    return [lake.parse_errors_table(), lake.curated_errors_table(), lake.semantic_errors_table()]


def _derived(lake: Lakehouse, topic: str) -> list[str]:
    return [lake.standardized_ident(topic), lake.curated_ident(topic), lake.semantic_ident(topic)]


def _errors_archive(errors: Table, topic: str, suffix: str) -> str:
    namespace, name = errors.name()[-2:] if len(errors.name()) > 1 else ("", errors.name()[0])
    return f"{namespace}.{name}_{topic}_{suffix}"


def _archive_names(lake: Lakehouse, topic: str, suffix: str) -> list[str]:
    return ([f"{ident}_{suffix}" for ident in _derived(lake, topic)]
            + [_errors_archive(errors, topic, suffix) for errors in _error_tables(lake)])


def archive(lake: Lakehouse, topic: str, suffix: str) -> None:
    """Rename the topic's derived tables and move its rows of the shared error tables aside.

    Run again after a kill it finishes the job: nothing of the new history exists yet (the replay starts
    once the journal says the archive is complete), so a live table is an old one to rename, and a
    topic's error rows are old ones to move."""
    for ident in _derived(lake, topic):
        archived = f"{ident}_{suffix}"
        if lake.load(ident) is not None and lake.load(archived) is None:
            lake.catalog.rename_table(ident, archived)
            fault_point("rebuild-after-rename")
    fault_point("rebuild-after-renames")
    for errors in _error_tables(lake):
        _move_errors(lake, errors, topic, suffix)


def _move_errors(lake: Lakehouse, errors: Table, topic: str, suffix: str) -> None:
    """Copy the topic's rows of a shared error table to its archive table, then delete them with the mark."""
    mark = {SUMMARY_TOPIC: topic, SUMMARY_SOURCE_FROM: REBUILD_MARK}
    rows = errors.scan(row_filter=EqualTo("topic_name", topic)).to_arrow()
    if rows.num_rows == 0:
        # still mark the start of the new history: without it, the old first run's error commit (from
        # "") would pass for an orphan of the new tables' first run (a replay may have emptied them)
        newest = _newest_commit(errors, topic)
        if newest is not None and newest.summary.additional_properties.get(SUMMARY_SOURCE_FROM) != REBUILD_MARK:
            append_with_retry(errors, errors.schema().as_arrow().empty_table(), mark)
            fault_point("rebuild-after-errors-move")
        return
    name = _errors_archive(errors, topic, suffix)
    copy = lake.load(name) or lake.catalog.create_table(name, schema=errors.schema())
    rows = rows.cast(copy.schema().as_arrow())
    if copy.current_snapshot() is None:
        copy.append(rows)
    else:
        copy.overwrite(rows)  # the copy of an archive killed before its delete: replaced, never doubled
    fault_point("rebuild-after-errors-copy")
    _delete_topic_rows(errors, topic, mark)
    fault_point("rebuild-after-errors-move")


def _newest_commit(errors: Table, topic: str) -> Snapshot | None:
    """The topic's newest commit of a shared error table."""
    return next((s for s in ancestors(errors)
                 if s.summary and s.summary.additional_properties.get(SUMMARY_TOPIC) == topic), None)


@retry(retry=retry_if_exception_type((CommitFailedException, ValidationException)),
       wait=wait_random_exponential(0.05, 2), stop=stop_after_attempt(8), reraise=True)
def _delete_topic_rows(errors: Table, topic: str, summary: dict[str, str]) -> None:
    """Other topics append to the shared table meanwhile: a lost race is retried on the fresh table."""
    errors.refresh()
    errors.delete(EqualTo("topic_name", topic), snapshot_properties=summary)


def _replay(ctx: Context, topic: str, schema, target: int | None, report: RebuildReport,
            on_batch: Callable[[StageResult], None]) -> None:
    """Run the stages until Standardized (and Curated) have consumed RAW up to the pinned snapshot."""
    if target is None:
        return
    settings = ctx.settings
    while True:
        table = ctx.lake.standardized_table(topic)
        if table is not None and position_from_table(table, topic) == Position(target):  # all of it
            break
        result = ctx.engine.standardized(ctx.lake, settings, topic, schema.standardized, up_to=target)
        _check(result)
        if result.status == RunStatus.NO_NEW_DATA:
            break  # only maintenance snapshots were left before the target
        report.batches += 1
        report.standardized_rows += result.records_written
        on_batch(result)
    # parse errors corrected before (leanops errors replay --layer parse) are corrected again: RAW holds the
    # broken payloads, raw.parse_corrections the fixes
    report.corrections_applied = apply_parse_corrections(ctx.lake, settings, topic, schema.standardized).fixed
    while schema.curated is not None:
        result = ctx.engine.curated(ctx.lake, settings, topic, schema)
        _check(result)
        report.curated_rows += result.records_written
        on_batch(result)
        if result.status == RunStatus.NO_NEW_DATA:
            break
    while schema.curated is not None and schema.semantic is not None:
        result = ctx.engine.semantic(ctx.lake, settings, topic, schema, on_drift=lambda d: ctx.state.record_drift(
            topic, d.column, d.kind, d.sample_value, d.snapshot_id, d.detail))
        _check(result)
        report.semantic_rows += result.records_written
        on_batch(result)
        if result.status == RunStatus.NO_NEW_DATA:
            break
    for stage, table in (("standardized", ctx.lake.standardized_table(topic)),
                         ("curated", ctx.lake.curated_table(topic)), ("semantic", ctx.lake.semantic_table(topic))):
        if table is not None:
            ctx.state.put_checkpoint(topic, stage, checkpoint_from_table(table, topic))


def _check(result: StageResult) -> None:
    if result.status == RunStatus.FAILED:
        raise LeanOpsError(f"{result.topic}/{result.stage}: {result.message}")


__all__ = ["ARCHIVING", "REPLAYED", "REPLAYING", "SUCCEEDED", "RebuildReport", "archive", "new_suffix", "rebuild",
           "resumable"]
