"""The conformance fixtures: one hostile event history, delivered in ingests, with the schema file of
each step. Every engine must turn it into the same tables (tests/test_conformance.py).

What each step holds, and what the contract says must happen to it:
  step 1  corrections within a batch, a network duplicate within the batch, order_by ties (the later
          ingestion wins), broken JSON, non-object payloads, a repeated key, an empty object, key
          collisions (`a_b` vs `a.b`, `A_B`), a key that is a scalar in one row and an object in
          another, unicode and spaced keys, number spellings (kept as written), CDE violations, bad
          casts of every type
  step 2  network duplicates of step-1 messages (dropped), a late older version (superseded), a
          correction on a later publish day (replaces), a new payload field (new Standardized
          column, carried into Curated as a string), epoch-millisecond timestamps
  step 3  the schema file declares a new typed column (schema evolution) in Curated and Semantic,
          delivered in two ingests while the batch limit allows one ingest per batch (the backlog
          loop takes two batches)
Every step also runs Semantic: renames, a type change (decimal -> double), governance rules
(pattern, min/max, allowed values) and drift (the curated columns it does not declare).
"""
from __future__ import annotations

import json

TOPIC = "events"

COLUMNS_V1 = {
    "idempotency_key": {"type": "string", "cde": True},
    "event_timestamp": {"type": "timestamp", "cde": True},
    "amount": {"type": "decimal(10,2)", "default": "0"},
    "qty": {"type": "int"},
    "flag": {"type": "boolean"},
    "day": {"type": "date"},
    "big": {"type": "long"},
}
SCHEMA_V1 = {
    "topic": TOPIC,
    "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
    "curated": {"merge_key": "idempotency_key", "order_by": "event_timestamp",
                "partition_by": ["day(publish_time)", "bucket(4, idempotency_key)"], "columns": COLUMNS_V1},
}
SEMANTIC = {  # governed: renames, a type change, rules; the curated columns it leaves out are drift
    "merge_key": "idempotency_key",
    "columns": {"idempotency_key": {"type": "string", "pattern": "k[0-9]+"},
                "event_time": {"type": "timestamp", "from": "event_timestamp"},
                "amount": {"type": "double", "min": 0, "max": 5},
                "qty": {"type": "long", "allowed": ["1", "2", "3", "9", "16"]},
                "day": {"type": "date"},
                "extra": {"type": "string"}},
}
SCHEMA_V1["semantic"] = SEMANTIC
SCHEMA_V2 = {**SCHEMA_V1, "curated": {**SCHEMA_V1["curated"],
                                      "columns": {**COLUMNS_V1, "score": {"type": "double"}}},
             "semantic": {**SEMANTIC, "columns": {**SEMANTIC["columns"], "score": {"type": "double", "min": 0}}}}


def envelope(message_id: str, payload, publish_time: str = "2026-01-19T10:00:00Z") -> str:
    return json.dumps({"message_id": message_id, "publish_time": publish_time, "payload": payload})


def event(message_id: str, key: str | None, ts: str | None, publish_time: str = "2026-01-19T10:00:00Z",
          **fields) -> str:
    payload: dict = dict(fields)
    if key is not None:
        payload["_metadata"] = {"idempotencyKeyResource": key}
    if ts is not None:
        payload["event"] = {"timestamp": ts}
    return envelope(message_id, payload, publish_time)


