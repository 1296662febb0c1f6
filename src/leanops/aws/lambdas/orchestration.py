"""Step Functions task Lambdas that call the local orchestrator's own steps, so both runtimes decide alike.

    fetch_active_topics_handler  {"topics": [...]} (optional)  -> {"topics": [...], "skipped": [...]}
    get_all_checkpoints_handler  {"topic": "events"}           -> the seed-004 GetAllCheckpoints document
    notify_handler               {"kind", "topic", "stage", "reason", "counts"} or a Catch's {"Error", "Cause"}

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


def _id(snapshot_id: int | None) -> str | None:
    return None if snapshot_id is None else str(snapshot_id)


def fetch_active_topics_handler(event: dict | None, context: Any = None) -> dict:
    """FetchActiveTopics: the registry's active, ENABLED topics for the Map state; the rest as skipped."""
    from leanops.orchestrate.cycle import fetch_active_topics
    wanted = (event or {}).get("topics") or None
    ctx = _context()
    try:
        active, skipped = fetch_active_topics(ctx, wanted)
    finally:
        ctx.close()
    return {"topics": active,
            "skipped": [{"topic": o.topic, "status": o.status.value, "message": o.message} for o in skipped]}


def get_all_checkpoints_handler(event: dict, context: Any = None) -> dict:
    """GetAllCheckpoints for one topic, via the flow's own step; `next_step` is that step's decision."""
    from leanops.orchestrate.flow import FlowOptions, FlowState, get_all_checkpoints
    topic = validate_topic((event or {}).get("topic", ""))
    ctx = _context()
    try:
        state = FlowState(topic, FlowOptions())
        next_step = get_all_checkpoints(ctx, state)
    finally:
        ctx.close()
    schema = state.schema
    return {
        "topic": topic,
        "raw_snapshot": _id(state.raw_snapshot),
        "standardized_snapshot": _id(state.standardized_snapshot),
        "standardized_checkpoint": _id(state.standardized_checkpoint),
        "curated_snapshot": _id(state.curated_snapshot),
        "curated_checkpoint": _id(state.curated_checkpoint),
        "semantic_checkpoint": _id(state.semantic_checkpoint),
        "schema_exists": bool(schema and schema.semantic is not None),  # seed 004: the semantic schema
        "standardized_schema_exists": bool(schema and schema.standardized is not None),
        "curated_schema_exists": bool(schema and schema.curated is not None),
        "next_step": next_step,  # CheckForNewRawData | MissingSchema | Failed
        "message": state.message,
    }


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
