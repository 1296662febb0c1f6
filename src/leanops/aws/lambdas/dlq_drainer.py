"""DLQ drainer: messages SQS gave up on become rows of raw.dlq_errors, then leave the DLQ.

    LEANOPS_DLQ_URL             the dead-letter queue to drain
    LEANOPS_DLQ_BUDGET_SECONDS  time spent receiving per run (default 60, capped by the Lambda's time left)
    LEANOPS_DLQ_MAX_MESSAGES    messages per run, all written in one Iceberg commit (default 10000)

Order: receive (the messages stay hidden for the run), one commit, then delete exactly the written
messages. A crash or a failed commit deletes nothing: the messages come back and the next run
writes them. A delete that still fails after retries is reported; the next run finds that message
already in raw.dlq_errors (`source` is "<queue url>#<message id>") and deletes it without a second
row. At-least-once, with that check making duplicates visible and rare: docs/aws-lambdas.md.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import And, GreaterThanOrEqual, In
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential

from leanops.aws.lambdas.sqs_to_firehose import encode, resolve_topic
from leanops.catalog.commit import append_with_retry
from leanops.catalog.schemas import DLQ_SCHEMA
from leanops.catalog.tables import SUMMARY_INGEST_ID, Lakehouse
from leanops.errors import ConfigError
from leanops.stages.accountability import DLQ_SOURCE

QUEUE_ENV = "LEANOPS_DLQ_URL"
BUDGET_ENV = "LEANOPS_DLQ_BUDGET_SECONDS"
MAX_ENV = "LEANOPS_DLQ_MAX_MESSAGES"
RETENTION = timedelta(days=15)  # SQS keeps a message 14 days at most: an earlier row cannot be its twin
SAFETY_SECONDS = 60.0  # Lambda time kept for the commit and the deletes
DLQ_ARROW = DLQ_SCHEMA.as_arrow()
log = logging.getLogger("leanops.aws.dlq_drainer")


@dataclasses.dataclass
class DrainReport:
    run_id: str
    received: int = 0
    written: int = 0
    already_written: int = 0  # drained before, but its delete had failed
    deleted: int = 0
    delete_failed: list[dict] = dataclasses.field(default_factory=list)  # {"message_id", "error"}

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def source_of(queue_url: str, message: dict) -> str:
    """The row's `source`: the queue URL, with the message id as fragment (like a file and its line)."""
    return f"{queue_url}#{message['MessageId']}"


def receive_all(sqs: Any, queue_url: str, seconds: float, max_messages: int, wait_seconds: int = 1,
                clock: Callable[[], float] = time.monotonic) -> list[dict]:
    """Messages received until the queue is empty, `seconds` pass or `max_messages` are held (by id)."""
    deadline, held = clock() + seconds, {}
    visibility = int(seconds + SAFETY_SECONDS * 5)  # hidden until this run has committed and deleted
    while len(held) < max_messages and clock() < deadline:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(10, max_messages - len(held)),
                                     AttributeNames=["All"], MessageAttributeNames=["All"],
                                     VisibilityTimeout=visibility, WaitTimeSeconds=wait_seconds)
        messages = answer.get("Messages", [])
        if not messages:
            break
        held.update((m["MessageId"], m) for m in messages)  # a re-received message keeps its newest handle
    return list(held.values())


def dlq_row(queue_url: str, message: dict, run_id: str, now: datetime) -> dict:
    """One raw.dlq_errors row: topic, why it failed, the body as sent."""
    attributes = message.get("Attributes", {})
    topic_attr = message.get("MessageAttributes", {}).get("topic", {}).get("StringValue")
    topic = resolve_topic(topic_attr, attributes.get("DeadLetterQueueSourceArn"))
    body = message.get("Body", "")
    _, why = encode(message["MessageId"], topic, body, attributes.get("SentTimestamp"))
    attempts = max(int(attributes.get("ApproximateReceiveCount", "1")) - 1, 0)  # minus this drain's receive
    return {"topic_name": topic, "ingest_id": run_id, "source": source_of(queue_url, message), "line_number": 0,
            "reason": why or f"delivery failed after {attempts} attempts", "raw_text": body, "ingestion_ts": now}


