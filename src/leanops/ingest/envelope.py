"""The ingest envelope: a batch of lines checked in DuckDB, the exact field texts taken with msgspec.

One JSON object per line:
    {"message_id": "m-1", "publish_time": "2026-01-19T10:00:00Z", "payload": {...}}

- `message_id`: a non-empty string of at most MESSAGE_ID_MAX_CHARS characters and no control
  character; an integer is accepted and kept as its text, as written.
- `payload`: the event. A string is stored as its value (it may hold broken JSON: that is
  Standardized's business); any other JSON value is stored as its text, byte for byte as written
  (numbers keep every digit: RAW is the replayable log), and anything but an object becomes a
  parse error in Standardized.
- `publish_time` (optional): ISO-8601 (a time without zone is UTC) or epoch milliseconds, within
  0001-01-01..9999-12-31 UTC; missing or null -> the ingestion time.
- Any other key, a repeated key, a line that is not strict JSON (NaN, a trailing comma, a lone
  surrogate) or not an object, or an empty line is not an envelope: it goes to raw.dlq_errors with
  the reason and the raw text.

DuckDB checks the batch's structure and parses publish_time (vectorised). DuckDB re-serialises a
JSON value it extracts (a number becomes a double), so the texts of message_id and payload come
from msgspec's `Raw` (the value's bytes as received), one decode call for the whole batch; msgspec
is strict JSON, DuckDB is not (it takes NaN and trailing commas), so it also has the last word on
what is valid.
"""
from __future__ import annotations

import re

import duckdb
import msgspec
import pyarrow as pa

from leanops import duck
from leanops.duck import json_kind_sql

ENVELOPE_KEYS = ("message_id", "payload", "publish_time")
MESSAGE_ID_MAX_CHARS = 1024
PUBLISH_TIME_RANGE = "0001-01-01..9999-12-31"
_MIN_MS, _MAX_MS = -62135596800000, 253402300799999  # epoch ms of 0001-01-01T00:00:00Z, 9999-12-31T23:59:59.999Z
_WHITESPACE = "chr(32) || chr(9) || chr(10) || chr(13)"  # JSON's insignificant whitespace

_VALIDATE_SQL = """
WITH parsed AS (
    SELECT line_number, line, json_valid(line) AS valid FROM lines
), typed AS (  -- valid JSON whose first character is '{' is an object: no second parse needed
    SELECT *, CASE WHEN valid THEN left(ltrim(line, {ws}), 1) = '{' END AS is_object FROM parsed
), fields AS (
    SELECT *,
        CASE WHEN is_object THEN json_keys(line) END AS keys,
        CASE WHEN is_object THEN json_extract(line, '$.publish_time') END AS pt
    FROM typed
), times AS (
    SELECT *,
        list_filter(keys, lambda k: k NOT IN ('message_id', 'payload', 'publish_time')) AS extra,
        list_filter(keys, lambda k, i: list_position(keys, k) < i) AS repeated,
        json_type(pt) AS pt_kind,
        CASE WHEN json_type(pt) = 'VARCHAR' THEN try_cast(json_extract_string(pt, '$') AS TIMESTAMPTZ) END AS pt_iso,
        CASE WHEN json_type(pt) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN try_cast(pt::VARCHAR AS DOUBLE) END AS pt_ms
    FROM fields
), checked AS (
    SELECT *,
        CASE WHEN pt_kind IS NULL OR pt_kind = 'NULL' THEN $ingested
             WHEN pt_iso BETWEEN TIMESTAMPTZ '0001-01-01 00:00:00+00' AND TIMESTAMPTZ '9999-12-31 23:59:59.999999+00'
                  THEN pt_iso
             WHEN pt_ms BETWEEN {min_ms} AND {max_ms} THEN epoch_ms(CAST(pt_ms AS BIGINT))::TIMESTAMPTZ
        END AS publish_time
    FROM times
)
SELECT line_number, line, publish_time,
    CASE
        WHEN ltrim(line, {ws}) = '' THEN 'empty line'
        WHEN NOT valid THEN 'not valid JSON'
        WHEN NOT is_object THEN 'envelope must be a JSON object, got ' || {kind}
        WHEN len(extra) > 0 THEN 'unexpected envelope field(s) ' || array_to_string(list_distinct(extra), ', ')
             || '; allowed: message_id, payload, publish_time'
        WHEN len(repeated) > 0 THEN 'repeated envelope key ' || repeated[1]
    END AS structure_reason,
    CASE
        WHEN publish_time IS NOT NULL THEN NULL
        WHEN pt_iso IS NOT NULL OR pt_ms IS NOT NULL
             THEN 'publish_time ' || pt::VARCHAR || ' out of range {range}'
        ELSE 'publish_time ' || pt::VARCHAR || ' is neither ISO-8601 nor epoch milliseconds'
    END AS time_reason
FROM checked
ORDER BY line_number
""".replace("{kind}", json_kind_sql("json_type(line)")).replace("{ws}", _WHITESPACE).replace(
    "{min_ms}", str(_MIN_MS)).replace("{max_ms}", str(_MAX_MS)).replace("{range}", PUBLISH_TIME_RANGE)


class _Envelope(msgspec.Struct):
    """The two fields whose exact text RAW keeps; publish_time is DuckDB's, other keys DuckDB refuses."""

    message_id: msgspec.Raw = msgspec.Raw()
    payload: msgspec.Raw = msgspec.Raw()


