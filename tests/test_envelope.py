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

    from leanops.ingest import lines
    monkeypatch.setattr(lines, "CHUNK_BYTES", 7)  # chunk edges fall inside lines
    data = "first line\r\n\nthird ünïcode\nfourth".encode() + b"\n\xff\xfe broken\nlast no newline"
    blocks = list(lines.read_blocks(io.BytesIO(data), max_lines=2, on_bytes=lambda n: None))
    rows = _rows(blocks)
    assert [r["line_number"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["line"] for r in rows][:4] == ["first line", "", "third ünïcode", "fourth"]
    assert rows[4]["line"].endswith("<not UTF-8>") and rows[5]["line"] == "last no newline"
    assert all(len(b) <= 2 for b in blocks)


def _rows(blocks):
    """(line_number, line, reason) of every line of the reader's blocks."""
    return [{"line_number": b.first + i, "line": b.texts([i])[0], "reason": b.reasons.get(i)}
            for b in blocks for i in range(len(b))]


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

    from leanops.ingest import lines
    monkeypatch.setattr(lines, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(lines, "MAX_LINE_BYTES", 40)
    monkeypatch.setattr(lines, "LINE_SAMPLE_BYTES", 8)
    long_line = '{"message_id": "m", "payload": "' + "é" * 30 + '"}'  # spans several chunks
    data = f"short\n{long_line}\nafter\n{'x' * 41}\n{'y' * 100}".encode()  # the last one without a newline
    rows = _rows(lines.read_blocks(io.BytesIO(data), max_lines=100, on_bytes=lambda n: None))
    assert [r["line_number"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["line"] for r in rows] == ["short", long_line.encode()[:8].decode(), "after", "x" * 8, "y" * 8]
    assert [r["reason"] for r in rows] == [
        None, f"line of {len(long_line.encode())} bytes exceeds the limit of 40 bytes (its first 8 bytes are kept)",
        None, "line of 41 bytes exceeds the limit of 40 bytes (its first 8 bytes are kept)",
        "line of 100 bytes exceeds the limit of 40 bytes (its first 8 bytes are kept)"]


# -- issue 19: one parse per line; the vectorised path must answer exactly as the exact path ----------

def _differential_lines() -> list[str]:
    """Good envelopes in every form the fast path handles, with every poison line and the forms it must
    hand to the exact path (repeated keys, escaped keys, spacing) spread among them."""
    good = []
    for i in range(400):
        good += [
            '{"message_id":"m-%d","publish_time":"2026-01-19T10:00:%02d.5Z","payload":{"a":%d,"b":[1,2.50]}}' % (i, i % 60, i),
            '{"message_id": %d, "payload": {"x": "caf\\u00e9"}, "publish_time": 1768816800%03d}' % (i, i % 1000),
            '{"payload":"{\\"s\\": %d}","message_id":"s-%d"}' % (i, i),
            '{ "message_id" : "sp-%d" , "payload" : { "k" : -0 } }' % i,
        ]
    tricky = [
        '{"message_id":"a","payload":{},"message_id":"b"}',
        '{"message\\u005fid":"esc","payload":{}}',
        '{"message_id":"e1","payload":{},"payload":{"x":1}}',
        '{"message_id":"   ","payload":{}}',
        '{"message_id":"caf\\u00e9","payload":{}}',
        '{"message_id":"é","payload":{}}',
        '{"message_id":"del\x7f","payload":{}}',
        '{"message_id":true,"payload":{}}',
        '{"message_id":-12,"payload":{}}',
        '{"message_id":"m","payload":{},"publish_time":"2026-01-19T10:00:00\\u005a"}',
        '{"message_id":"m","payload":{},"publish_time":true}',
        '{"message_id":"m","payload":{},"publish_time":-1.5}',
        '{"message_id":"m","payload":{}} {"message_id":"n","payload":{}}',
        '{"message_id":"m","payload":null,"publish_time":null}',
        '{}',
    ]
    bad = list(POISON) + tricky
    out = []
    for i, line in enumerate(good):
        out.append(line)
        if i % 97 == 13:
            out.append(bad[(i // 97) % len(bad)])
    return out + bad


def test_the_vectorised_path_agrees_with_the_exact_path_line_by_line():
    from leanops.ingest.envelope import _validate_exactly
    lines = _differential_lines()
    table = pa.table({"line_number": pa.array(range(1, len(lines) + 1), pa.int64()), "line": pa.array(lines)})
    with duck.connect() as con:
        fast = validate_lines(con, table, INGESTED).to_pylist()
        exact = _validate_exactly(con, table, INGESTED).to_pylist()
    keys = ("line_number", "message_id", "json_payload", "publish_time", "reason")
    assert len(fast) == len(exact) == len(lines)
    for got, want in zip(fast, exact):  # a rejected line's fields are never used: only its reason and text
        compared = keys if want["reason"] is None else ("line_number", "reason")
        assert {k: got[k] for k in compared} == {k: want[k] for k in compared}, got["line_number"]
    assert [r["line"] for r in fast if r["reason"]] == [r["line"] for r in exact if r["reason"]]
    assert sum(r["reason"] is None for r in fast) > 1500


def test_a_poisoned_line_in_a_large_block_costs_only_its_neighbourhood(monkeypatch):
    from leanops.ingest import envelope
    exact_lines_seen = []
    real = envelope._validate_exactly
    monkeypatch.setattr(envelope, "_validate_exactly",
                        lambda con, lines, ingested: exact_lines_seen.append(lines.num_rows) or real(con, lines, ingested))
    lines = ['{"message_id":"m-%d","payload":{"v":%d}}' % (i, i) for i in range(4096)]
    lines[2500] = '{"message_id":"nan","payload":{"v":NaN}}'
    [rejected] = [r for r in check(*lines) if r["reason"]]
    assert rejected["line_number"] == 2501 and rejected["reason"].startswith("not valid JSON")
    assert sum(exact_lines_seen) <= envelope.EXACT_RUN_LINES


def test_the_ingest_runs_without_numpy(tmp_path):
    """The Lambda layer leaves numpy out (docs/terraform.md): the manifest builder's ingest must not need it."""
    import subprocess
    import sys
    import textwrap
    source = tmp_path / "in.ndjson"
    source.write_text('{"message_id": "m1", "payload": {"a": 1.10}}\n{"message_id": "m2"}\nnot json\n')
    script = textwrap.dedent(f"""
        import sys
        class NoNumpy:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("numpy", "pandas"):
                    raise ImportError(name + " is not in the Lambda layer")
        sys.meta_path.insert(0, NoNumpy())
        from leanops.context import Context
        from leanops.ingest import ingest_stream
        ctx = Context.open({str(tmp_path / "home")!r}, {str(tmp_path / "schemas")!r})
        with open({str(source)!r}, "rb") as stream:
            report = ingest_stream(ctx.lake, ctx.state, ctx.settings, "events", stream, "in.ndjson")
        rows = ctx.lake.raw_table("events").scan().to_arrow().to_pylist()
        print(report.accepted, report.rejected, rows[0]["json_payload"], "numpy" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "2", '{"a":', "1.10}", "False"]
