"""The health-check Lambda and Pre-RAW accountability on moto: real tables, CloudWatch, SQS, S3."""
from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from conftest import envelope, fake_aws_credentials, ingest, run_cli  # noqa: E402
from leanops.aws import clients  # noqa: E402
from leanops.aws.accounting import PreRawSources, measure  # noqa: E402
from leanops.aws.lambdas import dlq_drainer, health_check  # noqa: E402
from leanops.orchestrate.health import topic_health  # noqa: E402
from test_semantic import order, write  # noqa: E402

pytestmark = pytest.mark.slow
REGION = "us-east-1"
LAKE = "leanops-lake"


@pytest.fixture
def aws(monkeypatch):
    fake_aws_credentials(monkeypatch, REGION)
    for name in ("LEANOPS_ALERT_SNS_TOPIC", "LEANOPS_INGEST_QUEUE_URL", "LEANOPS_DLQ_URL",
                 "LEANOPS_FIREHOSE_ERRORS_URI"):
        monkeypatch.delenv(name, raising=False)
    clients.reset()
    with moto.mock_aws():
        yield
    clients.reset()


def firehose_rows(ctx, topic: str, ids: list[str]) -> None:
    """Rows appended as Firehose's Iceberg destination appends them: no lean-ops marks on the commit."""
    raw = ctx.lake.raw_table(topic, create=True)
    now = datetime.now(timezone.utc)
    rows = [{"message_id": i, "topic_name": topic, "json_payload": "{}", "ingestion_ts": now, "publish_time": now}
            for i in ids]
    raw.append(pa.Table.from_pylist(rows, schema=raw.schema().as_arrow()))


def pre_raw_world(ctx, tmp_path, sqs, s3, cloudwatch) -> dict[str, str]:
    """8 messages sent: 4 delivered to RAW, 1 drained from the DLQ, 2 Firehose errors, 1 still in the queue;
    plus 2 lines `leanops ingest` wrote to RAW, which never went through SQS and must not count."""
    queue = sqs.create_queue(QueueName="leanops-ingest")["QueueUrl"]
    dlq = sqs.create_queue(QueueName="leanops-ingest-dlq")["QueueUrl"]
    minute = (datetime.now(timezone.utc) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    cloudwatch.put_metric_data(Namespace="AWS/SQS", MetricData=[{  # what SQS itself publishes (moto does not)
        "MetricName": "NumberOfMessagesSent", "Value": 8, "Unit": "Count", "Timestamp": minute,
        "Dimensions": [{"Name": "QueueName", "Value": "leanops-ingest"}]}])
    firehose_rows(ctx, "events", ["m1", "m2", "m3"])
    firehose_rows(ctx, "orders", ["m4"])
    ingest(ctx, "events", [envelope("local-1", {"a": 1}), envelope("local-2", {"a": 2})], tmp_path)
    sqs.send_message(QueueUrl=dlq, MessageBody="never sent",
                     MessageAttributes={"topic": {"DataType": "String", "StringValue": "events"}})
    assert dlq_drainer.drain(ctx.lake, sqs, dlq, seconds=30, wait_seconds=0).written == 1
    s3.create_bucket(Bucket=LAKE)
    errors = b'{"attemptsMade":4,"rawData":"e30="}\n{"attemptsMade":4,"rawData":"e30="}\n'
    s3.put_object(Bucket=LAKE, Key="firehose-errors/events/IcebergFailed/2026/part-1.gz", Body=gzip.compress(errors))
    s3.put_object(Bucket=LAKE, Key="elsewhere/not-an-error.json", Body=errors)
    sqs.send_message(QueueUrl=queue, MessageBody="{}")  # in flight
    return {"LEANOPS_INGEST_QUEUE_URL": queue, "LEANOPS_DLQ_URL": dlq,
            "LEANOPS_FIREHOSE_ERRORS_URI": f"s3://{LAKE}/firehose-errors/"}


def test_pre_raw_counts_every_term_where_it_lands(aws, ctx, tmp_path):
    env = pre_raw_world(ctx, tmp_path, clients.client("sqs"), clients.client("s3"), clients.client("cloudwatch"))
    sources = PreRawSources.from_env(env)
    now = datetime.now(timezone.utc)
    account = measure(ctx.lake, sources, now - timedelta(hours=1), now + timedelta(seconds=1),
                      clients.client("cloudwatch"), clients.client("sqs"), clients.client("s3"))
    assert account.as_dict() == {"sqs_messages": 8, "raw_rows": 4, "dlq_errors": 1, "firehose_errors": 2,
                                 "in_flight": 1, "accounted": 8, "missing": 0, "percent": 87.5, "ok": True}
    later = measure(ctx.lake, sources, now + timedelta(hours=1), now + timedelta(hours=2),
                    clients.client("cloudwatch"), clients.client("sqs"), clients.client("s3"))
    assert (later.sqs_messages, later.raw_rows, later.dlq_errors, later.firehose_errors) == (0, 0, 0, 0)
    assert PreRawSources.from_env({}) is None
    with pytest.raises(ValueError, match="must end after it starts"):
        measure(ctx.lake, sources, now, now, None, None, None)
    with pytest.raises(ValueError, match="s3://bucket/prefix/"):
        measure(ctx.lake, PreRawSources(sources.queue_url, None, "/tmp/errors"), now - timedelta(hours=1), now,
                clients.client("cloudwatch"), clients.client("sqs"), clients.client("s3"))


def test_cli_pre_raw_on_aws_and_on_the_embedded_default(ctx, tmp_path, monkeypatch):
    embedded = run_cli("accountability", "--pre-raw")
    assert embedded.returncode == 2 and "needs the AWS runtime" in embedded.stderr
    per_topic = run_cli("accountability", "--pre-raw", "--topic", "events")
    assert per_topic.returncode == 2 and "every topic" in per_topic.stderr
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        keys = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": REGION}
        make = {s: boto3.client(s, endpoint_url=url, **keys) for s in ("sqs", "s3", "cloudwatch")}
        env = pre_raw_world(ctx, tmp_path, make["sqs"], make["s3"], make["cloudwatch"])
        env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION=REGION,
                   AWS_DEFAULT_REGION=REGION, LEANOPS_AWS_ENDPOINT=url)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name, raising=False)
        done = run_cli("accountability", "--pre-raw", "--hours", "1", "--json", env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"sqs_messages": 8, "raw_rows": 4, "dlq_errors": 1, "firehose_errors": 2,
                                           "in_flight": 1, "accounted": 8, "missing": 0, "percent": 87.5,
                                           "ok": True}
        make["sqs"].purge_queue(QueueUrl=env["LEANOPS_INGEST_QUEUE_URL"])  # the in-flight message is lost
        lost = run_cli("accountability", "--pre-raw", "--hours", "1", env=env)
        assert lost.returncode == 1 and "87.50" in lost.stdout
    finally:
        server.stop()


