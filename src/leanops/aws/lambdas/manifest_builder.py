"""Seed 003's manifest builder: S3 "object created" events (through SQS) -> tracked files -> manifests,
each handed to the file-manifest workflow (Step Functions).

    handler(sqs_event)                -> {"batchItemFailures": [...], "tracked": n, "manifests": [...], ...}
    handler({"flush_due": true})      -> the same for files already tracked (an EventBridge schedule, so a
                                         trickle of files still flows after `max_wait_seconds`)

- Message bodies may be S3 event notifications (`{"Records": [{"s3": ...}]}`, S3 -> SQS), EventBridge
  "Object Created" events (EventBridge -> SQS), or S3's `s3:TestEvent`, which is ignored.
- A landed object's key is `<prefix><topic>/.../<file>.ndjson[.gz]`. The part below
  `LEANOPS_LANDING_PREFIX` names the topic, as `leanops watch --topic-from-path` does locally.
- A file is tracked by its `s3://bucket/key` and its ETag: the same bytes landing again under another
  key are a duplicate, never ingested twice.
- Building is serialised per topic by a lock in the state store (a lease: conditional write with a
  TTL, `LEANOPS_LOCK_TTL_SECONDS`, seed 003's LOCK_TTL_SECONDS). Claiming is atomic too, so two
  invocations never put one file into two manifests.
- Each manifest is written as a JSON document to `s3://<manifest bucket>/<manifest prefix><topic>/<id>.json`.
  Then one workflow execution is started per manifest, named after the manifest, so a retry never
  starts a second one. `LEANOPS_FILE_WORKFLOW_ARN` unset: the manifests stay pending for
  `leanops watch`-style processing, with a warning.
- A message that cannot be handled now (the state store is unreachable, ...) is returned in
  `batchItemFailures` and redelivered by SQS. A malformed message is reported and dropped: retrying
  cannot fix it.

Environment: LEANOPS_LANDING_PREFIX (default ""), LEANOPS_MANIFEST_BUCKET / LEANOPS_MANIFEST_PREFIX
(default: the landing bucket, "manifests/"), LEANOPS_FILE_WORKFLOW_ARN, LEANOPS_LOCK_TTL_SECONDS (300),
LEANOPS_MAX_FILES (200), LEANOPS_MAX_BYTES (734003200), LEANOPS_MAX_WAIT_SECONDS (300), plus the
deployment's LEANOPS_STATE.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote_plus

from leanops.errors import LeanOpsError
from leanops.landing.files import is_data_name, topic_of
from leanops.landing.manifests import LandingOptions, build_manifests
from leanops.state.base import FileStatus, Manifest, StateStore, TrackedFile

log = logging.getLogger(__name__)
DEFAULT_LOCK_TTL_SECONDS = 300.0
EXECUTION_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclasses.dataclass(frozen=True)
class LandedObject:
    bucket: str
    key: str
    size: int
    etag: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def objects_of(body: Any) -> list[LandedObject]:
    """The created objects an SQS message body announces (S3 notification or EventBridge event)."""
    doc = json.loads(body) if isinstance(body, str) else body
    if not isinstance(doc, dict):
        raise ValueError("the message body is not a JSON object")
    if doc.get("Event") == "s3:TestEvent":
        return []
    if "Records" in doc:
        found = []
        for record in doc["Records"]:
            if not str(record.get("eventName", "")).startswith("ObjectCreated"):
                continue
            s3 = record["s3"]
            found.append(LandedObject(s3["bucket"]["name"], unquote_plus(s3["object"]["key"]),
                                      int(s3["object"].get("size", 0)), str(s3["object"].get("eTag", "")).strip('"')))
        return found
    if doc.get("detail-type") == "Object Created":
        detail = doc["detail"]
        return [LandedObject(detail["bucket"]["name"], detail["object"]["key"], int(detail["object"].get("size", 0)),
                             str(detail["object"].get("etag", "")).strip('"'))]
    raise ValueError(f"not an S3 or EventBridge object event (keys: {sorted(doc)[:8]})")


def options_from_env() -> LandingOptions:
    return LandingOptions(max_files=int(os.environ.get("LEANOPS_MAX_FILES", "200")),
                          max_bytes=int(os.environ.get("LEANOPS_MAX_BYTES", str(700 << 20))),
                          max_wait_seconds=float(os.environ.get("LEANOPS_MAX_WAIT_SECONDS", "300")),
                          settle_seconds=0.0)


def _is_manifest_document(obj: LandedObject, landing_bucket: str) -> bool:
    """The builder's own output, when manifests are written into the landing bucket: never landing data."""
    bucket = os.environ.get("LEANOPS_MANIFEST_BUCKET") or landing_bucket
    return obj.bucket == bucket and obj.key.startswith(os.environ.get("LEANOPS_MANIFEST_PREFIX", "manifests/"))


def track(state: StateStore, obj: LandedObject, prefix: str, now: datetime) -> TrackedFile | None:
    """Track one created object; None when it is not a landing data file (a manifest, a marker)."""
    if not obj.key.startswith(prefix) or not is_data_name(obj.key.rsplit("/", 1)[-1]) \
            or _is_manifest_document(obj, obj.bucket):
        return None
    relative = obj.key[len(prefix):]
    try:
        topic = topic_of(relative, None)
    except LeanOpsError as exc:  # tracked as failed: reported once, never silently skipped
        first = relative.split("/")[0] if "/" in relative else ""
        return state.track_file(TrackedFile(obj.uri, first, obj.size, obj.etag, FileStatus.FAILED, now, now,
                                            error=str(exc)))
    return state.track_file(TrackedFile(obj.uri, topic, obj.size, obj.etag, FileStatus.PENDING, now, now))


