"""`leanops errors replay`: rows rejected by Curated (or Semantic) run again under today's schema file.

    report = replay_curated(ctx, "events", reason=None, column=None)
    report = replay_semantic(ctx, "events")    # the same for semantic.errors, from the Curated rows

1. The topic's rows in curated.errors (optionally one reason or column) name their message ids.
2. Their Standardized rows are cast, checked and merged into Curated exactly as a Curated run does
   (latest wins), in one commit. The commit keeps the current checkpoint: incremental runs are not
   affected. Its summary names the ids it took (`leanops.replayed-ids`, in a side file:
   leanops.catalog.side_lists).
3. The rows that pass now are deleted from curated.errors. A row that still fails stays there, once.

The replay holds the topic's lease throughout (`topic_lease`), as a pipeline run does: the two never
write the topic's tables at the same time. DLQ rows and parse errors need corrected input instead:
leanops.ops.corrections.

Semantic works the same way from the Curated rows as of Semantic's checkpoint. An error whose Curated
row has been superseded since stays an error (`stale`): the newer version is Semantic's to take.
Semantic's `in` is summed from its commits, so a replay commit adds 0 to it: its rows were counted
in when they were first rejected.

Accountability stays whole, with nothing counted twice. A fixed record leaves `errors` and joins
`written` (or `superseded`, when a newer version is already stored). If a crash lands between the
Curated commit and the error deletion, running the replay again only deletes those rows: the ids in
earlier replay commits are not merged a second time.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator

import pyarrow as pa
from pyiceberg.expressions import And, EqualTo, In

from leanops import duck
from leanops.catalog.commit import remove_rows
from leanops.catalog.side_lists import replayed_ids, side_list
from leanops.catalog.tables import SUMMARY_RECORDS_IN, SUMMARY_REPLAY_OF, SUMMARY_REPLAYED_IDS
from leanops.context import Context
from leanops.errors import LeanOpsError
from leanops.helper_columns import FAILURES, ORD
from leanops.faults import fault_point
from leanops.stages import curated, semantic
from leanops.stages.checkpoint import position_from_table
from leanops.stages.position import Span
from leanops.stages.result import StageResult
from leanops.types import RunStatus, validate_topic



LEASE_TTL_SECONDS = 3600.0  # a replay holds its topic while it merges; a crashed one's lease is taken over


@contextlib.contextmanager
def topic_lease(ctx: Context, topic: str) -> Iterator[None]:
    """Hold the topic's lease, as a pipeline run and a rebuild do: a replay writes the tables the runs own,
    so it waits for no run and no run starts under it (the orchestrator skips a held topic)."""
    from leanops.orchestrate.cycle import acquire, holder_id
    holder = holder_id()
    if not acquire(ctx, topic, holder, LEASE_TTL_SECONDS):
        raise LeanOpsError(f"{topic}: a pipeline run or a rebuild holds the topic right now "
                           f"({ctx.state.lease_holder(topic)}); run the replay again in a moment")
    try:
        yield
    finally:
        ctx.state.release_lease(topic, holder)


@dataclasses.dataclass
class ReplayReport:
    topic: str
    selected: int = 0  # error rows matching the selection
    fixed: int = 0  # now valid: merged into Curated and removed from curated.errors
    still_failing: int = 0  # still rejected under the current schema: left in curated.errors
    written: int = 0  # of the fixed, stored as the latest version
    superseded: int = 0  # of the fixed, older than what is stored
    resumed: int = 0  # merged by an earlier, interrupted replay: only removed from the errors now
    stale: int = 0  # semantic: the Curated row was superseded since; left as an error
    snapshot_id: int | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class _Plan:
    """What both replays start from: the section, the tables, and the ids still to merge."""

    topic: str
    section: object
    errors: object
    target: object
    source: object
    report: ReplayReport
    todo: list[str]
    merged_before: set[str]


def _plan(ctx: Context, topic: str, layer: str, reason: str | None, column: str | None) -> _Plan:
    """The selected error rows of `layer` (curated | semantic), minus those an interrupted replay merged."""
    topic = validate_topic(topic)
    schema = ctx.schema(topic)
    section = getattr(schema, layer, None) if schema else None
    if section is None:
        raise LeanOpsError(f"{topic}: the schema file has no {layer} section to replay against")
    lake = ctx.lake
    errors, target, source = ((lake.curated_errors_table(), lake.curated_table(topic), lake.standardized_table(topic))
                              if layer == "curated" else
                              (lake.semantic_errors_table(), lake.semantic_table(topic), lake.curated_table(topic)))
    report = ReplayReport(topic)
    ids, report.selected = _selected(errors, topic, reason, column)
    if not ids or target is None or source is None:
        return _Plan(topic, section, errors, target, source, report, [], set())
    merged_before = replayed_ids(target) & set(ids)
    return _Plan(topic, section, errors, target, source, report, [i for i in ids if i not in merged_before],
                 merged_before)


def _passing(target, relation: str, fixed: list[str], extra: dict[str, str]):
    """The summary callback: the ids that pass now (read from the stage's temp table `relation`), named in
    the commit (in a side file), which is what a resumed replay must not merge again."""
    def summary(con) -> dict[str, str]:
        fixed.extend(r[0] for r in con.execute(
            f"SELECT message_id FROM {relation} WHERE len({FAILURES}) = 0 ORDER BY message_id").fetchall())
        return {SUMMARY_REPLAYED_IDS: side_list(target, fixed), **extra}
    return summary


def replay_curated(ctx: Context, topic: str, reason: str | None = None, column: str | None = None) -> ReplayReport:
    """Merge the topic's rejected Curated rows that the current schema accepts; remove them from the errors."""
    with topic_lease(ctx, validate_topic(topic)):
        return _replay_curated(ctx, topic, reason, column)


def _replay_curated(ctx: Context, topic: str, reason: str | None, column: str | None) -> ReplayReport:
    plan = _plan(ctx, topic, "curated", reason, column)
    report, fixed = plan.report, []
    if plan.todo:
        rows = plan.source.scan(row_filter=In("message_id", plan.todo)).to_arrow()
        checkpoint = position_from_table(plan.target, plan.topic)  # the commit keeps it
        result = StageResult(plan.topic, curated.STAGE, RunStatus.SUCCEEDED,
                             source_snapshot_id=checkpoint.snapshot_id)
        columns = curated.source_columns(plan.source, plan.source.current_snapshot().snapshot_id)
        with duck.connect(ctx.settings.home / "tmp") as con:
            result = curated.merge_batch(con, ctx.lake, plan.topic, plan.section, plan.target, plan.errors,
                                         _load_rows(con, rows, columns), Span.at(checkpoint), None, result,
                                         write_errors=False, summary_extra=_passing(plan.target, "typed", fixed, {}))
        report.still_failing = result.records_errors
        report.written, report.superseded = result.records_written, result.records_superseded
        report.snapshot_id = result.target_snapshot_id
    return _remove_fixed(plan.errors, plan.topic, report, fixed, plan.merged_before)


def replay_semantic(ctx: Context, topic: str, reason: str | None = None, column: str | None = None) -> ReplayReport:
    """Project again the Curated rows of the topic's semantic.errors that today's semantic section accepts."""
    with topic_lease(ctx, validate_topic(topic)):
        return _replay_semantic(ctx, topic, reason, column)


def _replay_semantic(ctx: Context, topic: str, reason: str | None, column: str | None) -> ReplayReport:
    plan = _plan(ctx, topic, "semantic", reason, column)
    report, fixed = plan.report, []
    if plan.todo:
        checkpoint = position_from_table(plan.target, plan.topic)  # the commit keeps it
        as_of = checkpoint.snapshot_id
        rows = plan.source.scan(snapshot_id=as_of, row_filter=In("message_id", plan.todo)).to_arrow()
        report.stale = len(set(plan.todo) - set(rows["message_id"].to_pylist()))
        result = StageResult(plan.topic, semantic.STAGE, RunStatus.SUCCEEDED, source_snapshot_id=as_of)
        with duck.connect(ctx.settings.home / "tmp") as con:
            semantic.load_changed(con, rows)
            result = semantic.merge_changed(
                con, ctx.lake, plan.topic, plan.section, plan.target, plan.errors,
                semantic.upstream_types(plan.source, as_of), Span.at(checkpoint), None, result, write_errors=False,
                summary_extra=_passing(plan.target, "governed", fixed, {SUMMARY_RECORDS_IN: "0"}))  # counted in already
        report.still_failing = result.records_errors
        report.written, report.snapshot_id = result.records_written, result.target_snapshot_id
    return _remove_fixed(plan.errors, plan.topic, report, fixed, plan.merged_before)


def _selected(errors_table, topic: str, reason: str | None, column: str | None) -> tuple[list[str], int]:
    """The message ids of the topic's error rows (one reason or column, or all) and how many rows."""
    condition = EqualTo("topic_name", topic)
    if reason is not None:
        condition = And(condition, EqualTo("reason", reason))
    if column is not None:
        condition = And(condition, EqualTo("column_name", column))
    selected = errors_table.scan(row_filter=condition, selected_fields=("message_id",)).to_arrow()
    return sorted(set(selected["message_id"].to_pylist())), selected.num_rows


def _remove_fixed(errors_table, topic: str, report: ReplayReport, fixed: list[str], merged_before: set[str]
                  ) -> ReplayReport:
    """Delete the fixed rows from the errors table (after the merge commit: a crash in between is resumed)."""
    report.fixed, report.resumed = len(fixed) + len(merged_before), len(merged_before)
    removable = fixed + sorted(merged_before)
    remove_rows(errors_table, topic, pa.table({"message_id": pa.array(removable, pa.string())}),
                {SUMMARY_REPLAY_OF: topic, "leanops.replayed": str(len(removable))})
    fault_point("after-replay-errors-removed")
    return report


def _load_rows(con, rows: pa.Table, columns: list[str]) -> set[str]:
    """Standardized rows -> temp table `batch` as Curated's loader makes it (ingestion order as ORD)."""
    ordered = rows.sort_by([("ingestion_ts", "ascending"), ("message_id", "ascending")])
    con.register("replay_rows", ordered)
    try:
        con.execute(f"CREATE TEMP TABLE batch AS SELECT row_number() OVER () AS {ORD}, * FROM replay_rows").fetchall()
    finally:
        con.unregister("replay_rows")
    present = {row[0] for row in con.execute("DESCRIBE batch").fetchall()}
    for name in columns:
        if name not in present:
            con.execute(f"ALTER TABLE batch ADD COLUMN {curated.quote(name)} VARCHAR").fetchall()
    return set(columns)


__all__ = ["ReplayReport", "replay_curated", "replay_semantic", "topic_lease"]
