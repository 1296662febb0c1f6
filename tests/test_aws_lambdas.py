"""The Lambda handlers on moto: SQS -> Firehose -> S3, the DLQ drainer, the orchestration tasks, pre-RAW accounting."""
from __future__ import annotations

import json

import pyarrow as pa
import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from botocore.exceptions import ClientError  # noqa: E402

from conftest import EVENTS_SCHEMA, envelope, ingest, write_schema  # noqa: E402
from leanops.aws import clients  # noqa: E402
from leanops.aws.accounting import PreRawAccount, from_handler_counts  # noqa: E402
from leanops.aws.lambdas import dlq_drainer, orchestration, sqs_to_firehose  # noqa: E402
from leanops.aws.lambdas.sqs_to_firehose import MAX_BATCH_BYTES, Backoff, Line, chunks, forward  # noqa: E402
from leanops.errors import CommitConflictError, ConfigError, InvalidTopicNameError, TerminalError  # noqa: E402
from leanops.orchestrate.cycle import CycleOptions, run_cycle  # noqa: E402
from leanops.types import FlowControl  # noqa: E402

pytestmark = pytest.mark.slow
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "leanops-landing"
SENT_MS = "1768816800000"  # 2026-01-19T10:00:00Z
NO_WAIT = Backoff(attempts=4, base_seconds=0, max_seconds=0)


@pytest.fixture
def aws(monkeypatch):
    """Fake credentials, no lean-ops AWS settings from the developer's shell, and moto for every client."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "LEANOPS_CATALOG", "LEANOPS_STATE", "LEANOPS_ALERT_SNS_TOPIC",
                 "LEANOPS_ALERT_WEBHOOK", "LEANOPS_AWS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    clients.reset()
    with moto.mock_aws():
        yield
    clients.reset()


@pytest.fixture
def firehose(aws):
    """Delivery streams leanops-events and leanops-orders writing to s3://leanops-landing/raw/<topic>/."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    client = clients.client("firehose")
    for topic in ("events", "orders"):
        client.create_delivery_stream(
            DeliveryStreamName=f"leanops-{topic}", DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={"RoleARN": f"arn:aws:iam::{ACCOUNT}:role/firehose",
                                                "BucketARN": f"arn:aws:s3:::{BUCKET}", "Prefix": f"raw/{topic}/"})
    return client


def record(message_id: str, body: str, topic: str | None = None, queue: str = "events", receives: int = 1) -> dict:
    """One message of an SQS-triggered Lambda event."""
    return {"messageId": message_id, "receiptHandle": f"rh-{message_id}", "body": body,
            "attributes": {"ApproximateReceiveCount": str(receives), "SentTimestamp": SENT_MS},
            "messageAttributes": {"topic": {"stringValue": topic, "dataType": "String"}} if topic else {},
            "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}", "awsRegion": REGION}


def lambda_event(sqs, queue_url: str) -> dict:
    """What the event source mapping hands the function: the queue's messages, in Lambda's spelling."""
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"],
                              MessageAttributeNames=["All"])["Messages"]
    return {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                         "attributes": m["Attributes"], "eventSourceARN": arn, "eventSource": "aws:sqs",
                         "messageAttributes": {k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
                                               for k, v in m.get("MessageAttributes", {}).items()}} for m in got]}


def landed_lines() -> list[dict]:
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    body = b"".join(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in sorted(keys))
    return [json.loads(line) for line in body.decode().splitlines()]