def metric(cloudwatch, name: str, **dimensions: str) -> float:
    now = datetime.now(timezone.utc)
    points = cloudwatch.get_metric_statistics(
        Namespace="LeanOps", MetricName=name, StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5),
        Period=3600, Statistics=["Maximum"], Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()])
    [point] = points["Datapoints"]
    return point["Maximum"]


def test_health_check_publishes_check_figures_drift_counts_and_pre_raw(aws, ctx, schemas, tmp_path, monkeypatch):
    from leanops.stages.curated import run_curated
    from leanops.stages.standardized import run_standardized
    write(schemas)
    ingest(ctx, "orders", [order("m1", "k1", "2026-01-19T10:00:00Z", amount="1", status="new"), "not json"],
           tmp_path)
    schema = ctx.schema("orders")
    run_standardized(ctx.lake, ctx.settings, "orders", schema.standardized)
    run_curated(ctx.lake, ctx.settings, "orders", schema)  # Semantic has not run: it lags
    ingest(ctx, "orders", [order("m2", "k2", "2026-01-19T11:00:00Z", amount="2", status="new")], tmp_path, "2.ndjson")
    ctx.state.record_drift("orders", "coupon", "undeclared_column", "X1", None)
    for name, value in pre_raw_world(ctx, tmp_path, clients.client("sqs"), clients.client("s3"),
                                     clients.client("cloudwatch")).items():
        monkeypatch.setenv(name, value)

    result = health_check.handler({"source": "aws.events"}, None)

    assert result["topics"] == ["events", "orders"] and result["pre_raw"]["percent"] == 87.5, result
    cw = clients.client("cloudwatch")
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="LeanOps")["Metrics"]}
    assert names == {"PendingCurationRecords", "SemanticLagSeconds", "NewDriftEntries", "DlqOldestAgeSeconds",
                     "DataFiles", "DeleteFiles", "Snapshots", "PreRawAccountabilityPercent", "PreRawMissing"}
    health = topic_health(ctx, "orders")  # the very figures `leanops check` compares
    assert metric(cw, "PendingCurationRecords", Topic="orders") == health.pending_curation_records == 2  # m2, m4
    assert 0 < metric(cw, "SemanticLagSeconds", Topic="orders") <= health.semantic_lag_seconds
    assert 0 < metric(cw, "DlqOldestAgeSeconds", Topic="orders") <= health.dlq_oldest_age_seconds
    assert metric(cw, "NewDriftEntries", Topic="orders") == 1
    assert metric(cw, "NewDriftEntries", Topic="events") == 0
    assert metric(cw, "DataFiles", Topic="orders", Table="raw.orders_staging") == 3  # two ingests, Firehose
    assert metric(cw, "Snapshots", Topic="orders", Table="curated.orders") >= 1
    assert metric(cw, "PreRawAccountabilityPercent") == 87.5 and metric(cw, "PreRawMissing") == 0
    events = {d["Name"]: d["Value"] for m in cw.list_metrics(Namespace="LeanOps", MetricName="SemanticLagSeconds")
              ["Metrics"] for d in m["Dimensions"]}
    assert events == {"Topic": "orders"}  # events has no semantic section: no lag figure at all

    def drift_now() -> float:
        marks: dict = {}
        data = health_check.topic_metrics(ctx, "orders", datetime.now(timezone.utc), marks)
        return next(d["Value"] for d in data if d["MetricName"] == "NewDriftEntries")

    assert drift_now() == 0  # reported once
    ctx.state.record_drift("orders", "promo", "undeclared_column", "Y", None)
    assert drift_now() == 1 and drift_now() == 0

    ctx.state.record_drift("orders", "channel", "undeclared_column", "web", None)

    def refused(**kwargs):
        raise RuntimeError("CloudWatch unavailable")

    monkeypatch.setattr(clients.client("cloudwatch"), "put_metric_data", refused)
    with pytest.raises(RuntimeError):
        health_check.handler({}, None)
    assert drift_now() == 1  # a check that could not publish does not swallow the new entry
