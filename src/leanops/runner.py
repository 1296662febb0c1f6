"""`leanops run --once`: Standardized then Curated for every ENABLED topic whose schema gate is open.

Kept deliberately small; the full orchestrator (concurrency, retries, backlog loop) builds on it.
Each topic is isolated: one failing topic is recorded as FAILED and the others still run.
"""
from __future__ import annotations

import dataclasses
import traceback
from typing import Callable
from datetime import datetime, timezone

from leanops.context import Context
from leanops.errors import LeanOpsError
from leanops.stages.result import StageResult
from leanops.stages.checkpoint import checkpoint_from_table
from leanops.stages.curated import STAGE as CURATED, run_curated
from leanops.stages.standardized import STAGE as STANDARDIZED, run_standardized
from leanops.state.base import RunRecord
from leanops.types import FlowControl, RunStatus


@dataclasses.dataclass
class TopicOutcome:
    topic: str
    status: RunStatus
    stages: list[StageResult] = dataclasses.field(default_factory=list)
    message: str = ""

    def as_dict(self) -> dict:
        return {"topic": self.topic, "status": self.status.value, "message": self.message,
                "stages": [s.as_dict() for s in self.stages]}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def run_topic(ctx: Context, topic: str) -> TopicOutcome:
    entry = ctx.state.get_topic(topic) or ctx.state.register_topic(topic)
    if not entry.is_active or entry.flow_control_flag != FlowControl.ENABLED:
        return TopicOutcome(topic, RunStatus.SKIPPED, message=f"topic is {entry.flow_control_flag.value}"
                            if entry.is_active else "topic is inactive")
    try:
        schema = ctx.schema(topic)
    except LeanOpsError as exc:
        return TopicOutcome(topic, RunStatus.FAILED, message=str(exc))
    if schema is None or schema.standardized is None:
        return TopicOutcome(topic, RunStatus.SKIPPED,
                            message="no schema with a standardized section: data waits in RAW")
    stages: list[tuple[str, Callable[[], StageResult]]] = [
        (STANDARDIZED, lambda: run_standardized(ctx.lake, ctx.settings, topic, schema.standardized))]
    if schema.curated is not None:
        stages.append((CURATED, lambda: run_curated(ctx.lake, ctx.settings, topic, schema)))
    outcome = TopicOutcome(topic, RunStatus.NO_NEW_DATA)
    for stage, run in stages:
        result = _run_stage(ctx, topic, stage, run)
        outcome.stages.append(result)
        if result.status == RunStatus.FAILED:
            outcome.status, outcome.message = RunStatus.FAILED, f"{stage}: {result.message}"
            return outcome
        if result.status == RunStatus.SUCCEEDED:
            outcome.status = RunStatus.SUCCEEDED
    if schema.curated is None:
        outcome.message = "no curated section: Standardized only"
    return outcome


def _run_stage(ctx: Context, topic: str, stage: str, run: Callable[[], StageResult]) -> StageResult:
    """One stage with its run-log row; any exception is the stage's failure, recorded, not raised."""
    record = ctx.state.start_run(RunRecord(topic=topic, stage=stage, started_at=_now(),
                                           status=RunStatus.RUNNING.value))
    try:
        result = run()
    except Exception as exc:  # isolate the topic; the run log keeps the reason
        detail = str(exc) if isinstance(exc, LeanOpsError) else traceback.format_exc(limit=3).strip()
        result = StageResult(topic, stage, RunStatus.FAILED, message=detail)
        record.error_message = f"{type(exc).__name__}: {exc}"
    _finish(ctx, record, result)
    return result


def _finish(ctx: Context, record: RunRecord, result: StageResult) -> None:
    if result.status == RunStatus.SUCCEEDED:
        ctx.state.put_checkpoint(result.topic, result.stage, result.source_snapshot_id)
    for name in ("records_in", "records_written", "records_errors", "records_duplicates",
                 "records_superseded", "source_snapshot_id", "target_snapshot_id"):
        setattr(record, name, getattr(result, name))
    record.status, record.ended_at = result.status.value, _now()
    ctx.state.finish_run(record)


def sync_checkpoint_mirror(ctx: Context, topic: str) -> None:
    """After a crash, the table summary is the truth: copy it into the state store."""
    for stage, table in ((STANDARDIZED, ctx.lake.standardized_table(topic)),
                         (CURATED, ctx.lake.curated_table(topic))):
        if table is None:
            continue
        truth = checkpoint_from_table(table, topic)
        mirror = ctx.state.get_checkpoint(topic, stage)
        if truth is not None and (mirror is None or mirror.last_snapshot_id != truth):
            ctx.state.put_checkpoint(topic, stage, truth)


def run_once(ctx: Context, topics: list[str] | None = None) -> list[TopicOutcome]:
    outcomes = []
    for topic in topics or ctx.topics():
        sync_checkpoint_mirror(ctx, topic)
        outcomes.append(run_topic(ctx, topic))
    return outcomes
