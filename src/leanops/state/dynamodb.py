"""DynamoDB adapter of the state store, so AWS deployments keep state without a shared file.

Same semantics as the SQLite adapter (the contract suite runs both); every "only if" is a
ConditionExpression, so races are settled by DynamoDB's per-item atomic conditional writes.
Layout and IAM actions: docs/aws-state.md.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from leanops.errors import UnknownTopicError
from leanops.state.base import (HISTORY_LOGS, Checkpoint, DriftEntry, FileStatus, IngestRecord, Manifest, RunRecord,
                                StateStore, TopicEntry, TrackedFile, utc_cutoff)
from leanops.types import FlowControl, RunStatus

DEFAULT_PREFIX = "leanops_"
log = logging.getLogger("leanops.state.dynamodb")
LAYOUT_VERSION = 4  # bump when the table layout below changes; reported like SQLite's schema_version
# suffix -> (hash key, range key or None); every key attribute is a string except the numeric ranges
TABLES: dict[str, tuple[tuple[str, str], tuple[str, str] | None]] = {
    "PipelineRegistry": (("topic_name", "S"), None),
    "Checkpoints": (("pipeline_id", "S"), ("checkpoint_type", "S")),
    "RunLog": (("topic", "S"), ("run_key", "S")),
    "IngestLog": (("topic", "S"), ("ingest_id", "S")),
    "Leases": (("topic", "S"), None),
    "Rebuilds": (("topic_name", "S"), None),
    "Deployments": (("topic_name", "S"), ("deployment_id", "N")),
    "AlertLog": (("topic", "S"), ("kind", "S")),
    "DriftLog": (("topic", "S"), ("column_kind", "S")),
    "Counters": (("counter_name", "S"), None),
    "JobOutputs": (("job_run_id", "S"), None),  # items expire (TTL attribute expires_at) after JOB_OUTPUT_TTL
    # file landing (seed 003): one item per landed file, the first file_key per (topic, checksum), manifests;
    # the file-manifest state machine updates FileManifests items directly (status, updated_at, job_run_id, error)
    "FileTracking": (("file_key", "S"), None),
    "FileChecksums": (("topic", "S"), ("checksum", "S")),
    "FileManifests": (("manifest_id", "S"), None),
}
# global secondary indexes: table suffix -> (index name, hash attribute, range attribute), all strings, every
# attribute projected. The status index answers "the topic's pending files" without scanning every file ever landed.
STATUS_INDEX = "status-topic"
INDEXES: dict[str, tuple[str, str, str]] = {
    "FileTracking": (STATUS_INDEX, "status", "topic"),
    "FileManifests": (STATUS_INDEX, "status", "topic"),
}
JOB_OUTPUT_TTL_SECONDS = 30 * 86_400
TTL_ATTRIBUTES = {"JobOutputs": "expires_at"}  # tables whose items DynamoDB deletes when the attribute's epoch passes
# with a retention configured, run and ingest items carry this TTL attribute too (the newest finished run of each
# (topic, stage) never does); the store enables TTL on these tables only when it creates them itself
RETENTION_TTL_ATTRIBUTE = "expires_at"
RETENTION_TTL_TABLES = ("RunLog", "IngestLog")
_SER, _DE = TypeSerializer(), TypeDeserializer()
_RUN_FIELDS = ("topic", "stage", "started_at", "ended_at", "status", "records_in", "records_written",
               "records_errors", "records_duplicates", "records_superseded", "source_snapshot_id",
               "target_snapshot_id", "error_message")
_REBUILD_FIELDS = ("topic_name", "archive_suffix", "target_raw_snapshot", "status", "error", "updated_at",
                   "schema_sha256")
_DEPLOY_FIELDS = ("deployment_id", "topic_name", "kind", "schema_sha256", "schema_json", "deployed_by",
                  "deployed_at", "actions")
_SAMPLE_CHARS = 200
_FILE_ATTRS = tuple(f.name for f in dataclasses.fields(TrackedFile))
_MANIFEST_ATTRS = tuple(f.name for f in dataclasses.fields(Manifest))
# what update_files / update_manifest may set (the SQLite adapter accepts the same); updated_at defaults to now
_FILE_SETTABLE = ("status", "attempts", "manifest_id", "lines", "error", "updated_at")
_MANIFEST_SETTABLE = ("status", "attempts", "raw_snapshot_id", "error", "path", "updated_at", "files", "bytes")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _enc(value: Any) -> Any:
    """Python -> DynamoDB value: datetimes as ISO-8601 strings, floats as exact Decimals."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def _dec(value: Any) -> Any:
    """DynamoDB value -> Python: whole Decimals back to int (64-bit snapshot ids stay exact)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _item(values: dict) -> dict:
    return {k: _SER.serialize(_enc(v)) for k, v in values.items()}


def _values(values: dict) -> dict:
    return {f":{k}": _SER.serialize(_enc(v)) for k, v in values.items()}


def _plain(item: dict | None) -> dict | None:
    return None if item is None else {k: _dec(_DE.deserialize(v)) for k, v in item.items()}


def _conditional_failed(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoStateStore(StateStore):
    """State store in DynamoDB tables named prefix + suffix. One client: safe to share between threads."""

    def __init__(self, prefix: str = DEFAULT_PREFIX, region: str | None = None, endpoint_url: str | None = None,
                 create: bool = True, retention: timedelta | None = None) -> None:
        """`retention`: write `expires_at` (epoch seconds) = end + retention on run and ingest items, so
        DynamoDB's TTL expires them without `prune_history` (None: never expire; prune only)."""
        self.prefix = prefix
        self.retention = retention
        self._client = boto3.session.Session(region_name=region).client("dynamodb", endpoint_url=endpoint_url)
        if create:
            self.create_tables()

    # -- plumbing -------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return LAYOUT_VERSION

    def table(self, suffix: str) -> str:
        return f"{self.prefix}{suffix}"

    def create_tables(self) -> None:
        """Create every missing table (on-demand billing) and wait until all are ACTIVE.

        Existing tables are only described, so a role without dynamodb:CreateTable works once they exist.
        """
        pending = []
        for suffix, (hash_key, range_key) in TABLES.items():
            try:
                if self._client.describe_table(TableName=self.table(suffix))["Table"]["TableStatus"] != "ACTIVE":
                    pending.append(suffix)
                continue
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
            keys = [hash_key] + ([range_key] if range_key else [])
            attributes, extra = list(keys), {}
            if suffix in INDEXES:
                name, index_hash, index_range = INDEXES[suffix]
                attributes += [(index_hash, "S"), (index_range, "S")]
                extra["GlobalSecondaryIndexes"] = [{
                    "IndexName": name, "Projection": {"ProjectionType": "ALL"},
                    "KeySchema": [{"AttributeName": index_hash, "KeyType": "HASH"},
                                  {"AttributeName": index_range, "KeyType": "RANGE"}]}]
            try:
                self._client.create_table(
                    TableName=self.table(suffix), BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in attributes],
                    KeySchema=[{"AttributeName": n, "KeyType": kt} for (n, _), kt in zip(keys, ("HASH", "RANGE"))],
                    **extra)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") != "ResourceInUseException":
                    raise  # in use: another process created it first
            pending.append(suffix)
        waiter = self._client.get_waiter("table_exists")
        ttl = dict(TTL_ATTRIBUTES)
        if self.retention is not None:
            ttl.update(dict.fromkeys(RETENTION_TTL_TABLES, RETENTION_TTL_ATTRIBUTE))
        for suffix in pending:
            waiter.wait(TableName=self.table(suffix), WaiterConfig={"Delay": 1, "MaxAttempts": 120})
            if suffix in ttl:
                self._client.update_time_to_live(TableName=self.table(suffix), TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": ttl[suffix]})

    def close(self) -> None:
        """Nothing to release: the client holds no open state."""

    def _get(self, suffix: str, key: dict) -> dict | None:
        return _plain(self._client.get_item(TableName=self.table(suffix), Key=_item(key),
                                            ConsistentRead=True).get("Item"))

    def _put(self, suffix: str, values: dict, condition: str | None = None, names: dict | None = None,
             bound: dict | None = None) -> bool:
        """PutItem; False (nothing written) when the condition does not hold."""
        extra: dict[str, Any] = {}
        if condition:
            extra["ConditionExpression"] = condition
        if names:
            extra["ExpressionAttributeNames"] = names
        if bound:
            extra["ExpressionAttributeValues"] = _values(bound)
        try:
            self._client.put_item(TableName=self.table(suffix), Item=_item(values), **extra)
            return True
        except ClientError as err:
            if _conditional_failed(err):
                return False
            raise

    def _update(self, suffix: str, key: dict, expression: str, names: dict, bound: dict,
                condition: str | None = None, returns: str = "ALL_NEW") -> dict | None:
        """UpdateItem returning the new item (or `returns`: UPDATED_OLD...); None when the condition does not hold."""
        extra: dict[str, Any] = {"ConditionExpression": condition} if condition else {}
        if bound:  # DynamoDB refuses an empty ExpressionAttributeValues
            extra["ExpressionAttributeValues"] = _values(bound)
        try:
            out = self._client.update_item(TableName=self.table(suffix), Key=_item(key), UpdateExpression=expression,
                                           ExpressionAttributeNames=names, ReturnValues=returns, **extra)
            return _plain(out.get("Attributes", {}))
        except ClientError as err:
            if _conditional_failed(err):
                return None
            raise

    def _items(self, suffix: str, hash_name: str | None = None, hash_value: str | None = None,
               newest_first: bool = False, limit: int | None = None, where: dict | None = None) -> list[dict]:
        """Query one partition (in range-key order, at most `limit` items) or, without a hash value, scan all.

        `where` (attribute -> value, None values ignored): a scan's FilterExpression of equalities."""
        args: dict[str, Any] = {"TableName": self.table(suffix), "ConsistentRead": True}
        where = {k: v for k, v in (where or {}).items() if v is not None}
        if where and hash_value is None:
            args.update(FilterExpression=" AND ".join(f"#f{i} = :f{i}" for i in range(len(where))),
                        ExpressionAttributeNames={f"#f{i}": k for i, k in enumerate(where)},
                        ExpressionAttributeValues=_values({f"f{i}": v for i, v in enumerate(where.values())}))
        elif where:
            raise ValueError("_items: `where` filters scans only")
        if hash_value is not None:
            args.update(KeyConditionExpression="#h = :h", ExpressionAttributeNames={"#h": hash_name},
                        ExpressionAttributeValues=_values({"h": hash_value}), ScanIndexForward=not newest_first)
        call = self._client.query if hash_value is not None else self._client.scan
        out: list[dict] = []
        while limit is None or len(out) < limit:
            page = call(**args, **({"Limit": limit - len(out)} if limit is not None else {}))
            out.extend(_plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return out

    def _with_status(self, suffix: str, key_name: str, status: str, topic: str | None) -> list[dict]:
        """Items in `status` (of `topic`): candidates from the status index, then re-read consistently.

        The index is eventually consistent: an item it lists may have moved on (the re-read drops it),
        and an item that entered the status a moment ago may be missing (it is found by the next call:
        what lists by status here, building manifests, runs again on the next notification or flush).
        A table created before the index existed (layout < 4) is scanned instead."""
        index, index_hash, index_range = INDEXES[suffix]
        condition = "#h = :h" + (" AND #r = :r" if topic is not None else "")
        names = {"#h": index_hash, **({"#r": index_range} if topic is not None else {})}
        bound = {"h": status, **({"r": topic} if topic is not None else {})}
        args: dict[str, Any] = {"TableName": self.table(suffix), "IndexName": index, "KeyConditionExpression": condition,
                                "ExpressionAttributeNames": {**names, "#k": key_name}, "ProjectionExpression": "#k",
                                "ExpressionAttributeValues": _values(bound)}
        keys: list[str] = []
        try:
            while True:
                page = self._client.query(**args)
                keys.extend(_plain(i)[key_name] for i in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except ClientError as err:
            # DynamoDB says ValidationException ("does not have the specified index"), moto ResourceNotFound
            if err.response.get("Error", {}).get("Code") not in ("ValidationException", "ResourceNotFoundException"):
                raise
            log.warning("%s has no index %s (created before layout 4): scanning it", self.table(suffix), index)
            return self._items(suffix, where={"topic": topic, "status": status})
        items = self._get_many(suffix, key_name, sorted(set(keys)))
        return [i for i in items if i.get("status") == status and (topic is None or i.get("topic") == topic)]

    def _get_many(self, suffix: str, key_name: str, keys: list[str]) -> list[dict]:
        """BatchGetItem with ConsistentRead, 100 keys a call, unprocessed keys asked again."""
        out: list[dict] = []
        for start in range(0, len(keys), 100):
            request = {self.table(suffix): {"Keys": [_item({key_name: k}) for k in keys[start:start + 100]],
                                            "ConsistentRead": True}}
            while request:
                answer = self._client.batch_get_item(RequestItems=request)
                out.extend(_plain(i) for i in answer.get("Responses", {}).get(self.table(suffix), []))
                request = answer.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(0.05)
        return out

    def _next_id(self, counter: str) -> int:
        """Atomic ADD on a counter item: monotonically increasing ints, like SQLite AUTOINCREMENT."""
        new = self._update("Counters", {"counter_name": counter}, "ADD #v :one", {"#v": "value"}, {"one": 1})
        return int(new["value"])  # type: ignore[index]

    # -- registry -------------------------------------------------------------------------
    @staticmethod
    def _topic(item: dict) -> TopicEntry:
        return TopicEntry(item["topic_name"], bool(item["is_active"]), FlowControl(item["flow_control_flag"]),
                          _ts(item["last_updated_at"]))

    def get_topic(self, topic: str) -> TopicEntry | None:
        item = self._get("PipelineRegistry", {"topic_name": topic})
        return self._topic(item) if item else None

    def list_topics(self) -> list[TopicEntry]:
        return sorted(map(self._topic, self._items("PipelineRegistry")), key=lambda t: t.topic_name)

    def register_topic(self, topic: str, flag: FlowControl = FlowControl.ENABLED) -> TopicEntry:
        self._put("PipelineRegistry", {"topic_name": topic, "is_active": True, "flow_control_flag": flag.value,
                                       "last_updated_at": _now()},
                  "attribute_not_exists(#t)", {"#t": "topic_name"})
        return self.get_topic(topic)  # type: ignore[return-value]

    def _set(self, topic: str, attribute: str, value: Any) -> TopicEntry:
        new = self._update("PipelineRegistry", {"topic_name": topic}, "SET #a = :v, #u = :now",
                           {"#a": attribute, "#u": "last_updated_at", "#t": "topic_name"},
                           {"v": value, "now": _now()}, condition="attribute_exists(#t)")
        if new is None:
            raise UnknownTopicError(topic)
        return self._topic(new)

    def set_flow_control(self, topic: str, flag: FlowControl) -> TopicEntry:
        return self._set(topic, "flow_control_flag", flag.value)

    def set_active(self, topic: str, active: bool) -> TopicEntry:
        return self._set(topic, "is_active", bool(active))

    # -- checkpoints ----------------------------------------------------------------------
    def get_checkpoint(self, topic: str, layer: str) -> Checkpoint | None:
        item = self._get("Checkpoints", {"pipeline_id": topic, "checkpoint_type": layer})
        if item is None:
            return None
        return Checkpoint(item["pipeline_id"], item["checkpoint_type"], item.get("last_snapshot_id"),
                          _ts(item.get("last_ingestion_ts")), _ts(item["updated_at"]))

    def put_checkpoint(self, topic: str, layer: str, snapshot_id: int | None,
                       ingestion_ts: datetime | None = None) -> None:
        self._put("Checkpoints", {"pipeline_id": topic, "checkpoint_type": layer, "last_snapshot_id": snapshot_id,
                                  "last_ingestion_ts": ingestion_ts, "updated_at": _now()})

    # -- run log --------------------------------------------------------------------------
    @staticmethod
    def _run_key(run_id: int) -> str:
        return f"{run_id:020d}"  # zero-padded counter: string order == numeric order == SQLite's run_id order

    def start_run(self, record: RunRecord) -> RunRecord:
        record.run_id = self._next_id("run_id")
        self._put("RunLog", {"run_key": self._run_key(record.run_id), "run_id": record.run_id,
                             **{f: getattr(record, f) for f in _RUN_FIELDS}})
        return record

    def finish_run(self, record: RunRecord) -> None:
        """Overwrite the run's row; like SQLite's UPDATE, a run never started is silently ignored."""
        if record.run_id is None:
            return
        key = self._run_key(record.run_id)
        written = self._put("RunLog", {"run_key": key, "run_id": record.run_id,
                                       **{f: getattr(record, f) for f in _RUN_FIELDS}},
                            "attribute_exists(#k)", {"#k": "run_key"})
        if written and self.retention is not None and record.status != RunStatus.RUNNING.value \
                and record.ended_at is not None:
            self._expire_superseded_run(record, key)

    def _expire_superseded_run(self, record: RunRecord, key: str) -> None:
        """Give a TTL to the run this one supersedes as the newest finished run of its (topic, stage).

        The newest never carries one, so TTL never removes the run `leanops status` shows, however long a
        stage stays idle. The newest run's key and end are kept in the Counters item
        `latest_run#<topic>#<stage>`, moved forward only (a late finish of an older run expires itself)."""
        ended = int(record.ended_at.timestamp())  # type: ignore[union-attr]
        old = self._update("Counters", {"counter_name": f"latest_run#{record.topic}#{record.stage}"},
                           "SET #k = :k, #e = :e", {"#k": "run_key", "#e": "ended_epoch"}, {"k": key, "e": ended},
                           condition="attribute_not_exists(#k) OR #k <= :k", returns="UPDATED_OLD")
        if old is None:  # a newer run of the stage finished first: this one is superseded
            target, target_ended = key, ended
        elif old.get("run_key") not in (None, key):
            target, target_ended = old["run_key"], int(old["ended_epoch"])
        else:
            return
        self._update("RunLog", {"topic": record.topic, "run_key": target}, "SET #x = :x",
                     {"#x": RETENTION_TTL_ATTRIBUTE, "#k": "run_key"},
                     {"x": target_ended + self._retention_seconds()}, condition="attribute_exists(#k)")

    def _retention_seconds(self) -> int:
        return int(self.retention.total_seconds())  # type: ignore[union-attr]

    def list_runs(self, topic: str | None = None, limit: int = 100) -> list[RunRecord]:
        """Newest first; like SQLite's LIMIT, a negative limit means no limit."""
        if limit == 0:
            return []
        cap = limit if limit > 0 else None
        if topic:
            items = self._items("RunLog", "topic", topic, newest_first=True, limit=cap)
        else:
            items = sorted(self._items("RunLog"), key=lambda i: i["run_id"], reverse=True)[:cap]
        return [RunRecord(**{**{f: i.get(f) for f in _RUN_FIELDS}, "run_id": i["run_id"],
                             "started_at": _ts(i["started_at"]), "ended_at": _ts(i.get("ended_at"))})
                for i in items]

    # -- ingest log -----------------------------------------------------------------------
    def record_ingest(self, record: IngestRecord) -> None:
        """With a retention, the item expires (TTL) that long after it finished."""
        ttl = ({RETENTION_TTL_ATTRIBUTE: int(record.finished_at.timestamp()) + self._retention_seconds()}
               if self.retention is not None else {})
        self._put("IngestLog", {"topic": record.topic, "ingest_id": record.ingest_id, "source": record.source,
                                "lines_read": record.lines_read, "accepted": record.accepted,
                                "rejected": record.rejected, "raw_snapshot_id": record.raw_snapshot_id,
                                "finished_at": record.finished_at, **ttl})

    def list_ingests(self, topic: str | None = None) -> list[IngestRecord]:
        items = self._items("IngestLog", "topic", topic) if topic else self._items("IngestLog")
        return [IngestRecord(i["ingest_id"], i["topic"], i["source"], i["lines_read"], i["accepted"], i["rejected"],
                             i.get("raw_snapshot_id"), _ts(i["finished_at"]))
                for i in sorted(items, key=lambda i: i["finished_at"])]

    # -- leases ---------------------------------------------------------------------------
    def acquire_lease(self, topic: str, holder: str, ttl_seconds: float) -> bool:
        """Take (or renew) the lease unless another holder's is unexpired: one conditional PutItem."""
        now = time.time()
        return self._put("Leases", {"topic": topic, "holder": holder, "acquired_at": now,
                                    "expires_at": now + ttl_seconds},
                         "attribute_not_exists(#t) OR #e < :now OR #h = :me",
                         {"#t": "topic", "#e": "expires_at", "#h": "holder"}, {"now": now, "me": holder})

    def steal_lease(self, topic: str, stale_holder: str, holder: str, ttl_seconds: float) -> bool:
        """Take the lease from a dead holder only if it still holds it: PutItem conditional on the holder."""
        now = time.time()
        return self._put("Leases", {"topic": topic, "holder": holder, "acquired_at": now,
                                    "expires_at": now + ttl_seconds},
                         "#h = :stale", {"#h": "holder"}, {"stale": stale_holder})

    def release_lease(self, topic: str, holder: str) -> None:
        try:
            self._client.delete_item(TableName=self.table("Leases"), Key=_item({"topic": topic}),
                                     ConditionExpression="#h = :me", ExpressionAttributeNames={"#h": "holder"},
                                     ExpressionAttributeValues=_values({"me": holder}))
        except ClientError as err:
            if not _conditional_failed(err):
                raise

    def lease_holder(self, topic: str) -> str | None:
        item = self._get("Leases", {"topic": topic})
        return item["holder"] if item and item["expires_at"] >= time.time() else None

    # -- rebuilds and deployments -----------------------------------------------------------
    def put_rebuild(self, topic: str, archive_suffix: str, target: int | None, status: str,
                    error: str | None = None, schema_sha256: str | None = None) -> None:
        self._put("Rebuilds", dict(zip(_REBUILD_FIELDS, (topic, archive_suffix, target, status, error, _now(),
                                                         schema_sha256))))

    def get_rebuild(self, topic: str) -> dict | None:
        item = self._get("Rebuilds", {"topic_name": topic})
        return {f: item.get(f) for f in _REBUILD_FIELDS} if item else None

    def record_deployment(self, topic: str, kind: str, schema_sha256: str, schema_json: str, deployed_by: str,
                          actions: str) -> None:
        number = self._next_id("deployment_id")
        self._put("Deployments", dict(zip(_DEPLOY_FIELDS, (number, topic, kind, schema_sha256, schema_json,
                                                           deployed_by, _now(), actions))))

    def last_deployment(self, topic: str) -> dict | None:
        items = self._items("Deployments", "topic_name", topic, newest_first=True, limit=1)
        return {f: items[0].get(f) for f in _DEPLOY_FIELDS} if items else None

    def list_deployments(self, topic: str | None = None) -> list[dict]:
        items = self._items("Deployments", "topic_name", topic) if topic else self._items("Deployments")
        return [{f: i.get(f) for f in _DEPLOY_FIELDS} for i in sorted(items, key=lambda i: i["deployment_id"])]

    # -- alert de-duplication -------------------------------------------------------------
    def should_alert(self, topic: str, kind: str, every_seconds: float = 86_400.0) -> bool:
        """True (and remembered) unless sent within `every_seconds`: UpdateItem conditional on the last send."""
        now = time.time()
        return self._update("AlertLog", {"topic": topic, "kind": kind}, "SET #s = :now", {"#s": "last_sent_at"},
                            {"now": now, "cutoff": now - every_seconds},
                            condition="attribute_not_exists(#s) OR #s < :cutoff") is not None

    def mark_checked(self, topic: str, kind: str, now: datetime) -> datetime | None:
        """One UpdateItem returning the attribute it replaced."""
        old = self._update("AlertLog", {"topic": topic, "kind": kind}, "SET #s = :now", {"#s": "last_sent_at"},
                           {"now": now.timestamp()}, returns="UPDATED_OLD")
        return None if not old or "last_sent_at" not in old else datetime.fromtimestamp(float(old["last_sent_at"]),
                                                                                         timezone.utc)

    # -- drift log ------------------------------------------------------------------------
    def record_drift(self, topic: str, column: str, kind: str, sample_value: str | None, snapshot_id: int | None,
                     detail: str = "") -> bool:
        """Record the drift once (first sighting wins); True when new. Kinds never contain '#'."""
        sample = None if sample_value is None else str(sample_value)[:_SAMPLE_CHARS]
        return self._put("DriftLog", {"topic": topic, "column_kind": f"{column}#{kind}", "column_name": column,
                                      "kind": kind, "first_seen": _now(), "sample_value": sample,
                                      "snapshot_id": snapshot_id, "detail": detail},
                         "attribute_not_exists(#k)", {"#k": "column_kind"})

    def put_job_output(self, job_run_id: str, output: dict) -> None:
        """The output as JSON text (snapshot ids stay exact); DynamoDB's TTL removes it after a month."""
        self._put("JobOutputs", {"job_run_id": job_run_id, "output": json.dumps(output, default=str),
                                 "written_at": _now(), "expires_at": int(time.time()) + JOB_OUTPUT_TTL_SECONDS})

    def get_job_output(self, job_run_id: str) -> dict | None:
        item = self._get("JobOutputs", {"job_run_id": job_run_id})
        return json.loads(item["output"]) if item else None

    def list_drift(self, topic: str | None = None) -> list[DriftEntry]:
        """Drift entries, oldest first (then topic, column), the order SQLite lists them in."""
        items = self._items("DriftLog", "topic", topic) if topic else self._items("DriftLog")
        items.sort(key=lambda i: (i["first_seen"], i["topic"], i["column_name"]))
        return [DriftEntry(i["topic"], i["column_name"], i["kind"], _ts(i["first_seen"]), i.get("sample_value"),
                           i.get("snapshot_id"), i.get("detail", "")) for i in items]

    # -- retention ------------------------------------------------------------------------
    def prune_history(self, older_than: datetime) -> dict[str, int]:
        """Per registered topic, one Query of its RunLog, IngestLog and AlertLog partitions (keys and times
        only), then a DeleteItem per old item. JobOutputs, keyed by job run id alone, is the one Scan, over
        at most a month of items (its TTL). Items of a topic missing from the registry are left (to TTL)."""
        cutoff = utc_cutoff(older_than)
        counts = dict.fromkeys(HISTORY_LOGS, 0)
        # every topic, and the run-log scope of the shared tables' maintenance (leanops.maintenance.safety.SHARED)
        scopes = [t.topic_name for t in self.list_topics()] + ["_shared"]
        for topic in scopes:
            counts["runs"] += self._delete("RunLog", [{"topic": topic, "run_key": k}
                                                      for k in self._stale_runs(topic, cutoff)])
            ingests = self._partition("IngestLog", "topic", topic, ("ingest_id", "finished_at"))
            counts["ingests"] += self._delete("IngestLog", [{"topic": topic, "ingest_id": i["ingest_id"]}
                                                            for i in ingests if _ts(i["finished_at"]) < cutoff])
            alerts = self._partition("AlertLog", "topic", topic, ("kind", "last_sent_at"))
            counts["alerts"] += self._delete("AlertLog", [{"topic": topic, "kind": a["kind"]} for a in alerts
                                                          if a["last_sent_at"] < cutoff.timestamp()])
        outputs = self._partition("JobOutputs", None, None, ("job_run_id", "written_at"))
        counts["job_outputs"] = self._delete("JobOutputs", [{"job_run_id": o["job_run_id"]} for o in outputs
                                                            if _ts(o["written_at"]) < cutoff])
        return counts

    def _stale_runs(self, topic: str, cutoff: datetime) -> list[str]:
        """Run keys of the topic that ended before `cutoff`, newest first, skipping RUNNING rows and the newest
        finished run of each stage (a later finish can only make the kept one superseded: never wrongly deleted)."""
        seen_stages: set[str] = set()
        stale = []
        for item in self._partition("RunLog", "topic", topic, ("run_key", "stage", "status", "ended_at"),
                                    newest_first=True):
            if item["status"] == RunStatus.RUNNING.value:
                continue
            if item["stage"] not in seen_stages:
                seen_stages.add(item["stage"])
            elif item.get("ended_at") and _ts(item["ended_at"]) < cutoff:
                stale.append(item["run_key"])
        return stale

    def _partition(self, suffix: str, hash_name: str | None, hash_value: str | None, attributes: tuple[str, ...],
                   newest_first: bool = False) -> list[dict]:
        """Only `attributes` of one partition's items (Query), or of the whole table without a hash value (Scan)."""
        names = {f"#a{i}": a for i, a in enumerate(attributes)}
        args: dict[str, Any] = {"TableName": self.table(suffix), "ConsistentRead": True,
                                "ProjectionExpression": ", ".join(names)}
        if hash_value is not None:
            names["#h"] = hash_name  # type: ignore[assignment]
            args.update(KeyConditionExpression="#h = :h", ExpressionAttributeValues=_values({"h": hash_value}),
                        ScanIndexForward=not newest_first)
        args["ExpressionAttributeNames"] = names
        call = self._client.query if hash_value is not None else self._client.scan
        out: list[dict] = []
        while True:
            page = call(**args)
            out.extend(_plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return out
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _delete(self, suffix: str, keys: list[dict]) -> int:
        """DeleteItem each key, 8 at a time (the runtime roles have no BatchWriteItem); counts the items that
        were still there, so a concurrent prune or TTL is not counted twice."""
        def delete(key: dict) -> int:
            out = self._client.delete_item(TableName=self.table(suffix), Key=_item(key), ReturnValues="ALL_OLD")
            return 1 if out.get("Attributes") else 0
        if not keys:
            return 0
        with ThreadPoolExecutor(min(8, len(keys))) as pool:
            return sum(pool.map(delete, keys))

    # -- file landing (seed 003) ------------------------------------------------------------
    @staticmethod
    def _settable(fields: dict, allowed: tuple[str, ...]) -> dict:
        """The fields to SET (unknown names refused, as in SQLite); updated_at defaults to now."""
        unknown = set(fields) - set(allowed)
        if unknown:
            raise ValueError(f"cannot set {sorted(unknown)}; settable: {allowed}")
        return {"updated_at": _now(), **fields}

    @staticmethod
    def _file(item: dict | None) -> TrackedFile | None:
        if item is None:
            return None
        return TrackedFile(**{**{a: item.get(a) for a in _FILE_ATTRS}, "attempts": item.get("attempts") or 0,
                              "first_seen": _ts(item["first_seen"]), "updated_at": _ts(item["updated_at"])})

    @staticmethod
    def _manifest(item: dict | None) -> Manifest | None:
        """A FileManifests item; extra attributes the workflow sets (job_run_id) are ignored. An item without
        `topic` was created by the workflow's UpdateItem for an id this store never wrote: not a manifest."""
        if item is None or "topic" not in item:
            return None
        return Manifest(**{**{a: item.get(a) for a in _MANIFEST_ATTRS}, "files": list(item.get("files") or []),
                           "attempts": item.get("attempts") or 0, "created_at": _ts(item["created_at"]),
                           "updated_at": _ts(item["updated_at"])})

    def get_file(self, file_key: str) -> TrackedFile | None:
        return self._file(self._get("FileTracking", {"file_key": file_key}))

    def list_files(self, topic: str | None = None, status: str | None = None) -> list[TrackedFile]:
        """Oldest first (first_seen, then file_key). With a status: the status index, re-read consistently
        (`_with_status`); without one, a filtered Scan (operations queries: `leanops files ...`)."""
        items = (self._with_status("FileTracking", "file_key", status, topic) if status is not None
                 else self._items("FileTracking", where={"topic": topic}))
        files = [self._file(i) for i in items]
        return sorted(files, key=lambda f: (f.first_seen, f.file_key))  # type: ignore[union-attr]

    def _claim_checksum(self, file: TrackedFile) -> str | None:
        """Claim (topic, checksum) for the file: None when it is (now) the file's, else the first file's key."""
        key = {"topic": file.topic, "checksum": file.checksum}
        while True:
            if self._put("FileChecksums", {**key, "file_key": file.file_key}, "attribute_not_exists(#c) OR #k = :me",
                         {"#c": "checksum", "#k": "file_key"}, {"me": file.file_key}):
                return None
            first = self._get("FileChecksums", key)
            if first is not None:  # else released between our put and get (see track_file): claim again
                return first["file_key"]

    def track_file(self, file: TrackedFile) -> TrackedFile:
        """Conditional puts instead of SQLite's transaction: first the (topic, checksum) claim in FileChecksums
        (attribute_not_exists, or already this key's after a crash), whose loser is stored `duplicate` of the
        claim's file; then the FileTracking item (attribute_not_exists(file_key)), whose loser returns the
        winner's record. Concurrent callers thus get exactly one non-duplicate per (topic, checksum)."""
        known = self.get_file(file.file_key)
        if known is not None:
            return known
        first = self._claim_checksum(file)
        if first is not None:
            file = dataclasses.replace(file, status=FileStatus.DUPLICATE, duplicate_of=first)
        if self._put("FileTracking", {a: getattr(file, a) for a in _FILE_ATTRS}, "attribute_not_exists(#k)",
                     {"#k": "file_key"}):
            return file
        stored = self.get_file(file.file_key)  # a concurrent caller tracked the same key first: its record stands
        if first is None and stored is not None and stored.checksum != file.checksum:
            # it was tracked with other bytes, so our claim names a key that does not hold these: release it
            try:
                self._client.delete_item(TableName=self.table("FileChecksums"),
                                         Key=_item({"topic": file.topic, "checksum": file.checksum}),
                                         ConditionExpression="#k = :me", ExpressionAttributeNames={"#k": "file_key"},
                                         ExpressionAttributeValues=_values({"me": file.file_key}))
            except ClientError as err:
                if not _conditional_failed(err):
                    raise
        return stored  # type: ignore[return-value]

    def claim_files(self, manifest: Manifest) -> bool:
        """All or nothing without a transaction: TransactWriteItems takes at most 100 items and a manifest
        may list 200 files, so each file is moved pending -> manifested by its own conditional UpdateItem
        (`status = pending`), in key order; the first refusal undoes the moves made so far and answers False.
        Only when every file is ours is the FileManifests item put (attribute_not_exists(manifest_id)).

        Key order makes overlapping claims meet at their first shared file: the loser stops there, before
        touching any later shared file, so of two builders with overlapping files exactly one wins.

        A crash (or an error) between the moves and the manifest put leaves files `manifested` under a
        manifest id with no FileManifests item: `leanops files orphans` reports them and
        `leanops files reset-stuck` returns them to pending."""
        keys = sorted(set(manifest.files))
        if not keys:
            return False
        moved: list[tuple[str, Any]] = []  # (file_key, its updated_at before the move)
        names = {"#k": "file_key", "#s": "status", "#m": "manifest_id", "#u": "updated_at"}
        for key in keys:
            old = self._update("FileTracking", {"file_key": key}, "SET #s = :manifested, #m = :m, #u = :now", names,
                               {"manifested": FileStatus.MANIFESTED, "m": manifest.manifest_id, "now": _now(),
                                "pending": FileStatus.PENDING},
                               condition="attribute_exists(#k) AND #s = :pending", returns="UPDATED_OLD")
            if old is None:
                self._unclaim(manifest.manifest_id, moved)
                return False
            moved.append((key, old.get("updated_at")))
        if self._put("FileManifests", {a: getattr(manifest, a) for a in _MANIFEST_ATTRS},
                     "attribute_not_exists(#k)", {"#k": "manifest_id"}):
            return True
        self._unclaim(manifest.manifest_id, moved)  # the manifest id is taken: not ours to complete
        return False

    def _unclaim(self, manifest_id: str, moved: list[tuple[str, Any]]) -> None:
        """Undo claim_files' moves: back to pending with the old updated_at, manifest_id removed; each only
        while the file is still manifested under this id."""
        for key, updated_at in moved:
            self._update("FileTracking", {"file_key": key}, "SET #s = :pending, #u = :old REMOVE #m",
                         {"#s": "status", "#m": "manifest_id", "#u": "updated_at"},
                         {"pending": FileStatus.PENDING, "old": updated_at, "m": manifest_id,
                          "manifested": FileStatus.MANIFESTED},
                         condition="#m = :m AND #s = :manifested")

    def get_manifest(self, manifest_id: str) -> Manifest | None:
        return self._manifest(self._get("FileManifests", {"manifest_id": manifest_id}))

    def list_manifests(self, topic: str | None = None, status: str | None = None) -> list[Manifest]:
        """Oldest first (created_at, then manifest_id); read like list_files (the status index, or a Scan)."""
        items = (self._with_status("FileManifests", "manifest_id", status, topic) if status is not None
                 else self._items("FileManifests", where={"topic": topic}))
        manifests = [m for m in map(self._manifest, items) if m is not None]
        return sorted(manifests, key=lambda m: (m.created_at, m.manifest_id))

    def update_manifest(self, manifest_id: str, expected_status: str | None, **fields) -> bool:
        """One UpdateItem conditional on the item existing (and its status being `expected_status`)."""
        values = self._settable(fields, _MANIFEST_SETTABLE)
        names = {"#k": "manifest_id", **{f"#a{i}": k for i, k in enumerate(values)}}
        bound = {f"a{i}": v for i, v in enumerate(values.values())}
        condition = "attribute_exists(#k)"
        if expected_status is not None:  # only names and values the expressions use: DynamoDB refuses others
            condition += " AND #status = :expected"
            names["#status"], bound["expected"] = "status", expected_status
        expression = "SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(values)))
        return self._update("FileManifests", {"manifest_id": manifest_id}, expression, names, bound,
                            condition=condition) is not None

    def update_files(self, file_keys: list[str], **fields) -> None:
        """One UpdateItem per file (not atomic across files); a key never tracked is ignored, as in SQLite."""
        values = self._settable(fields, _FILE_SETTABLE)
        names = {"#k": "file_key", **{f"#a{i}": k for i, k in enumerate(values)}}
        bound = {f"a{i}": v for i, v in enumerate(values.values())}
        expression = "SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(values)))
        for key in file_keys:
            self._update("FileTracking", {"file_key": key}, expression, names, bound,
                         condition="attribute_exists(#k)")
