"""Iceberg schemas of the fixed tables (RAW, DLQ, error tables) and the Standardized base."""
from __future__ import annotations

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform
from pyiceberg.types import LongType, NestedField, StringType, TimestamptzType


def _schema(*fields: tuple[str, object, bool]) -> Schema:
    return Schema(*[NestedField(i, name, typ, required=req) for i, (name, typ, req) in enumerate(fields, start=1)])


RAW_SCHEMA = _schema(
    ("message_id", StringType(), False),
    ("topic_name", StringType(), False),
    ("json_payload", StringType(), False),
    ("ingestion_ts", TimestamptzType(), False),
    ("publish_time", TimestamptzType(), False),
)

DLQ_SCHEMA = _schema(
    ("topic_name", StringType(), False),
    ("ingest_id", StringType(), False),
    ("source", StringType(), False),
    ("line_number", LongType(), False),
    ("reason", StringType(), False),
    ("raw_text", StringType(), False),
    ("ingestion_ts", TimestamptzType(), False),
)

PARSE_ERRORS_SCHEMA = _schema(
    ("topic_name", StringType(), False),
    ("message_id", StringType(), False),
    ("reason", StringType(), False),
    ("raw_text", StringType(), False),
    ("publish_time", TimestamptzType(), False),
    ("ingestion_ts", TimestamptzType(), False),
    ("error_ts", TimestamptzType(), False),
)

# Corrected payloads of parse errors (`leanops errors replay --layer parse`): input, kept like RAW, so a
# historical rebuild applies them again (leanops.ops.corrections).
PARSE_CORRECTIONS_SCHEMA = _schema(
    ("topic_name", StringType(), False),
    ("message_id", StringType(), False),
    ("json_payload", StringType(), False),
    ("publish_time", TimestamptzType(), False),  # the original record's, kept
    ("ingestion_ts", TimestamptzType(), False),  # the original record's, kept
    ("corrected_ts", TimestamptzType(), False),
    ("replay_id", StringType(), False),
)

# Metadata columns every Standardized table starts with; payload columns are appended as strings.
STANDARDIZED_META = (
    ("message_id", StringType(), False),
    ("topic_name", StringType(), False),
    ("publish_time", TimestamptzType(), False),
    ("ingestion_ts", TimestamptzType(), False),
)
STANDARDIZED_BASE_SCHEMA = _schema(*STANDARDIZED_META)
META_COLUMNS = tuple(name for name, _, _ in STANDARDIZED_META)


def day_spec(schema: Schema, column: str) -> PartitionSpec:
    """`day(column)` partitioning, the layout seed 004 gives RAW and the error tables."""
    source_id = schema.find_field(column).field_id
    return PartitionSpec(PartitionField(source_id=source_id, field_id=1000, transform=DayTransform(),
                                        name=f"{column}_day"))

CURATED_ERRORS_SCHEMA = _schema(
    ("topic_name", StringType(), False),
    ("message_id", StringType(), False),
    ("idempotency_key", StringType(), False),  # the row's merge-key value as text ("" when missing)
    ("column_name", StringType(), False),  # the first failing column
    ("value", StringType(), False),  # its offending value as text ("" when missing)
    ("reason", StringType(), False),
    ("failures", StringType(), False),  # every failure of the row, JSON: [{"column", "value", "reason"}]
    ("publish_time", TimestamptzType(), False),
    ("ingestion_ts", TimestamptzType(), False),
    ("error_ts", TimestamptzType(), False),
)