class Flaky:
    """put_record_batch that rejects chosen messages a number of times, passing the rest to moto."""

    def __init__(self, real, failures: dict[str, int], raise_first: bool = False) -> None:
        self.real, self.failures, self.raise_first = real, dict(failures), raise_first
        self.calls: list[list[str]] = []

    def __call__(self, DeliveryStreamName, Records):
        self.calls.append([json.loads(r["Data"])["message_id"] for r in Records])
        if self.raise_first:
            self.raise_first = False
            raise ClientError({"Error": {"Code": "ServiceUnavailableException", "Message": "slow down"}},
                              "PutRecordBatch")
        replies, passing = [], []
        for r in Records:
            message_id = json.loads(r["Data"])["message_id"]
            if self.failures.get(message_id, 0) > 0:
                self.failures[message_id] -= 1
                replies.append({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"})
            else:
                passing.append(r)
                replies.append(None)
        answers = iter(self.real(DeliveryStreamName=DeliveryStreamName, Records=passing)["RequestResponses"]
                       if passing else [])
        replies = [r or next(answers) for r in replies]
        return {"FailedPutCount": sum("ErrorCode" in r for r in replies), "RequestResponses": replies}


def flaky(monkeypatch, client, failures: dict[str, int], raise_first: bool = False) -> Flaky:
    fake = Flaky(client.put_record_batch, failures, raise_first)
    monkeypatch.setattr(client, "put_record_batch", fake)
    return fake


# -- SQS -> Firehose --------------------------------------------------------------------------------
def test_sqs_messages_become_raw_rows_that_the_pipeline_takes(firehose, ctx, schemas, monkeypatch):
    sqs = clients.client("sqs")
    url = sqs.create_queue(QueueName="events")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"event": {"userId": "u1"}}))
    sqs.send_message(QueueUrl=url, MessageBody="{broken json")  # kept as text: Standardized's business
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"sku": 7}),
                     MessageAttributes={"topic": {"DataType": "String", "StringValue": "orders"}})
    event = lambda_event(sqs, url)
    monkeypatch.setenv("LEANOPS_FIREHOSE_STREAM", "leanops-{topic}")

    response = sqs_to_firehose.handler(event, None)

    assert response["batchItemFailures"] == []
    assert {k: response[k] for k in ("received", "first_receives", "delivered", "failed_firehose",
                                     "rejected_invalid")} == {"received": 3, "first_receives": 3, "delivered": 3,
                                                              "failed_firehose": 0, "rejected_invalid": 0}
    lines = landed_lines()
    assert sorted((line["topic_name"], line["json_payload"]) for line in lines) == [
        ("events", '{"event": {"userId": "u1"}}'), ("events", "{broken json"), ("orders", '{"sku": 7}')]
    assert {line["message_id"] for line in lines} == {r["messageId"] for r in event["Records"]}
    # each line has exactly RAW's columns: what Firehose's Iceberg destination appends to the RAW table
    from leanops.catalog.schemas import RAW_SCHEMA
    assert all(set(line) == {f.name for f in RAW_SCHEMA.fields} for line in lines)
    for topic in ("events", "orders"):
        rows = pa.Table.from_pylist([line for line in lines if line["topic_name"] == topic])
        raw = ctx.lake.raw_table(topic, create=True)
        raw.append(rows.cast(raw.schema().as_arrow()))
    write_schema(schemas, EVENTS_SCHEMA)
    from leanops.runner import run_once
    [outcome] = run_once(ctx, ["events"])
    [std] = outcome.stages
    assert (std.records_in, std.records_written, std.records_errors) == (2, 1, 1)  # the broken body: parse_errors


def test_only_the_records_firehose_rejected_are_retried(firehose, monkeypatch):
    fake = flaky(monkeypatch, firehose, {"m1": 1, "m3": 2})
    event = {"Records": [record(f"m{i}", json.dumps({"i": i})) for i in range(5)]}

    report = forward(event, firehose, "leanops-{topic}", NO_WAIT)

    assert fake.calls == [["m0", "m1", "m2", "m3", "m4"], ["m1", "m3"], ["m3"]]
    assert report.response()["batchItemFailures"] == [] and report.delivered == 5
    assert sorted(line["message_id"] for line in landed_lines()) == ["m0", "m1", "m2", "m3", "m4"]


def test_a_failed_call_is_retried_whole(firehose, monkeypatch):
    fake = flaky(monkeypatch, firehose, {}, raise_first=True)
    report = forward({"Records": [record("m0", "{}"), record("m1", "{}")]}, firehose, "leanops-events", NO_WAIT)
    assert fake.calls == [["m0", "m1"], ["m0", "m1"]] and report.delivered == 2 and report.failed_firehose == 0


def test_persistent_rejections_are_exactly_the_batch_item_failures(firehose, monkeypatch):
    fake = flaky(monkeypatch, firehose, {"m2": 99, "m4": 99})
    event = {"Records": [record(f"m{i}", "{}") for i in range(6)]}

    response = forward(event, firehose, "leanops-{topic}", NO_WAIT).response()

    assert response["batchItemFailures"] == [{"itemIdentifier": "m2"}, {"itemIdentifier": "m4"}]
    assert (response["delivered"], response["failed_firehose"]) == (4, 2)
    assert len(fake.calls) == NO_WAIT.attempts and fake.calls[1:] == [["m2", "m4"]] * (NO_WAIT.attempts - 1)
    assert all(e["error"].startswith("ServiceUnavailableException") for e in response["firehose_errors"])


