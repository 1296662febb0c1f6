"""Property-based fuzzing of envelopes and payloads through `ingest` and `run` (issue 18).

Hypothesis writes batches of lines: envelopes around payloads with random nesting, widths, key
spellings (internal column names, metadata names, unicode, repeated keys), number forms (exponents,
-0, 40 digits, beyond a double), strings with escapes and non-ASCII text, payloads that are broken
JSON text, publish_times in and out of range, and lines that are not envelopes at all (truncated,
repeated keys, extra keys, not UTF-8). Every batch goes through the real ingest and a whole run
(Standardized, Curated with typed columns, Semantic) on a fresh home, and then:

  - nothing raises and every topic run succeeds;
  - every input line is in RAW or in the DLQ, exactly once;
  - RAW's json_payload is the payload's text as sent (an object byte for byte; a string payload decoded);
  - accountability adds up to 100% on every layer.

Each example is a whole batch, so a few dozen examples cover thousands of shapes. Failures print
the batch (Hypothesis shrinks it) and reproduce with the printed seed.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from conftest import write_schema
from leanops.context import Context
from leanops.ingest import ingest_stream
from leanops.runner import run_once
from leanops.stages.accountability import topic_accounts

pytestmark = pytest.mark.slow

TOPIC = "fuzz"
SCHEMA = {
    "topic": TOPIC,
    "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
    "curated": {"merge_key": "idempotency_key", "order_by": "publish_time",
                "columns": {"idempotency_key": {"type": "string", "cde": True},
                            "amount": {"type": "decimal(38,2)"}, "n": {"type": "long"},
                            "at": {"type": "timestamp"}, "ok": {"type": "boolean"}, "ratio": {"type": "double"}}},
    "semantic": {"merge_key": "idempotency_key",
                 "columns": {"idempotency_key": {"type": "string"}, "amount": {"type": "decimal(38,2)"},
                             "n": {"type": "long", "min": -1000, "max": 1000}}},
}

# -- JSON text, written by hand so number tokens and spacing are exactly what is sent ---------------
KEYS = st.one_of(
    st.sampled_from(["amount", "n", "at", "ok", "ratio", "id", "ID", "Id", "a b", "a.b", "a/b", "~0", "", " ",
                     "ord", "__rank", "__wins", "__f", "__failures", "filename", "file_row_number", "rnk",
                     "message_id", "topic_name", "json_payload", "publish_time", "ingestion_ts", "idempotency_key",
                     "_metadata", "名前", "é", "SELECT", "drop table x;--", "k" * 70, "9lives", "\u0000", "\"q\""]),
    st.text(max_size=6),
)
NUMBERS = st.one_of(
    st.sampled_from(["0", "-0", "1", "-1", "1.50", "1E5", "1e-7", "-0.0", "12345678901234567.89",
                     "0.1000000000000000055511151231257827", "1e400", "-1e400", "123456789012345678901234567890123456.12",
                     "9223372036854775807", "9223372036854775808", "-9223372036854775809", "4.9e-324"]),
    st.integers(min_value=-(10 ** 40), max_value=10 ** 40).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f") if abs(d.adjusted()) < 30 else str(d)),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
STRINGS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["2026-01-19T10:00:00Z", "not a time", "true", "12.5", "", "\\", "\"", "\u2028", "😀", "\ud7ff"]),
)
SPACES = st.sampled_from(["", " ", "\t", "  "])  # no newline: one NDJSON line per envelope


def _number(token: str) -> str:
    # st.decimals may print "-0E+3" or "1E+2": all valid JSON number spellings except a leading "+"
    # or a bare exponent sign; keep only what RFC 8259 accepts
    return token if _is_json_number(token) else "0"


def _is_json_number(token: str) -> bool:
    import re
    return re.fullmatch(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?", token) is not None


def _string(text: str, ascii_only: bool) -> str:
    return json.dumps(text, ensure_ascii=ascii_only)


@st.composite
def json_values(draw, depth: int = 0) -> str:
    """One JSON value as text: scalars, or (up to a random depth) arrays and objects, keys may repeat."""
    kinds = ["number", "string", "literal"] + (["array", "object"] if depth < draw(st.integers(2, 40)) else [])
    kind = draw(st.sampled_from(kinds))
    space = draw(SPACES)
    if kind == "number":
        return _number(draw(NUMBERS))
    if kind == "string":
        return _string(draw(STRINGS), draw(st.booleans()))
    if kind == "literal":
        return draw(st.sampled_from(["true", "false", "null"]))
    if kind == "array":
        items = draw(st.lists(json_values(depth + 1), max_size=4))
        return "[" + ("," + space).join(items) + "]"
    return json_object(draw, depth + 1, space)


def json_object(draw, depth: int, space: str = "") -> str:
    width = draw(st.sampled_from([0, 1, 2, 3, 5, 8, 60]))
    members = [f"{_string(draw(KEYS), draw(st.booleans()))}:{space}{draw(json_values(depth))}" for _ in range(width)]
    return "{" + ("," + space).join(members) + "}"


@st.composite
def payloads(draw) -> tuple[str, str | None]:
    """(the payload's JSON text in the envelope, what RAW must hold; None: RAW holds the text itself)."""
    kind = draw(st.sampled_from(["object", "object", "object", "deep", "wide", "keyed", "broken-string", "scalar"]))
    if kind == "wide":  # around the default cap of 1,000 keys a payload
        width = draw(st.sampled_from([999, 1000, 1001, 1500]))
        return "{" + ",".join(f'"w{i}":{i}' for i in range(width)) + "}", None
    if kind == "deep":  # one long chain of objects or arrays
        levels = draw(st.sampled_from([20, 40, 100, 1000, 100_000]))
        opener, closer = draw(st.sampled_from([('{"d":', "}"), ("[", "]")]))
        return opener * levels + _number(draw(NUMBERS)) + closer * levels, None
    if kind == "keyed":  # what the curated section reads: metadata key, typed columns
        key = draw(st.sampled_from(["k1", "k2", "k3", "", None]))
        fields = {"amount": draw(NUMBERS), "n": draw(NUMBERS), "at": _string(draw(STRINGS), True),
                  "ok": draw(st.sampled_from(["true", "false", '"yes"', "1"])), "ratio": draw(NUMBERS)}
        meta = "" if key is None else f'"_metadata":{{"idempotencyKeyResource":{_string(key, True)}}},'
        body = ",".join(f'"{name}":{_number(v) if name in ("amount", "n", "ratio") else v}'
                        for name, v in fields.items() if draw(st.booleans()))
        return "{" + meta + body + "}", None
    if kind == "broken-string":  # a string payload holding (usually broken) JSON text: RAW keeps the text
        text = draw(st.sampled_from(['{"a": ', "{x", "[]", "null", "", '{"a":1}', '{"a":1,"a":2}']))
        return _string(text, draw(st.booleans())), text
    if kind == "scalar":  # a string payload is stored decoded, any other scalar as its JSON text
        text = draw(json_values(99))
        return text, (json.loads(text) if text.startswith('"') else None)
    return json_object(draw, 0, draw(SPACES)), None


PUBLISH_TIMES = st.one_of(
    st.sampled_from(['"2026-01-19T10:00:00Z"', '"2026-01-19 10:00:00"', "1768816800000", "null", '"garbage"',
                     '"10000-01-01T00:00:00Z"', '"-0001-01-01T00:00:00Z"', "99999999999999999", "-99999999999999999",
                     "1e300", '"0001-01-01T00:00:00Z"', '"9999-12-31T23:59:59Z"', "1.5", "[]", "{}", "true"]),
    st.integers(min_value=-(10 ** 20), max_value=10 ** 20).map(str),
)


@st.composite
def lines(draw, n: int) -> tuple[bytes, str | None, str | None]:
    """(the line's bytes, its message_id if it is an envelope, what RAW must hold as json_payload)."""
    mid = f"m{n}"
    payload, raw_expected = draw(payloads())
    expected = raw_expected if raw_expected is not None else payload
    parts = [f'"message_id":"{mid}"', f'"payload":{payload}']
    time = draw(st.one_of(st.none(), PUBLISH_TIMES))
    if time is not None:
        parts.append(f'"publish_time":{time}')
    kind = draw(st.sampled_from(["envelope"] * 6 + ["truncated", "repeated", "extra", "not-utf8", "non-object",
                                                     "empty", "int-id"]))
    if kind == "truncated":
        text = "{" + ",".join(parts) + "}"
        return text[: draw(st.integers(0, max(0, len(text) - 1)))].encode(), None, None
    if kind == "repeated":
        parts.append(draw(st.sampled_from(parts)))
    if kind == "extra":
        parts.append('"extra":1')
    if kind == "int-id":
        mid = str(10 ** 6 + n)
        parts[0] = f'"message_id":{mid}'
    draw(st.randoms()).shuffle(parts)
    text = "{" + ("," + draw(SPACES)).join(parts) + "}"
    if kind == "not-utf8":
        return text.encode()[:-1] + b'"\xff"}', None, None
    if kind == "non-object":
        return f"[{text}]".encode(), None, None
    if kind == "empty":
        return draw(st.sampled_from([b"", b"   ", b"\t"])), None, None
    return text.encode(), mid, expected


@st.composite
def batches(draw) -> list[tuple[bytes, str | None, str | None]]:
    size = draw(st.integers(1, 40))
    return [draw(lines(n)) for n in range(size)]


@settings(max_examples=25, deadline=None, derandomize=False, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(batch=batches())
@example(batch=[  # the hostile shapes every run tries, whatever Hypothesis draws
    (b'{"message_id":"m0","payload":' + b'{"d":' * 100_000 + b'1' + b'}' * 100_000 + b'}', "m0",
     '{"d":' * 100_000 + '1' + '}' * 100_000),
    (b'{"message_id":"m1","payload":' + b'[' * 100_000 + b']' * 100_000 + b'}', "m1", '[' * 100_000 + ']' * 100_000),
    (b'{"message_id":"m2","payload":{' + ",".join(f'"w{i}":{i}' for i in range(1500)).encode() + b'}}', "m2",
     '{' + ",".join(f'"w{i}":{i}' for i in range(1500)) + '}'),
    (b'{"message_id":"m3","payload":{"a":1},"publish_time":99999999999999999}', None, None),
    (b'{"message_id":"m4","payload":{"a":12345678901234567.89,"b":-0,"c":1E5}}', "m4",
     '{"a":12345678901234567.89,"b":-0,"c":1E5}'),
])
def test_any_batch_lands_exactly_once_and_accounts_add_up(batch):
    with tempfile.TemporaryDirectory(prefix="leanops-fuzz-") as tmp:
        root = Path(tmp)
        (root / "schemas").mkdir()
        write_schema(root / "schemas", SCHEMA)
        source = root / "in.ndjson"
        source.write_bytes(b"".join(line + b"\n" for line, _, _ in batch))
        ctx = Context.open(root / "home", root / "schemas")
        try:
            with source.open("rb") as stream:
                report = ingest_stream(ctx.lake, ctx.state, ctx.settings, TOPIC, stream, "in.ndjson")
            outcomes = run_once(ctx)
            assert [o.status.value for o in outcomes] == ["SUCCEEDED"], [o.message for o in outcomes]

            raw = ctx.lake.raw_table(TOPIC).scan().to_arrow().to_pylist()
            dlq = ctx.lake.dlq_table().scan().to_arrow().to_pylist()
            raw_by_id = {}
            for row in raw:
                assert row["message_id"] not in raw_by_id, f"{row['message_id']} twice in RAW"
                raw_by_id[row["message_id"]] = row
            dlq_lines = [row["line_number"] for row in dlq]
            assert len(dlq_lines) == len(set(dlq_lines)), "a line twice in the DLQ"
            assert report.lines_read == len(batch) == len(raw) + len(dlq)
            envelopes = {mid: (n, expected) for n, (_, mid, expected) in enumerate(batch, start=1) if mid}
            assert set(raw_by_id) <= set(envelopes), set(raw_by_id) - set(envelopes)
            landed_lines = {envelopes[mid][0] for mid in raw_by_id}
            assert not landed_lines & set(dlq_lines), "a line both in RAW and in the DLQ"
            assert landed_lines | set(dlq_lines) == set(range(1, len(batch) + 1))
            for mid, row in raw_by_id.items():
                assert row["json_payload"] == envelopes[mid][1], mid
            assert all(row["reason"] for row in dlq)

            accounts = topic_accounts(ctx.lake, TOPIC)
            assert all(a.ok for a in accounts), [a.as_dict() for a in accounts]
        finally:
            ctx.close()
