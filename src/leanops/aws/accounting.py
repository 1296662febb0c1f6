"""Pre-RAW accountability (seed 001): every SQS message ends in RAW, raw.dlq_errors or Firehose's error prefix.

    sqs_messages == raw_rows + dlq_errors + firehose_errors   (+ messages still in a queue)

    account = from_handler_counts(forwarder_responses, drainer_results)
    assert account.ok, account.as_dict()
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime


@dataclasses.dataclass(frozen=True)
class PreRawAccount:
    """The ingestion layer's balance before RAW, from the handlers' counters (or CloudWatch and the tables)."""

    sqs_messages: int  # distinct messages taken from the source queue
    raw_rows: int  # delivered by Firehose to RAW
    dlq_errors: int  # drained from the DLQ into raw.dlq_errors
    firehose_errors: int = 0  # accepted by Firehose, then written to its S3 error prefix
    in_flight: int = 0  # still in the source queue or the DLQ: neither landed nor lost

    @property
    def accounted(self) -> int:
        return self.raw_rows + self.dlq_errors + self.firehose_errors + self.in_flight

    @property
    def missing(self) -> int:
        """Messages not found anywhere; negative means surplus (an at-least-once redelivery landed twice)."""
        return self.sqs_messages - self.accounted

    @property
    def ok(self) -> bool:
        return self.missing == 0

    @property
    def percent(self) -> float:
        """Seed 001's Pre_RAW_Accountability %: (RAW + DLQ_Errors + Firehose_Errors) / SQS_Messages x 100."""
        landed = self.raw_rows + self.dlq_errors + self.firehose_errors
        return 100.0 if self.sqs_messages == 0 else round(100.0 * landed / self.sqs_messages, 4)

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "accounted": self.accounted, "missing": self.missing,
                "percent": self.percent, "ok": self.ok}


def from_handler_counts(forwarded: Iterable[Mapping], drained: Iterable[Mapping], firehose_errors: int = 0,
                        in_flight: int = 0) -> PreRawAccount:
    """The balance from sqs_to_firehose responses and dlq_drainer results.

    Args:
        forwarded: each invocation's response: `first_receives` counts distinct messages (a redelivery
            has ApproximateReceiveCount > 1), `delivered` the records Firehose accepted.
        drained: each drain's result: `written` rows went to raw.dlq_errors.
        firehose_errors: records Firehose accepted but could not deliver (its S3 error prefix).
        in_flight: messages still visible or hidden in the source queue and the DLQ.
    """
    forwarded, drained = list(forwarded), list(drained)
    delivered = sum(int(r["delivered"]) for r in forwarded)
    return PreRawAccount(sqs_messages=sum(int(r["first_receives"]) for r in forwarded),
                         raw_rows=delivered - firehose_errors, dlq_errors=sum(int(r["written"]) for r in drained),
                         firehose_errors=firehose_errors, in_flight=in_flight)


# -- measured on AWS: CloudWatch, the tables' commits, the Firehose error prefix, the queues -----------------
INGEST_QUEUE_ENV = "LEANOPS_INGEST_QUEUE_URL"
DLQ_ENV = "LEANOPS_DLQ_URL"
FIREHOSE_ERRORS_ENV = "LEANOPS_FIREHOSE_ERRORS_URI"


@dataclasses.dataclass(frozen=True)
class PreRawSources:
    """Where the AWS runtime keeps each term (`terraform output leanops_env` lists the three settings)."""

    queue_url: str  # the ingestion queue: its CloudWatch NumberOfMessagesSent is `sqs_messages`
    dlq_url: str | None = None  # its messages count as in flight until the drainer writes them
    firehose_errors_uri: str | None = None  # s3://<lake>/firehose-errors/: Firehose's error output prefix

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PreRawSources | None:
        """None without LEANOPS_INGEST_QUEUE_URL: not an AWS deployment (or not told where its queue is)."""
        import os
        env = os.environ if environ is None else environ
        if not env.get(INGEST_QUEUE_ENV):
            return None
        return cls(env[INGEST_QUEUE_ENV], env.get(DLQ_ENV) or None, env.get(FIREHOSE_ERRORS_ENV) or None)


