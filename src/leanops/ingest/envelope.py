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

import dataclasses
import itertools
import operator
import re
from array import array

import duckdb
import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from leanops import duck
from leanops.duck import json_kind_sql
from leanops.ingest.lines import LineBlock, block_of

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
    it wins over any other. Lines given as texts (an HTTP body, a DLQ correction, a test) take the
    same path as a file's: `validate_block`.
    """
    numbers = lines["line_number"].to_pylist()
    reasons = lines["reason"].to_pylist() if "reason" in lines.column_names else None
    first = numbers[0] if numbers else 1
    if numbers != list(range(first, first + len(numbers))) or pc.any(pc.match_substring(lines["line"], "\n")).as_py():
        return _validate_exactly(con, lines, ingested)  # not one line each, in order: no block to cut
    block = block_of(lines["line"].to_pylist(), first, reasons)
    checked = validate_block(con, block, ingested)
    texts = lines["line"].combine_chunks() if isinstance(lines["line"], pa.ChunkedArray) else lines["line"]
    return checked.set_column(checked.schema.get_field_index("line"), "line", texts)


def _validate_exactly(con: duckdb.DuckDBPyConnection, lines: pa.Table, ingested: object) -> pa.Table:
    """The exact path, a line at a time where need be: DuckDB checks the structure, msgspec the rest.

    For the lines the vectorised path (`validate_block`) cannot vouch for: not starting with '{',
    refused by msgspec, possibly holding a repeated key, or refused by the reader."""
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
    message_id, reason = _message_id(bytes(envelope.message_id))
    if reason:
        return None, None, reason
    payload, reason = _payload(bytes(envelope.payload))
    return message_id, payload, reason


def _message_id(raw_id: bytes) -> tuple[str | None, str | None]:
    """(message_id, reason) of the message_id's JSON text as written (b"": absent)."""
    if raw_id in _ABSENT:
        return None, "missing message_id"
    if raw_id[:1] == b'"':
        message_id = _STRING.decode(raw_id)
    elif _INTEGER.fullmatch(raw_id):
        message_id = raw_id.decode()
    else:
        return None, "message_id must be a non-empty string"
    if not message_id.strip():
        return None, "message_id must be a non-empty string"
    if len(message_id) > MESSAGE_ID_MAX_CHARS:
        return None, (f"message_id of {len(message_id):,} characters exceeds the limit of "
                      f"{MESSAGE_ID_MAX_CHARS:,}")
    if _CONTROL.search(message_id):
        return None, "message_id holds a control character (U+0000-U+001F, U+007F)"
    return message_id, None


def _payload(raw_payload: bytes) -> tuple[str | None, str | None]:
    """(payload text, reason): a JSON string is stored as its value, any other value as written."""
    if raw_payload in _ABSENT:
        return None, "missing payload"
    return (_STRING.decode(raw_payload) if raw_payload[:1] == b'"' else raw_payload.decode()), None


# -- the vectorised path: a block of lines in one msgspec call, the checks in Arrow and DuckDB ---------

