"""DDL that registers semantic.<topic> tables, and the scientist views curated.<topic>_latest, in
engines reading the Iceberg metadata directly.

    print(export_ddl(lake, ["events"], "snowflake", database="LAKEHOUSE"))
    print(export_ddl(lake, None, "athena"))            # every semantic table and latest view

Topic and column names come from data, so every identifier is checked against ^[a-z0-9_]+$ and quoted,
and every string literal is escaped.
"""
from __future__ import annotations

import re

from pyiceberg.table import Table
from pyiceberg.transforms import (
    BucketTransform, DayTransform, HourTransform, IdentityTransform, MonthTransform, TruncateTransform, YearTransform,
)
from pyiceberg.types import (
    BinaryType, BooleanType, DateType, DecimalType, DoubleType, FloatType, IcebergType, IntegerType, ListType,
    LongType, MapType, StringType, StructType, TimestampType, TimestamptzType,
)

from leanops.catalog.tables import Lakehouse
from leanops.errors import LeanOpsError
from leanops.latest_view import (
    LATEST_SUFFIX, MERGE_KEY_PROPERTY, ORDER_BY_PROPERTY, athena_view_sql, qualify_view_sql,
)
from leanops.types import Zone

NAME_RE = re.compile(r"^[a-z0-9_]+$")
SNOWFLAKE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")  # database / schema given by the operator
NOT_TOPICS = ("errors",)  # semantic.errors is a pipeline table, not a topic
TARGETS = ("snowflake", "athena")
# Snowflake defaults: override them with the names of your database, schema, external volume and
# catalog integration (CATALOG_SOURCE = OBJECT_STORE, TABLE_FORMAT = ICEBERG).
SNOWFLAKE_DEFAULTS = {"database": "LAKEHOUSE", "schema": "SEMANTIC", "external_volume": "LEANOPS_VOLUME",
                      "catalog_integration": "LEANOPS_OBJECT_STORE"}
CURATED_SCHEMA_DEFAULT = "CURATED"  # the Snowflake schema of curated.<topic> and its latest view
BLOOM_PREFIX = "write.parquet.bloom-filter-enabled.column."  # Iceberg's per-column bloom-filter property

_ATHENA_TYPES = {StringType: "string", IntegerType: "int", LongType: "bigint", FloatType: "float",
                 DoubleType: "double", BooleanType: "boolean", DateType: "date", BinaryType: "binary",
                 TimestampType: "timestamp", TimestamptzType: "timestamp"}  # Athena DDL has no timestamptz
_TIME = {YearTransform: "year", MonthTransform: "month", DayTransform: "day", HourTransform: "hour"}


def checked(name: str, what: str = "name") -> str:
    """Names from data reach SQL text only after this check."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"{what} {name!r} cannot be exported: use only a-z, 0-9 and '_'")
    return name


def snowflake_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def athena_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _comment(text: str) -> str:
    """A path echoed in a `--` comment cannot end the comment early."""
    return " ".join(text.splitlines())


def _snowflake_name(table: Table, database: str, schema: str) -> str:
    for value, what in ((database, "database"), (schema, "schema")):
        if not SNOWFLAKE_NAME_RE.match(value):
            raise ValueError(f"Snowflake {what} {value!r}: use letters, digits, '_' or '$'")
    return f'"{database}"."{schema}"."{checked(table.name()[-1], "table").upper()}"'


def relative_metadata_path(table: Table, storage_base_url: str | None = None) -> str:
    """Snowflake wants the metadata file relative to the external volume's storage location."""
    base = (storage_base_url or table.location()).rstrip("/") + "/"
    if not table.metadata_location.startswith(base):
        raise ValueError(f"metadata file {table.metadata_location} is not under {base}")
    return table.metadata_location[len(base):]


def snowflake_refresh_sql(table: Table, *, database: str = SNOWFLAKE_DEFAULTS["database"],
                          schema: str = SNOWFLAKE_DEFAULTS["schema"],
                          external_volume: str = SNOWFLAKE_DEFAULTS["external_volume"],
                          catalog_integration: str = SNOWFLAKE_DEFAULTS["catalog_integration"],
                          storage_base_url: str | None = None) -> str:
    """The statement that moves a Snowflake Iceberg table to this table's current metadata file.

    Takes the same options as export_ddl's Snowflake target; the volume and integration are not part
    of a REFRESH and are accepted only so one options dict serves both.
    """
    path = relative_metadata_path(table, storage_base_url)
    return f"ALTER ICEBERG TABLE {_snowflake_name(table, database, schema)} REFRESH {snowflake_literal(path)};"


