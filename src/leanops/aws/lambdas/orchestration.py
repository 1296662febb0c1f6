"""Step Functions task Lambdas that call the local orchestrator's own steps, so both runtimes decide alike.

    fetch_active_topics_handler  {"topics": [...], "max_concurrency": n} (both optional)
                                 -> {"topics": [...], "skipped": [...], "max_concurrency": n}
    flow_step_handler            {"step": "<name>", "flow": {...}} -> the flow document, with "next"
    get_all_checkpoints_handler  {"topic": "events"}           -> the seed-004 GetAllCheckpoints document
    notify_handler               {"kind", "topic", "stage", "reason", "counts"} or a Catch's {"Error", "Cause"}

`flow_step_handler` is how the Step Functions pipeline runs the local orchestrator's own Python
steps (leanops.orchestrate.flow): the flow's state travels as `FlowState.document()` and every
step returns it with `next`, the step's decision. The stages themselves run as Glue jobs; the
`Record*` steps apply a job's output (kept in the state store under its JobRunId) exactly as the
local flow applies a stage's result. The rebuilder's steps (PauseTopic, UpdateRebuildCheckpoints,
ResumeTopic, RebuildFailed) live here too, and the pipeline's AcquireTopicLease / ReleaseTopicLease:
a pipeline execution holds its topic's lease (holder: the execution id, passed as "holder") for its
whole run, renewed at every step, like a branch of the local cycle; a PAUSED topic, or one another
run holds, is Skipped.

Snapshot ids are 63-bit integers, beyond the exact range of JSON numbers in Step Functions: they
travel as strings (null when absent).
"""
from __future__ import annotations

from typing import Any

from leanops.errors import TerminalError
from leanops.orchestrate.alerts import Alert, notifier_from_env
from leanops.types import validate_topic


def _context():
    from leanops.context import (
        Context,  # the lakehouse (pyiceberg, pyarrow) only for the handlers that read it
    )
    return Context.open()


DEFAULT_MAX_CONCURRENCY = 10  # topics processed at once by the Map state (0: no limit)
# A pipeline execution holds its topic's lease from AcquireTopicLease to ReleaseTopicLease, renewed at
# every Lambda step; it must outlast the longest Glue run between two steps (Terraform's timeout: 2 h).
LEASE_TTL_ENV, DEFAULT_LEASE_TTL_SECONDS = "LEANOPS_LEASE_TTL_SECONDS", 3 * 3600.0


def fetch_active_topics_handler(event: dict | None, context: Any = None) -> dict:
    """FetchActiveTopics: the registry's active, ENABLED topics for the Map state; the rest as skipped."""
    from leanops.orchestrate.cycle import fetch_active_topics
    event = event or {}
    wanted = event.get("topics") or None
    limit = event.get("max_concurrency", DEFAULT_MAX_CONCURRENCY)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 10_000:
        raise TerminalError(f"max_concurrency must be an integer from 0 to 10000, not {limit!r}")
    ctx = _context()
    try:
        active, skipped = fetch_active_topics(ctx, wanted)
    finally:
        ctx.close()
    return {"topics": active, "max_concurrency": limit,
            "skipped": [{"topic": o.topic, "status": o.status.value, "message": o.message} for o in skipped]}


def flow_step_handler(event: dict, context: Any = None) -> dict:
    """One Python step of a state machine: {"step", "flow"} -> the flow document with "next"."""
    event = event or {}
    name, doc = event.get("step"), event.get("flow")
    if name not in STEPS:
        raise TerminalError(f"flow_step: unknown step {name!r}; one of {sorted(STEPS)}")
    if not isinstance(doc, dict):
        raise TerminalError("flow_step: the event has no flow document under 'flow'")
    holder = event.get("holder")
    if holder is not None and not (isinstance(holder, str) and holder):
        raise TerminalError("flow_step: 'holder' must be the execution's id ($$.Execution.Id)")
    ctx = _context()
    try:
        if holder and name not in LEASE_STEPS:  # a long pipeline keeps its topic
            ctx.state.acquire_lease(validate_topic(str(doc.get("topic", ""))), holder, _lease_ttl())
        return STEPS[name](ctx, {**doc, "holder": holder} if holder else doc)
    finally:
        ctx.close()