def test_oversize_and_invalid_topic_are_reported_not_sent(firehose, monkeypatch):
    fake = flaky(monkeypatch, firehose, {})
    event = {"Records": [record("ok", "{}"), record("big", "x" * (1000 * 1024)),
                         record("bad", "{}", topic="Bad-Topic!"), record("reserved", "{}", queue="dlq_errors")]}

    response = forward(event, firehose, "leanops-{topic}", NO_WAIT).response()

    assert fake.calls == [["ok"]]
    assert response["batchItemFailures"] == [{"itemIdentifier": i} for i in ("big", "bad", "reserved")]
    reasons = {r["message_id"]: r["reason"] for r in response["rejected"]}
    assert "exceeds Firehose's" in reasons["big"] and "invalid topic name 'Bad-Topic!'" in reasons["bad"]
    assert "collide" in reasons["reserved"]
    assert (response["received"], response["delivered"], response["rejected_invalid"]) == (4, 1, 3)


def test_batches_respect_500_records_and_4_mib(firehose, monkeypatch):
    fake = flaky(monkeypatch, firehose, {})
    many = {"Records": [record(f"m{i}", "{}") for i in range(1200)]}
    assert forward(many, firehose, "leanops-events", NO_WAIT).delivered == 1200
    assert [len(c) for c in fake.calls] == [500, 500, 200]

    fake.calls.clear()
    large = {"Records": [record(f"L{i}", "x" * (900 * 1024)) for i in range(5)]}  # 4 fit in 4 MiB, 5 do not
    assert forward(large, firehose, "leanops-events", NO_WAIT).delivered == 5
    assert [len(c) for c in fake.calls] == [4, 1]


def test_chunks_fill_up_to_exactly_4_mib():
    quarter = MAX_BATCH_BYTES // 4
    lines = [Line(str(i), "s", b"x" * quarter) for i in range(5)]
    assert [len(c) for c in chunks(lines)] == [4, 1]
    assert [len(c) for c in chunks([Line("a", "s", b"x" * (quarter + 1))] + lines[:3])] == [3, 1]


def test_handler_needs_a_stream_name(aws, monkeypatch):
    monkeypatch.delenv("LEANOPS_FIREHOSE_STREAM", raising=False)
    with pytest.raises(ConfigError, match="LEANOPS_FIREHOSE_STREAM"):
        sqs_to_firehose.handler({"Records": [record("m0", "{}")]}, None)


# -- DLQ drainer ------------------------------------------------------------------------------------
@pytest.fixture
def dlq(aws):
    """A source queue whose messages move to events-dlq after 2 receives, and 3 messages already moved."""
    sqs = clients.client("sqs")
    dlq_url = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = sqs.create_queue(QueueName="events", Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})})["QueueUrl"]
    bodies = ['{"a": 1}', '{"a": 2}', "x" * 10]
    for i, body in enumerate(bodies):
        topic = "orders" if i == 2 else "events"
        sqs.send_message(QueueUrl=source, MessageBody=body,
                         MessageAttributes={"topic": {"DataType": "String", "StringValue": topic}})
    for _ in range(2):  # the forwarder failed them twice
        sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert "Messages" not in sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10)  # moved to the DLQ
    return sqs, dlq_url, bodies


