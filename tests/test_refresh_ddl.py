"""Refresh hooks and DDL export against real PyIceberg tables on a temporary home."""
from __future__ import annotations

import logging
import socket
from datetime import date, datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
from pyiceberg.exceptions import NamespaceAlreadyExistsError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import BucketTransform, DayTransform
from pyiceberg.types import (
    BooleanType, DateType, DecimalType, DoubleType, IntegerType, LongType, NestedField, StringType, TimestamptzType,
)

from leanops import duck
from leanops.ddl import export_ddl, relative_metadata_path, snowflake_literal, snowflake_refresh_sql
from leanops.refresh import FanoutRefreshHook, LogRefreshHook, RefreshEvent, WebhookRefreshHook, hook_from_env
from conftest import write_schema
from test_sql import CURATED_SCHEMA, latest_ids, make_curated

SCHEMA = Schema(
    NestedField(1, "idempotency_key", StringType(), required=False),
    NestedField(2, "amount", DecimalType(12, 2), required=False),
    NestedField(3, "publish_time", TimestamptzType(), required=False),
    NestedField(4, "quantity", LongType(), required=False),
    NestedField(5, "event_date", DateType(), required=False),
    NestedField(6, "active", BooleanType(), required=False),
    NestedField(7, "rank", IntegerType(), required=False),
    NestedField(8, "score", DoubleType(), required=False),
)
SPEC = PartitionSpec(PartitionField(3, 1000, DayTransform(), "publish_time_day"),
                     PartitionField(1, 1001, BucketTransform(16), "idempotency_key_bucket_16"))


def semantic_events(ctx):
    try:
        ctx.lake.catalog.create_namespace("semantic")
    except NamespaceAlreadyExistsError:
        pass
    return ctx.lake.catalog.create_table("semantic.events", schema=SCHEMA, partition_spec=SPEC)


def append_row(table, key: str) -> None:
    row = {"idempotency_key": key, "amount": Decimal("12.50"),
           "publish_time": datetime(2026, 1, 19, 10, tzinfo=timezone.utc), "quantity": 3,
           "event_date": date(2026, 1, 19), "active": True, "rank": 1, "score": 0.5}
    table.append(pa.Table.from_pylist([row], schema=table.schema().as_arrow()))


@pytest.fixture
def events(ctx):
    table = semantic_events(ctx)
    append_row(table, "k1")
    return ctx.lake.load("semantic.events")


def test_snowflake_ddl_names_the_current_metadata_file(ctx, events):
    path = relative_metadata_path(events)
    assert path.startswith("metadata/") and path.endswith(".metadata.json")
    assert events.metadata_location == events.location().rstrip("/") + "/" + path
    sql = export_ddl(ctx.lake, ["events"], "snowflake")
    assert ('CREATE ICEBERG TABLE IF NOT EXISTS "LAKEHOUSE"."SEMANTIC"."EVENTS"\n'
            "  EXTERNAL_VOLUME = 'LEANOPS_VOLUME'\n  CATALOG = 'LEANOPS_OBJECT_STORE'\n"
            f"  METADATA_FILE_PATH = '{path}';") in sql
    refresh = f"""ALTER ICEBERG TABLE "LAKEHOUSE"."SEMANTIC"."EVENTS" REFRESH '{path}';"""
    assert refresh in sql and snowflake_refresh_sql(events) == refresh

    append_row(events, "k2")  # a new commit writes a new metadata file: the refresh must follow it
    after = ctx.lake.load("semantic.events")
    new_path = relative_metadata_path(after)
    assert new_path != path and after.metadata_location.endswith(new_path)
    assert snowflake_refresh_sql(after, database="DB", schema="S") == \
        f"""ALTER ICEBERG TABLE "DB"."S"."EVENTS" REFRESH '{new_path}';"""
    custom = export_ddl(ctx.lake, None, "snowflake", database="DB", external_volume="VOL",
                        catalog_integration="CAT")
    assert '"DB"."SEMANTIC"."EVENTS"' in custom and "'VOL'" in custom and "'CAT'" in custom and new_path in custom


def test_storage_base_url_makes_paths_relative_to_the_volume(ctx, events):
    root, namespace_dir, table_dir = events.location().rstrip("/").rsplit("/", 2)  # volume at the warehouse
    assert snowflake_refresh_sql(events, storage_base_url=root + "/").endswith(
        f"REFRESH '{namespace_dir}/{table_dir}/{relative_metadata_path(events)}';")
    with pytest.raises(ValueError, match="not under"):
        relative_metadata_path(events, "s3://elsewhere")


