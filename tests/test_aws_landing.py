"""The AWS half of the file landing path under moto: S3 notifications through SQS into the manifest builder
(state in DynamoDB), concurrent builders, manifest documents, workflow starts, and the file processor job
reading the files back from S3 into RAW."""
from __future__ import annotations

import gzip
import json
import threading

import pytest

pytest.importorskip("moto")

from conftest import envelope, fake_aws_credentials, serialize_dynamodb_writes  # noqa: E402
from leanops.aws import clients  # noqa: E402
from leanops.aws.lambdas import manifest_builder  # noqa: E402
from leanops.context import Context  # noqa: E402
from leanops.engines.spark import jobs  # noqa: E402
from leanops.landing.operations import files_account  # noqa: E402
from leanops.state.base import FileStatus, ManifestStatus  # noqa: E402

REGION, BUCKET, PREFIX = "us-east-1", "landing", "incoming/"


@pytest.fixture
def aws(monkeypatch, tmp_path):
    import boto3
    import moto
    from leanops.state.dynamodb import DynamoStateStore
    fake_aws_credentials(monkeypatch, REGION)
    serialize_dynamodb_writes(monkeypatch)
    monkeypatch.setenv("LEANOPS_STATE", f"dynamodb://lt_?region={REGION}")
    monkeypatch.setenv("LEANOPS_LANDING_PREFIX", PREFIX)
    monkeypatch.setenv("LEANOPS_MAX_FILES", "3")
    clients.reset()
    with moto.mock_aws():
        DynamoStateStore(prefix="lt_", region=REGION).create_tables()
        s3, sqs = boto3.client("s3", region_name=REGION), boto3.client("sqs", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        queue = sqs.create_queue(QueueName="landing-events")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        yield {"s3": s3, "sqs": sqs, "queue": queue}
    clients.reset()


def put(aws, key: str, lines: list[str], gz: bool = False) -> None:
    data = "".join(line + "\n" for line in lines).encode()
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(data, mtime=0) if gz else data)


def sqs_event(aws) -> dict:
    """What the SQS event source mapping hands the Lambda: every message moto's S3 delivered."""
    records = []
    while True:
        got = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return {"Records": records}
        for m in got:
            records.append({"messageId": m["MessageId"], "body": m["Body"]})
            aws["sqs"].delete_message(QueueUrl=aws["queue"], ReceiptHandle=m["ReceiptHandle"])


def lines(prefix: str, n: int) -> list[str]:
    return [envelope(f"{prefix}-{i}", {"n": i}) for i in range(n)]


def store():
    from leanops.config import Settings
    from leanops.state.factory import open_state_store
    return open_state_store(Settings.from_env())


def test_s3_notifications_become_tracked_files_and_manifests(aws, monkeypatch):
    for i in range(7):
        put(aws, f"{PREFIX}events/2026/11/f{i}.ndjson", lines(f"f{i}", 2))
    put(aws, f"{PREFIX}events/2026/11/copy.ndjson", lines("f0", 2))  # the same bytes as f0: a duplicate
    put(aws, f"{PREFIX}events/notes.csv", ["not landing data"])
    put(aws, f"{PREFIX}Bad Topic/x.ndjson", lines("x", 1))
    event = sqs_event(aws)
    event["Records"] += [{"messageId": "junk", "body": "{not json"},
                         {"messageId": "test", "body": json.dumps({"Event": "s3:TestEvent", "Bucket": BUCKET})}]

    out = manifest_builder.handler(event)

    assert out["batchItemFailures"] == [] and (out["tracked"], out["duplicates"]) == (7, 1)
    assert [d["messageId"] for d in out["dropped"]] == ["junk"]
    assert [m["files"] for m in out["manifests"]] == [3, 3]  # the 7th waits for more files or max wait
    state = store()
    try:
        [bad] = state.list_files(status=FileStatus.FAILED)
        assert bad.file_key.endswith("Bad Topic/x.ndjson") and "topic" in bad.error
        document = json.loads(aws["s3"].get_object(Bucket=BUCKET, Key=f"manifests/events/"
                                                   f"{out['manifests'][0]['manifest_id']}.json")["Body"].read())
        assert len(document["files"]) == 3 and all(k.startswith(f"s3://{BUCKET}/{PREFIX}events/")
                                                    for k in document["files"])
        monkeypatch.setenv("LEANOPS_MAX_WAIT_SECONDS", "0")
        flushed = manifest_builder.handler({"flush_due": True})  # the schedule: the trickle flows
        assert [m["files"] for m in flushed["manifests"]] == [1]
        assert state.list_files(status=FileStatus.PENDING) == []
        assert len(state.list_manifests(topic="events", status=ManifestStatus.PENDING)) == 3
    finally:
        state.close()