def already_written(lake: Lakehouse, sources: list[str], now: datetime) -> set[str]:
    """Sources of these messages that an earlier run wrote (its delete failed)."""
    found = lake.dlq_table().scan(
        row_filter=And(GreaterThanOrEqual("ingestion_ts", (now - RETENTION).isoformat()), In("source", sources)),
        selected_fields=("source",)).to_arrow()
    return set(found["source"].to_pylist())


def delete(sqs: Any, queue_url: str, messages: list[dict], report: DrainReport, attempts: int = 3) -> None:
    """DeleteMessageBatch in tens; failed entries are retried, then reported (never silently dropped)."""
    for start in range(0, len(messages), 10):
        _delete_ten(sqs, queue_url, messages[start:start + 10], report, attempts)


def _delete_ten(sqs: Any, queue_url: str, messages: list[dict], report: DrainReport, attempts: int) -> None:
    from botocore.exceptions import BotoCoreError, ClientError
    pending = {str(i): m for i, m in enumerate(messages)}
    errors: dict[str, str] = {}

    def attempt() -> dict[str, dict]:
        entries = [{"Id": key, "ReceiptHandle": m["ReceiptHandle"]} for key, m in pending.items()]
        try:
            answer = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        except (BotoCoreError, ClientError) as exc:
            errors.update({key: f"{type(exc).__name__}: {exc}" for key in pending})
            return pending
        report.deleted += len(answer.get("Successful", []))
        failed = {f["Id"]: f for f in answer.get("Failed", [])}
        errors.update({key: f"{f.get('Code')}: {f.get('Message', '')}" for key, f in failed.items()})
        for key in [k for k in pending if k not in failed]:
            del pending[key]
        return pending

    Retrying(stop=stop_after_attempt(attempts), wait=wait_exponential(multiplier=0.2, max=2),
             retry=retry_if_result(bool), retry_error_callback=lambda state: state.outcome.result())(attempt)
    report.delete_failed.extend({"message_id": m["MessageId"], "error": errors[key]} for key, m in pending.items())


def release(sqs: Any, queue_url: str, messages: list[dict]) -> None:
    """Make unwritten messages visible again now rather than after the visibility timeout (best effort)."""
    for start in range(0, len(messages), 10):
        try:
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start:start + 10])])
        except Exception as exc:  # noqa: BLE001 - they come back after the timeout anyway
            log.warning("could not release %d DLQ messages early: %s", len(messages[start:start + 10]), exc)


def drain(lake: Lakehouse, sqs: Any, queue_url: str, seconds: float = 60.0, max_messages: int = 10_000,
          wait_seconds: int = 1) -> DrainReport:
    """Receive, write one commit to raw.dlq_errors, then delete what is written. Raises if the commit fails."""
    report = DrainReport(run_id=uuid.uuid4().hex)
    messages = receive_all(sqs, queue_url, seconds, max_messages, wait_seconds)
    report.received = len(messages)
    if not messages:
        return report
    now = datetime.now(timezone.utc)
    known = already_written(lake, [source_of(queue_url, m) for m in messages], now)
    new = [m for m in messages if source_of(queue_url, m) not in known]
    if new:
        rows = pa.Table.from_pylist([dlq_row(queue_url, m, report.run_id, now) for m in new], schema=DLQ_ARROW)
        try:
            append_with_retry(lake.dlq_table(), rows, {SUMMARY_INGEST_ID: report.run_id,
                                                       DLQ_SOURCE: queue_url})
        except Exception:
            release(sqs, queue_url, messages)
            raise
    report.written, report.already_written = len(new), len(messages) - len(new)
    delete(sqs, queue_url, messages, report)
    return report


def handler(event: dict, context: Any = None) -> dict:
    """Lambda entry point (an EventBridge schedule); the event may override "budget_seconds"."""
    from leanops.aws.clients import client
    from leanops.context import Context
    queue_url = (event or {}).get("queue_url") or os.environ.get(QUEUE_ENV, "")
    if not queue_url:
        raise ConfigError(f"{QUEUE_ENV} is not set: give the URL of the dead-letter queue to drain")
    seconds = float((event or {}).get("budget_seconds") or os.environ.get(BUDGET_ENV, "60"))
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        seconds = max(1.0, min(seconds, context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS))
    ctx = Context.open()
    try:
        report = drain(ctx.lake, client("sqs"), queue_url, seconds, int(os.environ.get(MAX_ENV, "10000")))
    finally:
        ctx.close()
    result = report.as_dict()
    print(json.dumps({"leanops": "dlq_drainer", **result}), flush=True)
    return result