def _lease_ttl() -> float:
    import os
    value = os.environ.get(LEASE_TTL_ENV, "")
    try:
        ttl = float(value) if value else DEFAULT_LEASE_TTL_SECONDS
    except ValueError:
        raise TerminalError(f"{LEASE_TTL_ENV}={value!r} is not a number of seconds") from None
    if ttl <= 0:
        raise TerminalError(f"{LEASE_TTL_ENV} must be positive, not {ttl}")
    return ttl


def _acquire_topic_lease(ctx, doc: dict) -> dict:
    """The topic for this execution alone, as the local cycle's branch takes it: or Skipped, with why."""
    from leanops.orchestrate.cycle import acquire
    from leanops.types import FlowControl
    topic = validate_topic(str(doc.get("topic", "")))
    if not doc.get("holder"):
        raise TerminalError("AcquireTopicLease needs the execution's id as 'holder'")
    entry = ctx.state.get_topic(topic)
    if entry is not None and (not entry.is_active or entry.flow_control_flag != FlowControl.ENABLED):
        why = "topic is inactive" if not entry.is_active else f"topic is {entry.flow_control_flag.value}"
        return {**doc, "next": "Skipped", "message": why}
    if not acquire(ctx, topic, doc["holder"], _lease_ttl()):
        return {**doc, "next": "Skipped",
                "message": f"another run holds this topic's lease ({ctx.state.lease_holder(topic)})"}
    return {**doc, "next": "GetAllCheckpoints"}


def _release_topic_lease(ctx, doc: dict) -> dict:
    topic = validate_topic(str(doc.get("topic", "")))
    if doc.get("holder"):
        ctx.state.release_lease(topic, doc["holder"])
    return {**doc, "next": None}


def _flow_step(name: str):
    """A step of leanops.orchestrate.flow, run on the state the document carries."""
    def run(ctx, doc: dict) -> dict:
        from leanops.orchestrate.flow import FlowState, step
        state = FlowState.from_document(doc, ctx)
        following = step(ctx, state, name)
        _send(state.alerts)
        return _keep(doc, state.document(following))
    return run


def _keep(doc: dict, new: dict) -> dict:
    """The new document, keeping the execution's own keys (the lease holder, the outcome so far)."""
    return {**new, **{k: doc[k] for k in ("holder",) if k in doc}}


def _record_job(name: str):
    """After a Glue job of the flow: its output, read by JobRunId, applied as the local flow applies a result."""
    def run(ctx, doc: dict) -> dict:
        from leanops.orchestrate.flow import JOB_STEPS, FlowState, record_result
        from leanops.stages.result import StageResult
        state = FlowState.from_document(doc, ctx)
        stage, after = JOB_STEPS[name]
        job_run_id = str((doc.get("job") or {}).get("job_run_id") or "")
        output = ctx.state.get_job_output(job_run_id) if job_run_id else None
        if output is None:
            raise TerminalError(f"{state.topic}: the {stage} job run {job_run_id or '(no id)'} left no output in "
                                "the state store; was the job started with this deployment's --state?")
        if output.get("topic") != state.topic or output.get("stage") != stage:
            raise TerminalError(f"job run {job_run_id} was {output.get('stage')} of {output.get('topic')}, "
                                f"not {stage} of {state.topic}")
        result = StageResult.from_dict(output)
        record_result(state, result)
        return _keep(doc, state.document(after(ctx, state, result)))
    return run


def _set_flag(flag_name: str):
    def run(ctx, doc: dict) -> dict:
        from leanops.types import FlowControl
        topic = validate_topic(str(doc.get("topic", "")))
        ctx.state.register_topic(topic)
        entry = ctx.state.set_flow_control(topic, FlowControl(flag_name))
        return {**doc, "flow_control_flag": entry.flow_control_flag.value, "next": None}
    return run