def queue_size(sqs, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def dlq_rows(ctx) -> list[dict]:
    return ctx.lake.dlq_table().scan().to_arrow().sort_by("raw_text").to_pylist()


def test_drainer_writes_rows_then_empties_the_queue(dlq, ctx):
    sqs, url, bodies = dlq
    report = dlq_drainer.drain(ctx.lake, sqs, url, seconds=30, wait_seconds=0)

    assert (report.received, report.written, report.deleted, report.delete_failed) == (3, 3, 3, [])
    rows = dlq_rows(ctx)
    assert [r["raw_text"] for r in rows] == sorted(bodies)
    assert sorted(r["topic_name"] for r in rows) == ["events", "events", "orders"]
    assert {r["reason"] for r in rows} == {"delivery failed after 2 attempts"}
    assert {r["ingest_id"] for r in rows} == {report.run_id} and {r["line_number"] for r in rows} == {0}
    assert all(r["source"].startswith(url + "#") for r in rows)
    assert queue_size(sqs, url) == 0
    from leanops.stages.accountability import ingestion_account
    account = ingestion_account(ctx.lake, "events")  # pre-RAW rows are not orphans of a local ingest
    assert (account.errors, account.orphaned) == (0, 0) and account.ok


def test_drainer_names_a_message_that_could_never_be_sent(aws, ctx):
    sqs = clients.client("sqs")
    url = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}",
                     MessageAttributes={"topic": {"DataType": "String", "StringValue": "Bad-Topic!"}})
    dlq_drainer.drain(ctx.lake, sqs, url, seconds=30, wait_seconds=0)
    [row] = dlq_rows(ctx)
    assert row["topic_name"] == "Bad-Topic!" and row["reason"].startswith("invalid topic name")


def test_a_failed_commit_deletes_nothing(dlq, ctx, monkeypatch):
    sqs, url, _ = dlq

    def conflict(*args, **kwargs):
        raise CommitConflictError("raw.dlq_errors", "simulated")

    monkeypatch.setattr(dlq_drainer, "append_with_retry", conflict)
    with pytest.raises(CommitConflictError):
        dlq_drainer.drain(ctx.lake, sqs, url, seconds=30, wait_seconds=0)
    assert dlq_rows(ctx) == []
    visible = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]  # released at once
    assert len(visible) == 3


def test_a_failed_delete_is_reported_and_never_written_twice(dlq, ctx, monkeypatch):
    sqs, url, _ = dlq
    real, stuck = sqs.delete_message_batch, []

    def failing_first(QueueUrl, Entries):
        keep, doomed = Entries[1:], Entries[0]
        stuck.append(doomed["ReceiptHandle"])
        answer = real(QueueUrl=QueueUrl, Entries=keep) if keep else {"Successful": []}
        return {**answer, "Failed": [{"Id": doomed["Id"], "SenderFault": False, "Code": "InternalError",
                                      "Message": "simulated"}]}

    monkeypatch.setattr(sqs, "delete_message_batch", failing_first)
    first = dlq_drainer.drain(ctx.lake, sqs, url, seconds=30, wait_seconds=0)
    assert (first.written, first.deleted, len(first.delete_failed)) == (3, 2, 1)
    assert first.delete_failed[0]["error"] == "InternalError: simulated"
    monkeypatch.setattr(sqs, "delete_message_batch", real)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=stuck[-1], VisibilityTimeout=0)  # time passes

    second = dlq_drainer.drain(ctx.lake, sqs, url, seconds=30, wait_seconds=0)

    assert (second.received, second.written, second.already_written, second.deleted) == (1, 0, 1, 1)
    assert len(dlq_rows(ctx)) == 3 and queue_size(sqs, url) == 0


def test_drainer_handler_reads_its_queue_from_the_environment(dlq, ctx, monkeypatch):
    _, url, _ = dlq
    monkeypatch.setenv("LEANOPS_DLQ_URL", url)

    class LambdaContext:
        def get_remaining_time_in_millis(self):
            return 65_000

    result = dlq_drainer.handler({}, LambdaContext())
    assert (result["received"], result["written"], result["deleted"]) == (3, 3, 3)
    assert len(dlq_rows(ctx)) == 3


# -- orchestration tasks ----------------------------------------------------------------------------
def test_fetch_active_topics_uses_the_registry(ctx, schemas, tmp_path):
    for topic in ("events", "orders"):
        write_schema(schemas, {**EVENTS_SCHEMA, "topic": topic})
        ingest(ctx, topic, [envelope(f"{topic}-1", {"a": 1})], tmp_path, f"{topic}.ndjson")
    ctx.state.set_flow_control("orders", FlowControl.PAUSED)

    result = orchestration.fetch_active_topics_handler({}, None)

    assert result == {"topics": ["events"], "max_concurrency": orchestration.DEFAULT_MAX_CONCURRENCY,
                      "skipped": [{"topic": "orders", "status": "SKIPPED", "message": "topic is PAUSED"}]}
    assert orchestration.fetch_active_topics_handler({"topics": ["orders"]})["topics"] == []
    assert orchestration.fetch_active_topics_handler({"max_concurrency": 3})["max_concurrency"] == 3
    with pytest.raises(TerminalError, match="max_concurrency"):
        orchestration.fetch_active_topics_handler({"max_concurrency": "3"})


