"""What `leanops status` and the dashboard show of a topic's tables: file and snapshot counts from the
metadata alone, and when maintenance last ran. Apart from leanops.maintenance.run, so that reading
them does not import the maintenance actions (compaction's DuckDB and Parquet writer)."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from leanops.context import Context

STAGE = "maintenance"  # the run log's stage name for maintenance runs


def table_counts(table: Table) -> dict:
    """File and snapshot counts from metadata alone (the head snapshot's totals): for status pages."""
    snapshot = table.current_snapshot()
    props = snapshot.summary.additional_properties if snapshot is not None and snapshot.summary else {}
    return {"table": ".".join(table.name()[-2:]), "data_files": int(props.get("total-data-files", 0)),
            "delete_files": int(props.get("total-delete-files", 0)), "snapshots": len(table.metadata.snapshots),
            "records": int(props.get("total-records", 0))}


def topic_counts(ctx: Context, topic: str) -> list[dict]:
    """`table_counts` of each of the topic's tables."""
    return [table_counts(t) for t in topic_tables(ctx, topic)]


def topic_tables(ctx: Context, topic: str) -> list[Table]:
    """The topic's RAW, Standardized, Curated and Semantic tables that exist (read only: `ctx.read_lake`)."""
    lake = ctx.read_lake
    found = [lake.raw_table(topic), lake.standardized_table(topic), lake.curated_table(topic),
             lake.semantic_table(topic)]
    return [t for t in found if t is not None]


def last_maintenance(ctx: Context, scope: str) -> datetime | None:
    """When the scope's last maintenance run ended (the run log keeps each stage's newest run)."""
    runs = [r for r in ctx.state.list_runs(scope, limit=50) if r.stage == STAGE and r.ended_at is not None]
    return max((r.ended_at for r in runs), default=None)