def _update_rebuild_checkpoints(ctx, doc: dict) -> dict:
    """After the rebuild job: check its output, then mirror each new table's checkpoint in the state store."""
    from leanops.orchestrate.flow import FlowState, get_all_checkpoints
    topic = validate_topic(str(doc.get("topic", "")))
    job_run_id = str((doc.get("job") or {}).get("job_run_id") or "")
    output = ctx.state.get_job_output(job_run_id) if job_run_id else None
    if output is None or output.get("status") != "SUCCEEDED":
        raise TerminalError(f"{topic}: the rebuild job run {job_run_id or '(no id)'} did not succeed: "
                            f"{(output or {}).get('error') or 'no output in the state store'}")
    state = FlowState.from_document({"topic": topic}, ctx)
    get_all_checkpoints(ctx, state)  # reads each layer's checkpoint from its table and repairs the mirror
    return {**doc, "rebuild": {k: output.get(k) for k in ("archive_suffix", "batches", "standardized_rows",
                                                            "curated_rows", "semantic_rows")},
            "checkpoints": {k: v for k, v in state.document().items() if k.endswith(("_checkpoint", "_snapshot"))},
            "next": None}


def _rebuild_failed(ctx, doc: dict) -> dict:
    """The rebuild failed: the topic stays PAUSED, and the state store says why."""
    from leanops.types import FlowControl
    topic = validate_topic(str(doc.get("topic", "")))
    error = doc.get("error") or {}
    reason = f"{error.get('Error', 'failed')}: {str(error.get('Cause', ''))[:2000]}"
    ctx.state.register_topic(topic)
    ctx.state.set_flow_control(topic, FlowControl.PAUSED)
    pending = ctx.state.get_rebuild(topic)
    if pending is not None and pending["status"] != "SUCCEEDED":  # the step it is at stays: a rerun resumes it
        ctx.state.put_rebuild(topic, pending["archive_suffix"], pending["target_raw_snapshot"], pending["status"],
                              reason, pending.get("schema_sha256"))
    return {**doc, "flow_control_flag": "PAUSED", "message": reason, "next": None}


def _send(alerts) -> None:
    if alerts:
        fanout = notifier_from_env()
        for alert in alerts:
            fanout.send(alert)


LEASE_STEPS = ("AcquireTopicLease", "ReleaseTopicLease")
STEPS = {
    "AcquireTopicLease": _acquire_topic_lease,
    "ReleaseTopicLease": _release_topic_lease,
    "GetAllCheckpoints": _flow_step("GetAllCheckpoints"),
    "NotifyMissingSchema": _flow_step("NotifyMissingSchema"),
    "UpdateSemanticCheckpoint": _flow_step("UpdateSemanticCheckpoint"),
    "CheckMaintenanceDue": _flow_step("CheckMaintenanceDue"),
    "RecordStandardized": _record_job("RunStandardized"),
    "RecordCurated": _record_job("RunCurated"),
    "RecordSemantic": _record_job("RunSemantic"),
    "RecordMaintenance": _record_job("RunMaintenance"),
    "PauseTopic": _set_flag("PAUSED"),
    "ResumeTopic": _set_flag("ENABLED"),
    "UpdateRebuildCheckpoints": _update_rebuild_checkpoints,
    "RebuildFailed": _rebuild_failed,
}


def get_all_checkpoints_handler(event: dict, context: Any = None) -> dict:
    """GetAllCheckpoints for one topic, via the flow's own step; `next_step` is that step's decision."""
    topic = validate_topic((event or {}).get("topic", ""))
    doc = flow_step_handler({"step": "GetAllCheckpoints", "flow": {"topic": topic}})
    return {**doc, "next_step": doc["next"]}  # CheckForNewRawData | MissingSchema | Failed


def notify_handler(event: dict, context: Any = None) -> dict:
    """Send one Alert through every configured channel (log, webhook, SNS); sending never raises."""
    event = event or {}
    if not event.get("topic"):
        raise TerminalError(f"notify: the event names no topic (keys: {sorted(event)}); pass $.topic")
    alert = Alert(kind=str(event.get("kind") or "TopicFailed"), topic=str(event["topic"]),
                  stage=str(event.get("stage") or "flow"),
                  reason=str(event.get("reason") or event.get("Cause") or event.get("Error") or "no reason given"),
                  counts=dict(event.get("counts") or {}))
    fanout = notifier_from_env()
    fanout.send(alert)
    return {"sent": alert.as_dict(), "channels": [type(n).__name__ for n in fanout.notifiers]}