STEP_1 = [
    event("m1", "k1", "2026-01-19T10:00:00Z", amount="1.50", qty="1", flag="true", day="2026-01-19"),
    event("m2", "k1", "2026-01-19T11:00:00Z", amount="2.5", qty="2"),  # correction in the batch
    event("m1", "k1", "2026-01-19T10:00:00Z", amount="1.50", qty="1"),  # network duplicate in the batch
    event("m3", "k2", "2026-01-19T12:00:00Z", qty="3"),
    event("m4", "k2", "2026-01-19T12:00:00Z", qty="4"),  # tie on order_by: the later ingestion wins
    event("m5", "k3", "2026-01-19T09:00:00Z", amount=" 7 ", big="9007199254740993", publish_time="2026-01-19T09:00:00Z"),
    envelope("bad-json", "{not json"),
    envelope("array", [1, 2, 3]),
    envelope("scalar", "\"just text\""),
    envelope("repeated", "{\"x\": 1, \"x\": 2}"),
    envelope("empty", {}),
    event("collide", "k4", "2026-01-19T13:00:00Z", a_b=1, a={"b": 2}, A_B="upper"),
    event("mixed-1", "k5", "2026-01-19T13:00:00Z", m=1),
    event("mixed-2", "k6", "2026-01-19T13:00:00Z", m={"n": 2}),
    event("keys", "k7", "2026-01-19T13:00:00Z", **{"café": "x", "first name": "y", "Tags": [1, {"z": None}]}),
    event("numbers", "k8", "2026-01-19T13:00:00Z", f=1.50, e=1e3, big=123456789012345678, neg=-0.0, t=True, n=None),
    # numbers as written (JSON text, not re-serialised): each engine keeps every character of them
    '{"message_id": "spellings", "publish_time": "2026-01-19T10:00:00Z", "payload": {"_metadata": '
    '{"idempotencyKeyResource": "k19"}, "event": {"timestamp": "2026-01-19T13:00:00Z"}, "amount": 1.50, '
    '"sci": 1E5, "negzero": -0, "long": 12345678901234567.89, "list": [1.10, -0]}}',
    event("no-key", None, "2026-01-19T13:00:00Z", qty="1"),  # CDE: merge key missing
    event("no-ts", "k9", None, qty="1"),  # CDE: order_by missing
    event("bad-qty", "k10", "2026-01-19T13:00:00Z", qty="1.5"),
    event("bad-amount", "k11", "2026-01-19T13:00:00Z", amount="12.345"),
    event("bad-flag", "k12", "2026-01-19T13:00:00Z", flag="maybe"),
    event("bad-day", "k13", "2026-01-19T13:00:00Z", day="2026-13-01"),
    event("bad-ts", "k14", "yesterday"),
    event("bad-big", "k15", "2026-01-19T13:00:00Z", big="99999999999999999999"),
]

STEP_2 = [
    event("m1", "k1", "2026-01-19T10:00:00Z", amount="1.50"),  # network duplicate of a landed message
    event("bad-json", "kx", "2026-01-19T10:00:00Z"),  # same id as a parse error: a duplicate too
    event("m6", "k1", "2026-01-19T09:00:00Z", amount="0.10"),  # late older version: superseded
    event("m7", "k3", "2026-01-21T08:00:00Z", amount="8", publish_time="2026-01-21T08:00:00Z"),  # replaces
    event("m8", "k16", "1768816800000", extra="new field", qty="+16"),  # epoch millis, new column
    event("m9", "k2", "2026-01-19T12:00:00Z", qty="9"),  # ties again with the stored winner: later wins
]

STEP_3A = [
    event("m10", "k17", "2026-01-20T00:00:00Z", score="1.5e2", publish_time="2026-01-20T00:00:00Z"),
    event("m11", "k18", "2026-01-20T00:00:00Z", score="abc", publish_time="2026-01-20T00:00:00Z"),
]
STEP_3B = [
    event("m12", "k17", "2026-01-20T01:00:00Z", score="-0.5", extra="again", publish_time="2026-01-20T01:00:00Z"),
    event("m13", "k1", "2026-01-19T11:00:00Z", amount="3"),  # same order_by as the stored m2: later ingestion
]

# (schema file, ingests) per step; with BATCH_ROWS the step-3 ingests are two batches
STEPS = [(SCHEMA_V1, [STEP_1]), (SCHEMA_V1, [STEP_2]), (SCHEMA_V2, [STEP_3A, STEP_3B])]
BATCH_ROWS = 2  # Standardized: 2 RAW rows a batch (batches stop inside an ingest); Curated, Semantic: 1 snapshot