def test_get_all_checkpoints_follows_the_flow(ctx, schemas, tmp_path):
    write_schema(schemas, EVENTS_SCHEMA)
    ingest(ctx, "events", [envelope(f"m{i}", {"a": i}) for i in range(3)], tmp_path)
    raw = str(ctx.lake.raw_table("events").current_snapshot().snapshot_id)

    before = orchestration.get_all_checkpoints_handler({"topic": "events"})
    json.dumps(before)  # Step Functions state: JSON only
    assert (before["raw_snapshot"], before["standardized_checkpoint"], before["curated_checkpoint"],
            before["semantic_checkpoint"]) == (raw, None, None, None)
    assert (before["schema_exists"], before["standardized_schema_exists"], before["curated_schema_exists"]) \
        == (False, True, False)
    assert before["next_step"] == "CheckForNewRawData"

    run_cycle(ctx, CycleOptions())
    after = orchestration.get_all_checkpoints_handler({"topic": "events"})
    assert after["standardized_checkpoint"] == raw and isinstance(after["standardized_snapshot"], str)


def test_flow_step_refuses_bad_events_and_keeps_the_lease(ctx, schemas, tmp_path, monkeypatch):
    write_schema(schemas, EVENTS_SCHEMA)
    ingest(ctx, "events", [envelope("m1", {"a": 1})], tmp_path)
    with pytest.raises(TerminalError, match="unknown step"):
        orchestration.flow_step_handler({"step": "DropTables", "flow": {"topic": "events"}})
    with pytest.raises(TerminalError, match="no flow document"):
        orchestration.flow_step_handler({"step": "GetAllCheckpoints"})
    with pytest.raises(TerminalError, match="holder"):
        orchestration.flow_step_handler({"step": "GetAllCheckpoints", "flow": {"topic": "events"}, "holder": 7})

    taken = orchestration.flow_step_handler({"step": "AcquireTopicLease", "flow": {"topic": "events"},
                                             "holder": "exec-1"})
    assert taken["next"] == "GetAllCheckpoints" and ctx.state.lease_holder("events") == "exec-1"
    other = orchestration.flow_step_handler({"step": "AcquireTopicLease", "flow": {"topic": "events"},
                                             "holder": "exec-2"})
    assert other["next"] == "Skipped" and "exec-1" in other["message"]
    step = orchestration.flow_step_handler({"step": "GetAllCheckpoints", "flow": taken, "holder": "exec-1"})
    assert step["next"] == "CheckForNewRawData" and step["holder"] == "exec-1" and step["loops"] == 1
    orchestration.flow_step_handler({"step": "ReleaseTopicLease", "flow": step, "holder": "exec-1"})
    assert ctx.state.lease_holder("events") is None
    monkeypatch.setenv("LEANOPS_LEASE_TTL_SECONDS", "soon")
    with pytest.raises(TerminalError, match="LEANOPS_LEASE_TTL_SECONDS"):
        orchestration.flow_step_handler({"step": "AcquireTopicLease", "flow": {"topic": "events"}, "holder": "x"})


def test_a_failed_rebuilder_keeps_the_step_its_rebuild_reached(ctx):
    """RebuildFailed records the error and keeps the journal's step, so the next rebuild resumes from it
    (an archive the Glue job left half done is finished, never skipped)."""
    ctx.state.register_topic("events")
    ctx.state.put_rebuild("events", "archive_1", 42, "ARCHIVING", None, "a" * 64)
    done = orchestration.flow_step_handler({"step": "RebuildFailed", "flow": {"topic": "events", "error": {
        "Error": "States.TaskFailed", "Cause": "the job was killed"}}})
    assert done["flow_control_flag"] == "PAUSED"
    record = ctx.state.get_rebuild("events")
    assert (record["status"], record["archive_suffix"], record["schema_sha256"]) == ("ARCHIVING", "archive_1", "a" * 64)
    assert record["error"] == "States.TaskFailed: the job was killed"