def test_athena_ddl_maps_types_and_transforms(ctx, events):
    ddl = export_ddl(ctx.lake, None, "athena")
    assert "CREATE TABLE IF NOT EXISTS `semantic`.`events` (" in ddl
    for column in ("`idempotency_key` string", "`amount` decimal(12,2)", "`publish_time` timestamp",
                   "`quantity` bigint", "`event_date` date", "`active` boolean", "`rank` int", "`score` double"):
        assert column in ddl
    assert "PARTITIONED BY (day(`publish_time`), bucket(16, `idempotency_key`))" in ddl
    assert f"LOCATION '{events.location()}'" in ddl
    assert ddl.rstrip().endswith("TBLPROPERTIES ('table_type' = 'ICEBERG');")
    assert "no refresh step" in ddl


def test_athena_ddl_carries_the_bloom_filter_property(ctx, events):
    with events.transaction() as txn:
        txn.set_properties({"write.parquet.bloom-filter-enabled.column.idempotency_key": "true",
                            "write.parquet.bloom-filter-enabled.column.score": "false"})
    ddl = export_ddl(ctx.lake, ["events"], "athena")
    assert ddl.rstrip().endswith("TBLPROPERTIES ('table_type' = 'ICEBERG', "
                                 "'write.parquet.bloom-filter-enabled.column.idempotency_key' = 'true');")


# -- the scientist view curated.<topic>_latest ---------------------------------------------
ATHENA_VIEW = """CREATE OR REPLACE VIEW "curated"."events_latest" AS
SELECT "message_id", "idempotency_key", "event_timestamp", "ingestion_ts", "amount" FROM (
  SELECT *, ROW_NUMBER() OVER (
      PARTITION BY "idempotency_key"
      ORDER BY "event_timestamp" DESC NULLS LAST, "ingestion_ts" DESC, "message_id" DESC
  ) AS "leanops_latest_rank"
  FROM "curated"."events"
)
WHERE "leanops_latest_rank" = 1;"""

SNOWFLAKE_VIEW = """CREATE OR REPLACE VIEW "LAKEHOUSE"."CURATED"."EVENTS_LATEST" AS
SELECT * FROM "LAKEHOUSE"."CURATED"."EVENTS"
QUALIFY ROW_NUMBER() OVER (
    PARTITION BY "idempotency_key"
    ORDER BY "event_timestamp" DESC NULLS LAST, "ingestion_ts" DESC, "message_id" DESC
) = 1;"""


def curated_events(ctx, merge_key="idempotency_key", order_by="event_timestamp"):
    """curated.events with the versions test_sql checks `leanops sql`'s view against, and the
    properties the Curated stage sets on its tables."""
    table = make_curated(ctx)
    with table.transaction() as txn:
        txn.set_properties({"leanops.merge-key": merge_key, "leanops.order-by": order_by})
    return ctx.lake.load("curated.events")


def view_result(ctx, create_tables: list[str], view_sql: str, view: str) -> dict[str, str]:
    """Run exported view SQL in DuckDB over curated.events' rows: {merge key: winning message_id}."""
    rows = ctx.lake.load("curated.events").scan().to_arrow()
    with duck.connect(ctx.settings.home / "tmp") as con:
        con.register("curated_rows", rows)
        for statement in create_tables:
            con.execute(statement).fetchall()
        con.execute(view_sql.rstrip().rstrip(";")).fetchall()
        return dict(con.execute(f"SELECT idempotency_key, message_id FROM {view}").fetchall())


def test_latest_view_is_exported_for_athena_and_snowflake(ctx, schemas, events):
    write_schema(schemas, CURATED_SCHEMA)  # what `leanops sql` builds its view from
    curated = curated_events(ctx)
    athena = export_ddl(ctx.lake, None, "athena")
    assert "CREATE TABLE IF NOT EXISTS `semantic`.`events` (" in athena  # the semantic table, then the view
    assert athena.index("`semantic`.`events`") < athena.index(ATHENA_VIEW)
    snowflake = export_ddl(ctx.lake, ["events"], "snowflake")
    assert SNOWFLAKE_VIEW in snowflake
    path = relative_metadata_path(curated)  # Snowflake sees curated.events through its own Iceberg table
    assert ('CREATE ICEBERG TABLE IF NOT EXISTS "LAKEHOUSE"."CURATED"."EVENTS"\n'
            "  EXTERNAL_VOLUME = 'LEANOPS_VOLUME'\n  CATALOG = 'LEANOPS_OBJECT_STORE'\n"
            f"  METADATA_FILE_PATH = '{path}';") in snowflake
    assert f"""ALTER ICEBERG TABLE "LAKEHOUSE"."CURATED"."EVENTS" REFRESH '{path}';""" in snowflake
    assert '"X"."CUR"."EVENTS_LATEST"' in export_ddl(ctx.lake, ["events"], "snowflake", database="X",
                                                      curated_schema="CUR")

    # the exported views pick the very rows `leanops sql` shows as curated.events_latest
    expected = latest_ids(ctx)
    assert expected == {"k1": "m2", "k2": "m5", "k3": "m7", "k4": "m9", "k5": "m10"}
    assert view_result(ctx, ["CREATE SCHEMA curated", "CREATE TABLE curated.events AS FROM curated_rows"],
                       ATHENA_VIEW, "curated.events_latest") == expected
    assert view_result(ctx, ['ATTACH \':memory:\' AS "LAKEHOUSE"', 'CREATE SCHEMA "LAKEHOUSE"."CURATED"',
                             'CREATE TABLE "LAKEHOUSE"."CURATED"."EVENTS" AS FROM curated_rows'],
                       SNOWFLAKE_VIEW, '"LAKEHOUSE"."CURATED"."EVENTS_LATEST"') == expected