def handler(event: dict | None, context: Any = None) -> dict:
    from leanops.aws import clients
    from leanops.state.factory import open_state_store
    from leanops.config import Settings
    event = event or {}
    settings = Settings.from_env()
    state = open_state_store(settings)
    now = datetime.now(timezone.utc)
    prefix = os.environ.get("LEANOPS_LANDING_PREFIX", "")
    failures, dropped, topics, tracked, duplicates = [], [], set(), 0, 0
    landing_bucket = None
    try:
        for record in event.get("Records", []):
            message_id = record.get("messageId", "")
            try:
                objects = objects_of(record.get("body", ""))
            except (ValueError, KeyError, TypeError) as exc:
                dropped.append({"messageId": message_id, "error": f"{type(exc).__name__}: {exc}"})
                log.error("manifest builder: dropped message %s: %s", message_id, exc)
                continue
            try:
                for obj in objects:
                    landing_bucket = landing_bucket or obj.bucket
                    stored = track(state, obj, prefix, now)
                    if stored is None or stored.file_key != obj.uri:
                        continue
                    if stored.status == FileStatus.DUPLICATE:
                        duplicates += 1
                    elif stored.status == FileStatus.PENDING:
                        tracked += 1
                        topics.add(stored.topic)
            except Exception as exc:  # the state store: SQS redelivers the message
                log.exception("manifest builder: message %s will be retried", message_id)
                failures.append({"itemIdentifier": message_id})
                dropped.append({"messageId": message_id, "error": f"retried: {type(exc).__name__}: {exc}"})
        if event.get("flush_due") or not event.get("Records"):
            topics |= {f.topic for f in state.list_files(status=FileStatus.PENDING)}
        built = [m for topic in sorted(topics)
                 for m in _build_locked(state, topic, options_from_env(), now, landing_bucket, clients)]
    finally:
        state.close()
    return {"batchItemFailures": failures, "tracked": tracked, "duplicates": duplicates, "dropped": dropped,
            "manifests": built}


def _build_locked(state: StateStore, topic: str, options: LandingOptions, now: datetime, landing_bucket: str | None,
                  clients) -> list[dict]:
    """Build the topic's due manifests under its builder lock; write each document, start its workflow."""
    lock, holder = f"manifest-builder:{topic}", f"builder-{uuid.uuid4().hex[:12]}"
    ttl = float(os.environ.get("LEANOPS_LOCK_TTL_SECONDS", DEFAULT_LOCK_TTL_SECONDS))
    if not state.acquire_lease(lock, holder, ttl):
        return []  # another invocation is building this topic; these files are its, or the next run's
    try:
        bucket = os.environ.get("LEANOPS_MANIFEST_BUCKET") or landing_bucket
        prefix = os.environ.get("LEANOPS_MANIFEST_PREFIX", "manifests/")
        path_for = (lambda m: f"s3://{bucket}/{prefix}{topic}/{m}.json") if bucket else (lambda m: None)
        manifests = build_manifests(state, topic, options, now, flush=False, path_for=path_for)
        return [_hand_over(m, clients) for m in manifests]
    finally:
        state.release_lease(lock, holder)


def _hand_over(manifest: Manifest, clients) -> dict:
    """Write the manifest document and start the file-manifest workflow for it (once: named after it)."""
    if manifest.path:
        bucket, _, key = manifest.path[len("s3://"):].partition("/")
        clients.client("s3").put_object(Bucket=bucket, Key=key, ContentType="application/json", Body=json.dumps({
            "manifest_id": manifest.manifest_id, "topic": manifest.topic, "files": manifest.files,
            "bytes": manifest.bytes, "created_at": manifest.created_at.isoformat()}).encode())
    out = {"manifest_id": manifest.manifest_id, "topic": manifest.topic, "files": len(manifest.files),
           "manifest_path": manifest.path, "execution_arn": None}
    workflow = os.environ.get("LEANOPS_FILE_WORKFLOW_ARN", "")
    if not workflow:
        log.warning("LEANOPS_FILE_WORKFLOW_ARN is not set: manifest %s stays pending", manifest.manifest_id)
        return out
    sfn = clients.client("stepfunctions")
    payload = {"manifest_id": manifest.manifest_id, "manifest_path": manifest.path, "topic": manifest.topic,
               "file_count": len(manifest.files), "date_prefix": manifest.created_at.strftime("%Y/%m/%d")}
    name = EXECUTION_NAME.sub("-", manifest.manifest_id)[:80]
    try:
        started = sfn.start_execution(stateMachineArn=workflow, name=name, input=json.dumps(payload))
        out["execution_arn"] = started["executionArn"]
    except sfn.exceptions.ExecutionAlreadyExists:  # a retried invocation: the workflow already runs
        out["execution_arn"] = f"{workflow.replace(':stateMachine:', ':execution:')}:{name}"
    return out
