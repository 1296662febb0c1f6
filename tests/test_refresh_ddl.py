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

from leanops.ddl import export_ddl, relative_metadata_path, snowflake_literal, snowflake_refresh_sql
from leanops.refresh import FanoutRefreshHook, LogRefreshHook, RefreshEvent, WebhookRefreshHook, hook_from_env

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
