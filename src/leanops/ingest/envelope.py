"""The ingest envelope, validated for a whole batch of lines at once in DuckDB.

One JSON object per line:
    {"message_id": "m-1", "publish_time": "2026-01-19T10:00:00Z", "payload": {...}}

- `message_id`: a non-empty string (an integer is accepted and kept as its decimal text).
- `payload`: the event. An object is stored as compact JSON text; a string is stored as is (it may
  hold broken JSON: that is Standardized's business); any other JSON value is stored as its JSON
  text and becomes a parse error in Standardized (not an object).
- `publish_time` (optional): ISO-8601 (a time without zone is UTC) or epoch milliseconds;
  missing or null -> the ingestion time.
- Any other key, a line that is not a JSON object, or an empty line is not an envelope: it goes to
  raw.dlq_errors with the reason and the raw text.
"""
from __future__ import annotations

import duckdb
import pyarrow as pa

from leanops import duck
from leanops.duck import json_kind_sql

ENVELOPE_KEYS = ("message_id", "payload", "publish_time")

_VALIDATE_SQL = """
WITH parsed AS (
    SELECT line_number, line, json_valid(line) AS valid FROM lines
), typed AS (  -- valid JSON whose first character is '{' is an object: no second parse needed
    SELECT *, CASE WHEN valid THEN left(ltrim(line, chr(32) || chr(9) || chr(10) || chr(13)), 1) = '{' END AS is_object
    FROM parsed
), fields AS (
    SELECT *,
        CASE WHEN is_object THEN json_extract(line, ['$.message_id', '$.payload', '$.publish_time']) END AS f,
        CASE WHEN is_object THEN list_filter(json_keys(line), lambda k: k NOT IN ('message_id', 'payload', 'publish_time')) END AS extra
    FROM typed
), values AS (
    SELECT *,
        json_type(f[1]) AS id_kind,
        json_type(f[3]) AS pt_kind,
        CASE json_type(f[1]) WHEN 'VARCHAR' THEN json_extract_string(f[1], '$')
                             WHEN 'BIGINT' THEN f[1]::VARCHAR WHEN 'UBIGINT' THEN f[1]::VARCHAR END AS message_id,
        CASE WHEN json_type(f[2]) = 'VARCHAR' THEN json_extract_string(f[2], '$') ELSE f[2]::VARCHAR END AS json_payload,
        CASE WHEN json_type(f[3]) = 'VARCHAR' THEN try_cast(json_extract_string(f[3], '$') AS TIMESTAMPTZ)
             WHEN json_type(f[3]) IN ('BIGINT', 'UBIGINT', 'DOUBLE')
                  THEN try_cast(epoch_ms(try_cast(f[3]::DOUBLE AS BIGINT)) AS TIMESTAMPTZ)
        END AS publish_ts
    FROM fields
)
SELECT line_number, line, message_id, json_payload,
    coalesce(publish_ts, CASE WHEN pt_kind IS NULL OR pt_kind = 'NULL' THEN $ingested END) AS publish_time,
    CASE
        WHEN trim(line) = '' THEN 'empty line'
        WHEN NOT valid THEN 'not valid JSON'
        WHEN NOT is_object THEN 'envelope must be a JSON object, got ' || {kind}
        WHEN len(extra) > 0 THEN 'unexpected envelope field(s) ' || array_to_string(extra, ', ')
             || '; allowed: message_id, payload, publish_time'
        WHEN id_kind IS NULL OR id_kind = 'NULL' THEN 'missing message_id'
        WHEN message_id IS NULL OR trim(message_id) = '' THEN 'message_id must be a non-empty string'
        WHEN json_payload IS NULL OR f[2]::VARCHAR = 'null' THEN 'missing payload'
        WHEN publish_ts IS NULL AND pt_kind IS NOT NULL AND pt_kind <> 'NULL'
             THEN 'publish_time ' || f[3]::VARCHAR || ' is neither ISO-8601 nor epoch milliseconds'
    END AS reason
FROM values
ORDER BY line_number
""".replace("{kind}", json_kind_sql("json_type(line)"))


def validate_lines(con: duckdb.DuckDBPyConnection, lines: pa.Table, ingested: object) -> pa.Table:
    """lines (line_number, line) -> one row per line with the envelope fields and a reason (NULL = ok)."""
    con.register("lines", lines)
    try:
        return duck.arrow(con, _VALIDATE_SQL, {"ingested": ingested})
    finally:
        con.unregister("lines")
