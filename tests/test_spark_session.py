"""The Spark session opens the very catalog and warehouse of the embedded engine, both directions.

PyIceberg (SQL catalog in SQLite) writes RAW, Standardized and Curated; Spark (Iceberg JdbcCatalog on
the same SQLite file) must read exactly the same rows, apply the Curated position deletes written by
`leanops.catalog.row_delta`, and its own commits must be visible to PyIceberg.
"""
from __future__ import annotations

import sqlite3

import pytest

from conftest import EVENTS_SCHEMA, envelope, ingest, write_schema
from test_curated import SCHEMA as CURATED_SCHEMA
from leanops.engines.spark import spark_session
from leanops.runner import run_once

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def event(mid: str, key: str, ts: str, **fields) -> str:
    return envelope(mid, {"_metadata": {"idempotencyKeyResource": key}, "event": {"timestamp": ts}, **fields})


def iceberg_ids(table) -> list[str]:
    table.refresh()
    return sorted(table.scan().to_arrow().column("message_id").to_pylist())


def assert_catalog_writable(ctx) -> None:
    """No JVM connection holds a lock on catalog.db (Iceberg's JdbcCatalog leaks one at initialization).

    A leaked lock is held for good, so the generous timeout only spares a loaded machine a false alarm."""
    conn = sqlite3.connect(ctx.settings.home / "catalog.db", timeout=30)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("COMMIT")
    finally:
        conn.close()


def spark_ids(spark, ident: str) -> list[str]:
    return sorted(r.message_id for r in spark.sql(f"SELECT message_id FROM leanops.{ident}").collect())


def test_spark_reads_raw_and_standardized_and_writes_back(ctx, schemas, tmp_path):
    write_schema(schemas, EVENTS_SCHEMA)
    lines = [event(f"m{i}", f"k{i}", "2026-01-19T10:00:00Z", n=i) for i in range(6)]
    lines.append(event("m0", "k0", "2026-01-19T10:00:00Z", n=0))  # network duplicate: RAW keeps it
    lines.append(envelope("bad", "{not json"))  # broken payload: RAW, then parse_errors
    ingest(ctx, "events", lines, tmp_path)
    run_once(ctx)
    raw, std = ctx.lake.raw_table("events"), ctx.lake.standardized_table("events")
    assert len(iceberg_ids(raw)) == 8 and len(iceberg_ids(std)) == 6

    spark = spark_session(ctx.settings)
    assert_catalog_writable(ctx)
    assert spark_ids(spark, "raw.events_staging") == iceberg_ids(raw)
    assert spark_ids(spark, "standardized.events") == iceberg_ids(std)
    assert spark.table("standardized.events").count() == 6  # default catalog is leanops
    row = spark.sql("SELECT n, idempotency_key FROM leanops.standardized.events WHERE message_id = 'm3'").first()
    assert (row.n, row.idempotency_key) == ("3", "k3")  # Standardized values are strings
    published = spark.sql("SELECT DISTINCT CAST(publish_time AS STRING) AS t FROM raw.events_staging").collect()
    assert [r.t for r in published] == ["2026-01-19 10:00:00"]  # timestamptz read in UTC

    # Spark -> PyIceberg: a Spark SQL commit on a RAW table lands in the shared catalog
    spark.sql("""INSERT INTO leanops.raw.events_staging VALUES
                 ('from-spark', 'events', '{"_metadata": {"idempotencyKeyResource": "ks"}}',
                  TIMESTAMP '2026-01-19 11:00:00', TIMESTAMP '2026-01-19 11:00:00')""")
    assert_catalog_writable(ctx)
    raw = ctx.lake.raw_table("events")
    assert "from-spark" in iceberg_ids(raw) and len(iceberg_ids(raw)) == 9
    # ... and the embedded engine picks it up incrementally from the snapshot Spark wrote
    run_once(ctx)
    assert "from-spark" in iceberg_ids(ctx.lake.standardized_table("events"))
    # PyIceberg -> Spark again, after Spark's own commit (no stale cached table in Spark)
    ingest(ctx, "events", [event("m9", "k9", "2026-01-19T12:00:00Z")], tmp_path, "2.ndjson")
    assert spark_ids(spark, "raw.events_staging") == iceberg_ids(ctx.lake.raw_table("events"))
    assert spark.table("raw.events_staging").count() == 10


def test_spark_applies_curated_position_deletes(ctx, schemas, tmp_path):
    write_schema(schemas, CURATED_SCHEMA)
    ingest(ctx, "events", [event("m1", "k", "2026-01-19T10:00:00Z", qty=1),
                           event("m2", "j", "2026-01-19T10:00:00Z", qty=1)], tmp_path, "1.ndjson")
    run_once(ctx)
    ingest(ctx, "events", [event("m3", "k", "2026-01-19T11:00:00Z", qty=2)], tmp_path, "2.ndjson")
    run_once(ctx)
    table = ctx.lake.curated_table("events")
    assert table.current_snapshot().summary.additional_properties["total-position-deletes"] == "1"
    expected = {r["idempotency_key"]: r["qty"] for r in table.scan().to_arrow().to_pylist()}
    assert expected == {"j": 1, "k": 2}

    spark = spark_session(ctx.settings)
    assert spark.table("leanops.curated.events").count() == len(expected) == 2
    got = {r.idempotency_key: r.qty for r in spark.sql("SELECT idempotency_key, qty FROM curated.events").collect()}
    assert got == expected
    deletes = spark.sql("SELECT content, record_count FROM leanops.curated.events.delete_files").collect()
    assert [(d.content, d.record_count) for d in deletes] == [(1, 1)]  # one position-delete file, one row
    typed = spark.sql("SELECT event_timestamp, amount FROM curated.events WHERE idempotency_key = 'k'").first()
    assert str(typed.amount) == "0.00"
    assert typed.event_timestamp.isoformat().startswith("2026-01-19")
