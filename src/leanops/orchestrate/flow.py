"""The per-topic flow: an explicit, named sequence of steps (mirrored state for state by Step Functions).

    GetAllCheckpoints -> CheckForNewRawData -> RunStandardized -> CheckCuratedReady -> RunCurated
      -> CheckSchemaExists -> (NotifyMissingSchema | CheckForNewCuratedData -> RunSemantic
      -> UpdateSemanticCheckpoint) -> CheckBacklogThreshold -> (GetAllCheckpoints again
      | CheckMaintenanceDue -> (RunMaintenance ->) Success | NoNewData)

Maintenance (docs/maintenance.md) runs after the stages, under the same lease, when a table of the
topic crosses a threshold of its policy (files per partition, delete files, snapshots, manifests, time
since the last one); a topic with nothing new still gets it when due.

Token passing (seed 004): the Curated step hands the snapshot it committed to RunSemantic, which
reads Curated up to exactly that snapshot; a Curated commit landing in between waits for the next
run instead of racing this one.

Terminal states: Success, NoNewData, MissingSchema, Failed. Each step is a function of the flow's
state returning the name of the next step; `FLOW` is the table the runner walks, `TRANSITIONS` the
steps each may hand over to (checked on every step), and `leanops.aws.stepfunctions` renders the
same graph as Amazon States Language. On AWS the state travels between states as `FlowState.document()`.
"""
from __future__ import annotations

import dataclasses
import os
import traceback
from datetime import datetime, timezone
from typing import Callable

from leanops.context import Context
from leanops.errors import LeanOpsError
from leanops.faults import fault_point
from leanops.orchestrate.retry import RetryPolicy, call_with_retries
from leanops.schema_file import TopicSchema
from leanops.stages.checkpoint import position_from_table
from leanops.orchestrate.alerts import Alert
from leanops.stages.curated import STAGE as CURATED
from leanops.stages.semantic import STAGE as SEMANTIC, Drift
from leanops.stages.incremental import consumed_through, data_head_id
from leanops.stages.result import StageResult
from leanops.stages.standardized import STAGE as STANDARDIZED
MAINTENANCE = "maintenance"  # the stage name of maintenance runs (leanops.maintenance.run.STAGE)
from leanops.state.base import RunRecord
from leanops.types import RunStatus, validate_topic

TERMINAL = ("Success", "NoNewData", "MissingSchema", "Failed")


@dataclasses.dataclass
class FlowOptions:
    backlog_threshold: int = 10_000  # seed 004: records > 10,000 -> loop straight back
    max_loops: int = 20
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)