def test_latest_view_needs_the_curated_keys(ctx):
    make_curated(ctx)  # a Curated table without the merge-key / order-by properties: no view to export
    assert export_ddl(ctx.lake, None, "athena") == "-- no semantic tables and no curated tables\n"
    with pytest.raises(ValueError, match="curated.events has no leanops.merge-key / leanops.order-by properties"):
        export_ddl(ctx.lake, ["events"], "athena")
    with pytest.raises(ValueError, match="no table semantic.orders and no curated.orders"):
        export_ddl(ctx.lake, ["orders"], "snowflake")


@pytest.mark.parametrize("merge_key, order_by", [('x"; DROP TABLE y; --', "event_timestamp"),
                                                 ("idempotency_key", "Event_Timestamp")])
def test_latest_view_refuses_unsafe_keys(ctx, merge_key, order_by):
    curated_events(ctx, merge_key, order_by)
    for target in ("athena", "snowflake"):
        with pytest.raises(ValueError, match="not a valid column name"):
            export_ddl(ctx.lake, ["events"], target)


def test_latest_view_refuses_unsafe_columns(ctx):
    curated_events(ctx)
    with ctx.lake.load("curated.events").update_schema() as update:
        update.add_column('y"; DROP TABLE z; --', StringType())
    with pytest.raises(ValueError, match="not a valid column name"):
        export_ddl(ctx.lake, ["events"], "athena")
    with pytest.raises(ValueError, match="curated_schema"):
        export_ddl(ctx.lake, ["events"], "athena", curated_schema="C")
    with pytest.raises(ValueError, match="schema"):
        export_ddl(ctx.lake, ["events"], "snowflake", curated_schema='C"; DROP SCHEMA x; --')


def test_hostile_names_are_rejected(ctx, events):
    for topic in ["events; DROP TABLE x", 'Events"', "../events", ""]:
        with pytest.raises(ValueError, match="topic"):
            export_ddl(ctx.lake, [topic], "snowflake")
    ctx.lake.catalog.create_table("semantic.hostile", schema=Schema(
        NestedField(1, 'x"; DROP TABLE y; --', StringType(), required=False)))
    with pytest.raises(ValueError, match="column"):
        export_ddl(ctx.lake, ["hostile"], "athena")
    with pytest.raises(ValueError, match="database"):
        export_ddl(ctx.lake, ["events"], "snowflake", database='LAKEHOUSE"; DROP DATABASE x; --')
    with pytest.raises(ValueError, match="no table"):
        export_ddl(ctx.lake, ["missing"], "athena")
    with pytest.raises(ValueError, match="target"):
        export_ddl(ctx.lake, ["events"], "bigquery")
    assert snowflake_literal("it's \\ here") == "'it''s \\\\ here'"
    assert "it''s" in export_ddl(ctx.lake, ["events"], "snowflake", external_volume="it's")


def test_webhook_hook_posts_the_event(ctx, events, webhook, monkeypatch):
    url, received = webhook
    event = RefreshEvent.of("events", events, schema_changed=False, records_written=1)
    assert event.table == "semantic.events" and event.metadata_location == events.metadata_location
    assert event.snapshot_id == events.current_snapshot().snapshot_id
    WebhookRefreshHook(url).refreshed(event)
    assert received == [event.as_dict()] and received[0]["kind"] == "SemanticRefreshed"

    monkeypatch.setenv("LEANOPS_REFRESH_WEBHOOK", url)
    hook = hook_from_env()
    assert isinstance(hook, FanoutRefreshHook)
    hook.refreshed(event)
    assert len(received) == 2
    monkeypatch.delenv("LEANOPS_REFRESH_WEBHOOK")
    assert isinstance(hook_from_env(), LogRefreshHook)


def test_webhook_failure_is_a_warning_not_an_error(caplog):
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    event = RefreshEvent("events", "semantic.events", None, "file:///x/metadata/v1.metadata.json", True, 0)
    with caplog.at_level(logging.INFO, logger="leanops.refresh"):
        WebhookRefreshHook(f"http://127.0.0.1:{port}/refresh", timeout=2).refreshed(event)
        LogRefreshHook().refreshed(event)
    levels = {r.levelno for r in caplog.records if r.name == "leanops.refresh"}
    assert levels == {logging.WARNING, logging.INFO}
    assert "could not POST refresh of semantic.events" in caplog.text
