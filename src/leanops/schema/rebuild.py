"""The historical rebuilder: replay a topic's whole RAW history into new Standardized/Curated tables.

    leanops rebuild events

1. PAUSE the topic (the orchestrator skips it; its data keeps landing in RAW).
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

A failed rebuild leaves the topic PAUSED with the error in the state store; running it again resumes
(the archive step is done once per rebuild, the replay is incremental).
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Callable

from pyiceberg.expressions import EqualTo

from leanops.catalog.tables import SUMMARY_SOURCE_FROM, SUMMARY_TOPIC, Lakehouse, ancestors
from leanops.context import Context
from leanops.errors import LeanOpsError, UnknownTopicError
from leanops.ops.corrections import apply_parse_corrections
from leanops.orchestrate.cycle import acquire, holder_id
from leanops.schema_file import TopicSchema
from leanops.stages.checkpoint import checkpoint_from_table
from leanops.stages.incremental import data_head_id
from leanops.stages.result import StageResult
from leanops.types import FlowControl, RunStatus

LEASE_TTL_SECONDS = 24 * 3600.0  # a rebuild holds the topic for as long as it takes
REBUILD_MARK = "rebuild"  # SUMMARY_SOURCE_FROM of the commit that moves a topic's errors to the archive


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
    """Rebuild `topic` against `schema` (default: its file in the schema directory).

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
        return _rebuild_leased(ctx, topic, schema, on_batch, resume)
    finally:
        ctx.state.release_lease(topic, holder)


def _rebuild_leased(ctx: Context, topic: str, schema, on_batch: Callable[[StageResult], None],
                    resume: bool) -> RebuildReport:
    pending = ctx.state.get_rebuild(topic)
    if pending and pending["status"] != "SUCCEEDED":
        suffix, target = pending["archive_suffix"], pending["target_raw_snapshot"]
    else:
        suffix = "archive_" + datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        target = data_head_id(ctx.lake.raw_table(topic))  # a compaction on top adds nothing to replay
        ctx.state.put_rebuild(topic, suffix, target, "RUNNING")
        archive(ctx.lake, topic, suffix)
    report = RebuildReport(topic, suffix, target)
    try:
        _replay(ctx, topic, schema, target, report, on_batch)
    except Exception as exc:
        report.status, report.error = "FAILED", f"{type(exc).__name__}: {exc}"
        ctx.state.put_rebuild(topic, suffix, target, "FAILED", report.error)
        return report  # the topic stays PAUSED
    ctx.state.put_rebuild(topic, suffix, target, "SUCCEEDED")
    if resume:
        ctx.state.set_flow_control(topic, FlowControl.ENABLED)
    report.status = "SUCCEEDED"
    return report


def archive(lake: Lakehouse, topic: str, suffix: str) -> None:
    """Rename the topic's derived tables and move its rows of the shared error tables aside."""
    for ident in (lake.standardized_ident(topic), lake.curated_ident(topic), lake.semantic_ident(topic)):
        if lake.load(ident) is not None:
            lake.catalog.rename_table(ident, f"{ident}_{suffix}")
    mark = {SUMMARY_TOPIC: topic, SUMMARY_SOURCE_FROM: REBUILD_MARK}
    for errors in (lake.parse_errors_table(), lake.curated_errors_table(), lake.semantic_errors_table()):
        rows = errors.scan(row_filter=EqualTo("topic_name", topic)).to_arrow()
        if rows.num_rows == 0:
            # still mark the start of the new history: without it, the old first run's error commit (from
            # "") would pass for an orphan of the new tables' first run (a replay may have emptied them)
            if any((s.summary.additional_properties if s.summary else {}).get(SUMMARY_TOPIC) == topic
                   for s in ancestors(errors)):
                errors.append(errors.schema().as_arrow().empty_table(), snapshot_properties=mark)
            continue
        namespace, name = errors.name()[-2:] if len(errors.name()) > 1 else ("", errors.name()[0])
        target = lake.catalog.create_table(f"{namespace}.{name}_{topic}_{suffix}", schema=errors.schema())
        target.append(rows.cast(target.schema().as_arrow()))
        errors.delete(EqualTo("topic_name", topic), snapshot_properties=mark)


def _replay(ctx: Context, topic: str, schema, target: int | None, report: RebuildReport,
            on_batch: Callable[[StageResult], None]) -> None:
    """Run the stages until Standardized (and Curated) have consumed RAW up to the pinned snapshot."""
    if target is None:
        return
    settings = ctx.settings
    while True:
        table = ctx.lake.standardized_table(topic)
        if table is not None and checkpoint_from_table(table, topic) == target:
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


__all__ = ["RebuildReport", "archive", "rebuild"]