def snowflake_ddl(table: Table, *, database: str = SNOWFLAKE_DEFAULTS["database"],
                  schema: str = SNOWFLAKE_DEFAULTS["schema"],
                  external_volume: str = SNOWFLAKE_DEFAULTS["external_volume"],
                  catalog_integration: str = SNOWFLAKE_DEFAULTS["catalog_integration"],
                  storage_base_url: str | None = None, cluster_by: list[str] | None = None) -> str:
    """CREATE once (then CLUSTER BY the schema file's `semantic.cluster_by`), then REFRESH after every commit
    (the refresh hook's job)."""
    name, path = _snowflake_name(table, database, schema), relative_metadata_path(table, storage_base_url)
    base = storage_base_url or table.location()
    clustering = []
    if cluster_by:  # CREATE ... METADATA_FILE_PATH takes no CLUSTER BY: it is set on the created table
        columns = {f.name for f in table.schema().fields}
        missing = [c for c in cluster_by if c not in columns]
        if missing:
            raise ValueError(f"cluster_by column(s) {missing} are not in {'.'.join(table.name()[-2:])}")
        keys = ", ".join(f'"{checked(c, "column")}"' for c in cluster_by)
        clustering = [f"ALTER ICEBERG TABLE {name} CLUSTER BY ({keys});"]
    return "\n".join([
        f"-- {'.'.join(table.name()[-2:])}: Snowflake Iceberg table over files in object storage",
        f"-- the external volume's STORAGE_BASE_URL must be {_comment(base)} (paths below are relative to it)",
        f"CREATE ICEBERG TABLE IF NOT EXISTS {name}",
        f"  EXTERNAL_VOLUME = {snowflake_literal(external_volume)}",
        f"  CATALOG = {snowflake_literal(catalog_integration)}",
        f"  METADATA_FILE_PATH = {snowflake_literal(path)};",
        *clustering,
        "-- after each lean-ops commit, point Snowflake at the new metadata file:",
        snowflake_refresh_sql(table, database=database, schema=schema, storage_base_url=storage_base_url),
    ])


def athena_type(kind: IcebergType) -> str:
    """Iceberg type -> Athena DDL type; types Athena cannot declare are refused, not guessed."""
    if isinstance(kind, DecimalType):
        return f"decimal({kind.precision},{kind.scale})"
    if isinstance(kind, ListType):
        return f"array<{athena_type(kind.element_type)}>"
    if isinstance(kind, MapType):
        return f"map<{athena_type(kind.key_type)},{athena_type(kind.value_type)}>"
    if isinstance(kind, StructType):
        return "struct<" + ",".join(f"`{checked(f.name, 'field')}`:{athena_type(f.field_type)}"
                                    for f in kind.fields) + ">"
    if type(kind) in _ATHENA_TYPES:
        return _ATHENA_TYPES[type(kind)]
    raise ValueError(f"Iceberg type {kind} has no Athena DDL equivalent")


def athena_partition(transform, column: str) -> str:
    col = f"`{checked(column, 'column')}`"
    if isinstance(transform, IdentityTransform):
        return col
    if type(transform) in _TIME:
        return f"{_TIME[type(transform)]}({col})"
    if isinstance(transform, BucketTransform):
        return f"bucket({transform.num_buckets}, {col})"
    if isinstance(transform, TruncateTransform):
        return f"truncate({transform.width}, {col})"
    raise ValueError(f"partition transform {transform} has no Athena equivalent")


def bloom_properties(table: Table) -> dict[str, str]:
    """The table's enabled per-column bloom filters (lean-ops sets one on the merge key), names checked."""
    return {BLOOM_PREFIX + checked(key[len(BLOOM_PREFIX):], "column"): "true"
            for key, value in sorted(table.metadata.properties.items())
            if key.startswith(BLOOM_PREFIX) and value.lower() == "true"}


def athena_ddl(table: Table) -> str:
    """CREATE TABLE for Athena; with the Glue Data Catalog it reads the current snapshot, no refresh step."""
    topic = checked(table.name()[-1], "table")
    schema = table.schema()
    columns = ",\n".join(f"  `{checked(f.name, 'column')}` {athena_type(f.field_type)}" for f in schema.fields)
    parts = [athena_partition(f.transform, schema.find_column_name(f.source_id)) for f in table.spec().fields]
    return "\n".join([
        f"-- semantic.{topic}: Athena (Iceberg table in the Glue Data Catalog)",
        "-- with the Glue Data Catalog Athena reads the current snapshot at query time: no refresh step,",
        "-- as long as lean-ops commits through that Glue catalog. CREATE TABLE starts an empty table at",
        "-- LOCATION; to expose existing data register the current metadata file in Glue instead:",
        f"--   {_comment(table.metadata_location)}",
        f"CREATE TABLE IF NOT EXISTS `{Zone.SEMANTIC.value}`.`{topic}` (",
        columns,
        ")",
        *([f"PARTITIONED BY ({', '.join(parts)})"] if parts else []),
        f"LOCATION {athena_literal(table.location())}",
        "TBLPROPERTIES (" + ", ".join(f"{athena_literal(k)} = {athena_literal(v)}" for k, v in
                                      {"table_type": "ICEBERG", **bloom_properties(table)}.items()) + ");",
    ])


