"""Scheduled health check (seed 004 section 5): `leanops check`'s figures as CloudWatch metrics, so alarms fire
without anyone running the command.

    LEANOPS_HEALTH_NAMESPACE        CloudWatch namespace (default LeanOps)
    LEANOPS_INGEST_QUEUE_URL        when set, also Pre-RAW accountability (leanops.aws.accounting.PreRawSources)
    LEANOPS_PRE_RAW_WINDOW_SECONDS  its window, ending now (default 86400)

Per topic (dimension Topic): PendingCurationRecords, SemanticLagSeconds (only when the topic has a semantic
section and Curated data), NewDriftEntries (drift-log entries first seen since the previous check),
DlqOldestAgeSeconds; per table (dimensions Topic, Table): DataFiles, DeleteFiles, Snapshots. Without a
dimension: PreRawAccountabilityPercent and PreRawMissing. Terraform alarms on them (docs/terraform.md).
"""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta, timezone

from leanops.aws import clients
from leanops.context import Context

NAMESPACE_ENV = "LEANOPS_HEALTH_NAMESPACE"
WINDOW_ENV = "LEANOPS_PRE_RAW_WINDOW_SECONDS"
DRIFT_CHECK = "HealthCheckDrift"  # the alert memory's kind that holds the previous check's time
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
DEFAULT_WINDOW_SECONDS = 86_400
PUT_BATCH = 500  # PutMetricData takes at most 1,000 metrics per call
log = logging.getLogger("leanops.aws.health_check")


def _datum(name: str, value: float, unit: str, now: datetime, **dimensions: str) -> dict:
    return {"MetricName": name, "Value": float(value), "Unit": unit, "Timestamp": now,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()]}


def new_drift_entries(ctx: Context, topic: str, now: datetime) -> tuple[int, datetime | None]:
    """Drift entries first seen after the previous check, up to `now` (all of them at the first check),
    and the previous check's time (`forget_check` puts it back when the metrics could not be published)."""
    previous = ctx.state.mark_checked(topic, DRIFT_CHECK, now)
    return sum(1 for e in ctx.state.list_drift(topic)
               if (previous is None or e.first_seen > previous) and e.first_seen <= now), previous


def forget_check(ctx: Context, topic: str, previous: datetime | None) -> None:
    """Undo a check's mark, so that the next check reports its drift again (never checked: the epoch)."""
    ctx.state.mark_checked(topic, DRIFT_CHECK, previous or EPOCH)


def topic_metrics(ctx: Context, topic: str, now: datetime, marks: dict[str, datetime | None]) -> list[dict]:
    """One topic's metric data: `leanops check`'s figures, the new drift, and `leanops status`' table counts.
    `marks` receives the topic's previous drift check."""
    from leanops.maintenance.run import topic_counts
    from leanops.orchestrate.health import topic_health
    health = topic_health(ctx, topic, now)
    drift, marks[topic] = new_drift_entries(ctx, topic, now)
    data = [_datum("PendingCurationRecords", health.pending_curation_records, "Count", now, Topic=topic),
            _datum("NewDriftEntries", drift, "Count", now, Topic=topic),
            _datum("DlqOldestAgeSeconds", health.dlq_oldest_age_seconds, "Seconds", now, Topic=topic)]
    if health.semantic_lag_seconds is not None:
        data.append(_datum("SemanticLagSeconds", health.semantic_lag_seconds, "Seconds", now, Topic=topic))
    for table in topic_counts(ctx, topic):
        for name, field in (("DataFiles", "data_files"), ("DeleteFiles", "delete_files"), ("Snapshots", "snapshots")):
            data.append(_datum(name, table[field], "Count", now, Topic=topic, Table=table["table"]))
    return data


def pre_raw_metrics(ctx: Context, now: datetime, window: timedelta) -> tuple[list[dict], dict | None]:
    """Pre-RAW accountability over the window ending now; nothing when the ingestion queue is not configured."""
    from leanops.aws.accounting import PreRawSources, measure
    sources = PreRawSources.from_env()
    if sources is None:
        return [], None
    account = measure(ctx.lake, sources, now - window, now, clients.client("cloudwatch"), clients.client("sqs"),
                      clients.client("s3"))
    return [_datum("PreRawAccountabilityPercent", account.percent, "Percent", now),
            _datum("PreRawMissing", account.missing, "Count", now)], account.as_dict()


def publish(cloudwatch, namespace: str, data: list[dict]) -> None:
    for start in range(0, len(data), PUT_BATCH):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start:start + PUT_BATCH])


def handler(event, context) -> dict:
    """EventBridge schedule: every topic's metrics, then Pre-RAW, in one namespace."""
    from leanops.ops.metrics import NAMESPACE
    namespace = os.environ.get(NAMESPACE_ENV) or NAMESPACE
    window = timedelta(seconds=float(os.environ.get(WINDOW_ENV) or DEFAULT_WINDOW_SECONDS))
    now = datetime.now(timezone.utc)
    ctx = Context.open()
    marks: dict[str, datetime | None] = {}
    try:
        data = [d for topic in ctx.topics() for d in topic_metrics(ctx, topic, now, marks)]
        pre_raw, account = pre_raw_metrics(ctx, now, window)
        publish(clients.client("cloudwatch"), namespace, data + pre_raw)
    except Exception:
        for topic, previous in marks.items():  # the drift these checks saw must reach the next one
            forget_check(ctx, topic, previous)
        raise
    finally:
        ctx.close()
    result = {"namespace": namespace, "metrics": len(data + pre_raw), "pre_raw": account,
              "topics": sorted({d["Dimensions"][0]["Value"] for d in data})}
    log.info(json.dumps(result, default=str))
    return result