class _Fields(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The envelope as msgspec decodes it: each field's JSON text as written; any other key refuses the line.

    Not tracked by the garbage collector (it holds no reference cycle): a block makes tens of
    thousands of them at once."""

    message_id: msgspec.Raw = msgspec.Raw()
    payload: msgspec.Raw = msgspec.Raw()
    publish_time: msgspec.Raw = msgspec.Raw()


_FIELDS = msgspec.json.Decoder(_Fields)
EXACT_RUN_LINES = 32  # a run of at most this many lines that msgspec refuses goes to the exact path whole
# bytes of '"key":' per envelope key; a line longer than its keys, values, braces and commas by at
# least _REPEAT_BYTES may hold a repeated key (msgspec keeps the last), so the exact path judges it
_KEY_BYTES = {"message_id": 13, "payload": 10, "publish_time": 15}
_REPEAT_BYTES = 12  # the shortest repeated entry: ,"payload":1
_QUOTE, _NULL = pa.scalar(b'"', pa.large_binary()), pa.scalar(b"n", pa.large_binary())
_DIGIT_OR_MINUS = pa.array([bytes([c]) for c in b"-0123456789"], pa.large_binary())

# `pt` is publish_time's JSON text, `kind` its JSON type from its first byte (1: string, 2: number,
# 0: other), `text` a string's value where it has no escape (else DuckDB unescapes it)
_STRING_KIND, _NUMBER_KIND = 1, 2
_TIME_SQL = f"""
WITH parsed AS (
    SELECT i, pt,
        CASE WHEN kind = 1 THEN try_cast(coalesce(text, json_extract_string(pt, '$')) AS TIMESTAMPTZ) END AS pt_iso,
        CASE WHEN kind = 2 THEN try_cast(pt AS DOUBLE) END AS pt_ms
    FROM times
), checked AS (
    SELECT i, pt, pt_iso, pt_ms,
        CASE WHEN pt_iso BETWEEN TIMESTAMPTZ '0001-01-01 00:00:00+00' AND TIMESTAMPTZ '9999-12-31 23:59:59.999999+00'
                  THEN pt_iso
             WHEN pt_ms BETWEEN {_MIN_MS} AND {_MAX_MS} THEN epoch_ms(CAST(pt_ms AS BIGINT))::TIMESTAMPTZ
        END AS publish_time
    FROM parsed
)
SELECT publish_time,
    CASE
        WHEN publish_time IS NOT NULL THEN NULL
        WHEN pt_iso IS NOT NULL OR pt_ms IS NOT NULL THEN 'publish_time ' || pt || ' out of range {PUBLISH_TIME_RANGE}'
        ELSE 'publish_time ' || pt || ' is neither ISO-8601 nor epoch milliseconds'
    END AS time_reason
FROM checked
ORDER BY i
"""

_CHECKED = pa.schema([("line_number", pa.int64()), ("line", pa.string()), ("message_id", pa.string()),
                      ("json_payload", pa.string()), ("publish_time", pa.timestamp("us", tz="UTC")),
                      ("reason", pa.string())])


def validate_block(con: duckdb.DuckDBPyConnection, block: LineBlock, ingested: object) -> pa.Table:
    """A block of lines -> one row per line, in order: line_number, line (only where rejected),
    message_id, json_payload, publish_time and the reason (NULL = accepted).

    Each line's JSON is parsed once, by msgspec, for the whole block at a time; the field checks are
    vectorised (Arrow). Lines msgspec refuses, and the few that may hold a repeated key, take the exact
    path (`_validate_exactly`), which gives every reason its words; they are found by halving a refused
    run down to EXACT_RUN_LINES lines, so a poisoned line costs a few dozen lines of exact work.
    """
    size = len(block)
    pieces: list[range] = []
    envelopes: list[_Fields] = []
    for start, stop in _runs(_may_decode(block)):
        for first, decoded in _decode_run(block, start, stop):
            pieces.append(range(first, first + len(decoded)))
            envelopes += decoded
    fast_at = pa.array(itertools.chain.from_iterable(pieces), pa.int64()) if pieces else pa.array([], pa.int64())
    fast = _fields_of(con, block, fast_at, envelopes, ingested)
    everything = pa.array(range(size), pa.int64())
    exact_at = pc.filter(everything, pc.invert(pc.is_in(everything, value_set=fast["$at"].combine_chunks())))
    parts = [fast.drop_columns(["$at"])]
    if len(exact_at):
        at = exact_at.to_pylist()
        lines = pa.table({"line_number": pc.add(exact_at, block.first),
                          "line": pa.array(block.texts(at), pa.string()),
                          "reason": pa.array([block.reasons.get(i) for i in at], pa.string())})
        parts.append(_validate_exactly(con, lines, ingested).select(_CHECKED.names).cast(_CHECKED))
    checked = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if len(parts) > 1:
        checked = checked.take(pc.sort_indices(checked["line_number"]))
    return _with_rejected_lines(checked, block)


def _with_rejected_lines(checked: pa.Table, block: LineBlock) -> pa.Table:
    """The `line` column filled in for the rejected rows of the vectorised path (the DLQ keeps the text)."""
    wanted = pc.and_(checked["reason"].is_valid(), checked["line"].is_null())
    if not pc.any(wanted).as_py():
        return checked
    at = pc.subtract(checked["line_number"].filter(wanted), block.first).to_pylist()
    line = pc.replace_with_mask(checked["line"].combine_chunks(), wanted.combine_chunks()
                                if isinstance(wanted, pa.ChunkedArray) else wanted,
                                pa.array(block.texts(at), pa.string()))
    return checked.set_column(checked.schema.get_field_index("line"), "line", line)


def _may_decode(block: LineBlock) -> pa.BooleanArray:
    """Per line: worth a vectorised decode (starts with '{', UTF-8, not refused by the reader)."""
    ok = pc.starts_with(block.lines_array(), b"{")
    refused = list(block.reasons)
    if not block.utf8_ok():
        for i in pc.indices_nonzero(ok).to_pylist():
            try:
                block.line_bytes(i).decode("utf-8")
            except UnicodeDecodeError:
                refused.append(i)
    if refused:
        ok = pc.and_(ok, pc.invert(pc.is_in(pa.array(range(len(block)), pa.int64()),
                                             value_set=pa.array(refused, pa.int64()))))
    return ok


def _runs(mask: pa.BooleanArray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in `mask` (the False rows are few: found in C)."""
    runs, start = [], 0
    for stop in pc.indices_nonzero(pc.invert(mask)).to_pylist() + [len(mask)]:
        if stop > start:
            runs.append((start, stop))
        start = stop + 1
    return runs


def _decode_run(block: LineBlock, start: int, stop: int) -> list[tuple[int, list[_Fields]]]:
    """Lines [start, stop) decoded by msgspec: (first index, envelopes) of each part it takes whole.

    A part msgspec refuses (or that does not give one value per line) is halved until it has at
    most EXACT_RUN_LINES lines; those are left to the exact path."""
    view = memoryview(block.data)[block.offsets[start]:block.offsets[stop]]
    try:
        decoded = _FIELDS.decode_lines(view)
    except (msgspec.MsgspecError, RecursionError):
        decoded = None
    # decode_lines skips blank lines and takes two values on one line: neither passed _may_decode,
    # but a line holding two objects would, so the count must match
    if decoded is not None and len(decoded) == stop - start:
        return [(start, decoded)]
    if stop - start <= EXACT_RUN_LINES:
        return []
    middle = (start + stop) // 2
    return _decode_run(block, start, middle) + _decode_run(block, middle, stop)


def _fields_of(con: duckdb.DuckDBPyConnection, block: LineBlock, at: pa.Int64Array, envelopes: list[_Fields],
               ingested: object) -> pa.Table:
    """The checked rows of the decoded lines `at`, plus `$at` (their index in the block).

    Lines that may hold a repeated key are left out (the exact path takes them)."""
    message_ids, payloads, times = (_column(list(map(operator.attrgetter(name), envelopes))) for name in _KEY_BYTES)
    offsets = block.offsets_array()
    line_bytes = pc.subtract(pc.subtract(pc.take(offsets, pc.add(at, 1)), pc.take(offsets, at)), 1)
    written = pa.repeat(pa.scalar(1, pa.int64()), len(at))  # the braces, less the comma the first key lacks
    for name, column in zip(_KEY_BYTES, (message_ids, payloads, times)):
        entry = pc.if_else(pc.greater(column.lengths, 0), pc.add(column.lengths, _KEY_BYTES[name] + 1), 0)
        written = pc.add(written, entry)
    written = pc.max_element_wise(written, 2)
    clear = pc.less(pc.subtract(line_bytes, written), _REPEAT_BYTES)
    if not pc.all(clear).as_py():
        keep = pc.indices_nonzero(clear)
        at = pc.take(at, keep)
        message_ids, payloads, times = (c.take(keep) for c in (message_ids, payloads, times))
    message_id, id_reason = _message_ids(message_ids)
    payload, payload_reason = _payloads(payloads)
    publish_time, time_reason = _publish_times(con, times, ingested)
    reason = pc.coalesce(id_reason, payload_reason, time_reason)
    return pa.table({"line_number": pc.add(at, block.first),
                     "line": pa.nulls(len(at), pa.string()),
                     "message_id": message_id, "json_payload": payload, "publish_time": publish_time,
                     "reason": reason, "$at": at})


@dataclasses.dataclass(frozen=True)
class _Column:
    """One envelope field's JSON texts as written (b"" where the key is absent), with their byte
    lengths and first bytes for vectorised tests."""

    texts: pa.LargeBinaryArray
    lengths: pa.Int64Array
    first_bytes: pa.LargeBinaryArray  # b"" where absent

    def take(self, keep: pa.Array) -> "_Column":
        return _Column(self.texts.take(keep), self.lengths.take(keep), self.first_bytes.take(keep))


def _column(raws: list) -> _Column:
    offsets = array("q", itertools.accumulate(map(len, raws), initial=0))
    texts = pa.Array.from_buffers(pa.large_binary(), len(raws), [None, pa.py_buffer(offsets),
                                                                 pa.py_buffer(b"".join(raws))])
    return _Column(texts, pc.binary_length(texts), pc.binary_slice(texts, 0, 1))


def _absent(column: _Column) -> pa.BooleanArray:
    return pc.or_(pc.equal(column.lengths, 0), pc.and_(pc.equal(column.lengths, 4),
                                                       pc.equal(column.first_bytes, _NULL)))


def _per_row(texts: pa.LargeBinaryArray, mask: pa.BooleanArray, check) -> tuple[list, list]:
    """`check` (bytes -> (value, reason)) applied in Python to the rows the vectorised rules leave open."""
    results = [check(text) for text in texts.filter(mask).to_pylist()]
    return [value for value, _ in results], [reason for _, reason in results]


def _message_ids(column: _Column) -> tuple[pa.Array, pa.Array]:
    """(message_id, reason) per row: plain ASCII strings and integers in Arrow, anything else in Python."""
    texts = column.texts
    plain = pc.and_(pc.equal(column.first_bytes, _QUOTE), pc.less_equal(column.lengths, MESSAGE_ID_MAX_CHARS + 2))
    if pc.any(plain).as_py():
        plain = pc.and_(plain, pc.invert(pc.match_substring(texts, "\\")))
        plain = pc.and_(plain, pc.string_is_ascii(texts.cast(pa.large_string())))
        plain = pc.and_(plain, pc.invert(pc.match_substring(texts, "\x7f")))
    integer = pc.and_(pc.is_in(column.first_bytes, value_set=_DIGIT_OR_MINUS),
                      pc.less_equal(column.lengths, MESSAGE_ID_MAX_CHARS))
    if pc.any(integer).as_py():
        integer = pc.and_(integer, pc.match_substring_regex(texts, "^-?(?:0|[1-9][0-9]*)$"))
    absent = _absent(column)
    inner = pc.binary_slice(texts, 1, -1).cast(pa.large_string())
    blank = pc.and_(plain, pc.equal(pc.utf8_length(pc.utf8_trim(inner, " ")), 0))
    no_text, no_reason = pa.scalar(None, pa.large_string()), pa.scalar(None, pa.string())
    value = pc.if_else(pc.and_(plain, pc.invert(blank)), inner,
                       pc.if_else(integer, texts.cast(pa.large_string()), no_text))
    reason = pc.if_else(absent, "missing message_id",
                        pc.if_else(blank, "message_id must be a non-empty string", no_reason))
    other = pc.invert(pc.or_(pc.or_(plain, integer), absent))
    if pc.any(other).as_py():
        values, reasons = _per_row(texts, other, _message_id)
        value = pc.replace_with_mask(value, other, pa.array(values, pa.large_string()))
        reason = pc.replace_with_mask(reason, other, pa.array(reasons, pa.string()))
    return value.cast(pa.string()), reason.cast(pa.string())


def _payloads(column: _Column) -> tuple[pa.Array, pa.Array]:
    """(payload text, reason) per row: the text as written; a JSON string's value decoded in Python."""
    absent = _absent(column)
    value = column.texts.cast(pa.large_string())
    reason = pa.nulls(len(value), pa.string())
    if pc.any(absent).as_py():
        value = pc.if_else(absent, pa.scalar(None, pa.large_string()), value)
        reason = pc.if_else(absent, "missing payload", reason)
    strings = pc.equal(column.first_bytes, _QUOTE)
    if pc.any(strings).as_py():
        values, _ = _per_row(column.texts, strings, _payload)
        value = pc.replace_with_mask(value, strings, pa.array(values, pa.large_string()))
    return value.cast(pa.string()), reason.cast(pa.string())


def _publish_times(con: duckdb.DuckDBPyConnection, column: _Column, ingested: object) -> tuple[pa.Array, pa.Array]:
    """(publish_time, reason) per row: absent or null -> `ingested`; the rest parsed by DuckDB, vectorised."""
    size = len(column.texts)
    stamp = pa.timestamp("us", tz="UTC")
    publish_time = pa.repeat(pa.scalar(ingested.as_py() if isinstance(ingested, pa.Scalar) else ingested, stamp), size)
    reason = pa.nulls(size, pa.string())
    given = pc.invert(_absent(column))
    if not pc.any(given).as_py():
        return publish_time, reason
    texts, first = column.texts.filter(given), column.first_bytes.filter(given)
    kind = pc.if_else(pc.equal(first, _QUOTE), _STRING_KIND,
                      pc.if_else(pc.is_in(first, value_set=_DIGIT_OR_MINUS), _NUMBER_KIND, 0)).cast(pa.int8())
    unescaped_string = pc.and_(pc.equal(kind, _STRING_KIND), pc.invert(pc.match_substring(texts, "\\")))
    text = pc.if_else(unescaped_string, pc.binary_slice(texts, 1, -1), pa.scalar(None, texts.type))
    times = pa.table({"i": pc.indices_nonzero(given), "pt": texts.cast(pa.large_string()),
                      "kind": kind, "text": text.cast(pa.large_string())})
    con.register("times", times)
    try:
        parsed = duck.arrow(con, _TIME_SQL)
    finally:
        con.unregister("times")
    publish_time = pc.replace_with_mask(publish_time, given, parsed["publish_time"].combine_chunks().cast(stamp))
    reason = pc.replace_with_mask(reason, given, parsed["time_reason"].combine_chunks().cast(pa.string()))
    return publish_time, reason