def latest_keys(table: Table) -> tuple[str, str] | None:
    """(merge key, order by) a Curated table records in its properties; None on a table without them."""
    merge_key = table.metadata.properties.get(MERGE_KEY_PROPERTY)
    order_by = table.metadata.properties.get(ORDER_BY_PROPERTY)
    return (merge_key, order_by) if merge_key and order_by else None


def athena_latest_view(table: Table) -> str:
    """curated.<topic>_latest for Athena, over the Curated table in the Glue Data Catalog."""
    topic = checked(table.name()[-1], "table")
    merge_key, order_by = _latest_keys_or_fail(table)
    return "\n".join([
        f"-- curated.{topic}{LATEST_SUFFIX}: the latest row per {merge_key} (Athena; curated.{topic} in Glue)",
        "-- Athena fixes a view's columns when it is created: export it again after Curated gains a column.",
        _view_sql(lambda: athena_view_sql(topic, merge_key, order_by, [f.name for f in table.schema().fields])) + ";",
    ])


def snowflake_latest_ddl(table: Table, *, database: str = SNOWFLAKE_DEFAULTS["database"],
                         curated_schema: str = CURATED_SCHEMA_DEFAULT, schema: str | None = None,
                         **options: str) -> str:
    """curated.<topic> as a Snowflake Iceberg table (CREATE + REFRESH), then its latest view over it.

    `schema` (the semantic tables' Snowflake schema) is accepted so one options dict serves both."""
    topic = checked(table.name()[-1], "table")
    merge_key, order_by = _latest_keys_or_fail(table)
    name = _snowflake_name(table, database, curated_schema)
    view = f'"{database}"."{curated_schema}"."{(topic + LATEST_SUFFIX).upper()}"'
    return "\n".join([
        snowflake_ddl(table, database=database, schema=curated_schema, **options),
        f"-- curated.{topic}{LATEST_SUFFIX}: the latest row per {merge_key} (Iceberg column names are lower case: quoted)",
        _view_sql(lambda: qualify_view_sql(view, name, topic, merge_key, order_by)) + ";",
    ])


def _latest_keys_or_fail(table: Table) -> tuple[str, str]:
    keys = latest_keys(table)
    if keys is None:
        raise ValueError(f"{'.'.join(table.name()[-2:])} has no {MERGE_KEY_PROPERTY} / {ORDER_BY_PROPERTY} "
                         "properties: run `leanops deploy` to set them")
    return keys


def _view_sql(build) -> str:
    """The view text; a name that fails the checks is a ValueError like every other refusal here."""
    try:
        return build()
    except LeanOpsError as exc:
        raise ValueError(str(exc)) from exc


def export_ddl(lake: Lakehouse, topics: list[str] | None, target: str,
               cluster_by: dict[str, list[str]] | None = None, **options: str) -> str:
    """DDL for the given topics in one target's dialect: each topic's semantic table, then its scientist
    view curated.<topic>_latest (default: every semantic table and every topic's Curated table).

    Snowflake options (defaults in SNOWFLAKE_DEFAULTS): database, schema, external_volume,
    catalog_integration, storage_base_url (default: each table's location), and curated_schema
    (default CURATED: where curated.<topic> and its latest view go); `cluster_by`: topic -> its schema
    file's `semantic.cluster_by`.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown DDL target {target!r}: use one of {', '.join(TARGETS)}")
    if options and target != "snowflake":
        raise ValueError(f"options {sorted(options)} apply to the snowflake target only")
    curated_schema = options.pop("curated_schema", CURATED_SCHEMA_DEFAULT)
    every = topics is None
    if every:
        semantic = {name for _, name in lake.catalog.list_tables(Zone.SEMANTIC.value) if name not in NOT_TOPICS}
        topics = sorted(semantic | set(lake.raw_topics()))
    blocks = []
    for topic in topics:
        checked(topic, "topic")
        table = lake.load(f"{Zone.SEMANTIC.value}.{topic}")
        curated = lake.load(f"{Zone.CURATED.value}.{topic}")
        has_view = curated is not None and latest_keys(curated) is not None
        if table is None and not has_view:
            if every:
                continue  # a topic found by its RAW table that has neither yet
            if curated is not None:
                _latest_keys_or_fail(curated)  # says which properties are missing
            raise ValueError(f"no table semantic.{topic} and no curated.{topic}: run the pipeline for it first")
        if table is not None:
            blocks.append(snowflake_ddl(table, cluster_by=(cluster_by or {}).get(topic), **options)
                          if target == "snowflake" else athena_ddl(table))
        if has_view:
            blocks.append(snowflake_latest_ddl(curated, curated_schema=curated_schema, **options)
                          if target == "snowflake" else athena_latest_view(curated))
    return "\n\n".join(blocks) + "\n" if blocks else "-- no semantic tables and no curated tables\n"