def measure(lake, sources: PreRawSources, start: datetime, end: datetime, cloudwatch, sqs, s3) -> PreRawAccount:
    """Seed 001's terms for what arrived in [start, end), each counted where it landed.

    - `sqs_messages`: the queue's `NumberOfMessagesSent` (CloudWatch: the Lambda's own counters are lost
      when an invocation times out);
    - `raw_rows`: records added by RAW commits that no lean-ops process made (Firehose's Iceberg
      destination; `leanops ingest` and the file processor mark theirs `leanops.*`);
    - `dlq_errors`: records added by the DLQ drainer's commits to raw.dlq_errors;
    - `firehose_errors`: lines of the objects under the Firehose error prefix;
    - `in_flight`: messages in the queue and the DLQ now.
    A message is counted by when it arrived at each place, so a window edge can split one message from
    its row: measure windows much longer than the delivery delays (Firehose buffering, DLQ draining).
    """
    from leanops.catalog.rollups import counted
    from leanops.stages.accountability import DLQ_SOURCE
    if end <= start:
        raise ValueError(f"the window must end after it starts: {start.isoformat()} .. {end.isoformat()}")
    errors_at = _s3_location(sources.firehose_errors_uri)
    from_ms, to_ms = start.timestamp() * 1000, end.timestamp() * 1000

    def added(table, wanted) -> int:
        return sum(int(s.summary.additional_properties.get("added-records", 0)) for s in counted(table)
                   if s.summary is not None and from_ms <= s.timestamp_ms < to_ms and wanted(s))

    def delivered(snapshot) -> bool:
        return snapshot.summary.operation.value == "append" and not any(
            key.startswith("leanops.") for key in snapshot.summary.additional_properties)

    raw_rows = sum(added(lake.raw_table(topic), delivered) for topic in lake.raw_topics())
    dlq_errors = added(lake.dlq_table(), lambda s: DLQ_SOURCE in s.summary.additional_properties)
    return PreRawAccount(sqs_messages=_messages_sent(cloudwatch, sources.queue_url, start, end), raw_rows=raw_rows,
                         dlq_errors=dlq_errors,
                         firehose_errors=_error_lines(s3, errors_at, start, end),
                         in_flight=sum(_queue_depth(sqs, url) for url in (sources.queue_url, sources.dlq_url) if url))


def _messages_sent(cloudwatch, queue_url: str, start: datetime, end: datetime) -> int:
    seconds = max(60.0, (end - start).total_seconds())
    period = 60 * max(1, -(-int(seconds) // (60 * 1440)))  # a multiple of 60, at most 1,440 datapoints
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS", MetricName="NumberOfMessagesSent", StartTime=start, EndTime=end, Period=period,
        Dimensions=[{"Name": "QueueName", "Value": queue_url.rstrip("/").rsplit("/", 1)[-1]}],
        Statistics=["Sum"])["Datapoints"]
    return int(sum(p["Sum"] for p in points))


def _s3_location(uri: str | None) -> tuple[str, str] | None:
    from urllib.parse import urlparse
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"{FIREHOSE_ERRORS_ENV} must be s3://bucket/prefix/, not {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def _error_lines(s3, location: tuple[str, str] | None, start: datetime, end: datetime) -> int:
    """Records Firehose could not deliver: one JSON line each, in objects (maybe gzipped) under the prefix."""
    import gzip
    if location is None:
        return 0
    bucket, prefix = location
    lines = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if start <= obj["LastModified"] < end:
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                body = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
                lines += sum(1 for line in body.splitlines() if line.strip())
    return lines


def _queue_depth(sqs, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
             "ApproximateNumberOfMessagesDelayed"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attrs.get(name, 0)) for name in names)