def test_get_all_checkpoints_without_schema_or_with_a_bad_name(ctx, tmp_path):
    ingest(ctx, "events", [envelope("m1", {"a": 1})], tmp_path)
    result = orchestration.get_all_checkpoints_handler({"topic": "events"})
    assert result["next_step"] == "MissingSchema" and not result["standardized_schema_exists"]
    with pytest.raises(InvalidTopicNameError):
        orchestration.get_all_checkpoints_handler({"topic": "Events; DROP"})


def test_notify_sends_through_webhook_and_sns(aws, webhook, monkeypatch):
    url, received = webhook
    sns, sqs = clients.client("sns"), clients.client("sqs")
    topic_arn = sns.create_topic(Name="leanops-alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn)
    monkeypatch.setenv("LEANOPS_ALERT_WEBHOOK", url)
    monkeypatch.setenv("LEANOPS_ALERT_SNS_TOPIC", topic_arn)

    result = orchestration.notify_handler({"topic": "events", "Error": "States.TaskFailed", "Cause": "curated: boom"})

    assert result["channels"] == ["LogNotifier", "WebhookNotifier", "SnsNotifier"]
    assert [(a["kind"], a["topic"], a["stage"], a["reason"]) for a in received] == [
        ("TopicFailed", "events", "flow", "curated: boom")]
    [note] = sqs.receive_message(QueueUrl=inbox)["Messages"]
    assert json.loads(json.loads(note["Body"])["Message"])["reason"] == "curated: boom"
    with pytest.raises(TerminalError, match="no topic"):
        orchestration.notify_handler({"kind": "TopicFailed"})


# -- pre-RAW accountability -------------------------------------------------------------------------
def test_pre_raw_accounting_balances_with_the_handlers_counters(firehose, ctx, monkeypatch):
    """5 messages: 3 delivered, one invalid, one Firehose keeps rejecting; both redelivered, then DLQ'd."""
    flaky(monkeypatch, firehose, {"m4": 99})
    first = [record("m0", "{}"), record("m1", "{}"), record("m2", "{}"),
             record("m3", "{}", topic="Not-A-Topic"), record("m4", "{}")]
    responses = [forward({"Records": first}, firehose, "leanops-{topic}", NO_WAIT).response()]
    retried = [record("m3", "{}", topic="Not-A-Topic", receives=2), record("m4", "{}", receives=2)]
    responses.append(forward({"Records": retried}, firehose, "leanops-{topic}", NO_WAIT).response())
    assert [len(r["batchItemFailures"]) for r in responses] == [2, 2]

    pending = from_handler_counts(responses, [], in_flight=0)
    assert (pending.sqs_messages, pending.raw_rows, pending.missing, pending.ok) == (5, 3, 2, False)
    assert pending.percent == 60.0
    assert from_handler_counts(responses, [], in_flight=2).ok  # still in the DLQ: not lost

    sqs = clients.client("sqs")
    url = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    for message in retried:  # SQS moves them after maxReceiveCount
        attrs = {"topic": {"DataType": "String", "StringValue": message["messageAttributes"]["topic"]["stringValue"]}} \
            if message["messageAttributes"] else {}
        sqs.send_message(QueueUrl=url, MessageBody=message["body"], MessageAttributes=attrs)
    drained = dlq_drainer.drain(ctx.lake, sqs, url, seconds=30, wait_seconds=0).as_dict()

    account = from_handler_counts(responses, [drained])
    assert account.as_dict() == {"sqs_messages": 5, "raw_rows": 3, "dlq_errors": 2, "firehose_errors": 0,
                                 "in_flight": 0, "accounted": 5, "missing": 0, "percent": 100.0, "ok": True}


def test_pre_raw_account_reports_surplus_and_firehose_errors():
    assert PreRawAccount(sqs_messages=10, raw_rows=8, dlq_errors=1, firehose_errors=1).ok
    surplus = PreRawAccount(sqs_messages=10, raw_rows=11, dlq_errors=0)
    assert surplus.missing == -1 and not surplus.ok and surplus.percent == 110.0
    assert PreRawAccount(0, 0, 0).percent == 100.0
    split = from_handler_counts([{"first_receives": 4, "delivered": 4}], [], firehose_errors=1)
    assert (split.raw_rows, split.firehose_errors, split.ok) == (3, 1, True)