@dataclasses.dataclass
class FlowState:
    """What the steps hand each other ($ in the Step Functions version)."""

    topic: str
    options: FlowOptions
    schema: TopicSchema | None = None
    raw_snapshot: int | None = None
    standardized_snapshot: int | None = None
    # each layer's checkpoint as the upstream snapshot it has consumed entirely (`_checkpoint`)
    standardized_checkpoint: int | None = None
    curated_checkpoint: int | None = None
    curated_snapshot: int | None = None  # the token RunSemantic reads up to
    semantic_checkpoint: int | None = None
    alerts: list[Alert] = dataclasses.field(default_factory=list)  # sent by the cycle after the flow
    loop_records: int = 0  # records the stages of this loop took in
    loops: int = 0
    trace: list[str] = dataclasses.field(default_factory=list)
    results: list[StageResult] = dataclasses.field(default_factory=list)
    message: str = ""
    failed_stage: str | None = None
    maintenance_reasons: list[str] = dataclasses.field(default_factory=list)  # why maintenance is due
    # the topic's tables as GetAllCheckpoints loaded them: the maintenance check reuses them when no
    # stage has committed since (never carried in the document)
    tables: list = dataclasses.field(default_factory=list, repr=False, compare=False)

    def document(self, next_step: str | None = None) -> dict:
        """The state as Step Functions carries it ($): flat, JSON, snapshot ids as strings (63-bit ids
        exceed the exact range of JSON numbers there). The Choice states read these very keys."""
        schema = self.schema
        return {
            "topic": self.topic,
            "raw_snapshot": _id(self.raw_snapshot),
            "standardized_snapshot": _id(self.standardized_snapshot),
            "standardized_checkpoint": _id(self.standardized_checkpoint),
            "curated_snapshot": _id(self.curated_snapshot),
            "curated_checkpoint": _id(self.curated_checkpoint),
            "semantic_checkpoint": _id(self.semantic_checkpoint),
            "standardized_schema_exists": bool(schema and schema.standardized is not None),
            "curated_schema_exists": bool(schema and schema.curated is not None),
            "schema_exists": bool(schema and schema.semantic is not None),  # seed 004: the semantic schema
            "loops": self.loops,
            "loop_records": self.loop_records,
            "stages_run": len(self.results),
            "stages": [{"stage": r.stage, "status": r.status.value, "records_in": r.records_in,
                        "records_written": r.records_written, "snapshot_id": _id(r.target_snapshot_id)}
                       for r in self.results],
            "backlog_threshold": self.options.backlog_threshold,
            "max_loops": self.options.max_loops,
            "message": self.message,
            "failed_stage": self.failed_stage,
            "maintenance_due": bool(self.maintenance_reasons),
            "maintenance_reasons": list(self.maintenance_reasons),
            "next": next_step,
        }

    @classmethod
    def from_document(cls, doc: dict, ctx: Context | None = None) -> "FlowState":
        """Back from `document()`; the schema is re-read from the schema source when `ctx` is given."""
        options = FlowOptions(backlog_threshold=int(doc.get("backlog_threshold", FlowOptions.backlog_threshold)),
                              max_loops=int(doc.get("max_loops", FlowOptions.max_loops)))
        state = cls(topic=validate_topic(str(doc.get("topic", ""))), options=options)
        for name in ("raw_snapshot", "standardized_snapshot", "standardized_checkpoint", "curated_snapshot",
                     "curated_checkpoint", "semantic_checkpoint"):
            value = doc.get(name)
            setattr(state, name, None if value in (None, "") else int(value))
        state.loops, state.loop_records = int(doc.get("loops", 0)), int(doc.get("loop_records", 0))
        state.results = [StageResult(state.topic, r["stage"], RunStatus(r["status"]), records_in=r["records_in"],
                                     records_written=r["records_written"],
                                     target_snapshot_id=None if r.get("snapshot_id") is None else int(r["snapshot_id"]))
                         for r in doc.get("stages") or []]
        state.message, state.failed_stage = str(doc.get("message") or ""), doc.get("failed_stage")
        state.maintenance_reasons = [str(r) for r in doc.get("maintenance_reasons") or []]
        if ctx is not None:
            state.schema = ctx.schema(state.topic)
        return state


def _id(snapshot_id: int | None) -> str | None:
    return None if snapshot_id is None else str(snapshot_id)


def get_all_checkpoints(ctx: Context, s: FlowState) -> str:
    """One read: schema sections, RAW head, and each layer's checkpoint from its table's own summary."""
    s.loops += 1
    s.loop_records = 0
    try:
        s.schema = ctx.schema(s.topic)
    except LeanOpsError as exc:
        s.message, s.failed_stage = str(exc), "schema"
        return "Failed"
    raw = ctx.lake.raw_table(s.topic)
    s.raw_snapshot = data_head_id(raw)  # a compaction is no new data
    standardized = ctx.lake.standardized_table(s.topic)
    s.standardized_snapshot = data_head_id(standardized)
    s.standardized_checkpoint = _checkpoint(ctx, s.topic, STANDARDIZED, standardized, raw)
    curated = ctx.lake.curated_table(s.topic)
    s.curated_checkpoint = _checkpoint(ctx, s.topic, CURATED, curated, standardized)
    s.curated_snapshot = data_head_id(curated)
    semantic = ctx.lake.semantic_table(s.topic)
    s.semantic_checkpoint = _checkpoint(ctx, s.topic, SEMANTIC, semantic, curated)
    s.tables = [t for t in (raw, standardized, curated, semantic) if t is not None]
    if s.schema is None or s.schema.standardized is None:
        s.message = "no schema with a standardized section: data waits in RAW"
        return "MissingSchema"
    return "CheckForNewRawData"


def _checkpoint(ctx: Context, topic: str, layer: str, table, source) -> int | None:
    """The upstream snapshot `layer` has consumed entirely, compared with the upstream head to find new
    data: a checkpoint inside a snapshot (a batch that ended between its files) has not (its parent has).
    The state-store mirror is repaired with the checkpoint's own snapshot."""
    if table is None:
        return None
    position = position_from_table(table, topic)
    _repair_mirror(ctx, topic, layer, position.snapshot_id)
    return consumed_through(source, position)


