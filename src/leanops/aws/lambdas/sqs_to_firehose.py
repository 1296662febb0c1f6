"""SQS -> Firehose: each SQS message becomes one RAW row (a JSON line) on its topic's delivery stream.

    LEANOPS_FIREHOSE_STREAM    delivery stream name; "{topic}" in it is replaced by the message's topic
    LEANOPS_FIREHOSE_ATTEMPTS  PutRecordBatch attempts for the records Firehose rejects (default 4)

The event source mapping must set FunctionResponseTypes=["ReportBatchItemFailures"]: messages in
batchItemFailures return to the queue (and reach its DLQ after maxReceiveCount), the rest are
deleted. A message that can never be sent (invalid topic, over Firehose's record limit) is listed
there too, so it ends in raw.dlq_errors instead of vanishing. Needs only boto3 (and the vendored
tenacity): docs/aws-lambdas.md.
"""
from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime, timezone
from collections.abc import Iterator
from typing import Any

from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_random_exponential

from leanops.errors import ConfigError, InvalidTopicNameError
from leanops.types import validate_topic

MAX_BATCH_RECORDS = 500  # PutRecordBatch limits
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1000 * 1024
STREAM_ENV = "LEANOPS_FIREHOSE_STREAM"
ATTEMPTS_ENV = "LEANOPS_FIREHOSE_ATTEMPTS"


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Bounded retries of the records Firehose rejected: `attempts` calls in all, random exponential waits."""

    attempts: int = 4
    base_seconds: float = 0.1
    max_seconds: float = 2.0


@dataclasses.dataclass(frozen=True)
class Line:
    """One message ready for Firehose: its SQS id, its delivery stream and the RAW row as a JSON line."""

    message_id: str
    stream: str
    data: bytes


@dataclasses.dataclass
class ForwardReport:
    """What one invocation did; the counters feed the pre-RAW accounting (leanops.aws.accounting)."""

    received: int = 0
    first_receives: int = 0  # ApproximateReceiveCount 1: messages seen for the first time
    delivered: int = 0
    failed_firehose: int = 0
    rejected_invalid: int = 0
    rejected: list[dict] = dataclasses.field(default_factory=list)  # {"message_id", "reason"}
    firehose_errors: list[dict] = dataclasses.field(default_factory=list)  # {"message_id", "error"}

    def counters(self) -> dict[str, int]:
        return {"received": self.received, "first_receives": self.first_receives, "delivered": self.delivered,
                "failed_firehose": self.failed_firehose, "rejected_invalid": self.rejected_invalid}

    def response(self) -> dict:
        """The partial batch response (Lambda reads batchItemFailures) with the counters and reasons."""
        failed = [r["message_id"] for r in self.rejected] + [e["message_id"] for e in self.firehose_errors]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed], **self.counters(),
                "rejected": self.rejected, "firehose_errors": self.firehose_errors}


def resolve_topic(attribute: str | None, queue_arn: str | None) -> str:
    """The `topic` message attribute, else the queue's name (a FIFO queue's ".fifo" dropped).

    >>> resolve_topic(None, "arn:aws:sqs:eu-west-1:123456789012:events.fifo")
    'events'
    """
    if attribute:
        return attribute
    name = (queue_arn or "").rsplit(":", 1)[-1]
    return name.removesuffix(".fifo")


def encode(message_id: str, topic: str, body: str | None, sent_ms: str | None,
           received: datetime | None = None) -> tuple[bytes | None, str | None]:
    """(one RAW row as a JSON line, None), or (None, why it can never be sent). The DLQ drainer reuses
    the reasons. The row has RAW's columns, so Firehose's Iceberg destination writes it as it is."""
    try:
        validate_topic(topic)
    except InvalidTopicNameError as exc:
        return None, str(exc)
    if body is None or body == "":
        return None, "empty message body: no payload"
    received = received or datetime.now(timezone.utc)
    published = (datetime.fromtimestamp(int(sent_ms) / 1000, timezone.utc) if sent_ms and sent_ms.isdigit()
                 else received)  # SentTimestamp is epoch milliseconds; missing: the ingestion time
    row = {"message_id": message_id, "topic_name": topic, "json_payload": body,  # text: Standardized parses it
           "ingestion_ts": _iso(received), "publish_time": _iso(published)}
    data = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    if len(data) > MAX_RECORD_BYTES:
        return None, f"record of {len(data)} bytes exceeds Firehose's {MAX_RECORD_BYTES}-byte (1,000 KiB) limit"
    return data, None


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chunks(lines: list[Line]) -> Iterator[list[Line]]:
    """Consecutive groups within PutRecordBatch's limits: 500 records and 4 MiB per call."""
    batch: list[Line] = []
    size = 0
    for line in lines:
        if batch and (len(batch) == MAX_BATCH_RECORDS or size + len(line.data) > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += len(line.data)
    if batch:
        yield batch


def put_with_retries(firehose: Any, stream: str, batch: list[Line], backoff: Backoff) -> list[tuple[Line, str]]:
    """PutRecordBatch, then again for only the records Firehose rejected; returns those still failing."""
    from botocore.exceptions import BotoCoreError, ClientError
    pending = [(line, "") for line in batch]

    def attempt() -> list[tuple[Line, str]]:
        nonlocal pending
        try:
            answer = firehose.put_record_batch(DeliveryStreamName=stream,
                                               Records=[{"Data": line.data} for line, _ in pending])
        except (BotoCoreError, ClientError) as exc:  # the whole call failed (throttled, network): all pending
            pending = [(line, f"{type(exc).__name__}: {exc}") for line, _ in pending]
            return pending
        replies = answer.get("RequestResponses", [])
        if len(replies) != len(pending):  # cannot tell which landed: retry them all (at-least-once)
            pending = [(line, "PutRecordBatch answered for a different number of records") for line, _ in pending]
            return pending
        pending = [(line, f"{r['ErrorCode']}: {r.get('ErrorMessage', '')}")
                   for (line, _), r in zip(pending, replies) if r.get("ErrorCode")]
        return pending

    retrying = Retrying(stop=stop_after_attempt(max(1, backoff.attempts)), retry=retry_if_result(bool),
                        wait=wait_random_exponential(multiplier=backoff.base_seconds, max=backoff.max_seconds),
                        retry_error_callback=lambda state: state.outcome.result())
    return retrying(attempt)


def forward(event: dict, firehose: Any, stream_template: str, backoff: Backoff = Backoff()) -> ForwardReport:
    """Encode every message of an SQS batch, send them per delivery stream, and account for each one."""
    report = ForwardReport()
    by_stream: dict[str, list[Line]] = {}
    for record in event.get("Records", []):
        report.received += 1
        attributes = record.get("attributes") or {}
        report.first_receives += attributes.get("ApproximateReceiveCount") == "1"
        message_id = record.get("messageId", "")
        topic_attr = ((record.get("messageAttributes") or {}).get("topic") or {}).get("stringValue")
        topic = resolve_topic(topic_attr, record.get("eventSourceARN"))
        data, reason = encode(message_id, topic, record.get("body"), attributes.get("SentTimestamp"))
        if reason:
            report.rejected.append({"message_id": message_id, "reason": reason})
            continue
        stream = stream_template.replace("{topic}", topic)
        by_stream.setdefault(stream, []).append(Line(message_id, stream, data))
    for stream, lines in by_stream.items():
        for batch in chunks(lines):
            failed = put_with_retries(firehose, stream, batch, backoff)
            report.delivered += len(batch) - len(failed)
            report.firehose_errors.extend({"message_id": line.message_id, "error": error} for line, error in failed)
    report.rejected_invalid, report.failed_firehose = len(report.rejected), len(report.firehose_errors)
    return report


def handler(event: dict, context: Any = None) -> dict:
    """Lambda entry point (SQS trigger with ReportBatchItemFailures)."""
    from leanops.aws.clients import client
    stream = os.environ.get(STREAM_ENV, "")
    if not stream:  # raising fails the whole batch: it is retried, then reaches the DLQ; nothing is lost
        raise ConfigError(f"{STREAM_ENV} is not set: name the Firehose delivery stream (may contain {{topic}})")
    report = forward(event, client("firehose"), stream, Backoff(attempts=int(os.environ.get(ATTEMPTS_ENV, "4"))))
    response = report.response()
    print(json.dumps({"leanops": "sqs_to_firehose", **{k: v for k, v in response.items()
                                                       if k != "batchItemFailures"}}), flush=True)
    return response
