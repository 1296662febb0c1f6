"""Envelope validation: every line is either a RAW row or a DLQ row with a reason."""
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from leanops import duck
from leanops.ingest.envelope import validate_lines
from poison_lines import EXACT_PAYLOADS, POISON, exact_lines, mixed_lines

INGESTED = datetime(2026, 2, 1, tzinfo=timezone.utc)


def check(*lines):
    table = pa.table({"line_number": pa.array(range(1, len(lines) + 1), pa.int64()),
                      "line": pa.array(lines, pa.string())})
    with duck.connect() as con:
        return validate_lines(con, table, INGESTED).to_pylist()


def test_object_payload_is_stored_byte_for_byte():
    [row] = check('{"message_id": "m1", "publish_time": "2026-01-19T10:00:00Z", "payload": {"a": {"b": 1}}}')
    assert row["reason"] is None
    assert row["message_id"] == "m1" and row["json_payload"] == '{"a": {"b": 1}}'
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


# -- issue 18: RAW keeps the payload's bytes; every envelope that cannot land is a DLQ row with its reason --

def test_payload_text_is_kept_byte_for_byte():
    rows = check(*exact_lines())
    assert all(r["reason"] is None for r in rows)
    assert {r["message_id"]: r["json_payload"] for r in rows} == EXACT_PAYLOADS


@pytest.mark.parametrize("line,reason", list(POISON.items()), ids=range(len(POISON)))
def test_poison_lines_are_rejected_with_their_reason(line, reason):
    [row] = check(line)
    assert row["reason"] is not None and row["reason"].startswith(reason), row["reason"]


def test_good_lines_land_whatever_the_poison_around_them():
    rows = check(*mixed_lines())
    accepted = {r["message_id"]: r["json_payload"] for r in rows if r["reason"] is None}
    assert accepted == EXACT_PAYLOADS
    assert sorted(r["line"] for r in rows if r["reason"] is not None) == sorted(POISON)


@pytest.mark.parametrize("publish_time,expected", [
    ('"0001-01-01T00:00:00Z"', datetime(1, 1, 1, tzinfo=timezone.utc)),
    ('"9999-12-31T23:59:59.999999Z"', datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)),
    ("-62135596800000", datetime(1, 1, 1, tzinfo=timezone.utc)),
    ("253402300799999", datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)),
])
def test_publish_time_range_edges_are_accepted(publish_time, expected):
    [row] = check('{"message_id": "m", "payload": {}, "publish_time": ' + publish_time + "}")
    assert row["reason"] is None and row["publish_time"] == expected


@pytest.mark.parametrize("publish_time", ["253402300800000", "-62135596800001", '"0000-12-31T23:59:59Z"', "1e300"])
def test_publish_time_just_past_the_range_is_rejected(publish_time):
    [row] = check('{"message_id": "m", "payload": {}, "publish_time": ' + publish_time + "}")
    assert row["reason"].endswith("out of range 0001-01-01..9999-12-31")


def test_message_id_rules():
    rows = check('{"message_id": 123456789012345678901234567890, "payload": {}}',
                 '{"message_id": -0, "payload": {}}',
                 '{"message_id": "' + "x" * 1024 + '", "payload": {}}',
                 '{"message_id": "caf\\u00e9 \\ud83d\\ude00", "payload": {}}',
                 '{"message_id": "\\t", "payload": {}}',
                 '{"message_id": " ", "payload": {}}')
    assert [r["message_id"] for r in rows[:4]] == ["123456789012345678901234567890", "-0", "x" * 1024, "café 😀"]
    assert [r["reason"] for r in rows] == [None] * 4 + ["message_id must be a non-empty string"] * 2


def test_a_nul_in_the_payload_is_kept_as_written():
    [row] = check('{"message_id": "m", "payload": {"v": "a\\u0000b"}}')
    assert row["reason"] is None and row["json_payload"] == '{"v": "a\\u0000b"}'


def test_a_string_payload_is_stored_as_its_value():
    [row] = check('{"message_id": "m", "payload": "{\\"amount\\": 1.10, \\"s\\": \\"\\u00e9\\"}"}')
    assert row["reason"] is None and row["json_payload"] == '{"amount": 1.10, "s": "é"}'


@pytest.mark.parametrize("chunk", [16, 4096])  # a long line across chunks, or whole inside one
def test_lines_longer_than_the_limit_are_cut_with_a_reason(monkeypatch, chunk):
    import io

    from leanops.ingest import raw
    monkeypatch.setattr(raw, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(raw, "MAX_LINE_BYTES", 40)
    monkeypatch.setattr(raw, "LINE_SAMPLE_BYTES", 8)
    long_line = '{"message_id": "m", "payload": "' + "é" * 30 + '"}'  # spans several chunks
    data = f"short\n{long_line}\nafter\n{'x' * 41}\n{'y' * 100}".encode()  # the last one without a newline
    tables = list(raw._read_batches(io.BytesIO(data), size=100, on_bytes=lambda n: None))
    rows = [r for t in tables for r in t.to_pylist()]
    assert [r["line_number"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["line"] for r in rows] == ["short", long_line.encode()[:8].decode(), "after", "x" * 8, "y" * 8]
    assert [r["reason"] for r in rows] == [
        None, f"line of {len(long_line.encode())} bytes exceeds the limit of 40 bytes (its first 8 bytes are kept)",
        None, "line of 41 bytes exceeds the limit of 40 bytes (its first 8 bytes are kept)",
        "line of 100 bytes exceeds the limit of 40 bytes (its first 8 bytes are kept)"]
