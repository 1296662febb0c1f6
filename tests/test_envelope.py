"""Envelope validation: every line is either a RAW row or a DLQ row with a reason."""
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from leanops import duck
from leanops.ingest.envelope import validate_lines

INGESTED = datetime(2026, 2, 1, tzinfo=timezone.utc)


def check(*lines):
    table = pa.table({"line_number": pa.array(range(1, len(lines) + 1), pa.int64()),
                      "line": pa.array(lines, pa.string())})
    with duck.connect() as con:
        return validate_lines(con, table, INGESTED).to_pylist()


def test_object_payload_is_stored_as_compact_json():
    [row] = check('{"message_id": "m1", "publish_time": "2026-01-19T10:00:00Z", "payload": {"a": {"b": 1}}}')
    assert row["reason"] is None
    assert row["message_id"] == "m1" and row["json_payload"] == '{"a":{"b":1}}'
    assert row["publish_time"] == datetime(2026, 1, 19, 10, tzinfo=timezone.utc)


def test_string_payload_is_kept_verbatim_even_when_broken():
    [row] = check('{"message_id": "m1", "payload": "{\\"a\\": 1"}')
    assert row["reason"] is None and row["json_payload"] == '{"a": 1'


def test_publish_time_forms():
    rows = check('{"message_id": "a", "payload": {}, "publish_time": 1768816800000}',
                 '{"message_id": "b", "payload": {}, "publish_time": "2026-01-19T12:00:00+02:00"}',
                 '{"message_id": "c", "payload": {}, "publish_time": "2026-01-19 10:00:00"}',
                 '{"message_id": "d", "payload": {}}',
                 '{"message_id": "e", "payload": {}, "publish_time": null}')
    ten = datetime(2026, 1, 19, 10, tzinfo=timezone.utc)
    assert [r["publish_time"] for r in rows] == [ten, ten, ten, INGESTED, INGESTED]
    assert all(r["reason"] is None for r in rows)


def test_integer_message_id_is_kept_as_text():
    [row] = check('{"message_id": 42, "payload": {}}')
    assert row["reason"] is None and row["message_id"] == "42"


@pytest.mark.parametrize("line,reason", [
    ("not json", "not valid JSON"),
    ("", "empty line"),
    ("[1, 2]", "envelope must be a JSON object, got array"),
    ('{"payload": {}}', "missing message_id"),
    ('{"message_id": null, "payload": {}}', "missing message_id"),
    ('{"message_id": "", "payload": {}}', "message_id must be a non-empty string"),
    ('{"message_id": {"x": 1}, "payload": {}}', "message_id must be a non-empty string"),
    ('{"message_id": "m"}', "missing payload"),
    ('{"message_id": "m", "payload": null}', "missing payload"),
    ('{"message_id": "m", "payload": {}, "topic": "x"}',
     "unexpected envelope field(s) topic; allowed: message_id, payload, publish_time"),
    ('{"message_id": "m", "payload": {}, "publish_time": "yesterday"}',
     'publish_time "yesterday" is neither ISO-8601 nor epoch milliseconds'),
])
def test_rejections_carry_a_reason(line, reason):
    [row] = check(line)
    assert row["reason"] == reason


def test_non_object_payloads_are_accepted_for_parse_errors_downstream():
    rows = check('{"message_id": "a", "payload": [1]}', '{"message_id": "b", "payload": 3}')
    assert [r["json_payload"] for r in rows] == ["[1]", "3"] and all(r["reason"] is None for r in rows)


def test_reading_lines_in_chunks_keeps_every_line_and_its_number(monkeypatch):
    import io

    from leanops.ingest import raw
    monkeypatch.setattr(raw, "CHUNK_BYTES", 7)  # chunk edges fall inside lines
    data = "first line\r\n\nthird ünïcode\nfourth".encode() + b"\n\xff\xfe broken\nlast no newline"
    tables = list(raw._read_batches(io.BytesIO(data), size=2, on_bytes=lambda n: None))
    rows = [r for t in tables for r in t.to_pylist()]
    assert [r["line_number"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["line"] for r in rows][:4] == ["first line", "", "third ünïcode", "fourth"]
    assert rows[4]["line"].endswith("<not UTF-8>") and rows[5]["line"] == "last no newline"
    assert all(t.num_rows <= 2 for t in tables)
