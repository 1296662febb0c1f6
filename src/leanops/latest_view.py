"""The scientist view `curated.<topic>_latest` (seed 004): the latest row per merge key, in each dialect.

One definition of "latest" serves every engine that shows the view: `leanops sql` (DuckDB) and the
DDL `leanops export-ddl` prints for Snowflake and Athena. The ranking is the Curated stage's own:
the greatest `order_by` wins, a NULL `order_by` never beats a non-NULL one, ties go to the later
`ingestion_ts`, then the greater `message_id` (leanops.stages.curated.TIE_BREAKERS).

DuckDB and Snowflake filter the window with QUALIFY; Athena (Trino) has no QUALIFY, so its view
ranks in a subquery and selects the table's columns by name (an Athena view lists its columns when
it is created anyway: export it again after Curated gains a column).

Merge key, order-by and column names come from schema files and table metadata: each is checked
against ^[a-z0-9_]+$ (what flattening and schema files produce) and double-quoted before it reaches
SQL text.
"""
from __future__ import annotations

import re

from leanops.errors import ConfigError
from leanops.stages.curated import TIE_BREAKERS
from leanops.types import Zone, validate_topic

LATEST_SUFFIX = "_latest"
MERGE_KEY_PROPERTY, ORDER_BY_PROPERTY = "leanops.merge-key", "leanops.order-by"  # set on every Curated table
COLUMN_RE = re.compile(r"^[a-z0-9_]+$")
RANK_COLUMN = "leanops_latest_rank"  # Athena's subquery column; never a Curated column (no `leanops_` prefix there)


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (DuckDB, Snowflake and Trino/Athena DML all quote this way)."""
    return '"' + name.replace('"', '""') + '"'


def checked_column(name: str, topic: str) -> str:
    if not isinstance(name, str) or not COLUMN_RE.match(name):
        raise ConfigError(f"{topic}: {name!r} is not a valid column name for the latest view")
    return name


def window_sql(topic: str, merge_key: str, order_by: str) -> str:
    """The ROW_NUMBER() window that ranks a merge key's versions, the latest first.

    >>> print(window_sql("events", "idempotency_key", "event_timestamp"))
    ROW_NUMBER() OVER (
        PARTITION BY "idempotency_key"
        ORDER BY "event_timestamp" DESC NULLS LAST, "ingestion_ts" DESC, "message_id" DESC
    )
    """
    order = ", ".join([f"{quote_ident(checked_column(order_by, topic))} DESC NULLS LAST"]
                      + [f"{quote_ident(c)} DESC" for c in TIE_BREAKERS])
    return (f"ROW_NUMBER() OVER (\n"
            f"    PARTITION BY {quote_ident(checked_column(merge_key, topic))}\n"
            f"    ORDER BY {order}\n"
            f")")


def qualify_view_sql(view: str, table: str, topic: str, merge_key: str, order_by: str) -> str:
    """CREATE OR REPLACE VIEW `view` over `table` (both already quoted) with QUALIFY: DuckDB, Snowflake."""
    return (f"CREATE OR REPLACE VIEW {view} AS\n"  # nosec B608  # identifiers checked and quoted above
            f"SELECT * FROM {table}\n"
            f"QUALIFY {window_sql(topic, merge_key, order_by)} = 1")


def duckdb_view_sql(topic: str, merge_key: str, order_by: str) -> str:
    """The view `leanops sql` defines over the registered `curated.<topic>`.

    >>> print(duckdb_view_sql("events", "idempotency_key", "event_timestamp"))
    CREATE OR REPLACE VIEW "curated"."events_latest" AS
    SELECT * FROM "curated"."events"
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY "idempotency_key"
        ORDER BY "event_timestamp" DESC NULLS LAST, "ingestion_ts" DESC, "message_id" DESC
    ) = 1
    """
    validate_topic(topic)
    curated = quote_ident(Zone.CURATED.value)
    return qualify_view_sql(f"{curated}.{quote_ident(topic + LATEST_SUFFIX)}", f"{curated}.{quote_ident(topic)}",
                            topic, merge_key, order_by)


def athena_view_sql(topic: str, merge_key: str, order_by: str, columns: list[str]) -> str:
    """The view for Athena over `curated.<topic>` in the Glue Data Catalog; `columns` in table order.

    >>> print(athena_view_sql("events", "k", "ts", ["k", "ts", "ingestion_ts", "message_id"]))
    CREATE OR REPLACE VIEW "curated"."events_latest" AS
    SELECT "k", "ts", "ingestion_ts", "message_id" FROM (
      SELECT *, ROW_NUMBER() OVER (
          PARTITION BY "k"
          ORDER BY "ts" DESC NULLS LAST, "ingestion_ts" DESC, "message_id" DESC
      ) AS "leanops_latest_rank"
      FROM "curated"."events"
    )
    WHERE "leanops_latest_rank" = 1
    """
    validate_topic(topic)
    if RANK_COLUMN in columns:
        raise ConfigError(f"{topic}: curated.{topic} has a column {RANK_COLUMN!r}, the name the view ranks by")
    names = ", ".join(quote_ident(checked_column(c, topic)) for c in columns)
    curated = quote_ident(Zone.CURATED.value)
    window = window_sql(topic, merge_key, order_by).replace("\n", "\n  ")
    return (f"CREATE OR REPLACE VIEW {curated}.{quote_ident(topic + LATEST_SUFFIX)} AS\n"  # nosec B608  # identifiers checked and quoted above
            f"SELECT {names} FROM (\n"
            f"  SELECT *, {window} AS {quote_ident(RANK_COLUMN)}\n"
            f"  FROM {curated}.{quote_ident(topic)}\n"
            f")\n"
            f"WHERE {quote_ident(RANK_COLUMN)} = 1")