def _repair_mirror(ctx: Context, topic: str, layer: str, truth: int | None) -> None:
    """After a crash between a commit and its mirror update, the table's summary wins."""
    if truth is not None:
        mirror = ctx.state.get_checkpoint(topic, layer)
        if mirror is None or mirror.last_snapshot_id != truth:
            ctx.state.put_checkpoint(topic, layer, truth)


def check_for_new_raw_data(ctx: Context, s: FlowState) -> str:
    if s.raw_snapshot is not None and s.raw_snapshot != s.standardized_checkpoint:
        return "RunStandardized"
    if s.schema.curated is not None and s.standardized_snapshot is not None \
            and s.standardized_snapshot != s.curated_checkpoint:
        return "RunCurated"  # nothing new in RAW, but Standardized rows wait for Curated
    if s.schema.semantic is not None and s.curated_snapshot not in (None, s.semantic_checkpoint):
        return "CheckSchemaExists"  # nothing new upstream, but Curated changes wait for Semantic
    return "CheckMaintenanceDue"


def run_standardized_step(ctx: Context, s: FlowState) -> str:
    result = run_stage(ctx, s, STANDARDIZED,
                       lambda: ctx.engine.standardized(ctx.lake, ctx.settings, s.topic, s.schema.standardized))
    return after_standardized(ctx, s, result)


def after_standardized(ctx: Context, s: FlowState, result: StageResult) -> str:
    return "Failed" if result.status == RunStatus.FAILED else "CheckCuratedReady"


def check_curated_ready(ctx: Context, s: FlowState) -> str:
    return "RunCurated" if s.schema.curated is not None else "CheckBacklogThreshold"


def run_curated_step(ctx: Context, s: FlowState) -> str:
    result = run_stage(ctx, s, CURATED, lambda: ctx.engine.curated(ctx.lake, ctx.settings, s.topic, s.schema))
    return after_curated(ctx, s, result)


def after_curated(ctx: Context, s: FlowState, result: StageResult) -> str:
    if result.status == RunStatus.FAILED:
        return "Failed"
    if result.target_snapshot_id is not None:
        s.curated_snapshot = result.target_snapshot_id  # the token handed to RunSemantic
    return "CheckSchemaExists"


def check_schema_exists(ctx: Context, s: FlowState) -> str:
    if s.curated_snapshot is None:
        return "CheckBacklogThreshold"  # no Curated data yet
    return "CheckForNewCuratedData" if s.schema.semantic is not None else "NotifyMissingSchema"


def notify_missing_schema(ctx: Context, s: FlowState) -> str:
    """Curated data but no semantic section: a drift-log entry and an alert, once per topic (the drift log
    remembers it). Nothing when the file says `"semantic": null`: no semantic layer, on purpose."""
    if s.schema.no_semantic_by_design:
        return "CheckBacklogThreshold"
    if ctx.state.record_drift(s.topic, "*", "missing_schema", None, s.curated_snapshot,
                              "curated data exists but the schema file has no semantic section"):
        s.alerts.append(Alert("MissingSemanticSchema", s.topic, SEMANTIC,
                              f"Topic {s.topic} missing Semantic Schema: curated data is not published to "
                              "semantic until schemas/<topic>.json has a semantic section",
                              {"curated_snapshot_id": s.curated_snapshot}))
    return "CheckBacklogThreshold"


def check_for_new_curated_data(ctx: Context, s: FlowState) -> str:
    return "RunSemantic" if s.curated_snapshot != s.semantic_checkpoint else "CheckBacklogThreshold"


def run_semantic_step(ctx: Context, s: FlowState) -> str:
    def on_drift(d: Drift) -> None:
        ctx.state.record_drift(s.topic, d.column, d.kind, d.sample_value, d.snapshot_id, d.detail)

    result = run_stage(ctx, s, SEMANTIC, lambda: ctx.engine.semantic(ctx.lake, ctx.settings, s.topic, s.schema,
                                                                     up_to=s.curated_snapshot, on_drift=on_drift))
    return after_semantic(ctx, s, result)


def after_semantic(ctx: Context, s: FlowState, result: StageResult) -> str:
    if result.status == RunStatus.FAILED:
        return "Failed"
    if result.status == RunStatus.SUCCEEDED:
        _refresh(ctx, s.topic, result)
    return "UpdateSemanticCheckpoint"


