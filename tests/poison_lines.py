"""Issue 18's inputs: payloads RAW must keep byte for byte, and lines that must reach the DLQ with a reason.

Shared by the envelope, CLI, HTTP and landing tests, so every way into RAW is checked with the same lines.
"""
from __future__ import annotations

# message_id -> payload text, each as written (odd spacing, escapes and digits included)
EXACT_PAYLOADS = {
    "x-big": '{"amount": 12345678901234567.89}',
    "x-negzero": '{"amount":-0}',
    "x-tenth": '{"amount": 0.1000000000000000055511151231257827}',
    "x-36": '{ "amount" : 123456789012345678901234567890123456.12 , "note": "caf\\u00e9", "tags": [1.10, 2E3] }',
}

# line -> the start of its DLQ reason
POISON = {
    '{"message_id": "y10000", "payload": {}, "publish_time": "10000-01-01T00:00:00Z"}':
        'publish_time "10000-01-01T00:00:00Z" out of range 0001-01-01..9999-12-31',
    '{"message_id": "ms", "payload": {}, "publish_time": 99999999999999999}':
        "publish_time 99999999999999999 out of range 0001-01-01..9999-12-31",
    '{"message_id": "y-1", "payload": {}, "publish_time": "-0001-06-01T00:00:00Z"}':
        'publish_time "-0001-06-01T00:00:00Z" out of range 0001-01-01..9999-12-31',
    '{"message_id": "inf-time", "payload": {}, "publish_time": "infinity"}':
        'publish_time "infinity" out of range 0001-01-01..9999-12-31',
    '{"message_id": "p1", "payload": {"id": "first"}, "payload": {"id": "second"}}': "repeated envelope key payload",
    '{"message_id": "a", "message_id": "b", "payload": {}}': "repeated envelope key message_id",
    '{"message_id": "nan", "payload": {"v": NaN}}': "not valid JSON: ",
    '{"message_id": "inf", "payload": {"v": -Infinity}}': "not valid JSON: ",
    '{"message_id": "comma", "payload": {"v": 1,}}': "not valid JSON: ",
    '{"message_id": "surrogate", "payload": {"v": "\\ud800"}}': "not valid JSON",
    '{"message_id": "nul\\u0000", "payload": {}}': "message_id holds a control character",
    '{"message_id": 1.5, "payload": {}}': "message_id must be a non-empty string",
    '{"message_id": "' + "x" * 1025 + '", "payload": {}}': "message_id of 1,025 characters exceeds the limit of 1,024",
    " \t ": "empty line",
}


def exact_lines() -> list[str]:
    """One envelope per EXACT_PAYLOADS entry, the payload spliced in as text (never re-serialised)."""
    return ['{"message_id": "' + mid + '", "publish_time": "2026-01-19T10:00:00Z", "payload": ' + text + "}"
            for mid, text in EXACT_PAYLOADS.items()]


def mixed_lines() -> list[str]:
    """Exact envelopes with every poison line in between: the good ones must land all the same."""
    good, bad = exact_lines(), list(POISON)
    out = []
    for i in range(max(len(good), len(bad))):
        out += good[i:i + 1] + bad[i:i + 1]
    return out