_ONE = msgspec.json.Decoder(_Envelope)
_BATCH = msgspec.json.Decoder(list[_Envelope])
_STRING = msgspec.json.Decoder(str)
_INTEGER = re.compile(rb"-?(?:0|[1-9][0-9]*)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ABSENT = (b"", b"null")


def validate_lines(con: duckdb.DuckDBPyConnection, lines: pa.Table, ingested: object) -> pa.Table:
    """lines (line_number, line[, reason]) -> one row per line with the envelope fields and a reason (NULL = ok).

    A `reason` column in `lines` holds what the reader already found wrong with a line (too long):
    it wins over any other.
    """
    con.register("lines", lines.select(["line_number", "line"]))
    try:
        checked = duck.arrow(con, _VALIDATE_SQL, {"ingested": ingested})
    finally:
        con.unregister("lines")
    texts = checked["line"].to_pylist()
    reasons = checked["structure_reason"].to_pylist()
    if "reason" in lines.column_names:
        order = {n: i for i, n in enumerate(lines["line_number"].to_pylist())}
        early = lines["reason"].to_pylist()
        reasons = [early[order[n]] or r for n, r in zip(checked["line_number"].to_pylist(), reasons)]
    time_reasons = checked["time_reason"].to_pylist()
    message_ids: list[str | None] = [None] * len(texts)
    payloads: list[str | None] = [None] * len(texts)
    candidates = [i for i, reason in enumerate(reasons) if reason is None]
    for i, envelope in zip(candidates, _decode([texts[i] for i in candidates])):
        if isinstance(envelope, str):
            reasons[i] = envelope
            continue
        message_ids[i], payloads[i], reasons[i] = _fields(envelope)
        reasons[i] = reasons[i] or time_reasons[i]
    return pa.table({
        "line_number": checked["line_number"],
        "line": checked["line"],
        "message_id": pa.array(message_ids, pa.string()),
        "json_payload": pa.array(payloads, pa.string()),
        "publish_time": checked["publish_time"],
        "reason": pa.array(reasons, pa.string()),
    })


def _decode(lines: list[str]) -> list[_Envelope | str]:
    """Each line (a JSON object to DuckDB) as an envelope, or the reason msgspec's strict parser refuses it.

    One call for the batch; a line at a time only when some line is refused. Joining is safe:
    DuckDB found each line to be exactly one object, and what msgspec accepts DuckDB reads alike.
    """
    if not lines:
        return []
    try:
        decoded = _BATCH.decode("[" + ",".join(lines) + "]")
        if len(decoded) == len(lines):
            return decoded
    except (msgspec.MsgspecError, RecursionError):
        pass
    out: list[_Envelope | str] = []
    for line in lines:
        try:
            out.append(_ONE.decode(line))
        except msgspec.MsgspecError as exc:
            out.append(f"not valid JSON: {exc}")
        except RecursionError:  # nested deeper than msgspec walks: Standardized's depth limit judges the payload
            out.append(_shallow(line))
    return out


# a JSON string (escapes included) or one structural character: what a scan of the top level needs
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')


def _shallow(line: str) -> _Envelope:
    """The envelope's fields of a line too deep for msgspec, read without recursion: a scan of the top
    level that counts brackets and keeps each top-level value's text as written (DuckDB already found
    the line to be one valid JSON object without a repeated key)."""
    values: dict[str, str] = {}
    depth, key, start = 0, None, 0
    for token in _TOKENS.finditer(line):
        text = token.group()
        if depth == 1 and text[0] == '"' and key is None:
            key = _STRING.decode(text)
        elif depth == 1 and text == ":":
            start = token.end()
        elif depth == 1 and text == ",":
            values[key], key = line[start:token.start()].strip(), None
        elif text in "{[":
            depth += 1
        elif text in "}]":
            depth -= 1
            if depth == 0 and key is not None:
                values[key] = line[start:token.start()].strip()
    return _Envelope(message_id=msgspec.Raw(values.get("message_id", "").encode()),
                     payload=msgspec.Raw(values.get("payload", "").encode()))


def _fields(envelope: _Envelope) -> tuple[str | None, str | None, str | None]:
    """(message_id, payload text, reason) of a well-formed envelope."""
    raw_id = bytes(envelope.message_id)
    if raw_id in _ABSENT:
        return None, None, "missing message_id"
    if raw_id[:1] == b'"':
        message_id = _STRING.decode(raw_id)
    elif _INTEGER.fullmatch(raw_id):
        message_id = raw_id.decode()
    else:
        return None, None, "message_id must be a non-empty string"
    if not message_id.strip():
        return None, None, "message_id must be a non-empty string"
    if len(message_id) > MESSAGE_ID_MAX_CHARS:
        return None, None, (f"message_id of {len(message_id):,} characters exceeds the limit of "
                            f"{MESSAGE_ID_MAX_CHARS:,}")
    if _CONTROL.search(message_id):
        return None, None, "message_id holds a control character (U+0000-U+001F, U+007F)"
    raw_payload = bytes(envelope.payload)
    if raw_payload in _ABSENT:
        return message_id, None, "missing payload"
    payload = _STRING.decode(raw_payload) if raw_payload[:1] == b'"' else raw_payload.decode()
    return message_id, payload, None