def update_semantic_checkpoint(ctx: Context, s: FlowState) -> str:
    """The state store mirrors the checkpoint the semantic commit carries (run_stage wrote it)."""
    s.semantic_checkpoint = _checkpoint(ctx, s.topic, SEMANTIC, ctx.lake.semantic_table(s.topic),
                                        ctx.lake.curated_table(s.topic))
    return "CheckBacklogThreshold"


def _refresh(ctx: Context, topic: str, result: StageResult) -> None:
    """Tell downstream readers (Snowflake, Athena) that semantic.<topic> changed (leanops.refresh)."""
    from leanops.refresh import RefreshEvent, hook_from_env
    table = ctx.lake.semantic_table(topic)
    if table is None or (not result.records_written and not result.columns_added):
        return
    hook_from_env().refreshed(RefreshEvent(topic, ctx.lake.semantic_ident(topic), result.target_snapshot_id,
                                           table.metadata_location, bool(result.columns_added),
                                           result.records_written))


def check_backlog_threshold(ctx: Context, s: FlowState) -> str:
    """A big batch means more may be waiting: loop now instead of waiting for the next cycle."""
    if s.loop_records > s.options.backlog_threshold and s.loops < s.options.max_loops:
        return "GetAllCheckpoints"
    return "CheckMaintenanceDue"


def check_maintenance_due(ctx: Context, s: FlowState) -> str:
    """Maintenance when the topic's policy says a table needs it (a metadata-only check)."""
    from leanops.maintenance.run import due_reasons, topic_policy
    unchanged = s.tables if s.tables and not s.results else None  # nothing committed since they were loaded
    s.maintenance_reasons = due_reasons(ctx, s.topic, topic_policy(ctx, s.topic), tables=unchanged)
    if s.maintenance_reasons:
        return "RunMaintenance"
    return "Success" if s.results else "NoNewData"


def run_maintenance_step(ctx: Context, s: FlowState) -> str:
    """Compaction, expiry, manifests and the orphan sweep for the topic's tables, on the run's engine,
    under the lease the flow holds (maintenance writes its own run-log row)."""
    try:
        report = ctx.engine.maintain(ctx, s.topic)
        status = RunStatus.FAILED if report.failed else RunStatus.SUCCEEDED
        result = StageResult(s.topic, MAINTENANCE, status, message=report.message or "; ".join(s.maintenance_reasons))
    except Exception as exc:  # the topic's data is processed; its maintenance failure is reported
        detail = str(exc) if isinstance(exc, LeanOpsError) else traceback.format_exc(limit=4).strip()
        result = StageResult(s.topic, MAINTENANCE, RunStatus.FAILED, message=detail)
    record_result(s, result)
    return after_maintenance(ctx, s, result)


def after_maintenance(ctx: Context, s: FlowState, result: StageResult) -> str:
    return "Failed" if result.status == RunStatus.FAILED else "Success"


# the stage each job step runs, and the bookkeeping that follows it (shared with the Step Functions runtime,
# where the stage runs as a Glue job and a Lambda applies this to the job's output)
JOB_STEPS: dict[str, tuple[str, Callable[[Context, FlowState, StageResult], str]]] = {
    "RunStandardized": (STANDARDIZED, after_standardized),
    "RunCurated": (CURATED, after_curated),
    "RunSemantic": (SEMANTIC, after_semantic),
    "RunMaintenance": (MAINTENANCE, after_maintenance),
}

FLOW: dict[str, Callable[[Context, FlowState], str]] = {
    "GetAllCheckpoints": get_all_checkpoints,
    "CheckForNewRawData": check_for_new_raw_data,
    "RunStandardized": run_standardized_step,
    "CheckCuratedReady": check_curated_ready,
    "RunCurated": run_curated_step,
    "CheckSchemaExists": check_schema_exists,
    "NotifyMissingSchema": notify_missing_schema,
    "CheckForNewCuratedData": check_for_new_curated_data,
    "RunSemantic": run_semantic_step,
    "UpdateSemanticCheckpoint": update_semantic_checkpoint,
    "CheckBacklogThreshold": check_backlog_threshold,
    "CheckMaintenanceDue": check_maintenance_due,
    "RunMaintenance": run_maintenance_step,
}