def test_manifest_documents_in_the_landing_bucket_are_not_landing_data(aws, monkeypatch):
    """With no landing prefix, the builder's own manifests/<topic>/<id>.json land where it listens."""
    monkeypatch.setenv("LEANOPS_LANDING_PREFIX", "")
    put(aws, "events/a.ndjson", lines("a", 1))
    monkeypatch.setenv("LEANOPS_MAX_WAIT_SECONDS", "0")
    first = manifest_builder.handler(sqs_event(aws))
    assert [m["files"] for m in first["manifests"]] == [1]
    again = manifest_builder.handler(sqs_event(aws))  # the notification of the manifest document itself
    assert again["tracked"] == 0 and again["manifests"] == []
    state = store()
    try:
        assert [f.topic for f in state.list_files()] == ["events"]
    finally:
        state.close()


def test_concurrent_builders_never_share_a_file(aws, monkeypatch):
    for i in range(40):
        put(aws, f"{PREFIX}events/f{i:02d}.ndjson", lines(f"f{i}", 1))
    event = sqs_event(aws)
    assert len(event["Records"]) == 41  # and S3's s3:TestEvent, sent when the notification was configured
    monkeypatch.setenv("LEANOPS_MAX_WAIT_SECONDS", "0")  # every builder may also close partial groups
    parts = [{"Records": event["Records"][i::4]} for i in range(4)]
    results, errors = [], []

    def build(part):
        try:
            results.append(manifest_builder.handler(part))
            results.append(manifest_builder.handler({"flush_due": True}))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=build, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    manifest_builder.handler({"flush_due": True})

    state = store()
    try:
        assert errors == []
        files = [k for m in state.list_manifests(topic="events") for k in m.files]
        assert len(files) == len(set(files)) == 40  # each file in exactly one manifest
        assert state.lease_holder("manifest-builder:events") is None
    finally:
        state.close()


def test_a_held_builder_lock_defers_building(aws, monkeypatch):
    """Seed 003's lock: while another invocation holds the topic's lock (until its TTL), files are tracked
    but not grouped; the next invocation after the lock is free builds them."""
    monkeypatch.setenv("LEANOPS_MAX_WAIT_SECONDS", "0")
    state = store()
    try:
        assert state.acquire_lease("manifest-builder:events", "another-invocation", 300)
        put(aws, f"{PREFIX}events/a.ndjson", lines("a", 1))
        held = manifest_builder.handler(sqs_event(aws))
        assert (held["tracked"], held["manifests"]) == (1, [])
        state.release_lease("manifest-builder:events", "another-invocation")
        assert [m["files"] for m in manifest_builder.handler({"flush_due": True})["manifests"]] == [1]
    finally:
        state.close()


def test_each_manifest_starts_its_workflow_once(aws, monkeypatch):
    import boto3
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(name="file-manifest", roleArn="arn:aws:iam::123456789012:role/x", definition=
                                       json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))
    monkeypatch.setenv("LEANOPS_FILE_WORKFLOW_ARN", machine["stateMachineArn"])
    for i in range(3):
        put(aws, f"{PREFIX}orders/o{i}.ndjson.gz", lines(f"o{i}", 2), gz=True)

    [built] = manifest_builder.handler(sqs_event(aws))["manifests"]

    [execution] = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    assert execution["name"] == built["manifest_id"] and execution["executionArn"] == built["execution_arn"]
    payload = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert payload["manifest_path"] == f"s3://{BUCKET}/manifests/orders/{built['manifest_id']}.json"
    assert (payload["topic"], payload["file_count"]) == ("orders", 3)


def test_the_file_processor_job_ingests_a_manifest_from_s3(aws, tmp_path, capsys):
    put(aws, f"{PREFIX}events/a.ndjson", lines("a", 3) + ["not an envelope"])
    put(aws, f"{PREFIX}events/b.ndjson.gz", lines("b", 2), gz=True)
    put(aws, f"{PREFIX}events/c.ndjson", lines("c", 1))
    [built] = manifest_builder.handler(sqs_event(aws))["manifests"]
    argv = ["glue/file_processor.py", "--manifest_id", built["manifest_id"], "--MANIFEST_PATH",
            built["manifest_path"], "--home", str(tmp_path / "home"), "--JOB_RUN_ID", "jr_files"]

    assert jobs.execute("file_processor", argv) == 0
    assert jobs.execute("file_processor", argv) == 0  # run again: the manifest is done, nothing is ingested twice

    ctx = Context.open(tmp_path / "home", tmp_path / "schemas")
    try:
        assert len(ctx.lake.raw_table("events").scan().to_arrow()) == 6
        manifest = ctx.state.get_manifest(built["manifest_id"])
        assert manifest.status == ManifestStatus.COMPLETED and manifest.raw_snapshot_id is not None
        assert sorted(f.lines for f in ctx.state.list_files(topic="events")) == [1, 2, 4]
        assert files_account(ctx.lake, ctx.state, "events").ok
        output = ctx.state.get_job_output("jr_files")
        assert output["status"] == "SUCCEEDED" and output["error"] == "already completed"  # the second run's
    finally:
        ctx.close()
    wrong = argv[:4] + ["s3://elsewhere/m.json"] + argv[5:]
    assert jobs.execute("file_processor", wrong) == 2 and "is not manifest" in capsys.readouterr().out
