"""Issue 18 through `leanops ingest` and `leanops run`: RAW is the exact log, poison lines reach the DLQ.

RAW's json_payload must equal the envelope's payload text byte for byte, so Standardized and a
curated decimal(38,2) hold the digits as sent; a line that cannot land (publish_time out of range,
a repeated key, NaN, ...) is a DLQ row with its reason while every other line lands.
"""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from conftest import run_cli, write_lines, write_schema
from poison_lines import EXACT_PAYLOADS, POISON, mixed_lines

from leanops.context import Context

pytestmark = pytest.mark.slow

SCHEMA = {"topic": "money", "standardized": {},
          "curated": {"merge_key": "message_id", "order_by": "publish_time", "partition_by": ["day(publish_time)"],
                      "columns": {"amount": {"type": "decimal(38,2)"}}}}


def test_cli_ingest_keeps_payload_bytes_and_sends_poison_to_the_dlq(tmp_path, schemas):
    source = write_lines(tmp_path / "in.ndjson", mixed_lines())
    with source.open("ab") as out:  # bytes that are not UTF-8 are a DLQ row too
        out.write(b'{"message_id": "latin1", "payload": {"v": "caf\xe9"}}\n')
    done = run_cli("ingest", "--topic", "money", str(source), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["lines_read"], report["accepted"], report["rejected"]) == (
        len(EXACT_PAYLOADS) + len(POISON) + 1, len(EXACT_PAYLOADS), len(POISON) + 1)

    write_schema(schemas, SCHEMA)
    ran = run_cli("run", "--once", "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert run_cli("accountability").returncode == 0

    ctx = Context.open(tmp_path / "home", schemas)
    try:
        raw = ctx.lake.raw_table("money").scan().to_arrow().to_pylist()
        assert {r["message_id"]: r["json_payload"] for r in raw} == EXACT_PAYLOADS  # byte for byte
        dlq = {r["raw_text"]: r["reason"] for r in ctx.lake.dlq_table().scan().to_arrow().to_pylist()}
        for line, reason in POISON.items():
            assert dlq[line].startswith(reason), (line, dlq[line])
        assert [r for t, r in dlq.items() if "latin1" in t] == ["not valid JSON"]

        standardized = {r["message_id"]: r["amount"] for r in ctx.lake.standardized_table("money").scan()
                        .to_arrow().to_pylist()}
        assert standardized == {"x-big": "12345678901234567.89", "x-negzero": "-0",
                                "x-tenth": "0.1000000000000000055511151231257827",
                                "x-36": "123456789012345678901234567890123456.12"}
        curated = {r["message_id"]: r["amount"] for r in ctx.lake.curated_table("money").scan()
                   .to_arrow().to_pylist()}
        assert curated == {"x-big": Decimal("12345678901234567.89"), "x-negzero": Decimal("0.00"),
                           "x-36": Decimal("123456789012345678901234567890123456.12")}
        assert str(curated["x-36"]) == "123456789012345678901234567890123456.12"
        [error] = ctx.lake.curated_errors_table().scan().to_arrow().to_pylist()
        assert (error["message_id"], error["reason"]) == ("x-tenth", "more than 2 decimal places")
    finally:
        ctx.close()