# every step's possible successors: the graph the ASL must reproduce (tests/test_stepfunctions.py)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "GetAllCheckpoints": ("CheckForNewRawData", "MissingSchema", "Failed"),
    "CheckForNewRawData": ("RunStandardized", "RunCurated", "CheckSchemaExists", "CheckMaintenanceDue"),
    "RunStandardized": ("CheckCuratedReady", "Failed"),
    "CheckCuratedReady": ("RunCurated", "CheckBacklogThreshold"),
    "RunCurated": ("CheckSchemaExists", "Failed"),
    "CheckSchemaExists": ("CheckForNewCuratedData", "NotifyMissingSchema", "CheckBacklogThreshold"),
    "NotifyMissingSchema": ("CheckBacklogThreshold",),
    "CheckForNewCuratedData": ("RunSemantic", "CheckBacklogThreshold"),
    "RunSemantic": ("UpdateSemanticCheckpoint", "Failed"),
    "UpdateSemanticCheckpoint": ("CheckBacklogThreshold",),
    "CheckBacklogThreshold": ("GetAllCheckpoints", "CheckMaintenanceDue"),
    "CheckMaintenanceDue": ("RunMaintenance", "Success", "NoNewData"),
    "RunMaintenance": ("Success", "Failed"),
}


def step(ctx: Context, state: FlowState, name: str) -> str:
    """Run one step and return its successor, which must be one TRANSITIONS allows."""
    following = FLOW[name](ctx, state)
    if following not in TRANSITIONS[name]:
        raise AssertionError(f"flow step {name} returned {following!r}, not one of {TRANSITIONS[name]}")
    return following


def run_flow(ctx: Context, topic: str, options: FlowOptions, before_step: Callable[[str], None] = lambda n: None
             ) -> FlowState:
    state, name = FlowState(topic, options), "GetAllCheckpoints"
    while name not in TERMINAL:
        before_step(name)
        state.trace.append(name)
        name = step(ctx, state, name)
    state.trace.append(name)
    return state


def run_stage(ctx: Context, s: FlowState, stage: str, run: Callable[[], StageResult]) -> StageResult:
    """A stage with retries for transient errors; every attempt gets its run-log row."""
    try:
        result = call_with_retries(s.options.retry, f"{s.topic}/{stage}", lambda: run_logged(ctx, s.topic, stage, run))
    except Exception as exc:  # isolate the topic: its branch ends FAILED with the reason
        detail = str(exc) if isinstance(exc, LeanOpsError) else traceback.format_exc(limit=4).strip()
        result = StageResult(s.topic, stage, RunStatus.FAILED, message=detail)
    record_result(s, result)
    return result


def record_result(s: FlowState, result: StageResult) -> None:
    """A stage's result joins the flow: counted for the backlog check, a failure named."""
    if result.status == RunStatus.FAILED:
        s.message, s.failed_stage = f"{result.stage}: {result.message}", result.stage
    s.results.append(result)
    s.loop_records += result.records_in


def run_logged(ctx: Context, topic: str, stage: str, run: Callable[[], StageResult]) -> StageResult:
    """One attempt of a stage with its run-log row; a success mirrors the checkpoint in the state store."""
    record = ctx.state.start_run(RunRecord(topic=topic, stage=stage, started_at=_now(),
                                           status=RunStatus.RUNNING.value))
    try:
        result = run()
    except Exception as exc:
        record.status, record.ended_at = RunStatus.FAILED.value, _now()
        record.error_message = f"{type(exc).__name__}: {exc}"
        ctx.state.finish_run(record)
        raise
    _finish(ctx, record, result)
    fault_point(f"after-{stage}-run-logged")
    if os.environ.get("LEANOPS_EMF"):  # on AWS: the run's figures become CloudWatch metrics from the log
        from leanops.ops.metrics import emf_line
        print(emf_line(record), flush=True)
    return result


def _finish(ctx: Context, record: RunRecord, result: StageResult) -> None:
    if result.status == RunStatus.SUCCEEDED:
        ctx.state.put_checkpoint(result.topic, result.stage, result.source_snapshot_id)
    for name in ("records_in", "records_written", "records_errors", "records_duplicates",
                 "records_superseded", "source_snapshot_id", "target_snapshot_id"):
        setattr(record, name, getattr(result, name))
    record.status, record.ended_at = result.status.value, _now()
    ctx.state.finish_run(record)


def _now() -> datetime:
    return datetime.now(timezone.utc)
